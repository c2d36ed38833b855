//! Building and signing a payment (PROTOCOL.md §4): coins chosen by a
//! [`CoinSelection`] (or every coin, for `send --all`), one output to the
//! payee, change (when not zero) back to the first input's address or to a
//! fresh change address, every input signed over the sighash. No I/O but
//! through [`NodeClient`].

use cinder::types::{Address, Amount, Hash, Input, Output, Transaction};
use serde::Serialize;

use crate::WalletError;
use crate::coin_selection::{CoinSelection, FeePolicy, SelectionError, select_all};
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
    #[error("nothing to sweep: {spendable} is spendable and the fee is {fee}{extra}")]
    NothingToSweep {
        spendable: Amount,
        fee: Amount,
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

/// How much a payment pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendAmount {
    /// This much to the payee; the fee on top, change back.
    Exactly(Amount),
    /// `--all`: every spendable coin (at most the 256 largest), less the
    /// fee, and no change.
    All,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendRequest {
    pub to: Address,
    pub amount: SendAmount,
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
    /// For `send --all`: the spendable coins that did not fit (0: none).
    pub coins_left: Option<usize>,
}

/// `send --json` output: `{"hash","fee","change","change_address"}`, plus
/// `"amount","coins_left"` for `send --all`.
#[derive(Serialize)]
pub struct SendReport {
    pub hash: Hash,
    pub fee: Amount,
    pub change: Amount,
    pub change_address: Option<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coins_left: Option<usize>,
}

impl SignedSend {
    /// What was paid to the payee (output 0).
    pub fn amount(&self) -> Amount {
        self.transaction
            .outputs
            .first()
            .map_or(Amount::ZERO, |o| o.value)
    }

    pub fn report(&self) -> SendReport {
        SendReport {
            hash: self.transaction.hash,
            fee: self.fee,
            change: self.change,
            change_address: self.change_address,
            amount: self.coins_left.map(|_| self.amount()),
            coins_left: self.coins_left,
        }
    }
}

/// Checks what a user asked before anything is looked up.
pub fn check_request(request: &SendRequest) -> Result<(), SendError> {
    if request.to.is_zero() {
        return Err(SendError::ZeroAddress);
    }
    if request.amount == SendAmount::Exactly(Amount::ZERO) {
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

/// Selects among `coins` (all spendable; `selector` for an exact amount,
/// [`select_all`] for `--all`) and signs. Pure: `timestamp` is the
/// transaction's time.
pub fn build_transaction(
    coins: &[Coin],
    request: &SendRequest,
    selector: &dyn CoinSelection,
    keys: &dyn KeySource,
    timestamp: u64,
) -> Result<SignedSend, WalletError> {
    check_request(request)?;
    let (selection, amount, coins_left) = match request.amount {
        SendAmount::Exactly(amount) => {
            let selection = selector
                .select(coins, amount, request.fee)
                .map_err(SendError::Selection)?;
            (selection, amount, None)
        }
        SendAmount::All => {
            let sweep = select_all(coins, request.fee).map_err(SendError::Selection)?;
            (sweep.selection, sweep.amount, Some(sweep.left))
        }
    };
    check_max_fee(selection.fee, request.max_fee)?;
    let change_address = if selection.change == Amount::ZERO {
        None
    } else {
        Some(match request.change {
            ChangeTo::FirstInput => selection.inputs[0].address,
            ChangeTo::Address(a) => a,
        })
    };
    let mut outputs = vec![Output::new(0, request.to, amount)];
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
        coins_left,
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
        }))) => Err(SendError::Insufficient {
            amount: match request.amount {
                SendAmount::Exactly(amount) => amount,
                SendAmount::All => available,
            },
            needed,
            spendable: available,
            extra: not_yet_spendable(funds),
        }
        .into()),
        Err(WalletError::Send(SendError::Selection(SelectionError::NothingToSweep {
            available,
            fee,
        }))) => Err(SendError::NothingToSweep {
            spendable: available,
            fee,
            extra: not_yet_spendable(funds),
        }
        .into()),
        other => other,
    }
}

