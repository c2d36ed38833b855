//! The wallet's coins and balances as the node sees them, and what of it
//! `send` may spend: mature confirmed outputs, and unconfirmed outputs of
//! transactions the wallet sent itself (every input from its own
//! addresses). Never others' unconfirmed payments, never an immature
//! coinbase (PROTOCOL.md §4 step 12).

use std::collections::HashMap;

use cinder::consensus::ChainParams;
use cinder::types::{Address, Amount, Hash};
use serde::Serialize;

use crate::discovery::Discovery;
use crate::keys::KeyPath;
use crate::node::{ChainInfo, NodeClient};
use crate::{SignedAmount, WalletError};

/// The chain parameters of the node's chain (maturity differs per chain).
pub fn chain_params(chain: &ChainInfo) -> Result<ChainParams, WalletError> {
    ChainParams::by_name(&chain.name).ok_or_else(|| WalletError::UnknownChain(chain.name.clone()))
}

/// An unspent output paying one of the wallet's addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coin {
    pub transaction_hash: Hash,
    pub output_index: u32,
    pub address: Address,
    /// The key that can spend it.
    pub path: KeyPath,
    pub value: Amount,
    /// `None` while in the mempool.
    pub block_height: Option<u64>,
}

/// Whether `send` may spend a coin now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoinStatus {
    /// Mature and confirmed, or change of the wallet's own mempool transaction.
    Spendable,
    /// A coinbase output not mature before `spendable_at`.
    Immature { spendable_at: u64 },
    /// An output of someone else's mempool transaction.
    ForeignUnconfirmed,
}

/// Every unspent output of the wallet's used addresses, classified.
#[derive(Clone, Debug, Default)]
pub struct Funds {
    pub coins: Vec<(Coin, CoinStatus)>,
}

impl Funds {
    /// What `send` may spend.
    pub fn spendable(&self) -> Vec<Coin> {
        self.with_status(|s| s == CoinStatus::Spendable)
            .cloned()
            .collect()
    }

    pub fn spendable_total(&self) -> Amount {
        sum(self.with_status(|s| s == CoinStatus::Spendable))
    }

    pub fn immature_total(&self) -> Amount {
        sum(self.with_status(|s| matches!(s, CoinStatus::Immature { .. })))
    }

    pub fn foreign_unconfirmed_total(&self) -> Amount {
        sum(self.with_status(|s| s == CoinStatus::ForeignUnconfirmed))
    }

    fn with_status(&self, keep: impl Fn(CoinStatus) -> bool) -> impl Iterator<Item = &Coin> {
        self.coins
            .iter()
            .filter(move |(_, s)| keep(*s))
            .map(|(c, _)| c)
    }
}

fn sum<'a>(coins: impl Iterator<Item = &'a Coin>) -> Amount {
    Amount::from_units(coins.map(|c| c.value.units()).sum())
}

/// Lists and classifies the unspent outputs of the used addresses. A
/// coinbase of height `c` is spendable in the next block `h = tip + 1` when
/// `h - c >= coinbase_maturity`.
pub fn gather_funds(
    node: &dyn NodeClient,
    discovery: &Discovery,
    tip_height: u64,
    coinbase_maturity: u64,
) -> Result<Funds, WalletError> {
    let next_height = tip_height.saturating_add(1);
    let mut sent_by_wallet: HashMap<Hash, bool> = HashMap::new();
    let mut funds = Funds::default();
    for wallet_address in discovery.used() {
        for output in node.unspent_outputs(&wallet_address.address)? {
            let status = match output.block_height {
                Some(c) if output.coinbase && next_height.saturating_sub(c) < coinbase_maturity => {
                    CoinStatus::Immature {
                        spendable_at: c.saturating_add(coinbase_maturity),
                    }
                }
                Some(_) => CoinStatus::Spendable,
                None => {
                    let own = match sent_by_wallet.get(&output.transaction_hash) {
                        Some(own) => *own,
                        None => {
                            let own = match node.mempool_transaction(&output.transaction_hash)? {
                                Some(tx) => tx
                                    .inputs
                                    .iter()
                                    .all(|i| discovery.contains(&i.output_address)),
                                // Confirmed or evicted since the listing: not spendable now.
                                None => false,
                            };
                            sent_by_wallet.insert(output.transaction_hash, own);
                            own
                        }
                    };
                    if own {
                        CoinStatus::Spendable
                    } else {
                        CoinStatus::ForeignUnconfirmed
                    }
                }
            };
            funds.coins.push((
                Coin {
                    transaction_hash: output.transaction_hash,
                    output_index: output.output_index,
                    address: wallet_address.address,
                    path: wallet_address.path,
                    value: output.value,
                    block_height: output.block_height,
                },
                status,
            ));
        }
    }
    Ok(funds)
}

