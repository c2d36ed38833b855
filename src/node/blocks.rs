//! Block intake (`POST /blocks/`, the miner, sync): PROTOCOL.md §6 in
//! order, connection or a side branch, reorganisation to the heaviest valid
//! chain (§7), and the mempool after each.

use std::sync::{Arc, MutexGuard};

use rayon::prelude::*;

use super::transactions::Policy;
use super::{Accepted, Node, NodeEvent, Origin, TxRejected};
use crate::consensus::block::{
    check_block_body, check_block_hash, check_block_shape, check_header_context, check_pow,
};
use crate::consensus::transaction::check_signatures;
use crate::consensus::{BlockError, RuleError};
use crate::mempool::PolicyError;
use crate::state::{ChainStore, ConnectError, PoolOp, ReorgError, Reorganized, StoreError};
use crate::types::{Block, Hash, Transaction};

/// Why a block was refused.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// A consensus rule, with the transaction index where one failed, and
    /// the failing block's hash when it is not the one posted.
    #[error("{error}")]
    Rule {
        error: BlockError,
        block: Option<Hash>,
    },
    /// A block remembered as invalid, posted again: its own error again.
    #[error("{message}")]
    KnownInvalid {
        code: String,
        message: String,
        transaction: Option<usize>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RuleError> for Rejected {
    fn from(e: RuleError) -> Self {
        Rejected::Rule {
            error: e.into(),
            block: None,
        }
    }
}

impl From<BlockError> for Rejected {
    fn from(e: BlockError) -> Self {
        Rejected::Rule {
            error: e,
            block: None,
        }
    }
}

impl Rejected {
    /// What sync makes of this refusal of a block it fetched (the rule's
    /// variant, never its text); `None` for a store failure, which ends the
    /// run.
    pub fn sync_verdict(&self) -> Option<crate::p2p::sync_run::Verdict> {
        use crate::consensus::RuleError;
        use crate::p2p::sync_run::Verdict;
        Some(match self {
            Rejected::Rule { error, .. } => match &error.error {
                RuleError::AlreadyKnown => Verdict::AlreadyKnown,
                RuleError::UnknownParent(_) => Verdict::UnknownParent,
                RuleError::TimestampInFuture { .. } => Verdict::NotYet,
                other => Verdict::Invalid(other.code().to_string()),
            },
            Rejected::KnownInvalid { code, .. } => Verdict::Invalid(code.clone()),
            Rejected::Store(_) => return None,
        })
    }

    /// The API's error code.
    pub fn code(&self) -> &str {
        match self {
            Rejected::Rule { error, .. } => error.error.code(),
            Rejected::KnownInvalid { code, .. } => code,
            Rejected::Store(_) => "internal",
        }
    }
}

/// A test's way to stop the process at a chosen point, as a crash would
/// (`CINDER_TEST_FAULT=before_reorg`: after the heavier side block is
/// committed, before the reorganisation runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FaultPoint {
    BeforeReorg,
}

impl FaultPoint {
    pub(super) fn from_env() -> Option<FaultPoint> {
        match std::env::var("CINDER_TEST_FAULT").ok()?.as_str() {
            "before_reorg" => Some(FaultPoint::BeforeReorg),
            _ => None,
        }
    }
}

/// How a block joining the active chain is logged (API.md §8 "Progress").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BlockLine {
    Info,
    /// This node's miner mining flat out: its 10 s summary counts them.
    Debug,
}

impl BlockLine {
    /// Every block that joins the active chain is a line at info, whatever
    /// brought it (a client, a peer, a sync run, a restart, the miner), but
    /// one this node's miner found less than `SUMMARY_EVERY` after its
    /// previous one: that is mining flat out, logged at debug and counted
    /// by the miner's summary line at info.
    pub(super) fn of(origin: Origin, since_last_mined: Option<std::time::Duration>) -> BlockLine {
        match (origin, since_last_mined) {
            (Origin::Miner, Some(since)) if since < crate::miner::SUMMARY_EVERY => BlockLine::Debug,
            _ => BlockLine::Info,
        }
    }
}

