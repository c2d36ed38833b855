//! The mempool: unconfirmed transactions in arrival order, bounded by count
//! and total size, evicting the lowest fee per byte (with descendants)
//! first, and refusing chains of unconfirmed spends past the limits of
//! [`policy`]. Pure bookkeeping: validation and persistence are the node's.

pub mod policy;

pub use policy::{MAX_ANCESTORS, MAX_DESCENDANTS, PolicyError};

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::consensus::transaction::KnownOutput;
use crate::types::{Address, Amount, Hash, OutPoint, Transaction};

/// Defaults of `--mempool-max-count` and `--mempool-max-size`.
pub const DEFAULT_MAX_COUNT: usize = 50_000;
pub const DEFAULT_MAX_SIZE: usize = 64_000_000;

/// A fee rate, compared exactly (fee / size as a fraction), ties by arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RateKey {
    fee: u64,
    size: u64,
    seq: u64,
}

impl Ord for RateKey {
    fn cmp(&self, other: &Self) -> Ordering {
        let a = u128::from(self.fee) * u128::from(other.size);
        let b = u128::from(other.fee) * u128::from(self.size);
        // Lower rate first; among equal rates the newest goes first.
        a.cmp(&b).then(other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for RateKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One unconfirmed transaction.
#[derive(Clone, Debug)]
pub struct Entry {
    pub tx: Arc<Transaction>,
    pub seq: u64,
    pub size: usize,
    /// Mempool transactions whose outputs this one spends.
    pub parents: Vec<Hash>,
    pub children: BTreeSet<Hash>,
}

impl Entry {
    fn rate_key(&self) -> RateKey {
        RateKey {
            fee: self.tx.fee.units(),
            size: self.size as u64,
            seq: self.seq,
        }
    }
}

/// What the mempool does to one address: outputs it spends and creates.
#[derive(Clone, Debug, Default)]
pub struct AddressView {
    /// Confirmed or unconfirmed outpoints spent by mempool transactions.
    pub spent: HashSet<OutPoint>,
    /// Unspent outputs of mempool transactions paying the address, in
    /// arrival order: (transaction hash, output index, value).
    pub created: Vec<(Hash, u32, Amount)>,
}

#[derive(Debug)]
pub struct Mempool {
    entries: HashMap<Hash, Entry>,
    arrival: BTreeMap<u64, Hash>,
    by_rate: BTreeSet<RateKey>,
    /// Outpoint → the mempool transaction spending it.
    spends: HashMap<OutPoint, Hash>,
    by_address: HashMap<Address, BTreeSet<u64>>,
    total_size: usize,
    next_seq: u64,
    pub max_count: usize,
    pub max_size: usize,
}

impl Mempool {
    pub fn new(max_count: usize, max_size: usize) -> Mempool {
        Mempool {
            entries: HashMap::new(),
            arrival: BTreeMap::new(),
            by_rate: BTreeSet::new(),
            spends: HashMap::new(),
            by_address: HashMap::new(),
            total_size: 0,
            next_seq: 0,
            max_count,
            max_size,
        }
    }

    /// The arrival number the next transaction gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn total_size(&self) -> usize {
        self.total_size
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.entries.contains_key(hash)
    }

    pub fn get(&self, hash: &Hash) -> Option<&Entry> {
        self.entries.get(hash)
    }

    /// The transaction at arrival position `index`.
    pub fn by_index(&self, index: usize) -> Option<&Entry> {
        self.arrival
            .values()
            .nth(index)
            .and_then(|h| self.entries.get(h))
    }

    /// Transactions in arrival order.
    pub fn in_arrival_order(&self) -> impl Iterator<Item = &Entry> {
        self.arrival.values().filter_map(|h| self.entries.get(h))
    }

    /// Transactions by fee per byte of size, highest first (among equal
    /// rates the oldest first): the order templates and the explorer's
    /// mempool page take them in.
    pub fn by_fee_rate(&self) -> impl Iterator<Item = &Entry> {
        self.by_rate
            .iter()
            .rev()
            .filter_map(|key| self.arrival.get(&key.seq))
            .filter_map(|h| self.entries.get(h))
    }

    /// Up to `limit` transactions of [`Mempool::by_fee_rate`]'s order from
    /// position `offset`: the skipped ones cost a step of the fee index
    /// each, no lookup.
    pub fn page_by_fee_rate(&self, offset: usize, limit: usize) -> impl Iterator<Item = &Entry> {
        self.by_rate
            .iter()
            .rev()
            .skip(offset)
            .take(limit)
            .filter_map(|key| self.arrival.get(&key.seq))
            .filter_map(|h| self.entries.get(h))
    }

    /// Transactions newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &Entry> {
        self.arrival
            .values()
            .rev()
            .filter_map(|h| self.entries.get(h))
    }

    /// The mempool transaction spending `outpoint`, if any.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<Hash> {
        self.spends.get(outpoint).copied()
    }