/// One address's part of the balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddressBalance {
    pub address: Address,
    #[serde(skip)]
    pub path: KeyPath,
    pub confirmed: Amount,
    pub immature: Amount,
    pub unconfirmed: SignedAmount,
}

/// `wallet balance`: `confirmed` (mature, confirmed), `immature` (coinbase
/// outputs not yet spendable), `unconfirmed` (the mempool's net effect,
/// negative while the wallet's own payment waits).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub confirmed: Amount,
    pub immature: Amount,
    pub unconfirmed: SignedAmount,
    #[serde(skip)]
    pub addresses: Vec<AddressBalance>,
}

pub fn compute_balance(discovery: &Discovery, funds: &Funds) -> Balance {
    let mut addresses = Vec::new();
    for a in discovery.used() {
        let immature = sum(funds
            .coins
            .iter()
            .filter(|(c, s)| c.address == a.address && matches!(s, CoinStatus::Immature { .. }))
            .map(|(c, _)| c));
        addresses.push(AddressBalance {
            address: a.address,
            path: a.path,
            confirmed: a.info.balance.saturating_sub(immature),
            immature,
            unconfirmed: a
                .info
                .unconfirmed_balance
                .saturating_add(SignedAmount::debit(a.info.balance)),
        });
    }
    let confirmed = Amount::from_units(addresses.iter().map(|a| a.confirmed.units()).sum());
    let immature = Amount::from_units(addresses.iter().map(|a| a.immature.units()).sum());
    let unconfirmed = addresses
        .iter()
        .fold(SignedAmount::ZERO, |s, a| s.saturating_add(a.unconfirmed));
    Balance {
        confirmed,
        immature,
        unconfirmed,
        addresses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::discover;
    use crate::fake_node::{FakeNode, mempool_transaction, test_keys};
    use crate::keys::KeySource;

    const COIN: u64 = 100_000_000;

    #[test]
    fn classifies_mature_immature_own_and_foreign_unconfirmed() {
        let keys = test_keys();
        let r0 = keys.address(KeyPath::receive(0)).unwrap();
        let r1 = keys.address(KeyPath::receive(1)).unwrap();
        let stranger: Address = "0x00000000000000000000000000000000000000aa"
            .parse()
            .unwrap();
        // Tip 10, regtest maturity 2: next block 11; coinbase at 9 is mature (11-9=2), at 10 not.
        let node = FakeNode::regtest(10);
        node.add_confirmed_output(r0, Hash([1; 32]), 0, 150_000_000, 9, true);
        node.add_confirmed_output(r0, Hash([2; 32]), 0, 150_000_000, 10, true);
        node.add_confirmed_output(r0, Hash([3; 32]), 1, 2 * COIN, 10, false);
        // Someone else pays r1, unconfirmed.
        let theirs = mempool_transaction(stranger, &[(r1, COIN)], 7);
        node.add_mempool_output(r1, &theirs, 0);
        // The wallet paid the stranger from r0, change back to r0, unconfirmed.
        let ours = mempool_transaction(r0, &[(stranger, COIN), (r0, COIN / 2)], 8);
        node.add_mempool_output(r0, &ours, 1);

        let discovery = discover(&keys, &node, 3, 0).unwrap();
        let funds = gather_funds(&node, &discovery, 10, 2).unwrap();
        let status_of = |hash: Hash| {
            funds
                .coins
                .iter()
                .find(|(c, _)| c.transaction_hash == hash)
                .unwrap()
                .1
        };
        assert_eq!(status_of(Hash([1; 32])), CoinStatus::Spendable);
        assert_eq!(
            status_of(Hash([2; 32])),
            CoinStatus::Immature { spendable_at: 12 }
        );
        assert_eq!(status_of(Hash([3; 32])), CoinStatus::Spendable);
        assert_eq!(status_of(theirs.hash), CoinStatus::ForeignUnconfirmed);
        assert_eq!(status_of(ours.hash), CoinStatus::Spendable);
        assert_eq!(
            funds.spendable_total().units(),
            150_000_000 + 2 * COIN + COIN / 2
        );
        assert_eq!(funds.immature_total().units(), 150_000_000);
        assert_eq!(funds.foreign_unconfirmed_total().units(), COIN);
        let spendable = funds.spendable();
        assert!(
            spendable
                .iter()
                .all(|c| c.transaction_hash != theirs.hash && c.transaction_hash != Hash([2; 32]))
        );
    }

    #[test]
    fn balance_splits_confirmed_immature_unconfirmed() {
        let keys = test_keys();
        let r0 = keys.address(KeyPath::receive(0)).unwrap();
        let r1 = keys.address(KeyPath::receive(1)).unwrap();
        let node = FakeNode::regtest(5);
        // Four coinbases of 1.5 at heights 2..=5, one more paying r1 at 1; maturity 2: 5 is immature.
        for h in 2..=5u64 {
            node.add_confirmed_output(r0, Hash([h as u8; 32]), 0, 150_000_000, h, true);
        }
        node.add_mempool_entry(r1, Hash([42; 32]), 30_000_000);
        node.add_mempool_entry(r0, Hash([43; 32]), -50_000_000);

        let discovery = discover(&keys, &node, 3, 0).unwrap();
        let funds = gather_funds(&node, &discovery, 5, 2).unwrap();
        let balance = compute_balance(&discovery, &funds);
        assert_eq!(balance.confirmed.units(), 450_000_000);
        assert_eq!(balance.immature.units(), 150_000_000);
        assert_eq!(balance.unconfirmed.units(), -20_000_000);
        assert_eq!(balance.addresses.len(), 2);
        assert_eq!(
            serde_json::to_string(&balance).unwrap(),
            r#"{"confirmed":4.5,"immature":1.5,"unconfirmed":-0.2}"#
        );
    }

    #[test]
    fn unknown_chain_is_refused() {
        let err = chain_params(&ChainInfo {
            name: "mainnet".into(),
            height: 0,
        })
        .unwrap_err();
        assert!(err.to_string().contains("mainnet"));
        assert_eq!(
            chain_params(&ChainInfo {
                name: "regtest".into(),
                height: 0
            })
            .unwrap()
            .coinbase_maturity,
            2
        );
    }

    #[test]
    fn unconfirmed_balance_below_zero_is_kept() {
        // The node's `unconfirmed_balance` is signed: 0.3 confirmed, 0.5
        // spent by mempool transactions (spending coins the listing has
        // not caught up with) is -0.2, an effect of -0.5.
        let keys = test_keys();
        let r0 = keys.address(KeyPath::receive(0)).unwrap();
        let node = FakeNode::regtest(5);
        node.add_confirmed_output(r0, Hash([1; 32]), 0, 30_000_000, 1, false);
        node.add_mempool_entry(r0, Hash([2; 32]), -50_000_000);
        let discovery = discover(&keys, &node, 3, 0).unwrap();
        assert_eq!(
            discovery.addresses[0].info.unconfirmed_balance.units(),
            -20_000_000
        );
        let funds = gather_funds(&node, &discovery, 5, 2).unwrap();
        let balance = compute_balance(&discovery, &funds);
        assert_eq!(balance.confirmed.units(), 30_000_000);
        assert_eq!(balance.unconfirmed.units(), -50_000_000);
    }
}