/// What the wallet holds but cannot spend yet, as ` (… more is …)`, or
/// nothing.
fn not_yet_spendable(funds: &Funds) -> String {
    let mut notes = Vec::new();
    let immature = funds.immature_total();
    if immature > Amount::ZERO {
        notes.push(format!("{immature} more is immature coinbase"));
    }
    let foreign = funds.foreign_unconfirmed_total();
    if foreign > Amount::ZERO {
        notes.push(format!("{foreign} more is unconfirmed from others"));
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coin_selection::{DEFAULT_FEE_RATE, LargestFirst};
    use crate::discovery::discover;
    use crate::fake_node::{FakeNode, mempool_transaction, test_keys};
    use crate::keys::KeyPath;
    use cinder::consensus::transaction::MAX_INPUTS;
    use cinder::consensus::transaction::{check_context_free, check_signatures};

    const COIN: u64 = 100_000_000;
    const NOW: u64 = 1_763_900_000;

    fn stranger() -> Address {
        Address::parse_checked("0x00000000000000000000000000000000000000aa").unwrap()
    }

    fn request(units: u64) -> SendRequest {
        SendRequest {
            to: stranger(),
            amount: SendAmount::Exactly(Amount::from_units(units)),
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

    fn sweep() -> SendRequest {
        SendRequest {
            amount: SendAmount::All,
            ..request(0)
        }
    }

    #[test]
    fn sweep_spends_every_spendable_coin_in_one_output() {
        let (node, keys) = funded_node();
        let r0 = keys.address(KeyPath::receive(0)).unwrap();
        let r1 = keys.address(KeyPath::receive(1)).unwrap();
        // The wallet's own unconfirmed change is swept, others' payment is not.
        let ours = mempool_transaction(r0, &[(stranger(), COIN), (r0, COIN / 4)], 8);
        node.add_mempool_output(r0, &ours, 1);
        let theirs = mempool_transaction(stranger(), &[(r1, 5 * COIN)], 9);
        node.add_mempool_output(r1, &theirs, 0);

        let built = send(&node, &keys, &sweep()).unwrap();
        let tx = &built.transaction;
        assert_valid(tx);
        // 1.5 + 2 + 0.5 confirmed and mature, 0.25 own change.
        assert_eq!(tx.inputs.len(), 4);
        assert!(tx.inputs.iter().any(|i| i.transaction_hash == ours.hash));
        assert!(
            tx.inputs
                .iter()
                .all(|i| i.transaction_hash != theirs.hash && i.transaction_hash != Hash([4; 32]))
        );
        let fee = FeePolicy::PerByte(DEFAULT_FEE_RATE).fee(4, 1);
        assert_eq!(built.fee, fee);
        assert_eq!(tx.outputs.len(), 1);
        assert_eq!(tx.outputs[0].address, stranger());
        assert_eq!(tx.outputs[0].value.units(), 425_000_000 - fee.units());
        assert_eq!((built.change, built.change_address), (Amount::ZERO, None));
        assert_eq!(built.coins_left, Some(0));
        let report = serde_json::to_value(built.report()).unwrap();
        assert_eq!(report["coins_left"], 0);
        assert_eq!(
            report["amount"],
            serde_json::to_value(built.amount()).unwrap()
        );
        // An exact-amount send reports as before: no `amount`, no `coins_left`.
        let exact = send(&node, &keys, &request(COIN)).unwrap();
        let report = serde_json::to_value(exact.report()).unwrap();
        assert!(report.get("amount").is_none() && report.get("coins_left").is_none());
    }

    #[test]
    fn sweep_beyond_max_inputs_leaves_the_smallest_coins_and_says_how_many() {
        let keys = test_keys();
        let node = FakeNode::regtest(100);
        for i in 0..6u32 {
            let a = keys.address(KeyPath::receive(i)).unwrap();
            for n in 0..50u32 {
                node.add_confirmed_output(
                    a,
                    Hash([i as u8 + 1; 32]),
                    n,
                    1_000_000 + u64::from(i * 50 + n),
                    5,
                    false,
                );
            }
        }
        let built = send(&node, &keys, &sweep()).unwrap();
        let tx = &built.transaction;
        assert_eq!(tx.inputs.len(), MAX_INPUTS);
        assert_eq!(built.coins_left, Some(300 - MAX_INPUTS));
        // The 44 smallest are left: every input is worth at least the 45th smallest.
        assert!(
            tx.inputs
                .iter()
                .all(|i| i.output_value.units() >= 1_000_044)
        );
        assert_valid(tx);
        // Within the protocol's and the API's limits: the block's 1 MB of
        // size (PROTOCOL.md §6) and the 256 KiB request body (API.md).
        assert!(tx.size() < 1_000_000);
        let body = serde_json::to_vec(tx).unwrap();
        assert!(body.len() < 256 * 1024, "{} bytes", body.len());
    }

    #[test]
    fn sweep_with_nothing_spendable_says_what_is_not_yet() {
        let keys = test_keys();
        let node = FakeNode::regtest(20);
        let r0 = keys.address(KeyPath::receive(0)).unwrap();
        node.add_confirmed_output(r0, Hash([4; 32]), 0, 150_000_000, 20, true);
        let err = send(&node, &keys, &sweep()).unwrap_err();
        assert!(
            matches!(err, WalletError::Send(SendError::NothingToSweep { .. })),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with("nothing to sweep: 0 is spendable")
                && text.contains("1.5 more is immature coinbase"),
            "{text}"
        );
    }

    #[test]
    fn sweep_respects_max_fee() {
        let (node, keys) = funded_node();
        let mut req = sweep();
        req.fee = FeePolicy::PerByte(100_000);
        let err = send(&node, &keys, &req).unwrap_err();
        assert!(
            matches!(err, WalletError::Send(SendError::FeeAboveMax { .. })),
            "{err}"
        );
        req.fee = FeePolicy::Fixed(Amount::from_units(COIN / 2));
        assert!(matches!(
            check_request(&req),
            Err(SendError::FeeAboveMax { .. })
        ));
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
