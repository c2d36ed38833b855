//! Address discovery: walks the receive and change chains (PROTOCOL.md §3)
//! until [`GAP_LIMIT`](crate::GAP_LIMIT) addresses in a row are unused. An
//! address is used when the node counts a confirmed transaction for it or
//! its mempool lists one.

use cinder::crypto::KeyChain;
use cinder::types::Address;

use crate::WalletError;
use crate::keys::{KeyPath, KeySource};
use crate::node::{AddressInfo, NodeClient};

/// An address of the wallet, with what the node said about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletAddress {
    pub path: KeyPath,
    pub address: Address,
    pub info: AddressInfo,
    /// Has a confirmed or mempool transaction.
    pub used: bool,
}

/// What discovery found on both chains.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    /// Every address scanned, receive chain first, by index.
    pub addresses: Vec<WalletAddress>,
}

impl Discovery {
    pub fn used(&self) -> impl Iterator<Item = &WalletAddress> {
        self.addresses.iter().filter(|a| a.used)
    }

    /// The highest used index on `chain`.
    pub fn last_used(&self, chain: KeyChain) -> Option<u32> {
        self.used()
            .filter(|a| a.path.chain == chain)
            .map(|a| a.path.index)
            .max()
    }

    /// The first index after the last used one on `chain` (0 when none is used).
    pub fn next_unused(&self, chain: KeyChain) -> u32 {
        self.last_used(chain).map_or(0, |i| i.saturating_add(1))
    }

    /// The lowest index on `chain` with no transaction: what `wallet
    /// address` shows. Below [`Self::next_unused`] when an earlier address
    /// was skipped (handed out by `address --new` but never paid).
    pub fn first_unused(&self, chain: KeyChain) -> u32 {
        self.addresses
            .iter()
            .filter(|a| a.path.chain == chain && !a.used)
            .map(|a| a.path.index)
            .min()
            .unwrap_or_else(|| self.next_unused(chain))
    }

    /// The last used index on `chain` that a fresh `restore` would find:
    /// walking from index 0 and stopping after `gap_limit` unused in a row,
    /// whatever this keystore's kept receive index made discovery scan.
    pub fn restorable_last_used(&self, chain: KeyChain, gap_limit: u32) -> Option<u32> {
        let mut last_used = None;
        let mut unused_in_row = 0u32;
        let mut expected = 0u32;
        for a in self.addresses.iter().filter(|a| a.path.chain == chain) {
            if a.path.index != expected || unused_in_row >= gap_limit {
                break;
            }
            if a.used {
                last_used = Some(a.path.index);
                unused_in_row = 0;
            } else {
                unused_in_row += 1;
            }
            expected = expected.saturating_add(1);
        }
        last_used
    }

    /// The first index on `chain` that a fresh `restore` would not look at
    /// even if it were paid: `gap_limit` past the last used one it finds.
    pub fn restorable_frontier(&self, chain: KeyChain, gap_limit: u32) -> u32 {
        self.restorable_last_used(chain, gap_limit)
            .map_or(0, |u| u.saturating_add(1))
            .saturating_add(gap_limit)
    }

    /// Whether payments to `path` would be missed by a wallet restored
    /// from the mnemonic.
    pub fn beyond_restore(&self, path: KeyPath, gap_limit: u32) -> bool {
        path.index >= self.restorable_frontier(path.chain, gap_limit)
    }

    /// The key path of one of the wallet's addresses, if discovery met it.
    pub fn path_of(&self, address: &Address) -> Option<KeyPath> {
        self.addresses
            .iter()
            .find(|a| a.address == *address)
            .map(|a| a.path)
    }

    pub fn contains(&self, address: &Address) -> bool {
        self.path_of(address).is_some()
    }
}

