//! A chain held in memory that sync reads through [`ChainView`]: the
//! sync run's tests and the `sync_decisions` fuzz target drive a run
//! against it, with no store and no sockets. Blocks are taken as valid
//! (their verdicts are the caller's); the heaviest branch is active.

use std::collections::HashMap;
use std::convert::Infallible;

use primitive_types::U256;

use crate::consensus::block::context_depth;
use crate::consensus::{ChainParams, block_work};
use crate::types::{Block, Hash};

use super::sync::{BranchContext, KnownBlock};
use super::sync_run::{ChainView, Verdict};

/// A chain of stored blocks by hash, the active one by height (regtest).
pub struct MemoryChain {
    params: ChainParams,
    stored: HashMap<Hash, (Block, U256)>,
    active: Vec<Hash>,
    /// Blocks remembered invalid.
    pub invalid: Vec<Hash>,
}

impl MemoryChain {
    /// Genesis alone.
    pub fn new() -> MemoryChain {
        let params = ChainParams::regtest();
        let g = params.genesis();
        let work = block_work(&g.target);
        MemoryChain {
            active: vec![g.hash],
            stored: HashMap::from([(g.hash, (g, work))]),
            params,
            invalid: Vec::new(),
        }
    }

    /// Stores `block` (its parent must be stored) and moves the tip
    /// when its chain is heavier.
    pub fn connect(&mut self, block: &Block) -> Verdict {
        if self.stored.contains_key(&block.hash) {
            return Verdict::AlreadyKnown;
        }
        let Some((_, parent_work)) = self.stored.get(&block.prev_hash) else {
            return Verdict::UnknownParent;
        };
        let work = *parent_work + block_work(&block.target);
        self.stored.insert(block.hash, (block.clone(), work));
        if work > self.total_work() {
            let mut chain = vec![block.hash];
            let mut at = block.prev_hash;
            while let Some((b, _)) = self.stored.get(&at) {
                chain.push(b.hash);
                if b.height == 0 {
                    break;
                }
                at = b.prev_hash;
            }
            chain.reverse();
            self.active = chain;
        }
        Verdict::Connected
    }
}

impl ChainView for MemoryChain {
    type Error = Infallible;
    fn params(&self) -> &ChainParams {
        &self.params
    }
    fn total_work(&self) -> U256 {
        self.stored[self.active.last().expect("genesis")].1
    }
    fn tip_height(&self) -> u64 {
        self.active.len() as u64 - 1
    }
    fn active_hashes(&self, heights: &[u64]) -> Result<Vec<Hash>, Infallible> {
        Ok(heights
            .iter()
            .filter_map(|h| self.active.get(usize::try_from(*h).ok()?).copied())
            .collect())
    }
    fn branch_context(&self, hash: &Hash) -> Result<Option<BranchContext>, Infallible> {
        let Some((block, work)) = self.stored.get(hash) else {
            return Ok(None);
        };
        let mut tail = vec![(block.height, block.timestamp)];
        let mut at = block.clone();
        while tail.len() < context_depth(&self.params) && at.height > 0 {
            at = self.stored[&at.prev_hash].0.clone();
            tail.push((at.height, at.timestamp));
        }
        tail.reverse();
        Ok(Some(BranchContext {
            target: block.target,
            work: *work,
            tail,
        }))
    }
    fn block_status(&self, hash: &Hash) -> Result<KnownBlock, Infallible> {
        Ok(if self.invalid.contains(hash) {
            KnownBlock::Invalid
        } else if self.stored.contains_key(hash) {
            KnownBlock::Stored
        } else {
            KnownBlock::Unknown
        })
    }
    fn now_unix(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

impl Default for MemoryChain {
    fn default() -> Self {
        MemoryChain::new()
    }
}

impl MemoryChain {
    /// The active chain's tip.
    pub fn tip(&self) -> Hash {
        *self.active.last().unwrap_or(&self.params.genesis_hash)
    }
}