    /// An output created by a mempool transaction, with whether the mempool
    /// already spends it.
    pub fn output(&self, outpoint: &OutPoint) -> Option<KnownOutput> {
        let entry = self.entries.get(&outpoint.transaction_hash)?;
        let o = entry.tx.outputs.get(outpoint.output_index as usize)?;
        if o.address.is_zero() {
            return None;
        }
        Some(KnownOutput {
            address: o.address,
            value: o.value,
            hash: o.hash,
            height: None,
            coinbase: false,
            spent: self.spends.contains_key(outpoint),
        })
    }

    /// Entries in the order they would be evicted (lowest fee per byte first).
    fn cheapest(&self) -> Option<RateKey> {
        self.by_rate.iter().next().copied()
    }

    /// Whether `tx` (of `size`) fits, after evicting cheaper transactions if
    /// needed. Returns the transactions to evict, or `None` when it pays no
    /// more per byte than what would have to go (`mempool_full`).
    pub fn make_room(&self, tx: &Transaction, size: usize) -> Option<Vec<Hash>> {
        let new_key = RateKey {
            fee: tx.fee.units(),
            size: size as u64,
            seq: u64::MAX,
        };
        let mut count = self.entries.len() + 1;
        let mut bytes = self.total_size + size;
        let mut evicted: HashSet<Hash> = HashSet::new();
        let mut order = Vec::new();
        let mut rates = self.by_rate.iter();
        while count > self.max_count || bytes > self.max_size {
            let key = rates.next()?;
            let Some(hash) = self.arrival.get(&key.seq) else {
                continue;
            };
            if evicted.contains(hash) {
                continue;
            }
            // Compare rates only (seq would break the tie towards the newcomer).
            let cheaper = u128::from(key.fee) * u128::from(new_key.size)
                < u128::from(new_key.fee) * u128::from(key.size);
            if !cheaper {
                return None;
            }
            for h in self.with_descendants(hash) {
                if evicted.insert(h)
                    && let Some(e) = self.entries.get(&h)
                {
                    count -= 1;
                    bytes -= e.size;
                    order.push(h);
                }
            }
        }
        // A transaction whose parent would be evicted cannot stay either.
        if tx
            .inputs
            .iter()
            .any(|i| evicted.contains(&i.transaction_hash))
        {
            return None;
        }
        Some(order)
    }

    /// The limits on chains of unconfirmed spends (API.md §4): `tx` may
    /// have at most [`MAX_ANCESTORS`] ancestors in the pool, and no pool
    /// transaction may get more than [`MAX_DESCENDANTS`] descendants. Every
    /// walk stops one past its limit, so this costs at most a few hundred
    /// lookups whatever the pool holds.
    pub fn check_chain_limits(&self, tx: &Transaction) -> Result<(), PolicyError> {
        let mut ancestors: HashSet<Hash> = HashSet::new();
        let mut stack: Vec<Hash> = tx
            .inputs
            .iter()
            .map(|i| i.transaction_hash)
            .filter(|h| self.entries.contains_key(h))
            .collect();
        while let Some(h) = stack.pop() {
            if !ancestors.insert(h) {
                continue;
            }
            if ancestors.len() > MAX_ANCESTORS {
                return Err(PolicyError::ChainTooLong { of: tx.hash });
            }
            if let Some(e) = self.entries.get(&h) {
                stack.extend(e.parents.iter().copied());
            }
        }
        for a in &ancestors {
            if self.count_descendants(a, MAX_DESCENDANTS) + 1 > MAX_DESCENDANTS {
                return Err(PolicyError::ChainTooLong { of: *a });
            }
        }
        Ok(())
    }

    /// Descendants of `hash` in the pool (itself excluded), counted up to
    /// `bound + 1` at most.
    fn count_descendants(&self, hash: &Hash, bound: usize) -> usize {
        let mut seen: HashSet<Hash> = HashSet::new();
        let mut stack: Vec<Hash> = self
            .entries
            .get(hash)
            .map(|e| e.children.iter().copied().collect())
            .unwrap_or_default();
        while let Some(h) = stack.pop() {
            if seen.len() > bound {
                break;
            }
            if seen.insert(h)
                && let Some(e) = self.entries.get(&h)
            {
                stack.extend(e.children.iter().copied());
            }
        }
        seen.len()
    }

