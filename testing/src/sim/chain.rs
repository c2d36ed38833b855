//! Blocks and transactions, validated once and shared: the arena holds
//! every real [`Block`] mined in a run (regtest rules, solved proof of
//! work) with its height, parent and cumulative work, and every
//! transaction; a node keeps only which blocks it stores, its active chain
//! (block ids by height) and which transactions its pool holds. So a run's
//! cost grows with its messages, not with nodes × validation.
//!
//! [`NodeView`] is what sync reads of a node's chain
//! ([`cinder::p2p::sync_run::ChainView`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use cinder::consensus::block::{context_depth, next_context};
use cinder::consensus::{ChainParams, block_work};
use cinder::p2p::sync::{BranchContext, KnownBlock};
use cinder::p2p::sync_run::ChainView;
use cinder::types::{Address, Amount, Block, BlockHeader, Hash, Input, Transaction};
use primitive_types::U256;

/// A block's index in the arena (genesis is 0).
pub type BlockId = u32;
/// A transaction's index in the arena.
pub type TxId = u32;

/// Most seconds a block's timestamp may be ahead of a node's clock
/// (PROTOCOL.md §6 step 8; `consensus::transaction::MAX_FUTURE_SECONDS`).
pub const MAX_FUTURE_SECONDS: u64 = 2 * 60 * 60;

/// One block of the arena.
#[derive(Debug)]
pub struct BlockEntry {
    pub block: Arc<Block>,
    pub parent: Option<BlockId>,
    pub height: u64,
    /// The work of the chain ending with this block.
    pub work: U256,
    /// Bytes of the block as it travels (JSON), its virtual transactions
    /// included.
    pub wire_bytes: usize,
    /// Transactions the intake checks (the coinbase and the virtual ones):
    /// what the intake's time is counted by.
    pub transactions: u32,
}

/// One transaction of the arena.
#[derive(Debug)]
pub struct TxEntry {
    pub tx: Arc<Transaction>,
    pub wire_bytes: usize,
}

/// Every block and transaction of a run.
#[derive(Debug)]
pub struct Arena {
    params: ChainParams,
    blocks: Vec<BlockEntry>,
    by_hash: HashMap<Hash, BlockId>,
    txs: Vec<TxEntry>,
    tx_by_hash: HashMap<Hash, TxId>,
    /// Bytes of one transaction of one input and two outputs (JSON): what
    /// a virtual transaction of a block weighs.
    tx_bytes: usize,
}

impl Arena {
    /// An arena holding the genesis block of `params`.
    pub fn new(params: ChainParams) -> Arena {
        let genesis = params.genesis();
        let mut arena = Arena {
            params,
            blocks: Vec::new(),
            by_hash: HashMap::new(),
            txs: Vec::new(),
            tx_by_hash: HashMap::new(),
            tx_bytes: 0,
        };
        arena.tx_bytes = wire_size(&*sample_transaction(0));
        arena.insert(genesis, None, 0);
        arena
    }

    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    pub fn block(&self, id: BlockId) -> &BlockEntry {
        &self.blocks[id as usize]
    }

    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    pub fn id_of(&self, hash: &Hash) -> Option<BlockId> {
        self.by_hash.get(hash).copied()
    }

    pub fn tx(&self, id: TxId) -> &TxEntry {
        &self.txs[id as usize]
    }

    pub fn tx_id_of(&self, hash: &Hash) -> Option<TxId> {
        self.tx_by_hash.get(hash).copied()
    }

    fn insert(&mut self, block: Block, parent: Option<BlockId>, virtual_txs: u32) -> BlockId {
        if let Some(id) = self.by_hash.get(&block.hash) {
            return *id;
        }
        let own = block_work(&block.target);
        let work = parent.map_or(own, |p| self.block(p).work + own);
        let id = self.blocks.len() as BlockId;
        let wire_bytes = wire_size(&block) + virtual_txs as usize * self.tx_bytes;
        self.by_hash.insert(block.hash, id);
        self.blocks.push(BlockEntry {
            height: block.height,
            transactions: block.transactions.len() as u32 + virtual_txs,
            block: Arc::new(block),
            parent,
            work,
            wire_bytes,
        });
        id
    }