/// The line of a block that joined the active chain: `height`, `hash`,
/// `transactions` (how many), `origin` (api, peer, miner, sync, restart)
/// and, for a peer, `peer` (its `ip:port`).
fn log_block_connected(block: &Block, origin: Origin, line: BlockLine) {
    let peer = origin.peer().map(tracing::field::display);
    let origin = origin.block_label();
    match line {
        BlockLine::Info => tracing::info!(
            height = block.height,
            hash = %block.hash,
            transactions = block.transactions.len(),
            origin = %origin,
            peer,
            "block connected"
        ),
        BlockLine::Debug => tracing::debug!(
            height = block.height,
            hash = %block.hash,
            transactions = block.transactions.len(),
            origin = %origin,
            peer,
            "block connected"
        ),
    }
}

impl Node {
    /// How the blocks one intake from `origin` connects are logged (a
    /// block of the miner's stamps the time of its last one).
    fn block_line(&self, origin: Origin) -> BlockLine {
        if origin != Origin::Miner {
            return BlockLine::of(origin, None);
        }
        let now = std::time::Instant::now();
        let mut last = self
            .miner_last_block
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let since = last.map(|t| now.saturating_duration_since(t));
        *last = Some(now);
        BlockLine::of(origin, since)
    }

    /// A block joined the active chain: its log line, then its event
    /// (called with no lock held).
    fn block_connected(&self, block: Arc<Block>, origin: Origin, line: BlockLine) {
        log_block_connected(&block, origin, line);
        self.publish(NodeEvent::BlockConnected { block, origin });
    }

    /// Checks a block in the order of PROTOCOL.md §6 and connects it when it
    /// extends the active chain.
    pub fn submit_block(&self, block: &Block) -> Result<Accepted, Rejected> {
        self.submit_block_from(block, Origin::Api)
    }

    /// [`Node::submit_block`] naming where the block came from.
    pub fn submit_block_from(&self, block: &Block, origin: Origin) -> Result<Accepted, Rejected> {
        let result = self.take_block(block, origin);
        let answer = match &result {
            Ok(status) => status.as_str(),
            Err(e) => e.code(),
        };
        self.metrics.block(origin.block_label(), answer);
        result
    }