    /// Adds a validated transaction; its in-pool parents are those of its
    /// inputs that the mempool created.
    pub fn insert(&mut self, tx: Arc<Transaction>) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.insert_with_seq(tx, seq);
        seq
    }

    /// Adds a transaction keeping a known arrival number (reload at start).
    pub fn insert_with_seq(&mut self, tx: Arc<Transaction>, seq: u64) {
        self.next_seq = self.next_seq.max(seq + 1);
        let hash = tx.hash;
        let size = tx.size();
        let mut parents = Vec::new();
        for input in &tx.inputs {
            self.spends.insert(input.outpoint(), hash);
            if self.entries.contains_key(&input.transaction_hash)
                && !parents.contains(&input.transaction_hash)
            {
                parents.push(input.transaction_hash);
            }
        }
        for p in &parents {
            if let Some(parent) = self.entries.get_mut(p) {
                parent.children.insert(hash);
            }
        }
        for a in touched_addresses(&tx) {
            self.by_address.entry(a).or_default().insert(seq);
        }
        let entry = Entry {
            tx,
            seq,
            size,
            parents,
            children: BTreeSet::new(),
        };
        self.by_rate.insert(entry.rate_key());
        self.arrival.insert(seq, hash);
        self.total_size += size;
        self.entries.insert(hash, entry);
    }

    /// `hash` and every mempool transaction descending from it, parents
    /// before children.
    pub fn with_descendants(&self, hash: &Hash) -> Vec<Hash> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![*hash];
        while let Some(h) = stack.pop() {
            if !seen.insert(h) {
                continue;
            }
            if let Some(e) = self.entries.get(&h) {
                out.push((e.seq, h));
                stack.extend(e.children.iter().copied());
            }
        }
        out.sort();
        out.into_iter().map(|(_, h)| h).collect()
    }

    /// Removes one transaction (not its descendants).
    pub fn remove(&mut self, hash: &Hash) -> Option<Entry> {
        let entry = self.entries.remove(hash)?;
        self.by_rate.remove(&entry.rate_key());
        self.arrival.remove(&entry.seq);
        self.total_size -= entry.size;
        for input in &entry.tx.inputs {
            let key = input.outpoint();
            if self.spends.get(&key) == Some(hash) {
                self.spends.remove(&key);
            }
        }
        for p in &entry.parents {
            if let Some(parent) = self.entries.get_mut(p) {
                parent.children.remove(hash);
            }
        }
        for c in &entry.children {
            if let Some(child) = self.entries.get_mut(c) {
                child.parents.retain(|p| p != hash);
            }
        }
        for a in touched_addresses(&entry.tx) {
            if let Some(set) = self.by_address.get_mut(&a) {
                set.remove(&entry.seq);
                if set.is_empty() {
                    self.by_address.remove(&a);
                }
            }
        }
        Some(entry)
    }

    /// Removes `hash` with its descendants; returns what was removed.
    pub fn remove_with_descendants(&mut self, hash: &Hash) -> Vec<Hash> {
        let all = self.with_descendants(hash);
        for h in all.iter().rev() {
            self.remove(h);
        }
        all
    }

    /// Mempool transactions touching `address`, in arrival order.
    pub fn of_address(&self, address: &Address) -> Vec<&Entry> {
        self.by_address
            .get(address)
            .map(|seqs| {
                seqs.iter()
                    .filter_map(|s| self.arrival.get(s))
                    .filter_map(|h| self.entries.get(h))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the mempool spends from and creates for `address`.
    pub fn address_view(&self, address: &Address) -> AddressView {
        let mut view = AddressView::default();
        for e in self.of_address(address) {
            for i in &e.tx.inputs {
                if i.output_address == *address {
                    view.spent.insert(i.outpoint());
                }
            }
        }
        for e in self.of_address(address) {
            for o in &e.tx.outputs {
                if o.address == *address
                    && !self.spends.contains_key(&OutPoint::new(e.tx.hash, o.index))
                {
                    view.created.push((e.tx.hash, o.index, o.value));
                }
            }
        }
        view
    }

    /// Transactions for a block template: highest fee per byte first,
    /// parents before children, within `max_count` transactions and
    /// `max_size` bytes.
    pub fn select(&self, max_count: usize, max_size: usize) -> Vec<Arc<Transaction>> {
        let mut chosen: HashSet<Hash> = HashSet::new();
        let mut out: Vec<(u64, Arc<Transaction>)> = Vec::new();
        let mut size = 0usize;
        for key in self.by_rate.iter().rev() {
            if out.len() >= max_count {
                break;
            }
            let Some(hash) = self.arrival.get(&key.seq) else {
                continue;
            };
            if chosen.contains(hash) {
                continue;
            }
            // The transaction and its ancestors not chosen yet, oldest first.
            let mut package = Vec::new();
            let mut stack = vec![*hash];
            let mut seen = HashSet::new();
            while let Some(h) = stack.pop() {
                if chosen.contains(&h) || !seen.insert(h) {
                    continue;
                }
                if let Some(e) = self.entries.get(&h) {
                    package.push(e);
                    stack.extend(e.parents.iter().copied());
                }
            }
            let package_size: usize = package.iter().map(|e| e.size).sum();
            if out.len() + package.len() > max_count || size + package_size > max_size {
                continue;
            }
            package.sort_by_key(|e| e.seq);
            for e in package {
                chosen.insert(e.tx.hash);
                out.push((e.seq, e.tx.clone()));
            }
            size += package_size;
        }
        // Parents arrive before children: ordering each package by arrival
        // keeps that across packages too, since a later package never holds
        // an ancestor of an earlier one.
        out.into_iter().map(|(_, t)| t).collect()
    }

    /// The lowest-rate entry's hash, for tests and diagnostics.
    pub fn cheapest_hash(&self) -> Option<Hash> {
        self.cheapest()
            .and_then(|k| self.arrival.get(&k.seq).copied())
    }
}

/// Addresses a transaction spends from or pays (zero address excluded).
pub fn touched_addresses(tx: &Transaction) -> BTreeSet<Address> {
    tx.inputs
        .iter()
        .map(|i| i.output_address)
        .chain(tx.outputs.iter().map(|o| o.address))
        .filter(|a| !a.is_zero())
        .collect()
}

/// Signed effect of `tx` on `address`, in units.
pub fn net_effect(tx: &Transaction, address: &Address) -> i64 {
    let received: u64 = tx
        .outputs
        .iter()
        .filter(|o| o.address == *address)
        .map(|o| o.value.units())
        .sum();
    let sent: u64 = tx
        .inputs
        .iter()
        .filter(|i| i.output_address == *address)
        .map(|i| i.output_value.units())
        .sum();
    received as i64 - sent as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use crate::types::Input;
    use proptest::prelude::*;

    fn key() -> SecretKey {
        SecretKey::from_bytes(&[5; 32]).expect("valid key")
    }

    /// A transaction spending output `index` of `parent` (value `value`)
    /// into one output, paying `fee` units.
    fn tx(parent: Hash, index: u32, value: u64, fee: u64) -> Transaction {
        let k = key();
        let input = Input::spending(parent, index, k.address(), Amount::from_units(value));
        let mut t = Transaction::unsigned(
            1,
            vec![input],
            &[(k.address(), Amount::from_units(value - fee))],
        )
        .expect("fee within value");
        t.sign_all(&k);
        t
    }

    fn size() -> u64 {
        Transaction::size_for(1, 1) as u64
    }

    #[test]
    fn select_orders_by_fee_rate_with_parents_first() {
        let mut pool = Mempool::new(100, 1_000_000);
        let cheap_parent = tx(Hash([1; 32]), 0, 1_000_000, size());
        let rich_child = tx(cheap_parent.hash, 0, 1_000_000 - size(), 10 * size());
        let middle = tx(Hash([2; 32]), 0, 1_000_000, 3 * size());
        for t in [&cheap_parent, &rich_child, &middle] {
            pool.insert(Arc::new((*t).clone()));
        }
        let picked: Vec<Hash> = pool.select(10, 1_000_000).iter().map(|t| t.hash).collect();
        // The child's rate pulls its parent in first; then the middle one.
        assert_eq!(picked, [cheap_parent.hash, rich_child.hash, middle.hash]);
        // Room for one transaction: the best package that fits is `middle`.
        let one: Vec<Hash> = pool.select(1, 1_000_000).iter().map(|t| t.hash).collect();
        assert_eq!(one, [middle.hash]);
        assert!(pool.select(10, size() as usize - 1).is_empty());
    }

    /// Pages of the fee order: the whole order, a page at a time.
    #[test]
    fn pages_by_fee_rate_follow_the_fee_order() {
        let mut pool = Mempool::new(100, 1_000_000);
        for n in 0..7u8 {
            let fee = (u64::from(n) % 3 + 1) * size();
            pool.insert(Arc::new(tx(Hash([n + 1; 32]), 0, 1_000_000, fee)));
        }
        let all: Vec<Hash> = pool.by_fee_rate().map(|e| e.tx.hash).collect();
        assert_eq!(all.len(), 7);
        let paged: Vec<Hash> = (0..3)
            .flat_map(|page| pool.page_by_fee_rate(page * 3, 3).map(|e| e.tx.hash))
            .collect();
        assert_eq!(paged, all);
        assert_eq!(pool.page_by_fee_rate(6, 3).count(), 1);
        assert_eq!(pool.page_by_fee_rate(7, 3).count(), 0);
        assert_eq!(pool.page_by_fee_rate(usize::MAX, 3).count(), 0);
        let rates: Vec<u64> = pool.by_fee_rate().map(|e| e.tx.fee.units()).collect();
        assert!(rates.windows(2).all(|w| w[0] >= w[1]), "{rates:?}");
    }

    #[test]
    fn removal_takes_descendants_and_unindexes_everything() {
        let mut pool = Mempool::new(100, 1_000_000);
        let a = tx(Hash([1; 32]), 0, 1_000_000, size());
        let b = tx(a.hash, 0, 1_000_000 - size(), size());
        let c = tx(b.hash, 0, 1_000_000 - 2 * size(), size());
        for t in [&a, &b, &c] {
            pool.insert(Arc::new((*t).clone()));
        }
        assert_eq!(pool.with_descendants(&a.hash), [a.hash, b.hash, c.hash]);
        assert_eq!(pool.spender(&OutPoint::new(a.hash, 0)), Some(b.hash));
        assert_eq!(pool.remove_with_descendants(&b.hash), [b.hash, c.hash]);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.total_size(), a.size());
        assert_eq!(pool.spender(&OutPoint::new(a.hash, 0)), None);
        assert!(
            pool.output(&OutPoint::new(a.hash, 0))
                .is_some_and(|o| !o.spent)
        );
        let view = pool.address_view(&key().address());
        assert_eq!(view.created, [(a.hash, 0, a.outputs[0].value)]);
        assert!(view.spent.contains(&OutPoint::new(Hash([1; 32]), 0)));
    }

    #[test]
    fn make_room_evicts_cheapest_with_descendants_or_refuses() {
        let mut pool = Mempool::new(2, 1_000_000);
        let cheap = tx(Hash([1; 32]), 0, 1_000_000, size());
        let child = tx(cheap.hash, 0, 1_000_000 - size(), 9 * size());
        pool.insert(Arc::new(cheap.clone()));
        pool.insert(Arc::new(child.clone()));
        let same_rate = tx(Hash([3; 32]), 0, 1_000_000, size());
        assert_eq!(pool.make_room(&same_rate, same_rate.size()), None);
        let better = tx(Hash([3; 32]), 0, 1_000_000, 2 * size());
        assert_eq!(
            pool.make_room(&better, better.size()),
            Some(vec![cheap.hash, child.hash])
        );
        // A newcomer whose own parent would have to go is refused.
        let grandchild = tx(child.hash, 0, 1_000_000 - 10 * size(), 2 * size());
        assert_eq!(pool.make_room(&grandchild, grandchild.size()), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Whatever the fees and chains, a template never puts a child
        /// before its parent and stays within its limits.
        #[test]
        fn select_keeps_parents_first_and_limits(
            fees in prop::collection::vec(1u64..20, 1..24),
            chain_breaks in prop::collection::vec(any::<bool>(), 24),
            max_count in 1usize..30,
        ) {
            let mut pool = Mempool::new(1000, 10_000_000);
            let mut parent: Option<(Hash, u64)> = None;
            for (i, rate) in fees.iter().enumerate() {
                let (prev, value) = match parent {
                    Some(p) if !chain_breaks[i] => p,
                    _ => (Hash([i as u8 + 1; 32]), 10_000_000),
                };
                let t = tx(prev, 0, value, rate * size());
                parent = Some((t.hash, t.outputs[0].value.units()));
                pool.insert(Arc::new(t));
            }
            let picked = pool.select(max_count, 10_000_000);
            prop_assert!(picked.len() <= max_count);
            let mut seen = std::collections::HashSet::new();
            for t in &picked {
                for input in &t.inputs {
                    if pool.contains(&input.transaction_hash) {
                        prop_assert!(seen.contains(&input.transaction_hash), "child before parent");
                    }
                }
                seen.insert(t.hash);
            }
        }
    }
}
