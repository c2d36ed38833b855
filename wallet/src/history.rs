//! `wallet history`: the transactions touching the wallet, newest first,
//! one entry per transaction with the summed effect on all the wallet's
//! addresses, mempool ones first.

use std::collections::HashMap;

use cinder::types::Hash;
use serde::Serialize;

use crate::discovery::Discovery;
use crate::node::NodeClient;
use crate::{SignedAmount, WalletError};

/// One transaction as `history --json` writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryItem {
    pub hash: Hash,
    pub delta: SignedAmount,
    /// `tip − block_height + 1`; 0 in the mempool.
    pub confirmations: u64,
    /// `None` in the mempool.
    pub block_height: Option<u64>,
    #[serde(skip)]
    pub timestamp: u64,
}

/// Merges the confirmed and mempool entries of every used address.
pub fn wallet_history(
    node: &dyn NodeClient,
    discovery: &Discovery,
    tip_height: u64,
) -> Result<Vec<HistoryItem>, WalletError> {
    let mut items: HashMap<Hash, HistoryItem> = HashMap::new();
    for a in discovery.used() {
        for entry in node.address_transactions(&a.address)? {
            let item = items.entry(entry.hash).or_insert(HistoryItem {
                hash: entry.hash,
                delta: SignedAmount::ZERO,
                confirmations: 0,
                block_height: None,
                timestamp: entry.timestamp,
            });
            item.delta = item.delta.saturating_add(entry.delta);
            item.block_height = Some(entry.block_height);
            item.confirmations = tip_height
                .saturating_sub(entry.block_height)
                .saturating_add(1);
        }
        for entry in node.address_mempool(&a.address)? {
            let item = items.entry(entry.hash).or_insert(HistoryItem {
                hash: entry.hash,
                delta: SignedAmount::ZERO,
                confirmations: 0,
                block_height: None,
                timestamp: entry.timestamp,
            });
            item.delta = item.delta.saturating_add(entry.delta);
        }
    }
    let mut list: Vec<HistoryItem> = items.into_values().collect();
    // Mempool first, then by height descending; ties by time, then hash.
    list.sort_by(|a, b| {
        let height = |i: &HistoryItem| i.block_height.unwrap_or(u64::MAX);
        height(b)
            .cmp(&height(a))
            .then_with(|| b.timestamp.cmp(&a.timestamp))
            .then_with(|| a.hash.cmp(&b.hash))
    });
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::discover;
    use crate::fake_node::{FakeNode, test_keys};
    use crate::keys::{KeyPath, KeySource};

    #[test]
    fn merges_addresses_and_orders_newest_first() {
        let keys = test_keys();
        let node = FakeNode::regtest(10);
        let r0 = keys.address(KeyPath::receive(0)).unwrap();
        let r1 = keys.address(KeyPath::receive(1)).unwrap();
        let c0 = keys.address(KeyPath::change(0)).unwrap();
        node.add_history(r0, Hash([1; 32]), 2, 150_000_000);
        // A payment of 1 spending 1.5 of r0, 0.4 change to c0 (fee 0.1): one entry, -1.1.
        node.add_history(r0, Hash([2; 32]), 7, -150_000_000);
        node.add_history(c0, Hash([2; 32]), 7, 40_000_000);
        node.add_history(r1, Hash([3; 32]), 9, 120_000_000);
        node.add_mempool_entry(r1, Hash([4; 32]), -20_000_000);

        let discovery = discover(&keys, &node, 3, 0).unwrap();
        let history = wallet_history(&node, &discovery, 10).unwrap();
        let hashes: Vec<Hash> = history.iter().map(|i| i.hash).collect();
        assert_eq!(
            hashes,
            [Hash([4; 32]), Hash([3; 32]), Hash([2; 32]), Hash([1; 32])]
        );
        assert_eq!(history[0].confirmations, 0);
        assert_eq!(history[0].block_height, None);
        assert_eq!(history[1].confirmations, 2);
        assert_eq!(history[2].delta.units(), -110_000_000);
        assert_eq!(history[3].confirmations, 9);
        let json = serde_json::to_string(&history[2]).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"hash":"{}","delta":-1.1,"confirmations":4,"block_height":7}}"#,
                Hash([2; 32])
            )
        );
        let json = serde_json::to_string(&history[0]).unwrap();
        assert!(
            json.ends_with(r#""delta":-0.2,"confirmations":0,"block_height":null}"#),
            "{json}"
        );
    }
}