    fn take_block(&self, block: &Block, origin: Origin) -> Result<Accepted, Rejected> {
        // Steps 1–2: nothing to look up.
        check_block_shape(block)?;
        check_block_hash(block)?;
        let parent_context = {
            let store = self.store();
            // Step 3, and an invalid block's own error again.
            if let Some(bad) = store.invalid(&block.hash)? {
                return Err(Rejected::KnownInvalid {
                    code: bad.code,
                    message: bad.message,
                    transaction: bad.transaction,
                });
            }
            if store.record(&block.hash)?.is_some() {
                return Err(RuleError::AlreadyKnown.into());
            }
            check_pow(block)?; // step 4
            // Step 5.
            if store.invalid(&block.prev_hash)?.is_some() {
                return Err(RuleError::InvalidParent.into());
            }
            let Some(parent) = store.record(&block.prev_hash)? else {
                return Err(RuleError::UnknownParent(block.prev_hash).into());
            };
            store.parent_context(&parent)?
        };
        check_header_context(block, &parent_context, self.now())?; // steps 6–8
        let sighashes = check_block_body(block, &self.params)?; // steps 9–13
        // Step 15 on all cores, on a thread of its own while this one checks
        // and applies step 14 (which reports it in sequential order). The
        // store stays locked until they are done: nothing running on the
        // rayon pool may ever wait for the store's lock.
        let check_signatures_of_block = || -> Vec<Result<(), RuleError>> {
            block
                .transactions
                .par_iter()
                .zip(sighashes.par_iter())
                .enumerate()
                .map(|(i, (tx, sighash))| {
                    if i == 0 {
                        Ok(())
                    } else {
                        check_signatures(tx, sighash)
                    }
                })
                .collect()
        };
        std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("signatures".into())
                .spawn_scoped(scope, check_signatures_of_block);
            let signatures = || match worker {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: checked here, before step 14.
                Err(_) => check_signatures_of_block(),
            };
            self.connect_checked(block, origin, signatures)
        })
    }

    /// The rest of [`Node::submit_block_from`] for a block that passed
    /// steps 1–13: a side branch, a reorganisation, or step 14 and the
    /// connection, with `signatures` giving step 15's results when needed.
    fn connect_checked(
        &self,
        block: &Block,
        origin: Origin,
        signatures: impl FnOnce() -> Vec<Result<(), RuleError>>,
    ) -> Result<Accepted, Rejected> {
        let mut store = self.store();
        if store.record(&block.hash)?.is_some() {
            return Err(RuleError::AlreadyKnown.into());
        }
        // The parent may have been found invalid while the lock was free.
        if store.invalid(&block.prev_hash)?.is_some() {
            return Err(RuleError::InvalidParent.into());
        }
        let tip = store.tip()?;
        if block.prev_hash != tip.hash {
            // A side branch (PROTOCOL.md §7): stored with its work; the node
            // moves to it only when it is strictly heavier.
            let work = store.store_side_block(block)?;
            if work <= tip.total_work {
                tracing::debug!(hash = %block.hash, height = block.height, "side-chain block stored");
                // Posted lighter branches take a bounded share of the disk
                // (API.md §8 "Work before bodies"); nothing is pruned while
                // a sync brings the bodies of a branch that showed more
                // work (its first blocks are side blocks until it wins).
                if origin != Origin::Sync && !self.sync_bodies_incoming() {
                    let (deleted, bytes) = store.prune_side_blocks(self.max_side_bytes)?;
                    if deleted > 0 {
                        tracing::info!(
                            deleted,
                            kept_bytes = bytes,
                            max = self.max_side_bytes,
                            "lighter side-branch blocks deleted"
                        );
                    }
                }
                return Ok(Accepted::SideChain);
            }
            if self.fault == Some(FaultPoint::BeforeReorg) {
                tracing::warn!("CINDER_TEST_FAULT=before_reorg: aborting");
                std::process::abort();
            }
            return self.reorganize(store, block.hash, origin);
        }
        match store.connect_block(block, signatures) {
            Ok(()) => {
                let block = Arc::new(block.clone());
                {
                    // The block is committed: the pool's bookkeeping must not
                    // keep the tip from moving. Pool and snapshot change
                    // together, under the pool's lock.
                    let mut pool = self.pool();
                    self.remove_confirmed(&mut pool, &block);
                    self.refresh_snapshot(&store, Some(&block))?;
                    self.pool_changed(&pool);
                }
                drop(store);
                if let Err(e) = self.journal.flush() {
                    tracing::error!("mempool table after block {}: {e}", block.hash);
                }
                let line = self.block_line(origin);
                self.block_connected(block.clone(), origin, line);
                self.publish(NodeEvent::TipChanged {
                    tip: block,
                    status: Accepted::Connected,
                    origin,
                });
                Ok(Accepted::Connected)
            }
            Err(ConnectError::Rule(error)) => Err(error.into()),
            Err(ConnectError::Store(e)) => Err(e.into()),
        }
    }

    /// After a restart (or a failed reorganisation): moves to the heaviest
    /// valid chain stored, if it is not the active one (API.md §7).
    pub(super) fn settle_on_heaviest(&self) -> Result<(), StoreError> {
        let store = self.store();
        let tip = store.tip()?;
        let Some(best) = store.heaviest_candidate()? else {
            return Ok(());
        };
        if best.cumulative_work <= tip.total_work {
            return Ok(());
        }
        tracing::info!(tip = %best.hash, height = best.height, "moving to the heaviest stored chain");
        match self.reorganize(store, best.hash, Origin::Restart) {
            Ok(_) => Ok(()),
            Err(Rejected::Store(e)) => Err(e),
            Err(e) => {
                tracing::warn!("a stored branch is invalid: {e}");
                Ok(())
            }
        }
    }

    /// Moves to the branch ending at `new_tip`; if one of its blocks fails
    /// step 14, marks it (and what is built on it) invalid in a following
    /// transaction and ends on the heaviest chain still valid, answering
    /// that block's error.
    fn reorganize(
        &self,
        mut store: MutexGuard<'_, ChainStore>,
        new_tip: Hash,
        origin: Origin,
    ) -> Result<Accepted, Rejected> {
        let old_tip = store.tip()?.hash;
        let mut target = new_tip;
        let mut first_error: Option<Rejected> = None;
        let mut done = Reorganized::default();
        loop {
            match store.reorganize(&target) {
                Ok(step) => {
                    tracing::info!(
                        disconnected = step.disconnected.len(),
                        connected = step.connected.len(),
                        tip = %target,
                        "reorganized to a heavier branch"
                    );
                    done.disconnected.extend(step.disconnected);
                    done.connected.extend(step.connected);
                    break;
                }
                Err(ReorgError::Invalid { block, error }) => {
                    tracing::warn!(%block, "branch block invalid: {error}");
                    store.mark_invalid(&block, &error)?;
                    if first_error.is_none() {
                        first_error = Some(Rejected::Rule {
                            error,
                            block: (block != new_tip).then_some(block),
                        });
                    }
                    // The heaviest chain still valid: maybe part of the branch.
                    let tip = store.tip()?;
                    match store.heaviest_candidate()? {
                        Some(best) if best.cumulative_work > tip.total_work => target = best.hash,
                        _ => break,
                    }
                }
                Err(ReorgError::Store(e)) => return Err(e.into()),
            }
        }
        let tip = store.tip()?;
        if tip.hash != old_tip {
            self.metrics.reorganizations.inc();
            let returned_txs = {
                let mut pool = self.pool();
                let (returned, admitted, dropped) =
                    self.readmit_after_reorg(&store, &mut pool, &done.disconnected);
                self.refresh_snapshot(&store, done.connected.last())?;
                self.pool_changed(&pool);
                tracing::info!(admitted, dropped, "mempool after reorganisation");
                returned
            };
            drop(store);
            if let Err(e) = self.journal.flush() {
                tracing::error!("mempool table after reorganisation: {e}");
            }
            for block in done.disconnected {
                self.publish(NodeEvent::BlockDisconnected {
                    block: Arc::new(block),
                });
            }
            let mut last = None;
            let line = self.block_line(origin);
            for block in done.connected {
                let block = Arc::new(block);
                self.block_connected(block.clone(), origin, line);
                last = Some(block);
            }
            if let Some(tip) = last {
                self.publish(NodeEvent::TipChanged {
                    tip,
                    status: Accepted::Reorganized,
                    origin,
                });
            }
            // Back in the pool: peers on the losing branch may lack them.
            for tx in returned_txs {
                self.publish(NodeEvent::TransactionAdmitted {
                    tx,
                    origin: Origin::Returned,
                });
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(Accepted::Reorganized),
        }
    }

    /// After a block is connected: its transactions leave the pool, and
    /// pool transactions spending what it spent leave with their descendants.
    fn remove_confirmed(&self, pool: &mut crate::mempool::Mempool, block: &Block) {
        let mut removed = Vec::new();
        for tx in block.transactions.iter().skip(1) {
            if pool.remove(&tx.hash).is_some() {
                removed.push(tx.hash);
            }
        }
        for tx in block.transactions.iter().skip(1) {
            for input in &tx.inputs {
                if let Some(spender) = pool.spender(&input.outpoint()) {
                    removed.extend(pool.remove_with_descendants(&spender));
                }
            }
        }
        self.journal.queue(removed.into_iter().map(PoolOp::Remove));
    }

    /// After a reorganisation, with the chain and the pool locked (so no
    /// template pairs the new tip with the old pool): transactions of
    /// disconnected blocks return when still valid, and pool transactions
    /// that no longer validate (conflicts with the new chain) leave with
    /// their descendants. As at a restart, only validity counts: every one
    /// of them passed step 15 before (in a block or on admission), so no
    /// signature is checked again, and none is refused for its fee.
    fn readmit_after_reorg(
        &self,
        store: &ChainStore,
        pool: &mut crate::mempool::Mempool,
        disconnected: &[Block],
    ) -> (Vec<Arc<Transaction>>, usize, usize) {
        let old_pool: Vec<Arc<Transaction>> =
            pool.in_arrival_order().map(|e| e.tx.clone()).collect();
        for t in &old_pool {
            pool.remove(&t.hash);
        }
        self.journal
            .queue(old_pool.iter().map(|t| PoolOp::Remove(t.hash)));
        // Oldest blocks first, so that parents come before children; then
        // the old pool in arrival order.
        let returning = disconnected
            .iter()
            .rev()
            .flat_map(|b| b.transactions.iter().skip(1).cloned())
            .map(|t| (t, true));
        let kept = old_pool.into_iter().map(|t| ((*t).clone(), false));
        let (mut admitted, mut dropped) = (0usize, 0usize);
        let mut returned = Vec::new();
        for (tx, from_block) in returning.chain(kept) {
            let result = self.admit(store, pool, tx, Ok(()), None, Policy::Returning);
            if from_block {
                // A new intake of the pool (API.md §7 `reorg`); the old
                // pool's own transactions were counted when they came.
                let answer = result.as_ref().map_or_else(|e| e.code(), |_| "accepted");
                self.metrics
                    .transaction(Origin::Returned.transaction_label(), answer);
            }
            match result {
                Ok(tx) => {
                    admitted += 1;
                    if from_block {
                        returned.push(tx);
                    }
                }
                Err(TxRejected::Policy(PolicyError::AlreadyKnown)) => {}
                Err(TxRejected::Store(e)) => {
                    tracing::error!("mempool after reorganisation: {e}");
                    dropped += 1;
                }
                Err(_) => dropped += 1,
            }
        }
        (returned, admitted, dropped)
    }
}

