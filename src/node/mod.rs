//! The node's core, usable without HTTP: block intake in the order of
//! PROTOCOL.md §6, transaction intake (§4 and the mempool's policy),
//! templates, the chain state behind one writer, a pool of read
//! connections, the snapshot the hottest reads serve, and the events
//! relay, the miner and metrics listen to.
//!
//! Locks: `store` (the writer), then `mempool`. Reads never take `store`;
//! the mempool's lock is held only for bookkeeping, and the API takes it
//! only on blocking threads.

mod blocks;
mod events;
mod snapshot;
mod template;
mod transactions;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use rusqlite::Connection;
use tokio::sync::broadcast;

pub use blocks::Rejected;
pub use events::{NodeEvent, Origin};
pub use snapshot::ChainSnapshot;
pub use transactions::TxRejected;

use crate::consensus::ChainParams;
use crate::mempool::{self, AddressView, Mempool};
use crate::metrics::NodeMetrics;
use crate::state::{ChainStore, PoolJournal, StoreError};
use crate::types::{Address, Hash, Target, Transaction};

/// File name of the chain database inside the data directory.
pub const DATABASE_FILE: &str = "chain.sqlite";

/// The answer to a block that was accepted (API.md §3).
pub type Accepted = crate::wire::BlockStatus;

/// How many events a slow listener may fall behind before it loses some
/// (it is told how many, and catches up from the node's state).
const EVENT_CAPACITY: usize = 4096;

pub use crate::p2p::sync::{BranchContext, KnownBlock};

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

    /// Runs `f` inside one read transaction: every statement of `f` sees
    /// the same state of the chain, whatever a writer commits meanwhile
    /// (a reorganisation cannot cut the answer in two).
    pub fn with_snapshot<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.with(|conn| {
            let tx = conn.unchecked_transaction()?;
            let result = f(&tx);
            // Read only: ending it is a rollback, nothing to keep.
            drop(tx);
            result
        })
    }
}

/// What the mempool does to one address ([`Node::mempool_activity_of`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MempoolActivity {
    /// Mempool transactions touching the address.
    pub count: usize,
    /// Their net effect on its balance, in units.
    pub net_effect: i64,
    /// The newest of them, newest first: (hash, timestamp, delta in units).
    pub newest: Vec<(Hash, u64, i64)>,
}

/// A running node's state: chain, mempool, reads, snapshot and events.
pub struct Node {
    params: ChainParams,
    /// The writer. Lock order: `store`, then `mempool`.
    store: Mutex<ChainStore>,
    mempool: Mutex<Mempool>,
    /// The mempool's size, readable without its lock.
    mempool_len: AtomicUsize,
    /// The bytes of the mempool's transactions, readable without its lock.
    mempool_bytes: AtomicUsize,
    /// Most transactions the mempool holds (`--mempool-max-count`).
    mempool_max_count: usize,
    /// Most bytes of lighter side-branch blocks kept (`--max-side-bytes`).
    max_side_bytes: u64,
    /// Syncs bringing bodies now (no pruning of side blocks meanwhile).
    sync_bodies: AtomicUsize,
    /// The mempool's table, written behind the pool with group commit.
    journal: PoolJournal,
    reads: ReadPool,
    snapshot: RwLock<Arc<ChainSnapshot>>,
    events: broadcast::Sender<NodeEvent>,
    clock: Box<dyn Fn() -> u64 + Send + Sync>,
    fault: Option<blocks::FaultPoint>,
    metrics: NodeMetrics,
    /// When the last block this node's miner found joined the active chain
    /// (its blocks are logged at debug while it mines flat out).
    miner_last_block: Mutex<Option<std::time::Instant>>,
}

/// Held while a sync brings bodies ([`Node::sync_bodies_begin`]).
pub struct SyncBodies<'a>(&'a Node);

