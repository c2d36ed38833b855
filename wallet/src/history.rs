//! `wallet history`: the transactions touching the wallet, newest first,
//! one entry per transaction with the summed effect on all the wallet's
//! addresses, mempool ones first, in the node's order.

use std::collections::{BTreeSet, HashMap};

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
///
/// The node lists an address's confirmed transactions newest first (height
/// descending, then position in the block descending) and its mempool in
/// arrival order. Within one block (and within the mempool, newest first)
/// the merged list keeps every address's sequence: the transactions of a
/// block are ordered so that each address's order holds, and where no
/// address orders two of them, the one met first comes first. Nothing is
/// re-sorted by timestamp or hash.
pub fn wallet_history(
    node: &dyn NodeClient,
    discovery: &Discovery,
    tip_height: u64,
) -> Result<Vec<HistoryItem>, WalletError> {
    let mut items: HashMap<Hash, HistoryItem> = HashMap::new();
    // Every transaction's index in `met`, the order they were first met.
    let mut met: Vec<Hash> = Vec::new();
    // Each address's sequence (node order, newest first), as a list of
    // hashes; the mempool's reversed from arrival order.
    let mut sequences: Vec<Vec<Hash>> = Vec::new();
    for a in discovery.used() {
        let mut sequence = Vec::new();
        for entry in node.address_transactions(&a.address)? {
            let item = first_met(&mut items, &mut met, entry.hash, entry.timestamp);
            item.delta = item.delta.saturating_add(entry.delta);
            item.block_height = Some(entry.block_height);
            item.confirmations = tip_height
                .saturating_sub(entry.block_height)
                .saturating_add(1);
            sequence.push(entry.hash);
        }
        sequences.push(sequence);
        let mut mempool = Vec::new();
        for entry in node.address_mempool(&a.address)? {
            let item = first_met(&mut items, &mut met, entry.hash, entry.timestamp);
            item.delta = item.delta.saturating_add(entry.delta);
            mempool.push(entry.hash);
        }
        mempool.reverse();
        sequences.push(mempool);
    }
    let order = merge_sequences(&met, &sequences, |hash| {
        items
            .get(hash)
            .map_or(u64::MAX, |i| i.block_height.unwrap_or(u64::MAX))
    });
    Ok(order
        .into_iter()
        .filter_map(|hash| items.remove(&hash))
        .collect())
}

/// The transactions of `met` (in the order first met) grouped by `height`
/// descending (the mempool's `u64::MAX` first), each group ordered so that
/// every sequence's order between two of its members holds; where no
/// sequence orders two transactions (or the sequences contradict each
/// other), the one met first comes first.
fn merge_sequences(
    met: &[Hash],
    sequences: &[Vec<Hash>],
    height: impl Fn(&Hash) -> u64,
) -> Vec<Hash> {
    let rank: HashMap<Hash, usize> = met.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    let heights: Vec<u64> = met.iter().map(height).collect();
    // Edges between consecutive members of a sequence in the same group.
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); met.len()];
    let mut before_count: Vec<usize> = vec![0; met.len()];
    for sequence in sequences {
        for pair in sequence.windows(2) {
            let (Some(&a), Some(&b)) = (rank.get(&pair[0]), rank.get(&pair[1])) else {
                continue;
            };
            if a != b && heights[a] == heights[b] && !after[a].contains(&b) {
                after[a].push(b);
                before_count[b] += 1;
            }
        }
    }
    // Indexes by height descending, then first met.
    let mut by_height: Vec<usize> = (0..met.len()).collect();
    by_height.sort_by_key(|&i| (std::cmp::Reverse(heights[i]), i));
    let mut order = Vec::with_capacity(met.len());
    let mut placed = vec![false; met.len()];
    for members in by_height.chunk_by(|&a, &b| heights[a] == heights[b]) {
        // Kahn's algorithm, always taking the earliest-met ready member.
        let mut ready: BTreeSet<usize> = members
            .iter()
            .copied()
            .filter(|&i| before_count[i] == 0)
            .collect();
        let mut unplaced = members.iter().copied();
        loop {
            let next = match ready.pop_first() {
                Some(i) => i,
                // Contradicting sequences (a cycle): the earliest-met left.
                None => match unplaced.find(|&i| !placed[i]) {
                    Some(i) => i,
                    None => break,
                },
            };
            if placed[next] {
                continue;
            }
            placed[next] = true;
            order.push(met[next]);
            for &b in &after[next] {
                before_count[b] = before_count[b].saturating_sub(1);
                if before_count[b] == 0 && !placed[b] {
                    ready.insert(b);
                }
            }
        }
    }
    order
}

/// The entry of `hash`, created (and its first meeting recorded) when new.
fn first_met<'a>(
    items: &'a mut HashMap<Hash, HistoryItem>,
    met: &mut Vec<Hash>,
    hash: Hash,
    timestamp: u64,
) -> &'a mut HistoryItem {
    items.entry(hash).or_insert_with(|| {
        met.push(hash);
        HistoryItem {
            hash,
            delta: SignedAmount::ZERO,
            confirmations: 0,
            block_height: None,
            timestamp,
        }
    })
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

    #[test]
    fn order_within_a_block_is_the_nodes() {
        let keys = test_keys();
        let node = FakeNode::regtest(10);
        let r0 = keys.address(KeyPath::receive(0)).unwrap();
        let r1 = keys.address(KeyPath::receive(1)).unwrap();
        // Block 5 holds, by position descending, a (0xff), b (0x80), c (0x01):
        // r0 is touched by a and c, r1 by b and c. Hashes and timestamps
        // say nothing of the order.
        let (a, b, c) = (Hash([0xff; 32]), Hash([0x80; 32]), Hash([0x01; 32]));
        node.add_history(r0, a, 5, 1_000);
        node.add_history(r0, c, 5, 2_000);
        node.add_history(r1, b, 5, 3_000);
        node.add_history(r1, c, 5, 4_000);
        node.add_history(r1, Hash([0x02; 32]), 3, 5_000);
        // The mempool in arrival order: d then e; newest first is e, d.
        let (d, e) = (Hash([0x10; 32]), Hash([0x20; 32]));
        node.add_mempool_entry(r0, d, -1);
        node.add_mempool_entry(r0, e, -1);

        let discovery = discover(&keys, &node, 3, 0).unwrap();
        let history = wallet_history(&node, &discovery, 10).unwrap();
        let hashes: Vec<Hash> = history.iter().map(|i| i.hash).collect();
        assert_eq!(hashes, [e, d, a, b, c, Hash([0x02; 32])]);
        assert_eq!(history[4].delta.units(), 6_000);
    }

    #[test]
    fn contradicting_sequences_still_list_everything_once() {
        let (a, b) = (Hash([1; 32]), Hash([2; 32]));
        let order = merge_sequences(&[a, b], &[vec![a, b], vec![b, a]], |_| 5);
        assert_eq!(order, [a, b]);
    }
}