    /// The last blocks of the branch ending with `id`, oldest first, as
    /// (height, timestamp): at most `depth` of them.
    pub fn tail(&self, id: BlockId, depth: usize) -> Vec<(u64, u64)> {
        let mut tail = Vec::with_capacity(depth);
        let mut at = Some(id);
        while let Some(b) = at {
            if tail.len() == depth {
                break;
            }
            let entry = self.block(b);
            tail.push((entry.height, entry.block.timestamp));
            at = entry.parent;
        }
        tail.reverse();
        tail
    }

    /// Mines a block on `parent` paying `creator`, at the clock `now_unix`
    /// (at least one second past the branch's median time past): the
    /// target the rules require, proof of work solved. `virtual_txs`
    /// transactions count in its size and its intake time without being
    /// built (a block of 100 payments, as the lab times).
    pub fn mine(
        &mut self,
        parent: BlockId,
        creator: Address,
        now_unix: u64,
        virtual_txs: u32,
    ) -> BlockId {
        let tail = self.tail(parent, context_depth(&self.params));
        let parent_block = self.block(parent).block.clone();
        let context = next_context(&self.params, &tail, &parent_block.target);
        let timestamp = now_unix.max(context.median_time_past + 1);
        let height = parent_block.height + 1;
        let mut block = Block::assemble(
            parent_block.hash,
            height,
            timestamp,
            context.required_target,
            creator,
            self.params.subsidy(height),
            Vec::new(),
        )
        .expect("a subsidy without fees cannot overflow");
        assert!(
            block.solve(100_000_000),
            "regtest proof of work is found within a few tries"
        );
        self.insert(block, Some(parent), virtual_txs)
    }

    /// A new transaction (number `n` of the run): a real one, unique by its
    /// hash, never validated again (the verdict is shared: accepted).
    pub fn new_transaction(&mut self) -> TxId {
        let n = self.txs.len() as u64;
        let tx = sample_transaction(n);
        let id = self.txs.len() as TxId;
        self.tx_by_hash.insert(tx.hash, id);
        self.txs.push(TxEntry {
            tx,
            wire_bytes: self.tx_bytes,
        });
        id
    }
}

/// Bytes of `value` in JSON.
fn wire_size<T: serde::Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(0, |v| v.len())
}

/// Transaction `n`: one input, a payment and change; its hash made unique
/// by `n` (the simulation never checks signatures: verdicts are shared).
fn sample_transaction(n: u64) -> Arc<Transaction> {
    let mut funding = [0u8; 32];
    funding[..8].copy_from_slice(&n.to_be_bytes());
    funding[31] = 0x51;
    let input = Input::spending(
        Hash(funding),
        0,
        Address([1; 20]),
        Amount::from_units(1_000_000),
    );
    let mut tx = Transaction::unsigned(
        1_763_769_600 + n,
        vec![input],
        &[
            (Address([2; 20]), Amount::from_units(600_000)),
            (Address([1; 20]), Amount::from_units(399_000)),
        ],
    )
    .expect("outputs within the input");
    tx.hash = Hash(funding);
    tx.hash.0[30] = 0x7e;
    Arc::new(tx)
}

/// How a block offered to a node fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connect {
    AlreadyKnown,
    UnknownParent,
    /// Its timestamp is past the node's clock + 2 h (`timestamp_in_future`).
    NotYet,
    /// Stored on a side branch of no more work.
    SideChain,
    /// It extends the active chain.
    Extended,
    /// The active chain moved to its branch; `removed` blocks left it.
    Reorganized {
        removed: u64,
    },
}

impl Connect {
    /// Whether the node's tip is now this block.
    pub fn moved_tip(self) -> bool {
        matches!(self, Connect::Extended | Connect::Reorganized { .. })
    }
}

/// What one node holds of the arena.
#[derive(Clone, Debug)]
pub struct NodeChain {
    /// Stored blocks, a bit per block id.
    has: Vec<u64>,
    /// The active chain: block ids by height.
    active: Vec<BlockId>,
}

impl Default for NodeChain {
    fn default() -> Self {
        NodeChain::genesis()
    }
}

impl NodeChain {
    /// A chain of genesis alone.
    pub fn genesis() -> NodeChain {
        NodeChain {
            has: vec![1],
            active: vec![0],
        }
    }