#[cfg(test)]
mod block_line_tests {
    //! API.md §8 "Progress": every block that joins the active chain is a
    //! line at info, outside flat-out mining.

    use std::time::Duration;

    use super::*;

    #[test]
    fn every_origin_is_at_info_but_the_miner_mining_flat_out() {
        let peer = "127.0.0.1:5000".parse().expect("an address");
        for origin in [
            Origin::Api,
            Origin::Peer(peer),
            Origin::Sync,
            Origin::Restart,
        ] {
            assert_eq!(BlockLine::of(origin, None), BlockLine::Info, "{origin:?}");
        }
        let summary = crate::miner::SUMMARY_EVERY;
        // The miner's first block, and one after a pause as long as its
        // summary's period (a paced regtest miner, a real proof of work).
        assert_eq!(BlockLine::of(Origin::Miner, None), BlockLine::Info);
        assert_eq!(BlockLine::of(Origin::Miner, Some(summary)), BlockLine::Info);
        assert_eq!(
            BlockLine::of(Origin::Miner, Some(Duration::from_secs(300))),
            BlockLine::Info
        );
        // Flat out: the summary line counts them.
        assert_eq!(
            BlockLine::of(Origin::Miner, Some(Duration::from_millis(3))),
            BlockLine::Debug
        );
        assert_eq!(
            BlockLine::of(Origin::Miner, Some(summary - Duration::from_millis(1))),
            BlockLine::Debug
        );
    }
}