/// Scans both chains through `node`. On the receive chain, at least the
/// first `min_receive` indexes are scanned (addresses the wallet handed
/// out with `address --new`, even past the gap).
pub fn discover(
    keys: &dyn KeySource,
    node: &dyn NodeClient,
    gap_limit: u32,
    min_receive: u32,
) -> Result<Discovery, WalletError> {
    let mut discovery = Discovery::default();
    for (chain, minimum) in [(KeyChain::Receive, min_receive), (KeyChain::Change, 0)] {
        let mut unused_in_row = 0u32;
        let mut index = 0u32;
        while unused_in_row < gap_limit || index < minimum {
            let path = KeyPath { chain, index };
            let address = keys.address(path)?;
            let info = node.address_info(&address)?;
            let used = info.transaction_count > 0 || !node.address_mempool(&address)?.is_empty();
            unused_in_row = if used { 0 } else { unused_in_row + 1 };
            discovery.addresses.push(WalletAddress {
                path,
                address,
                info,
                used,
            });
            index = match index.checked_add(1) {
                Some(i) => i,
                None => break,
            };
        }
    }
    Ok(discovery)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_node::{FakeNode, test_keys};
    use cinder::types::Hash;

    #[test]
    fn scans_to_the_gap_limit_on_both_chains() {
        let keys = test_keys();
        let node = FakeNode::regtest(10);
        // Receive index 0 and 3 used (confirmed), change index 1 used (mempool only).
        node.set_transaction_count(keys.address(KeyPath::receive(0)).unwrap(), 1);
        node.set_transaction_count(keys.address(KeyPath::receive(3)).unwrap(), 2);
        node.add_mempool_entry(keys.address(KeyPath::change(1)).unwrap(), Hash([9; 32]), 5);

        let found = discover(&keys, &node, 5, 0).unwrap();
        let receive: Vec<_> = found
            .addresses
            .iter()
            .filter(|a| a.path.chain == KeyChain::Receive)
            .collect();
        let change: Vec<_> = found
            .addresses
            .iter()
            .filter(|a| a.path.chain == KeyChain::Change)
            .collect();
        assert_eq!(receive.len(), 4 + 5);
        assert_eq!(change.len(), 2 + 5);
        assert_eq!(found.last_used(KeyChain::Receive), Some(3));
        assert_eq!(found.next_unused(KeyChain::Receive), 4);
        assert_eq!(found.next_unused(KeyChain::Change), 2);
        assert_eq!(found.used().count(), 3);
        // Index 1 was skipped: the first unused is below the next unused.
        assert_eq!(found.first_unused(KeyChain::Receive), 1);
        assert_eq!(found.first_unused(KeyChain::Change), 0);

        // An address past the gap is not found...
        let far = keys.address(KeyPath::receive(20)).unwrap();
        node.set_transaction_count(far, 1);
        let found = discover(&keys, &node, 5, 0).unwrap();
        assert!(!found.contains(&far));
        // ...unless the keystore says it was handed out.
        let found = discover(&keys, &node, 5, 21).unwrap();
        assert!(found.contains(&far));
        assert_eq!(found.last_used(KeyChain::Receive), Some(20));
    }

    #[test]
    fn empty_wallet_scans_gap_limit_addresses_per_chain() {
        let keys = test_keys();
        let node = FakeNode::regtest(0);
        let found = discover(&keys, &node, crate::GAP_LIMIT, 0).unwrap();
        assert_eq!(found.addresses.len(), 2 * crate::GAP_LIMIT as usize);
        assert_eq!(found.next_unused(KeyChain::Receive), 0);
        assert_eq!(found.first_unused(KeyChain::Receive), 0);
    }

    #[test]
    fn restorable_frontier_ignores_what_the_kept_index_scanned() {
        let keys = test_keys();
        let node = FakeNode::regtest(10);
        node.set_transaction_count(keys.address(KeyPath::receive(2)).unwrap(), 1);
        // Used only because it was handed out past the gap.
        node.set_transaction_count(keys.address(KeyPath::receive(30)).unwrap(), 1);
        let found = discover(&keys, &node, 5, 31).unwrap();
        assert_eq!(found.last_used(KeyChain::Receive), Some(30));
        assert_eq!(found.restorable_last_used(KeyChain::Receive, 5), Some(2));
        assert_eq!(found.restorable_frontier(KeyChain::Receive, 5), 8);
        assert!(!found.beyond_restore(KeyPath::receive(7), 5));
        assert!(found.beyond_restore(KeyPath::receive(8), 5));
        assert!(found.beyond_restore(KeyPath::receive(31), 5));
        // Nothing used on the change chain: restore scans indexes 0..5.
        assert_eq!(found.restorable_frontier(KeyChain::Change, 5), 5);
    }
}