    pub fn has(&self, id: BlockId) -> bool {
        let (word, bit) = (id as usize / 64, id % 64);
        self.has.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    fn store(&mut self, id: BlockId) {
        let (word, bit) = (id as usize / 64, id % 64);
        if self.has.len() <= word {
            self.has.resize(word + 1, 0);
        }
        self.has[word] |= 1 << bit;
    }

    pub fn tip(&self) -> BlockId {
        *self.active.last().expect("the active chain holds genesis")
    }

    pub fn tip_height(&self) -> u64 {
        self.active.len() as u64 - 1
    }

    pub fn work(&self, arena: &Arena) -> U256 {
        arena.block(self.tip()).work
    }

    /// The active block at `height`.
    pub fn at(&self, height: u64) -> Option<BlockId> {
        self.active.get(height as usize).copied()
    }

    /// The block `id` offered to this node (posted, mined, or handed out by
    /// sync) at its clock `now_unix`: stored when its parent is, the active
    /// chain moved to it when it brings more work.
    pub fn connect(&mut self, arena: &Arena, id: BlockId, now_unix: u64) -> Connect {
        if self.has(id) {
            return Connect::AlreadyKnown;
        }
        let entry = arena.block(id);
        match entry.parent {
            Some(parent) if self.has(parent) => {}
            _ => return Connect::UnknownParent,
        }
        if entry.block.timestamp > now_unix.saturating_add(MAX_FUTURE_SECONDS) {
            return Connect::NotYet;
        }
        self.store(id);
        if entry.work <= self.work(arena) {
            return Connect::SideChain;
        }
        if entry.parent == Some(self.tip()) {
            self.active.push(id);
            return Connect::Extended;
        }
        // Down the new branch to the active chain.
        let mut branch = vec![id];
        let mut at = entry.parent;
        while let Some(b) = at {
            let e = arena.block(b);
            if self.at(e.height) == Some(b) {
                break;
            }
            branch.push(b);
            at = e.parent;
        }
        let fork_height = arena.block(*branch.last().expect("one block")).height - 1;
        let removed = self.tip_height() - fork_height;
        self.active.truncate(fork_height as usize + 1);
        self.active.extend(branch.into_iter().rev());
        Connect::Reorganized { removed }
    }

    /// `GET /headers/`: the active chain's headers after the first locator
    /// hash on it (after genesis when none is), at most `limit`.
    pub fn headers_after(&self, arena: &Arena, locator: &[Hash], limit: usize) -> Vec<BlockHeader> {
        let start = locator
            .iter()
            .find_map(|h| {
                arena
                    .id_of(h)
                    .map(|id| arena.block(id))
                    .filter(|e| {
                        self.at(e.height)
                            .is_some_and(|a| arena.block(a).block.hash == *h)
                    })
                    .map(|e| e.height)
            })
            .unwrap_or(0);
        self.active
            .iter()
            .skip(start as usize + 1)
            .take(limit)
            .map(|id| arena.block(*id).block.header())
            .collect()
    }

    /// `GET /blocks/?hashes=`: the blocks asked, in order, up to the first
    /// this node lacks.
    pub fn blocks(&self, arena: &Arena, hashes: &[Hash]) -> Vec<Block> {
        hashes
            .iter()
            .map_while(|h| arena.id_of(h).filter(|id| self.has(*id)))
            .map(|id| Block::clone(&arena.block(id).block))
            .collect()
    }
}

/// A node's chain as sync reads it.
pub struct NodeView<'a> {
    pub chain: &'a NodeChain,
    pub arena: &'a Arena,
    pub now_unix: u64,
}

