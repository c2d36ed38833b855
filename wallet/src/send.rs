//! Building and signing a payment (PROTOCOL.md §4): coins chosen by a
//! [`CoinSelection`], one output to the payee, change (when not zero) back
//! to the first input's address or to a fresh change address, every input
//! signed over the sighash. No I/O but through [`NodeClient`].

use cinder::types::{Address, Amount, Hash, Input, Output, Transaction};
use serde::Serialize;

use crate::WalletError;
use crate::coin_selection::{CoinSelection, FeePolicy, SelectionError};
use crate::discovery::Discovery;
use crate::funds::{Coin, Funds, chain_params, gather_funds};
use crate::keys::KeySource;
use crate::node::NodeClient;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("refusing to send to the zero address: coins sent there are burnt")]
    ZeroAddress,
    #[error("the amount must be at least 0.00000001")]
    ZeroAmount,
    #[error(
        "insufficient funds: sending {amount} needs {needed} with the fee, but only {spendable} is spendable{extra}"
    )]
    Insufficient {
        amount: Amount,
        needed: Amount,
        spendable: Amount,
        /// What else the wallet holds that cannot be spent yet, as text.
        extra: String,
    },
    #[error(
        "the fee {fee} is above the maximum of {max_fee} set by --max-fee: pass a higher --max-fee to pay it"
    )]
    FeeAboveMax { fee: Amount, max_fee: Amount },
    #[error(transparent)]
    Selection(SelectionError),
    #[error("key {path} does not match address {address}")]
    KeyMismatch { path: String, address: Address },
}

/// Where the change goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeTo {
    /// The address of the first input (the default).
    FirstInput,
    /// A given address (`--fresh-change`: the next unused change address).
    Address(Address),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendRequest {
    pub to: Address,
    pub amount: Amount,
    pub fee: FeePolicy,
    /// The highest fee paid without complaint (`--max-fee`), whether given
    /// with `--fee` or computed.
    pub max_fee: Amount,
    pub change: ChangeTo,
}

/// A signed transaction ready to post, with what `send` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedSend {
    pub transaction: Transaction,
    pub fee: Amount,
    pub change: Amount,
    pub change_address: Option<Address>,
}

/// `send --json` output: `{"hash","fee","change","change_address"}`.
#[derive(Serialize)]
pub struct SendReport {
    pub hash: Hash,
    pub fee: Amount,
    pub change: Amount,
    pub change_address: Option<Address>,
}

impl SignedSend {
    pub fn report(&self) -> SendReport {
        SendReport {
            hash: self.transaction.hash,
            fee: self.fee,
            change: self.change,
            change_address: self.change_address,
        }
    }
}

/// Checks what a user asked before anything is looked up.
pub fn check_request(request: &SendRequest) -> Result<(), SendError> {
    if request.to.is_zero() {
        return Err(SendError::ZeroAddress);
    }
    if request.amount == Amount::ZERO {
        return Err(SendError::ZeroAmount);
    }
    if let FeePolicy::Fixed(fee) = request.fee {
        check_max_fee(fee, request.max_fee)?;
    }
    Ok(())
}

fn check_max_fee(fee: Amount, max_fee: Amount) -> Result<(), SendError> {
    if fee > max_fee {
        return Err(SendError::FeeAboveMax { fee, max_fee });
    }
    Ok(())
}

/// Selects among `coins` (all spendable) and signs. Pure: `timestamp` is
/// the transaction's time.
pub fn build_transaction(
    coins: &[Coin],
    request: &SendRequest,
    selector: &dyn CoinSelection,
    keys: &dyn KeySource,
    timestamp: u64,
) -> Result<SignedSend, WalletError> {
    check_request(request)?;
    let selection = selector
        .select(coins, request.amount, request.fee)
        .map_err(SendError::Selection)?;
    check_max_fee(selection.fee, request.max_fee)?;
    let change_address = if selection.change == Amount::ZERO {
        None
    } else {
        Some(match request.change {
            ChangeTo::FirstInput => selection.inputs[0].address,
            ChangeTo::Address(a) => a,
        })
    };
    let mut outputs = vec![Output::new(0, request.to, request.amount)];
    if let Some(address) = change_address {
        outputs.push(Output::new(1, address, selection.change));
    }
    let inputs = selection
        .inputs
        .iter()
        .map(|c| Input::spending(c.transaction_hash, c.output_index, c.address, c.value))
        .collect();
    let value = Amount::from_units(outputs.iter().map(|o| o.value.units()).sum());
    let mut transaction = Transaction {
        timestamp,
        inputs,
        outputs,
        value,
        fee: selection.fee,
        hash: Hash::ZERO,
    };
    transaction.sign_with(|i, _| {
        let coin = &selection.inputs[i];
        let key = keys.secret_key(coin.path)?;
        if key.address() != coin.address {
            return Err(WalletError::from(SendError::KeyMismatch {
                path: coin.path.to_string(),
                address: coin.address,
            }));
        }
        Ok(key)
    })?;
    Ok(SignedSend {
        transaction,
        fee: selection.fee,
        change: selection.change,
        change_address,
    })
}

