//! The node's core, usable without HTTP: block intake in the order of
//! PROTOCOL.md §6, the chain state behind one writer, a pool of read
//! connections, and a cache of what the hottest reads serve.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use rayon::prelude::*;
use rusqlite::Connection;

use crate::consensus::block::{
    MAX_BLOCK_SIZE, MAX_BLOCK_TRANSACTIONS, ParentContext, check_block_body, check_block_hash,
    check_block_shape, check_header_context, check_pow,
};
use crate::consensus::transaction::{
    KnownOutput, OutputView, check_context_free, check_inputs, check_signatures, check_timestamp,
};
use crate::consensus::{BlockError, ChainParams, RuleError};
use crate::mempool::{self, AddressView, Mempool};
use crate::state::{
    self, BlockStatus, ChainInfo, ChainStore, ConnectError, PoolJournal, PoolOp, ReorgError,
    StoreError,
};
use crate::types::{Address, Block, Hash, Target, Transaction};

/// File name of the chain database inside the data directory.
pub const DATABASE_FILE: &str = "chain.sqlite";

/// The answer to a block that was accepted (API.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    Connected,
    SideChain,
    Reorganized,
}

impl Accepted {
    pub fn as_str(self) -> &'static str {
        match self {
            Accepted::Connected => "connected",
            Accepted::SideChain => "side_chain",
            Accepted::Reorganized => "reorganized",
        }
    }
}

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
    /// A block stored as invalid, posted again: its own error again.
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

/// Which mempool policy applies on admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    /// A new transaction: the minimum relay fee applies (API.md §4).
    Relay,
    /// A transaction of a disconnected block: it returns when still valid
    /// (PROTOCOL.md §7), whatever fee it paid.
    Returning,
}

/// Why a transaction was refused (API.md §4).
#[derive(Debug, thiserror::Error)]
pub enum TxRejected {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the hottest reads serve without touching the database; replaced
/// whenever the active chain changes.
#[derive(Debug)]
pub struct ChainSnapshot {
    pub info: ChainInfo,
    /// `GET /blocks/last/`, serialised once.
    pub tip_summary_json: String,
    /// What the next block must satisfy (PROTOCOL.md §6–§7).
    pub next: ParentContext,
}

/// Bounds of the mempool (`--mempool-max-count`, `--mempool-max-size`).
#[derive(Clone, Copy, Debug)]
pub struct MempoolLimits {
    pub max_count: usize,
    pub max_size: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        MempoolLimits {
            max_count: mempool::DEFAULT_MAX_COUNT,
            max_size: mempool::DEFAULT_MAX_SIZE,
        }
    }
}

/// A small pool of read-only connections (WAL lets readers run beside the
/// writer).
pub struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

const MAX_IDLE_READERS: usize = 16;