impl ChainView for NodeView<'_> {
    type Error = Infallible;

    fn params(&self) -> &ChainParams {
        self.arena.params()
    }

    fn total_work(&self) -> U256 {
        self.chain.work(self.arena)
    }

    fn tip_height(&self) -> u64 {
        self.chain.tip_height()
    }

    fn active_hashes(&self, heights: &[u64]) -> Result<Vec<Hash>, Infallible> {
        Ok(heights
            .iter()
            .filter_map(|h| self.chain.at(*h))
            .map(|id| self.arena.block(id).block.hash)
            .collect())
    }

    fn branch_context(&self, hash: &Hash) -> Result<Option<BranchContext>, Infallible> {
        let Some(id) = self.arena.id_of(hash).filter(|id| self.chain.has(*id)) else {
            return Ok(None);
        };
        let entry = self.arena.block(id);
        Ok(Some(BranchContext {
            target: entry.block.target,
            work: entry.work,
            tail: self.arena.tail(id, context_depth(self.arena.params())),
        }))
    }

    fn block_status(&self, hash: &Hash) -> Result<KnownBlock, Infallible> {
        Ok(match self.arena.id_of(hash) {
            Some(id) if self.chain.has(id) => KnownBlock::Stored,
            _ => KnownBlock::Unknown,
        })
    }

    fn now_unix(&self) -> u64 {
        self.now_unix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_763_769_600 + 1_000_000;

    fn miner(n: u8) -> Address {
        Address([n; 20])
    }

    #[test]
    fn blocks_connect_in_order_and_the_heavier_branch_wins() {
        let mut arena = Arena::new(ChainParams::regtest());
        let a1 = arena.mine(0, miner(1), NOW, 0);
        let a2 = arena.mine(a1, miner(1), NOW + 10, 0);
        let b1 = arena.mine(0, miner(2), NOW, 0);
        let b2 = arena.mine(b1, miner(2), NOW + 10, 0);
        let b3 = arena.mine(b2, miner(2), NOW + 20, 0);
        assert_eq!(arena.block(b3).height, 3);
        assert!(arena.block(b3).work > arena.block(a2).work);

        let mut chain = NodeChain::genesis();
        assert_eq!(chain.connect(&arena, a2, NOW), Connect::UnknownParent);
        assert_eq!(chain.connect(&arena, a1, NOW), Connect::Extended);
        assert_eq!(chain.connect(&arena, a1, NOW), Connect::AlreadyKnown);
        assert_eq!(chain.connect(&arena, a2, NOW + 10), Connect::Extended);
        assert_eq!(chain.connect(&arena, b1, NOW), Connect::SideChain);
        assert_eq!(
            chain.connect(&arena, b2, NOW),
            Connect::SideChain,
            "equal work: first seen stays"
        );
        assert_eq!(chain.tip(), a2);
        assert_eq!(
            chain.connect(&arena, b3, NOW),
            Connect::Reorganized { removed: 2 }
        );
        assert_eq!(chain.tip(), b3);
        assert_eq!(chain.at(1), Some(b1));
        assert_eq!(chain.tip_height(), 3);
        // The clock: a block two hours and more ahead is "not yet".
        let late = arena.mine(b3, miner(2), NOW + 3 * 3600, 0);
        assert_eq!(chain.connect(&arena, late, NOW), Connect::NotYet);
    }

    #[test]
    fn headers_and_blocks_answer_like_the_api() {
        let mut arena = Arena::new(ChainParams::regtest());
        let mut ids = vec![0];
        for i in 0..5 {
            let id = arena.mine(*ids.last().expect("genesis"), miner(1), NOW + i, 0);
            ids.push(id);
        }
        let mut chain = NodeChain::genesis();
        for id in &ids[1..] {
            chain.connect(&arena, *id, NOW + 10);
        }
        let hash = |id: BlockId| arena.block(id).block.hash;
        let after2 = chain.headers_after(&arena, &[Hash([9; 32]), hash(ids[2])], 2);
        assert_eq!(after2.iter().map(|h| h.height).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(
            chain.headers_after(&arena, &[], 100).len(),
            5,
            "from genesis"
        );
        let asked = [hash(ids[1]), hash(ids[2]), Hash([9; 32]), hash(ids[3])];
        assert_eq!(
            chain.blocks(&arena, &asked).len(),
            2,
            "stops at the first lacking"
        );
        let view = NodeView {
            chain: &chain,
            arena: &arena,
            now_unix: NOW,
        };
        let context = view
            .branch_context(&hash(ids[3]))
            .expect("infallible")
            .expect("stored");
        assert_eq!(context.tail.last().map(|t| t.0), Some(3));
        assert_eq!(context.tail.first().map(|t| t.0), Some(0));
        assert_eq!(
            view.active_hashes(&[5, 9, 0]).expect("infallible"),
            [hash(ids[5]), hash(ids[0])]
        );
    }

    #[test]
    fn transactions_are_unique() {
        let mut arena = Arena::new(ChainParams::regtest());
        let a = arena.new_transaction();
        let b = arena.new_transaction();
        assert_ne!(arena.tx(a).tx.hash, arena.tx(b).tx.hash);
        assert_eq!(arena.tx_id_of(&arena.tx(b).tx.hash), Some(b));
        assert!(arena.tx(a).wire_bytes > 200);
    }
}