/// Asks the node for the wallet's coins and builds the payment; an
/// insufficient-funds error says what is spendable and what is not yet.
pub fn prepare_send(
    node: &dyn NodeClient,
    keys: &dyn KeySource,
    discovery: &Discovery,
    request: &SendRequest,
    selector: &dyn CoinSelection,
    timestamp: u64,
) -> Result<SignedSend, WalletError> {
    check_request(request)?;
    let chain = node.chain_info()?;
    let params = chain_params(&chain)?;
    let funds = gather_funds(node, discovery, chain.height, params.coinbase_maturity)?;
    build_from_funds(&funds, request, selector, keys, timestamp)
}

fn build_from_funds(
    funds: &Funds,
    request: &SendRequest,
    selector: &dyn CoinSelection,
    keys: &dyn KeySource,
    timestamp: u64,
) -> Result<SignedSend, WalletError> {
    match build_transaction(&funds.spendable(), request, selector, keys, timestamp) {
        Err(WalletError::Send(SendError::Selection(SelectionError::Insufficient {
            needed,
            available,
        }))) => {
            let mut notes = Vec::new();
            let immature = funds.immature_total();
            if immature > Amount::ZERO {
                notes.push(format!("{immature} more is immature coinbase"));
            }
            let foreign = funds.foreign_unconfirmed_total();
            if foreign > Amount::ZERO {
                notes.push(format!("{foreign} more is unconfirmed from others"));
            }
            let extra = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            };
            Err(SendError::Insufficient {
                amount: request.amount,
                needed,
                spendable: available,
                extra,
            }
            .into())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coin_selection::{DEFAULT_FEE_RATE, LargestFirst};
    use crate::discovery::discover;
    use crate::fake_node::{FakeNode, mempool_transaction, test_keys};
    use crate::keys::KeyPath;
    use cinder::consensus::transaction::{check_context_free, check_signatures};

    const COIN: u64 = 100_000_000;
    const NOW: u64 = 1_763_900_000;

    fn stranger() -> Address {
        Address::parse_checked("0x00000000000000000000000000000000000000aa").unwrap()
    }

    fn request(units: u64) -> SendRequest {
        SendRequest {
            to: stranger(),
            amount: Amount::from_units(units),
            fee: FeePolicy::PerByte(DEFAULT_FEE_RATE),
            max_fee: Amount::from_units(COIN / 10),
            change: ChangeTo::FirstInput,
        }
    }

    fn assert_valid(tx: &Transaction) {
        let sighash = check_context_free(tx).expect("context-free rules");
        check_signatures(tx, &sighash).expect("signatures");
        let json = serde_json::to_string(tx).unwrap();
        assert_eq!(&serde_json::from_str::<Transaction>(&json).unwrap(), tx);
    }

    /// A wallet with coins on two receive addresses and one change address.
    fn funded_node() -> (FakeNode, crate::keys::WalletKeys) {
        let keys = test_keys();
        let node = FakeNode::regtest(20);
        let r0 = keys.address(KeyPath::receive(0)).unwrap();
        let r1 = keys.address(KeyPath::receive(1)).unwrap();
        let c0 = keys.address(KeyPath::change(0)).unwrap();
        node.add_confirmed_output(r0, Hash([1; 32]), 0, 150_000_000, 3, true);
        node.add_confirmed_output(r1, Hash([2; 32]), 1, 2 * COIN, 10, false);
        node.add_confirmed_output(c0, Hash([3; 32]), 0, COIN / 2, 12, false);
        // Immature coinbase (tip 20, next 21, maturity 2).
        node.add_confirmed_output(r0, Hash([4; 32]), 0, 150_000_000, 20, true);
        (node, keys)
    }

    fn send(
        node: &FakeNode,
        keys: &crate::keys::WalletKeys,
        req: &SendRequest,
    ) -> Result<SignedSend, WalletError> {
        let discovery = discover(keys, node, 5, 0)?;
        prepare_send(node, keys, &discovery, req, &LargestFirst, NOW)
    }

    #[test]
    fn builds_a_valid_signed_transaction_with_change_to_first_input() {
        let (node, keys) = funded_node();
        let built = send(&node, &keys, &request(3 * COIN)).unwrap();
        let tx = &built.transaction;
        assert_valid(tx);
        assert_eq!(tx.timestamp, NOW);
        // 2 + 1.5 needed: largest first takes 2 then 1.5.
        assert_eq!(tx.inputs.len(), 2);
        assert_eq!(tx.inputs[0].output_value.units(), 2 * COIN);
        assert_eq!(tx.outputs[0].address, stranger());
        assert_eq!(tx.outputs[0].value.units(), 3 * COIN);
        let r1 = keys.address(KeyPath::receive(1)).unwrap();
        assert_eq!(built.change_address, Some(r1));
        assert_eq!(tx.outputs[1].address, r1);
        assert_eq!(built.fee, FeePolicy::PerByte(DEFAULT_FEE_RATE).fee(2, 2));
        assert_eq!(tx.fee, built.fee);
        assert_eq!(
            built.change.units(),
            350_000_000 - 3 * COIN - built.fee.units()
        );
        // The immature coinbase was not used.
        assert!(
            tx.inputs
                .iter()
                .all(|i| i.transaction_hash != Hash([4; 32]))
        );
        let report = serde_json::to_value(built.report()).unwrap();
        assert_eq!(report["change_address"], r1.to_string());
    }

    #[test]
    fn fresh_change_and_exact_amounts() {
        let (node, keys) = funded_node();
        let c1 = keys.address(KeyPath::change(1)).unwrap();
        let mut req = request(COIN);
        req.change = ChangeTo::Address(c1);
        let built = send(&node, &keys, &req).unwrap();
        assert_valid(&built.transaction);
        assert_eq!(built.change_address, Some(c1));
        assert_eq!(built.transaction.outputs[1].address, c1);

        // Spending all of the 0.5 coin exactly: no change output.
        let keys2 = test_keys();
        let node2 = FakeNode::regtest(20);
        let c0 = keys2.address(KeyPath::change(0)).unwrap();
        let fee = FeePolicy::PerByte(DEFAULT_FEE_RATE).fee(1, 1).units();
        node2.add_confirmed_output(c0, Hash([3; 32]), 0, COIN / 2, 12, false);
        let built = send(&node2, &keys2, &request(COIN / 2 - fee)).unwrap();
        assert_valid(&built.transaction);
        assert_eq!(built.transaction.outputs.len(), 1);
        assert_eq!(built.change, Amount::ZERO);
        assert_eq!(built.change_address, None);
        let report = serde_json::to_string(&built.report()).unwrap();
        assert!(
            report.contains(r#""change":0,"change_address":null"#),
            "{report}"
        );
    }

    #[test]
    fn spends_own_unconfirmed_change_but_not_others_unconfirmed() {
        let keys = test_keys();
        let node = FakeNode::regtest(20);
        let r0 = keys.address(KeyPath::receive(0)).unwrap();
        let r1 = keys.address(KeyPath::receive(1)).unwrap();
        let ours = mempool_transaction(r0, &[(stranger(), COIN), (r0, 3 * COIN)], 8);
        node.add_mempool_output(r0, &ours, 1);
        let theirs = mempool_transaction(stranger(), &[(r1, 5 * COIN)], 9);
        node.add_mempool_output(r1, &theirs, 0);

        let built = send(&node, &keys, &request(2 * COIN)).unwrap();
        assert_valid(&built.transaction);
        assert_eq!(built.transaction.inputs.len(), 1);
        assert_eq!(built.transaction.inputs[0].transaction_hash, ours.hash);

        let err = send(&node, &keys, &request(4 * COIN))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("insufficient funds"), "{err}");
        assert!(err.contains("only 3 is spendable"), "{err}");
        assert!(err.contains("5 more is unconfirmed from others"), "{err}");
    }

    #[test]
    fn insufficient_funds_mentions_immature() {
        let (node, keys) = funded_node();
        let err = send(&node, &keys, &request(5 * COIN))
            .unwrap_err()
            .to_string();
        assert!(err.contains("only 4 is spendable"), "{err}");
        assert!(err.contains("1.5 more is immature coinbase"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn refuses_zero_address_and_zero_amount() {
        let (node, keys) = funded_node();
        let mut req = request(COIN);
        req.to = Address::ZERO;
        let err = send(&node, &keys, &req).unwrap_err();
        assert!(
            matches!(err, WalletError::Send(SendError::ZeroAddress)),
            "{err}"
        );
        assert!(matches!(
            send(&node, &keys, &request(0)),
            Err(WalletError::Send(SendError::ZeroAmount))
        ));
        assert!(node.posted().is_empty());
    }

    #[test]
    fn fixed_fee_below_minimum_is_refused() {
        let (node, keys) = funded_node();
        let mut req = request(COIN);
        req.fee = FeePolicy::Fixed(Amount::from_units(1));
        let err = send(&node, &keys, &req).unwrap_err().to_string();
        assert!(err.contains("below the node's minimum"), "{err}");
        req.fee = FeePolicy::Fixed(Amount::from_units(100_000));
        let built = send(&node, &keys, &req).unwrap();
        assert_eq!(built.transaction.fee.units(), 100_000);
        assert_valid(&built.transaction);
    }

    #[test]
    fn a_fee_above_max_fee_is_refused_given_or_computed() {
        let (node, keys) = funded_node();
        // `send --fee 5 --amount 5`: refused before anything is looked up.
        let mut req = request(5 * COIN);
        req.fee = FeePolicy::Fixed(Amount::from_units(5 * COIN));
        let err = check_request(&req).unwrap_err();
        assert!(matches!(err, SendError::FeeAboveMax { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("the fee 5 is above the maximum of 0.1") && text.contains("--max-fee"),
            "{text}"
        );
        assert!(matches!(
            send(&node, &keys, &req),
            Err(WalletError::Send(SendError::FeeAboveMax { .. }))
        ));
        // A fee equal to the maximum is paid.
        let mut req = request(COIN);
        req.fee = FeePolicy::Fixed(req.max_fee);
        assert_valid(&send(&node, &keys, &req).unwrap().transaction);
        // Computed: at 100 000 units per byte, one input and change cost
        // more than 0.1.
        let mut req = request(COIN);
        req.fee = FeePolicy::PerByte(100_000);
        req.max_fee = Amount::from_units(COIN);
        let computed = send(&node, &keys, &req).unwrap().fee;
        assert!(computed > Amount::from_units(COIN / 10), "{computed}");
        req.max_fee = Amount::from_units(COIN / 10);
        let err = send(&node, &keys, &req).unwrap_err().to_string();
        assert!(
            err.contains(&format!("the fee {computed} is above the maximum of 0.1"))
                && err.contains("--max-fee"),
            "{err}"
        );
        assert!(node.posted().is_empty());
    }

    #[test]
    fn many_inputs_all_signed() {
        let keys = test_keys();
        let node = FakeNode::regtest(100);
        for i in 0..6u32 {
            let a = keys.address(KeyPath::receive(i)).unwrap();
            for n in 0..5u8 {
                node.add_confirmed_output(
                    a,
                    Hash([i as u8 * 10 + n + 1; 32]),
                    u32::from(n),
                    1_000_000,
                    5,
                    false,
                );
            }
        }
        let built = send(&node, &keys, &request(25_000_000)).unwrap();
        assert!(built.transaction.inputs.len() > 20);
        let addresses: std::collections::HashSet<_> = built
            .transaction
            .inputs
            .iter()
            .map(|i| i.output_address)
            .collect();
        assert!(addresses.len() > 1);
        assert_valid(&built.transaction);
    }
}