impl ReadPool {
    fn new(path: PathBuf) -> ReadPool {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` with a read connection.
    pub fn with<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let conn = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                c.set_prepared_statement_cache_capacity(64);
                c
            }
        };
        let result = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

/// A running node's state: chain, reads and caches.
pub struct Node {
    params: ChainParams,
    /// The writer. Lock order: `store`, then `mempool`.
    store: Mutex<ChainStore>,
    mempool: Mutex<Mempool>,
    /// The mempool's table, written behind the pool with group commit.
    journal: PoolJournal,
    reads: ReadPool,
    snapshot: RwLock<Arc<ChainSnapshot>>,
    /// Bumped whenever the tip or the mempool changes (the miner restarts).
    generation: AtomicU64,
    clock: Box<dyn Fn() -> u64 + Send + Sync>,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Node {
    /// Opens the chain in `dir` (created if needed) for `params`.
    pub fn open(
        dir: &Path,
        params: ChainParams,
        limits: MempoolLimits,
    ) -> Result<Node, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(DATABASE_FILE);
        let store = ChainStore::open(&path, &params)?;
        let snapshot = build_snapshot(&store)?;
        Ok(Node {
            params,
            store: Mutex::new(store),
            mempool: Mutex::new(Mempool::new(limits.max_count, limits.max_size)),
            journal: PoolJournal::open(&path)?,
            reads: ReadPool::new(path),
            snapshot: RwLock::new(Arc::new(snapshot)),
            generation: AtomicU64::new(0),
            clock: Box::new(unix_now),
        })
    }

    /// Reloads the persisted mempool, validating every transaction again
    /// against the current chain; those that no longer validate are dropped.
    pub fn load_mempool(&self) -> Result<(usize, usize), StoreError> {
        let rows = self.store().load_mempool()?;
        let (mut kept, mut dropped) = (0, 0);
        let mut gone = Vec::new();
        for (seq, hash, json) in rows {
            let accepted = match serde_json::from_str::<Transaction>(&json) {
                Ok(tx) => self.accept_transaction(tx, Some(seq)).is_ok(),
                Err(_) => false,
            };
            if accepted {
                kept += 1;
            } else {
                dropped += 1;
                gone.push(hash);
            }
        }
        self.journal.queue(gone.into_iter().map(PoolOp::Remove));
        self.journal.flush()?;
        Ok((kept, dropped))
    }

    /// Replaces the clock (tests of `timestamp_in_future`).
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Node {
        self.clock = Box::new(clock);
        self
    }

    pub fn now(&self) -> u64 {
        (self.clock)()
    }

    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    pub fn reads(&self) -> &ReadPool {
        &self.reads
    }

    pub fn snapshot(&self) -> Arc<ChainSnapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn store(&self) -> MutexGuard<'_, ChainStore> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pool(&self) -> MutexGuard<'_, Mempool> {
        self.mempool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes whenever the tip or the mempool changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The target the next block must carry.
    pub fn next_target(&self) -> Result<Target, StoreError> {
        Ok(self.snapshot().next.required_target)
    }

    pub fn mempool_size(&self) -> usize {
        self.pool().len()
    }

    /// What the mempool spends from and creates for `address`.
    pub fn mempool_view_of(&self, address: &Address) -> AddressView {
        self.pool().address_view(address)
    }

    /// Net effect of the mempool on `address`, in units.
    pub fn mempool_net_effect(&self, address: &Address) -> i64 {
        self.pool()
            .of_address(address)
            .iter()
            .map(|e| mempool::net_effect(&e.tx, address))
            .sum()
    }

    /// Mempool transactions touching `address`: (hash, timestamp, delta).
    pub fn mempool_entries_of(&self, address: &Address) -> Vec<(Hash, u64, i64)> {
        self.pool()
            .of_address(address)
            .iter()
            .map(|e| {
                (
                    e.tx.hash,
                    e.tx.timestamp,
                    mempool::net_effect(&e.tx, address),
                )
            })
            .collect()
    }

    /// Headers of the mempool in arrival order.
    pub fn mempool_transactions(&self) -> Vec<Arc<Transaction>> {
        self.pool()
            .in_arrival_order()
            .map(|e| e.tx.clone())
            .collect()
    }

    /// A mempool transaction by hash.
    pub fn mempool_transaction(&self, hash: &Hash) -> Option<Arc<Transaction>> {
        self.pool().get(hash).map(|e| e.tx.clone())
    }

    /// A mempool transaction by arrival index.
    pub fn mempool_transaction_at(&self, index: usize) -> Option<Arc<Transaction>> {
        self.pool().by_index(index).map(|e| e.tx.clone())
    }

    /// `POST /transactions/`: PROTOCOL.md §4 in order, `already_known`
    /// after step 9, then the relay fee and the mempool bound (API.md §4).
    pub fn submit_transaction(&self, tx: Transaction) -> Result<Arc<Transaction>, TxRejected> {
        self.accept_transaction(tx, None)
    }

    fn accept_transaction(
        &self,
        tx: Transaction,
        reload_seq: Option<u64>,
    ) -> Result<Arc<Transaction>, TxRejected> {
        let sighash = check_context_free(&tx)?; // steps 1–9
        // already_known comes after step 9: a cheap look before the slow step 15.
        let hash = tx.hash;
        let in_pool = self.pool().contains(&hash);
        if in_pool
            || self
                .reads
                .with(|conn| state::transaction_location(conn, &hash))?
                .is_some()
        {
            return Err(RuleError::AlreadyKnown.into());
        }
        // Step 15 before taking any lock (the slow part), reported in order below.
        let signatures = check_signatures(&tx, &sighash);
        let mut store = self.store();
        let mut pool = self.pool();
        let admitted = self.admit(
            &mut store,
            &mut pool,
            tx,
            signatures,
            reload_seq,
            // A reloaded transaction passed the fee policy when it entered
            // (or returned from a disconnected block): only validity counts.
            if reload_seq.is_some() {
                Policy::Returning
            } else {
                Policy::Relay
            },
        )?;
        drop(pool);
        drop(store);
        self.bump();
        // Group commit: this flush also writes what concurrent intakes queued.
        // The pool in memory is the truth while the node runs; a failed
        // write is logged, not turned into a refusal of a valid transaction.
        if let Err(e) = self.journal.flush() {
            tracing::error!("writing the mempool table: {e}");
        }
        Ok(admitted)
    }

    /// The part of intake that needs the chain and the pool, both locked:
    /// `already_known`, steps 10–14, the step 15 result, the relay fee (for
    /// [`Policy::Relay`]), the bound; then the pool and its table change
    /// together (the table first, so a failed write changes nothing).
    fn admit(
        &self,
        store: &mut ChainStore,
        pool: &mut Mempool,
        tx: Transaction,
        signatures: Result<(), RuleError>,
        reload_seq: Option<u64>,
        policy: Policy,
    ) -> Result<Arc<Transaction>, TxRejected> {
        if pool.contains(&tx.hash)
            || state::transaction_location(store.connection(), &tx.hash)?.is_some()
        {
            return Err(RuleError::AlreadyKnown.into());
        }
        let tip = store.tip()?;
        {
            let view = PoolView::new(store.connection(), pool);
            let inputs = check_inputs(&tx, &view, tip.height + 1, self.params.coinbase_maturity); // 10–13
            if let Some(e) = view.db_error.take() {
                return Err(StoreError::from(e).into());
            }
            inputs?;
        }
        check_timestamp(&tx, self.now())?; // 14
        signatures?; // 15
        let size = tx.size();
        if policy == Policy::Relay && tx.fee.units() < size as u64 {
            return Err(RuleError::FeeTooLow {
                paid_units: tx.fee.units(),
                size,
            }
            .into());
        }
        // Everything to evict, descendants included.
        let evict = pool.make_room(&tx, size).ok_or(RuleError::MempoolFull)?;
        let seq = reload_seq.unwrap_or_else(|| pool.next_seq());
        let json = match reload_seq {
            Some(_) => None, // reloaded from the table: already there
            None => {
                Some(serde_json::to_string(&tx).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            }
        };
        for h in &evict {
            pool.remove_with_descendants(h);
        }
        let tx = Arc::new(tx);
        pool.insert_with_seq(tx.clone(), seq);
        let add = json.map(|json| PoolOp::Add {
            seq,
            hash: tx.hash,
            json,
        });
        self.journal
            .queue(evict.into_iter().map(PoolOp::Remove).chain(add));
        Ok(tx)
    }

    /// After a block is connected: its transactions leave the pool, and
    /// pool transactions spending what it spent leave with their descendants.
    fn remove_confirmed(&self, block: &Block) -> Result<(), StoreError> {
        let mut pool = self.pool();
        let mut removed = Vec::new();
        for tx in block.transactions.iter().skip(1) {
            if pool.remove(&tx.hash).is_some() {
                removed.push(tx.hash);
            }
        }
        for tx in block.transactions.iter().skip(1) {
            for input in &tx.inputs {
                if let Some(spender) = pool.spender(&(input.transaction_hash, input.output_index)) {
                    removed.extend(pool.remove_with_descendants(&spender));
                }
            }
        }
        self.journal.queue(removed.into_iter().map(PoolOp::Remove));
        drop(pool);
        self.journal.flush()
    }

    /// A block ready to mine for the next height (API.md §6): coinbase
    /// paying `address` with reward + fees, pool transactions by fee per
    /// byte (parents first) within the block limits, nonce 0.
    pub fn block_template(&self, address: &Address) -> Result<Block, StoreError> {
        // The chain lock keeps tip and pool consistent: a connect or a
        // reorganisation updates both before letting go of it.
        let _chain = self.store();
        let snapshot = self.snapshot();
        let height = snapshot.info.height + 1;
        let coinbase_size = Transaction::size_for(1, 1);
        let transactions: Vec<Transaction> = self
            .pool()
            .select(MAX_BLOCK_TRANSACTIONS - 1, MAX_BLOCK_SIZE - coinbase_size)
            .iter()
            .map(|t| (**t).clone())
            .collect();
        let timestamp = self.now().max(snapshot.next.median_time_past + 1);
        Block::assemble(
            snapshot.info.best_hash,
            height,
            timestamp,
            snapshot.next.required_target,
            *address,
            self.params.subsidy(height),
            transactions,
        )
        .ok_or_else(|| StoreError::Corrupt("the pool's fees overflow".into()))
    }

    /// Checks a block in the order of PROTOCOL.md §6 and connects it when it
    /// extends the active chain.
    pub fn submit_block(&self, block: &Block) -> Result<Accepted, Rejected> {
        // Steps 1–2: nothing to look up.
        check_block_shape(block)?;
        check_block_hash(block)?;
        let parent_context = {
            let store = self.store();
            // Step 3, and an invalid block's own error again.
            if let Some(rec) = store.record(&block.hash)? {
                match (rec.status, rec.error) {
                    (BlockStatus::Invalid, Some(e)) => {
                        return Err(Rejected::KnownInvalid {
                            code: e.code,
                            message: e.message,
                            transaction: e.transaction,
                        });
                    }
                    (BlockStatus::Invalid, None) => return Err(RuleError::InvalidParent.into()),
                    _ => return Err(RuleError::AlreadyKnown.into()),
                }
            }
            check_pow(block)?; // step 4
            // Step 5.
            let Some(parent) = store.record(&block.prev_hash)? else {
                return Err(RuleError::UnknownParent(block.prev_hash).into());
            };
            if parent.status == BlockStatus::Invalid {
                return Err(RuleError::InvalidParent.into());
            }
            store.parent_context(&parent)?
        };
        check_header_context(block, &parent_context, self.now())?; // steps 6–8
        let sighashes = check_block_body(block, &self.params)?; // steps 9–13
        // Step 15 on all cores, reported in sequential order by step 14.
        let signatures: Vec<Result<(), RuleError>> = block
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
            .collect();

        let mut store = self.store();
        if store.record(&block.hash)?.is_some() {
            return Err(RuleError::AlreadyKnown.into());
        }
        // The parent may have been marked invalid while the lock was free.
        if store
            .record(&block.prev_hash)?
            .is_some_and(|p| p.status == BlockStatus::Invalid)
        {
            return Err(RuleError::InvalidParent.into());
        }
        let tip = store.tip()?;
        if block.prev_hash != tip.hash {
            // A side branch (PROTOCOL.md §7): stored with its work; the node
            // moves to it only when it is strictly heavier.
            let work = store.store_side_block(block)?;
            if work <= tip.total_work {
                return Ok(Accepted::SideChain);
            }
            return self.reorganize(store, block.hash);
        }
        match store.connect_block(block, &signatures) {
            Ok(()) => {
                // The block is committed: the pool's bookkeeping must not
                // keep the tip from moving.
                if let Err(e) = self.remove_confirmed(block) {
                    tracing::error!("mempool after block {}: {e}", block.hash);
                }
                self.refresh_snapshot(&store)?;
                drop(store);
                self.bump();
                Ok(Accepted::Connected)
            }
            Err(ConnectError::Rule(error)) => Err(error.into()),
            Err(ConnectError::Store(e)) => Err(e.into()),
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
    ) -> Result<Accepted, Rejected> {
        let mut target = new_tip;
        let mut first_error: Option<Rejected> = None;
        let mut disconnected: Vec<Block> = Vec::new();
        loop {
            match store.reorganize(&target) {
                Ok(blocks) => {
                    tracing::info!(
                        disconnected = blocks.len(),
                        tip = %target,
                        "reorganized to a heavier branch"
                    );
                    disconnected.extend(blocks);
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
        let moved = store.tip()?.hash != self.snapshot().info.best_hash;
        if moved {
            if let Err(e) = self.readmit_after_reorg(&mut store, disconnected) {
                tracing::error!("mempool after reorganisation: {e}");
            }
            self.refresh_snapshot(&store)?;
            drop(store);
            self.bump();
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(Accepted::Reorganized),
        }
    }

    /// After a reorganisation, with the chain still locked (so no template
    /// pairs the new tip with the old pool): transactions of disconnected
    /// blocks return when still valid, and pool transactions that no longer
    /// validate (conflicts with the new chain) leave with their descendants.
    fn readmit_after_reorg(
        &self,
        store: &mut ChainStore,
        disconnected: Vec<Block>,
    ) -> Result<(), StoreError> {
        let mut pool = self.pool();
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
            .into_iter()
            .rev()
            .flat_map(|b| b.transactions.into_iter().skip(1))
            .map(|t| (t, Policy::Returning));
        let kept = old_pool.into_iter().map(|t| ((*t).clone(), Policy::Relay));
        let (mut admitted, mut dropped) = (0usize, 0usize);
        for (tx, policy) in returning.chain(kept) {
            let signatures =
                check_context_free(&tx).and_then(|sighash| check_signatures(&tx, &sighash));
            match self.admit(store, &mut pool, tx, signatures, None, policy) {
                Ok(_) => admitted += 1,
                Err(TxRejected::Rule(RuleError::AlreadyKnown)) => {}
                Err(TxRejected::Rule(_)) => dropped += 1,
                Err(TxRejected::Store(e)) => return Err(e),
            }
        }
        drop(pool);
        self.journal.flush()?;
        tracing::info!(admitted, dropped, "mempool after reorganisation");
        Ok(())
    }

    fn refresh_snapshot(&self, store: &ChainStore) -> Result<(), StoreError> {
        let snapshot = build_snapshot(store)?;
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        Ok(())
    }
}

fn build_snapshot(store: &ChainStore) -> Result<ChainSnapshot, StoreError> {
    let conn = store.connection();
    let info = state::chain_info(conn)?;
    let tip = store
        .record(&info.best_hash)?
        .ok_or_else(|| StoreError::Corrupt(format!("tip {} not stored", info.best_hash)))?;
    let next = store.parent_context(&tip)?;
    let json = state::block_json(conn, &info.best_hash)?
        .ok_or_else(|| StoreError::Corrupt(format!("tip {} not stored", info.best_hash)))?;
    let block: Block =
        serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let tip_summary_json =
        serde_json::to_string(&block.summary()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(ChainSnapshot {
        info,
        tip_summary_json,
        next,
    })
}

/// Outputs as a new mempool transaction sees them: the active chain's
/// (spent when the chain or the pool spent them) and the pool's own.
struct PoolView<'a> {
    conn: &'a Connection,
    pool: &'a Mempool,
    db_error: RefCell<Option<rusqlite::Error>>,
}

impl<'a> PoolView<'a> {
    fn new(conn: &'a Connection, pool: &'a Mempool) -> Self {
        PoolView {
            conn,
            pool,
            db_error: RefCell::new(None),
        }
    }
}

impl OutputView for PoolView<'_> {
    fn output(&self, transaction_hash: &Hash, output_index: u32) -> Option<KnownOutput> {
        if let Some(o) = self.pool.output(transaction_hash, output_index) {
            return Some(o);
        }
        match state::lookup_output(self.conn, transaction_hash, output_index) {
            Ok(found) => found.map(|o| KnownOutput {
                spent: o.spent
                    || self
                        .pool
                        .spender(&(*transaction_hash, output_index))
                        .is_some(),
                ..o
            }),
            Err(e) => {
                *self.db_error.borrow_mut() = Some(e);
                None
            }
        }
    }
}