#[cfg(test)]
mod side_bytes_tests {
    //! `--max-side-bytes` (API.md §8 "Work before bodies"): posted side
    //! branches lighter than the active chain take a bounded share of the
    //! disk, the lightest going first.

    use super::*;
    use crate::consensus::ChainParams;
    use crate::node::{KnownBlock, MempoolLimits};
    use crate::types::Address;

    fn block_on(parent: &Block, creator: u8) -> Block {
        let params = ChainParams::regtest();
        let height = parent.height + 1;
        let mut b = Block::assemble(
            parent.hash,
            height,
            parent.timestamp + 10 + u64::from(creator),
            params.pow_limit,
            Address([creator; 20]),
            params.subsidy(height),
            Vec::new(),
        )
        .expect("no overflow");
        assert!(b.solve(10_000_000));
        b
    }

    fn branch(from: &Block, n: usize, creator: u8) -> Vec<Block> {
        let mut out: Vec<Block> = Vec::new();
        for _ in 0..n {
            let parent = out.last().unwrap_or(from).clone();
            out.push(block_on(&parent, creator));
        }
        out
    }

    fn stored(node: &Node, b: &Block) -> bool {
        node.block_status(&b.hash).expect("readable") == KnownBlock::Stored
    }

    #[test]
    fn lighter_side_branches_keep_within_the_bound_lightest_first() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let params = ChainParams::regtest();
        let active = branch(&params.genesis(), 10, 1);
        // Every empty block of these branches has about the same size:
        // the bound holds four of them.
        let size = serde_json::to_string(&active[0]).expect("JSON").len() as u64;
        let node = Node::open(dir.path(), params, MempoolLimits::default())
            .expect("node opens")
            .with_max_side_bytes(4 * size + size / 2);
        for b in &active {
            node.submit_block_from(b, Origin::Api)
                .expect("active chain");
        }
        // X forks at 5 (work 8 at its tip), Y at 2 (work 5): both lighter.
        let x = branch(&active[4], 3, 2);
        let y = branch(&active[1], 3, 3);
        for b in &x {
            assert!(matches!(
                node.submit_block_from(b, Origin::Api),
                Ok(Accepted::SideChain)
            ));
        }
        node.submit_block_from(&y[0], Origin::Api)
            .expect("Y1 stored");
        assert!(x.iter().all(|b| stored(&node, b)) && stored(&node, &y[0]));
        // The fifth lighter block is over the bound: the lightest leaf
        // (Y2 itself, the tip of the lightest branch) goes.
        node.submit_block_from(&y[1], Origin::Api)
            .expect("answered as usual");
        assert!(!stored(&node, &y[1]), "the lightest leaf went first");
        assert!(
            x.iter().all(|b| stored(&node, b)),
            "the heavier branch stays"
        );
        assert!(stored(&node, &y[0]));
        // Thirty more light blocks on yet another branch: the bound holds,
        // and the active chain is untouched.
        let z = branch(&active[0], 30, 4);
        for b in &z {
            let _ = node.submit_block_from(b, Origin::Api);
        }
        let bytes = node.store().side_bytes().expect("measured");
        assert!(bytes <= 4 * size + size / 2, "{bytes} bytes of side blocks");
        assert!(active.iter().all(|b| stored(&node, b)));
        assert_eq!(node.snapshot().info.best_hash, active[9].hash);
        // While a sync brings bodies, nothing is pruned: its branch's first
        // blocks are side blocks until it wins.
        let before = node.store().side_bytes().expect("measured");
        let w = branch(&active[2], 6, 5);
        {
            let _incoming = node.sync_bodies_begin();
            for b in &w {
                let _ = node.submit_block_from(b, Origin::Api);
            }
            assert!(w.iter().all(|b| stored(&node, b)), "kept during a sync");
        }
        assert!(node.store().side_bytes().expect("measured") > before);
    }
}