impl Drop for SyncBodies<'_> {
    fn drop(&mut self) {
        self.0.sync_bodies.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Default `--max-side-bytes`: 64 MiB of lighter side-branch blocks.
pub const DEFAULT_MAX_SIDE_BYTES: u64 = 64 * 1024 * 1024;

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Node {
    /// Opens the chain in `dir` (created if needed) for `params`, and moves
    /// to the heaviest valid chain it stores (a crash may have stopped a
    /// reorganisation half-way: API.md §7).
    pub fn open(
        dir: &Path,
        params: ChainParams,
        limits: MempoolLimits,
    ) -> Result<Node, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(DATABASE_FILE);
        let store = ChainStore::open(&path, &params)?;
        let snapshot = ChainSnapshot::of(&store, None)?;
        let node = Node {
            params,
            store: Mutex::new(store),
            mempool: Mutex::new(Mempool::new(limits.max_count, limits.max_size)),
            mempool_len: AtomicUsize::new(0),
            mempool_bytes: AtomicUsize::new(0),
            mempool_max_count: limits.max_count,
            max_side_bytes: DEFAULT_MAX_SIDE_BYTES,
            sync_bodies: AtomicUsize::new(0),
            journal: PoolJournal::open(&path)?,
            reads: ReadPool::new(path),
            snapshot: RwLock::new(Arc::new(snapshot)),
            events: broadcast::channel(EVENT_CAPACITY).0,
            clock: Box::new(unix_now),
            fault: blocks::FaultPoint::from_env(),
            metrics: NodeMetrics::new(),
            miner_last_block: Mutex::new(None),
        };
        node.settle_on_heaviest()?;
        Ok(node)
    }

    /// A sync starts bringing the bodies of a branch whose headers showed
    /// more work: side blocks are not pruned until the guard is dropped.
    pub fn sync_bodies_begin(&self) -> SyncBodies<'_> {
        self.sync_bodies.fetch_add(1, Ordering::AcqRel);
        SyncBodies(self)
    }

    /// Whether a sync is bringing bodies now.
    pub fn sync_bodies_incoming(&self) -> bool {
        self.sync_bodies.load(Ordering::Acquire) > 0
    }

    /// Sets `--max-side-bytes` (API.md §8 "Work before bodies").
    pub fn with_max_side_bytes(mut self, max: u64) -> Node {
        self.max_side_bytes = max;
        self
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

    /// What the hottest reads serve; never waits behind intake.
    pub fn snapshot(&self) -> Arc<ChainSnapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Listens to what happens from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Hashes of the active chain at `heights`, in that order (a height
    /// past the tip is skipped): the locator's reads.
    pub fn active_hashes(&self, heights: &[u64]) -> Result<Vec<Hash>, StoreError> {
        self.reads.with(|conn| {
            let read = conn.unchecked_transaction()?;
            let mut hashes = Vec::with_capacity(heights.len());
            for h in heights {
                if let Some(hash) = crate::state::active_hash(&read, *h)? {
                    hashes.push(hash);
                }
            }
            Ok(hashes)
        })
    }

    /// Whether block `hash` is stored (any branch) or remembered invalid.
    pub fn block_status(&self, hash: &Hash) -> Result<KnownBlock, StoreError> {
        self.reads.with(|conn| {
            if crate::state::invalid_block(conn, hash)?.is_some() {
                return Ok(KnownBlock::Invalid);
            }
            Ok(match crate::state::block_record(conn, hash)? {
                Some(_) => KnownBlock::Stored,
                None => KnownBlock::Unknown,
            })
        })
    }

    /// What checking headers after the stored block `hash` starts from: its
    /// target, its chain's work and the tail of its branch; `None` when it
    /// is not stored.
    pub fn branch_context(&self, hash: &Hash) -> Result<Option<BranchContext>, StoreError> {
        self.reads.with(|conn| {
            let Some(record) = crate::state::block_record(conn, hash)? else {
                return Ok(None);
            };
            let depth = crate::consensus::block::context_depth(&self.params);
            let tail = crate::state::branch_tail(conn, &record, depth)?;
            Ok(Some(BranchContext {
                target: record.target,
                work: record.cumulative_work,
                tail,
            }))
        })
    }

    /// A sync run from `from` ended: its tip is relayed (API.md §8).
    pub fn sync_finished(&self, from: Option<crate::wire::NodeAddr>) -> Result<(), StoreError> {
        let hash = self.snapshot().info.best_hash;
        let json = self
            .reads
            .with(|conn| crate::state::block_json(conn, &hash))?
            .ok_or_else(|| StoreError::Corrupt(format!("tip {hash} not stored")))?;
        let tip: crate::types::Block =
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.publish(NodeEvent::SyncFinished {
            tip: Arc::new(tip),
            from,
        });
        Ok(())
    }

    pub(crate) fn publish(&self, event: NodeEvent) {
        // No listener is not an error.
        let _ = self.events.send(event);
    }

    fn store(&self) -> MutexGuard<'_, ChainStore> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pool(&self) -> MutexGuard<'_, Mempool> {
        self.mempool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Call with the pool locked after changing it.
    fn pool_changed(&self, pool: &Mempool) {
        self.mempool_len.store(pool.len(), Ordering::Release);
        self.mempool_bytes
            .store(pool.total_size(), Ordering::Release);
    }

    /// What the node counts (API.md §7), to register in a server's registry.
    pub fn metrics(&self) -> &NodeMetrics {
        &self.metrics
    }

    /// The bytes of the mempool's transactions, without the pool's lock.
    pub fn mempool_bytes(&self) -> usize {
        self.mempool_bytes.load(Ordering::Acquire)
    }

    /// Bytes of the chain database on disk, with its write-ahead log.
    pub fn database_bytes(&self) -> u64 {
        let path = &self.reads.path;
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        size(path) + size(Path::new(&wal))
    }

    /// The target the next block must carry.
    pub fn next_target(&self) -> Target {
        self.snapshot().next.required_target
    }

    /// The live number of mempool transactions, without the pool's lock.
    pub fn mempool_size(&self) -> usize {
        self.mempool_len.load(Ordering::Acquire)
    }

    /// Transactions the mempool has room for before it is full (the
    /// mempool merge takes no more: API.md §8).
    pub fn mempool_room(&self) -> usize {
        self.mempool_max_count.saturating_sub(self.mempool_size())
    }

    /// Bytes the mempool has room for before it is full.
    pub fn mempool_room_bytes(&self) -> usize {
        let pool = self.pool();
        pool.max_size.saturating_sub(pool.total_size())
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

    /// What the mempool does to `address`, from one look at the pool: the
    /// net effect and the number of its transactions touching it, and the
    /// newest `limit` of those, newest first.
    pub fn mempool_activity_of(&self, address: &Address, limit: usize) -> MempoolActivity {
        let pool = self.pool();
        let entries = pool.of_address(address);
        MempoolActivity {
            count: entries.len(),
            net_effect: entries
                .iter()
                .map(|e| mempool::net_effect(&e.tx, address))
                .sum(),
            newest: entries
                .iter()
                .rev()
                .take(limit)
                .map(|e| {
                    (
                        e.tx.hash,
                        e.tx.timestamp,
                        mempool::net_effect(&e.tx, address),
                    )
                })
                .collect(),
        }
    }

    /// The mempool in arrival order.
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

    /// One page of the mempool by fee per byte, highest first: the pool's
    /// size and up to `limit` transactions from `offset`, with their sizes.
    /// The walk to `offset` steps through the pool's fee index alone (no
    /// lookup per skipped transaction), and never past the pool's end:
    /// callers check `offset` against [`Node::mempool_size`] first.
    pub fn mempool_by_fee_rate(
        &self,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<(Arc<Transaction>, usize)>) {
        let pool = self.pool();
        let page = pool
            .page_by_fee_rate(offset, limit)
            .map(|e| (e.tx.clone(), e.size))
            .collect();
        (pool.len(), page)
    }

    /// The newest `limit` mempool transactions, newest first.
    pub fn mempool_newest(&self, limit: usize) -> Vec<Arc<Transaction>> {
        self.pool()
            .newest_first()
            .take(limit)
            .map(|e| e.tx.clone())
            .collect()
    }

    /// For each of `outpoints`, the mempool transaction spending it.
    pub fn mempool_spenders(&self, outpoints: &[crate::types::OutPoint]) -> Vec<Option<Hash>> {
        let pool = self.pool();
        outpoints.iter().map(|o| pool.spender(o)).collect()
    }

    /// A mempool transaction by arrival index.
    pub fn mempool_transaction_at(&self, index: usize) -> Option<Arc<Transaction>> {
        self.pool().by_index(index).map(|e| e.tx.clone())
    }
}

/// What sync reads of this node's chain: its store.
impl crate::p2p::sync_run::ChainView for Node {
    type Error = StoreError;

    fn params(&self) -> &ChainParams {
        &self.params
    }

    fn total_work(&self) -> primitive_types::U256 {
        self.snapshot().info.total_work
    }

    fn tip_height(&self) -> u64 {
        self.snapshot().info.height
    }

    fn active_hashes(&self, heights: &[u64]) -> Result<Vec<Hash>, StoreError> {
        Node::active_hashes(self, heights)
    }

    fn branch_context(&self, hash: &Hash) -> Result<Option<BranchContext>, StoreError> {
        Node::branch_context(self, hash)
    }

    fn block_status(&self, hash: &Hash) -> Result<KnownBlock, StoreError> {
        Node::block_status(self, hash)
    }

    fn now_unix(&self) -> u64 {
        self.now()
    }
}

#[cfg(test)]
mod read_snapshot_tests {
    //! `GET /headers/` reads in one read transaction (API.md §8
    //! "Connections"): a block committed meanwhile is not half-seen.

    use super::*;
    use crate::types::Block;

    #[test]
    fn a_read_snapshot_does_not_see_a_block_committed_during_it() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let params = ChainParams::regtest();
        let genesis = params.genesis();
        let mut block = Block::assemble(
            genesis.hash,
            1,
            genesis.timestamp + 10,
            params.pow_limit,
            Address([1; 20]),
            params.subsidy(1),
            Vec::new(),
        )
        .expect("no overflow");
        assert!(block.solve(10_000_000));
        let node = Node::open(dir.path(), params, MempoolLimits::default()).expect("opens");
        let seen = node
            .reads()
            .with_snapshot(|conn| {
                let before = crate::state::tip(conn)?.height;
                node.submit_block(&block).expect("connected meanwhile");
                let after = crate::state::tip(conn)?.height;
                Ok((before, after))
            })
            .expect("read");
        assert_eq!(seen, (0, 0), "one state for the whole read");
        // Without the snapshot, the second statement sees the new block.
        let mut next = Block::assemble(
            block.hash,
            2,
            block.timestamp + 10,
            node.params().pow_limit,
            Address([1; 20]),
            node.params().subsidy(2),
            Vec::new(),
        )
        .expect("no overflow");
        assert!(next.solve(10_000_000));
        let unsnapped = node
            .reads()
            .with(|conn| {
                let before = crate::state::tip(conn)?.height;
                node.submit_block(&next).expect("connected meanwhile");
                let after = crate::state::tip(conn)?.height;
                Ok((before, after))
            })
            .expect("read");
        assert_eq!(unsnapped, (1, 2));
    }
}
