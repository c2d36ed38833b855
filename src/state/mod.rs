//! Chain state in SQLite: every stored block, the active chain, unspent
//! (and spent) outputs, balances, address history and the blockchain info.
//! A block is connected in one SQLite transaction: all its effects or none.

mod queries;
mod schema;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use primitive_types::U256;
use rusqlite::{Connection, OptionalExtension, Transaction as SqlTx, params};

pub use queries::*;
pub use schema::{APPLICATION_ID, SchemaError};

use crate::consensus::block::{ParentContext, check_block_transactions};
use crate::consensus::difficulty::{median_time_past, required_target, retarget_start_height};
use crate::consensus::transaction::{KnownOutput, OutputView};
use crate::consensus::{BlockError, ChainParams, RuleError, block_work};
use crate::types::{Address, Amount, Block, Hash, Target};

/// Where a stored block stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockStatus {
    /// Passed §6 steps 1–13; on a side branch until its branch is heaviest.
    Stored = 0,
    /// Passed step 14 (connected on the active chain, now or before).
    Valid = 1,
    /// Failed step 14, or descends from a block that did: invalid for good.
    Invalid = 2,
}

impl BlockStatus {
    fn from_i64(v: i64) -> BlockStatus {
        match v {
            1 => BlockStatus::Valid,
            2 => BlockStatus::Invalid,
            _ => BlockStatus::Stored,
        }
    }
}

/// What the store keeps about a block besides its JSON.
#[derive(Clone, Debug)]
pub struct BlockRecord {
    pub hash: Hash,
    pub prev_hash: Hash,
    pub height: u64,
    pub timestamp: u64,
    pub target: Target,
    pub cumulative_work: U256,
    pub status: BlockStatus,
    /// For an invalid block: the error it got (code, message, transaction).
    pub error: Option<StoredError>,
}

#[derive(Clone, Debug)]
pub struct StoredError {
    pub code: String,
    pub message: String,
    pub transaction: Option<usize>,
}

/// The active chain's tip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tip {
    pub height: u64,
    pub hash: Hash,
    pub total_work: U256,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(
        "the data directory holds the {found} chain, not {wanted}: use --chain {found} or another --dir"
    )]
    OtherChain { found: String, wanted: String },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Io(String),
}

/// Why a reorganisation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReorgError {
    #[error("block {block} of the branch is invalid: {error}")]
    Invalid { block: Hash, error: BlockError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ReorgError {
    fn from(e: rusqlite::Error) -> Self {
        ReorgError::Store(StoreError::Sqlite(e))
    }
}

/// One change to the persisted mempool.
#[derive(Debug)]
pub enum PoolOp {
    Add { seq: u64, hash: Hash, json: String },
    Remove(Hash),
}

/// The mempool's table, written behind the in-memory pool with group
/// commit: changes are queued in the pool's order (under its lock), and
/// whoever flushes first commits everything queued in one transaction, so
/// concurrent intakes share one commit. A caller that flushed knows its
/// changes are on disk.
pub struct PoolJournal {
    conn: std::sync::Mutex<Connection>,
    pending: std::sync::Mutex<Vec<PoolOp>>,
}

impl PoolJournal {
    /// A writer connection of its own to the database at `path`.
    pub fn open(path: &Path) -> Result<PoolJournal, StoreError> {
        Ok(PoolJournal {
            conn: std::sync::Mutex::new(open_connection(path)?),
            pending: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Queues changes; call while holding the pool's lock, so the table
    /// sees them in the pool's order.
    pub fn queue(&self, ops: impl IntoIterator<Item = PoolOp>) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(ops);
    }

    /// Commits everything queued (by any thread) so far.
    pub fn flush(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return Ok(()); // another flush committed ours
        }
        let tx = conn.transaction()?;
        {
            let mut delete = tx.prepare_cached("DELETE FROM mempool WHERE hash = ?1")?;
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO mempool (seq, hash, json) VALUES (?1, ?2, ?3)",
            )?;
            for op in &batch {
                match op {
                    PoolOp::Add { seq, hash, json } => {
                        insert.execute(params![*seq as i64, &hash.0[..], json])?;
                    }
                    PoolOp::Remove(hash) => {
                        delete.execute(params![&hash.0[..]])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// A stored block read inside a transaction.
fn block_in(conn: &Connection, hash: &Hash) -> Result<Block, StoreError> {
    let json: String = conn
        .prepare_cached("SELECT json FROM blocks WHERE hash = ?1")?
        .query_row(params![&hash.0[..]], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::Corrupt(format!("block {hash} missing")))?;
    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("block {hash}: {e}")))
}

/// Why a block was not connected.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Rule(#[from] BlockError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ConnectError {
    fn from(e: rusqlite::Error) -> Self {
        ConnectError::Store(StoreError::Sqlite(e))
    }
}

pub(crate) fn hash_col(bytes: Vec<u8>) -> rusqlite::Result<Hash> {
    bytes.try_into().map(Hash).map_err(|_| {
        rusqlite::Error::InvalidColumnType(0, "hash".into(), rusqlite::types::Type::Blob)
    })
}

pub(crate) fn address_col(bytes: Vec<u8>) -> rusqlite::Result<Address> {
    bytes.try_into().map(Address).map_err(|_| {
        rusqlite::Error::InvalidColumnType(0, "address".into(), rusqlite::types::Type::Blob)
    })
}

fn work_col(bytes: Vec<u8>) -> rusqlite::Result<U256> {
    if bytes.len() != 32 {
        return Err(rusqlite::Error::InvalidColumnType(
            0,
            "work".into(),
            rusqlite::types::Type::Blob,
        ));
    }
    Ok(U256::from_big_endian(&bytes))
}

fn work_bytes(work: U256) -> [u8; 32] {
    work.to_big_endian()
}

/// Opens a connection to the database at `path`, configured.
pub fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    schema::configure(&conn)?;
    Ok(conn)
}

/// The writer's side of the chain state.
pub struct ChainStore {
    conn: Connection,
    params: ChainParams,
}

impl ChainStore {
    /// Opens (or creates) the chain database at `path` for `params`' chain.
    pub fn open(path: &Path, params: &ChainParams) -> Result<ChainStore, StoreError> {
        let mut conn = open_connection(path)?;
        schema::migrate(&mut conn, &path.display().to_string())?;
        let mut store = ChainStore {
            conn,
            params: params.clone(),
        };
        let chain: Option<String> = store
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'chain'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match chain {
            Some(found) if found != params.name => {
                return Err(StoreError::OtherChain {
                    found,
                    wanted: params.name.to_string(),
                });
            }
            Some(_) => {
                let genesis: Option<Vec<u8>> = store
                    .conn
                    .query_row("SELECT hash FROM active_chain WHERE height = 0", [], |r| {
                        r.get(0)
                    })
                    .optional()?;
                if genesis.as_deref() != Some(&params.genesis_hash.0[..]) {
                    return Err(StoreError::Corrupt(format!(
                        "genesis is not {} of the {} chain",
                        params.genesis_hash, params.name
                    )));
                }
            }
            None => store.initialise()?,
        }
        Ok(store)
    }

    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Writes genesis: stored, connected, and the chain's name.
    fn initialise(&mut self) -> Result<(), StoreError> {
        let genesis = self.params.genesis();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('chain', ?1), ('genesis_hash', ?2)",
            params![self.params.name, genesis.hash.to_string()],
        )?;
        tx.execute(
            "INSERT INTO chain_info (id, height, best_hash, total_transactions, total_addresses, total_work)
             VALUES (0, 0, ?1, 0, 0, ?2)",
            params![&genesis.hash.0[..], &work_bytes(U256::zero())[..]],
        )?;
        let work = block_work(&genesis.target);
        insert_block(&tx, &genesis, work, BlockStatus::Valid)?;
        apply_block(&tx, &genesis, work)?;
        tx.commit()?;
        Ok(())
    }

    /// The stored record of block `hash`, if any.
    pub fn record(&self, hash: &Hash) -> Result<Option<BlockRecord>, StoreError> {
        block_record(&self.conn, hash)
    }

    pub fn tip(&self) -> Result<Tip, StoreError> {
        tip(&self.conn)
    }

    /// What steps 6–8 need of the branch ending at `parent` (PROTOCOL.md §6–§7).
    pub fn parent_context(&self, parent: &BlockRecord) -> Result<ParentContext, StoreError> {
        // The last 11 timestamps ending at the parent, and for a retarget the
        // timestamp of h-R, all on the parent's own branch.
        let height = parent.height + 1;
        let need_back = 11u64.max(self.params.retarget_interval);
        let mut timestamps = vec![parent.timestamp];
        let mut span_start = None;
        let start_height = retarget_start_height(&self.params, height);
        if parent.height == start_height {
            span_start = Some(parent.timestamp);
        }
        let mut cursor = parent.prev_hash;
        let mut h = parent.height;
        while h > 0 && (timestamps.len() as u64) < need_back {
            let Some(rec) = self.record(&cursor)? else {
                return Err(StoreError::Corrupt(format!("missing ancestor {cursor}")));
            };
            h = rec.height;
            timestamps.push(rec.timestamp);
            if h == start_height {
                span_start = Some(rec.timestamp);
            }
            cursor = rec.prev_hash;
        }
        timestamps.reverse();
        let target = required_target(&self.params, height, &parent.target, || {
            parent.timestamp as i64 - span_start.unwrap_or(parent.timestamp) as i64
        });
        Ok(ParentContext {
            height: parent.height,
            required_target: target,
            median_time_past: median_time_past(&timestamps),
        })
    }

    /// Step 14 and the connection of `block` on top of the active tip, in one
    /// SQLite transaction. `signatures[i]` is step 15 for transaction `i`,
    /// computed beforehand (on all cores). A block that fails step 14 is
    /// marked invalid for good.
    pub fn connect_block(
        &mut self,
        block: &Block,
        signatures: &[Result<(), RuleError>],
    ) -> Result<(), ConnectError> {
        let tip = self.tip()?;
        if block.prev_hash != tip.hash {
            return Err(StoreError::Corrupt("connect_block called off the tip".into()).into());
        }
        let work = tip.total_work.saturating_add(block_work(&block.target));
        let maturity = self.params.coinbase_maturity;
        let tx = self.conn.transaction()?;
        let result = {
            let mut view = BlockView::new(&tx, block);
            let checked =
                check_block_transactions(block, &mut view, maturity, signatures, |v, i| {
                    v.add_transaction(block, i)
                });
            if let Some(e) = view.db_error.take() {
                return Err(e.into());
            }
            checked
        };
        match result {
            Ok(()) => {
                insert_block(&tx, block, work, BlockStatus::Valid)?;
                apply_block(&tx, block, work)?;
                tx.commit()?;
                Ok(())
            }
            Err(rule) => {
                drop(tx);
                self.store_invalid(block, &rule)?;
                Err(rule.into())
            }
        }
    }

    /// Stores a block that passed steps 1–13 on a side branch, with its
    /// branch's cumulative work.
    pub fn store_side_block(&mut self, block: &Block) -> Result<U256, StoreError> {
        let parent = self
            .record(&block.prev_hash)?
            .ok_or_else(|| StoreError::Corrupt(format!("parent {} not stored", block.prev_hash)))?;
        let work = parent
            .cumulative_work
            .saturating_add(block_work(&block.target));
        let tx = self.conn.transaction()?;
        insert_block(&tx, block, work, BlockStatus::Stored)?;
        tx.commit()?;
        Ok(work)
    }

    /// The persisted mempool in arrival order: (seq, hash, transaction JSON).
    pub fn load_mempool(&self) -> Result<Vec<(u64, Hash, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, hash, json FROM mempool ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                hash_col(r.get(1)?)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A stored block (any branch), parsed.
    pub fn block(&self, hash: &Hash) -> Result<Option<Block>, StoreError> {
        let json: Option<String> = self
            .conn
            .prepare_cached("SELECT json FROM blocks WHERE hash = ?1")?
            .query_row(params![&hash.0[..]], |r| r.get(0))
            .optional()?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(format!("block {hash}: {e}")))
        })
        .transpose()
    }

    /// A stored, not invalid block with the most cumulative work. (The
    /// caller moves only to one strictly heavier than the tip, so a tie with
    /// the active chain keeps it.)
    pub fn heaviest_candidate(&self) -> Result<Option<BlockRecord>, StoreError> {
        let hash: Option<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT hash FROM blocks WHERE status != 2 ORDER BY cumulative_work DESC LIMIT 1",
            )?
            .query_row([], |r| r.get(0))
            .optional()?;
        match hash {
            Some(h) => self.record(&hash_col(h)?),
            None => Ok(None),
        }
    }

    /// Moves the active chain to the branch ending at `new_tip`, in one
    /// SQLite transaction: disconnects back to the fork point, then connects
    /// the branch's blocks with step 14 (signatures on all cores). Returns
    /// the disconnected blocks, tip first. On a failing block nothing is
    /// written and the error names that block.
    pub fn reorganize(&mut self, new_tip: &Hash) -> Result<Vec<Block>, ReorgError> {
        // The branch back to the active chain, fork point excluded.
        let mut branch = Vec::new();
        let mut cursor = *new_tip;
        let fork_height = loop {
            if let Some(h) = active_height(&self.conn, &cursor)? {
                break h;
            }
            let block = self
                .block(&cursor)?
                .ok_or_else(|| StoreError::Corrupt(format!("branch block {cursor} missing")))?;
            cursor = block.prev_hash;
            branch.push(block);
        };
        branch.reverse();
        let tip = self.tip()?;
        let mut disconnected = Vec::new();
        let maturity = self.params.coinbase_maturity;
        let tx = self.conn.transaction()?;
        let mut height = tip.height;
        let mut hash = tip.hash;
        while height > fork_height {
            let block = block_in(&tx, &hash)?;
            let parent_work = block_record(&tx, &block.prev_hash)?
                .map(|r| r.cumulative_work)
                .ok_or_else(|| StoreError::Corrupt(format!("parent of {hash} missing")))?;
            unapply_block(&tx, &block, parent_work)?;
            hash = block.prev_hash;
            height -= 1;
            disconnected.push(block);
        }
        for block in &branch {
            let signatures = crate::consensus::block::signature_results(block);
            let result = {
                let mut view = BlockView::new(&tx, block);
                let checked =
                    check_block_transactions(block, &mut view, maturity, &signatures, |v, i| {
                        v.add_transaction(block, i)
                    });
                if let Some(e) = view.db_error.take() {
                    return Err(StoreError::from(e).into());
                }
                checked
            };
            if let Err(error) = result {
                // Dropping `tx` rolls the whole reorganisation back.
                return Err(ReorgError::Invalid {
                    block: block.hash,
                    error,
                });
            }
            let work = block_record(&tx, &block.hash)?
                .map(|r| r.cumulative_work)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("branch block {} missing", block.hash))
                })?;
            insert_block(&tx, block, work, BlockStatus::Valid)?;
            apply_block(&tx, block, work)?;
        }
        tx.commit()?;
        Ok(disconnected)
    }

    /// Marks `hash` invalid with `error`, and every stored block built on
    /// it (PROTOCOL.md §7), in one transaction.
    pub fn mark_invalid(&mut self, hash: &Hash, error: &BlockError) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE blocks SET status = 2, error_code = ?2, error_message = ?3, error_tx = ?4 WHERE hash = ?1",
            params![
                &hash.0[..],
                error.error.code(),
                error.error.to_string(),
                error.transaction.map(|t| t as i64)
            ],
        )?;
        let mut frontier = vec![*hash];
        while let Some(parent) = frontier.pop() {
            let children: Vec<Vec<u8>> = {
                let mut stmt = tx.prepare_cached("SELECT hash FROM blocks WHERE prev_hash = ?1")?;
                stmt.query_map(params![&parent.0[..]], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            for child in children {
                let child = hash_col(child)?;
                tx.execute(
                    "UPDATE blocks SET status = 2, error_code = 'invalid_parent',
                     error_message = 'the parent block is invalid', error_tx = NULL WHERE hash = ?1",
                    params![&child.0[..]],
                )?;
                frontier.push(child);
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Keeps a block that failed step 14, with its error, so that it is
    /// answered the same again and its children are `invalid_parent`.
    pub fn store_invalid(&mut self, block: &Block, error: &BlockError) -> Result<(), StoreError> {
        let parent_work = self
            .record(&block.prev_hash)?
            .map(|r| r.cumulative_work)
            .unwrap_or_default();
        let work = parent_work.saturating_add(block_work(&block.target));
        let tx = self.conn.transaction()?;
        insert_block(&tx, block, work, BlockStatus::Invalid)?;
        tx.execute(
            "UPDATE blocks SET status = 2, error_code = ?2, error_message = ?3, error_tx = ?4 WHERE hash = ?1",
            params![
                &block.hash.0[..],
                error.error.code(),
                error.error.to_string(),
                error.transaction.map(|t| t as i64)
            ],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// Inserts the block row if it is not there yet.
fn insert_block(
    tx: &SqlTx<'_>,
    block: &Block,
    work: U256,
    status: BlockStatus,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(block).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let header_json =
        serde_json::to_string(&block.header()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.prepare_cached(
        "INSERT INTO blocks (hash, prev_hash, height, timestamp, target, cumulative_work, status, json, header_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(hash) DO UPDATE SET status = excluded.status",
    )?
    .execute(params![
        &block.hash.0[..],
        &block.prev_hash.0[..],
        block.height as i64,
        block.timestamp as i64,
        &block.target.0[..],
        &work_bytes(work)[..],
        status as i64,
        json,
        header_json
    ])?;
    Ok(())
}

/// Per address (zero excluded): units (received, sent) by one transaction.
/// The coinbase's input spends nothing.
fn address_effects(t: &crate::types::Transaction, coinbase: bool) -> BTreeMap<Address, (u64, u64)> {
    let mut touched: BTreeMap<Address, (u64, u64)> = BTreeMap::new();
    if !coinbase {
        for input in &t.inputs {
            touched.entry(input.output_address).or_default().1 += input.output_value.units();
        }
    }
    for output in t.outputs.iter().filter(|o| !o.address.is_zero()) {
        touched.entry(output.address).or_default().0 += output.value.units();
    }
    touched.remove(&Address::ZERO);
    touched
}

/// Undoes every effect of the active tip `block` (PROTOCOL.md §7): the
/// outputs it spent are unspent again, those it created are gone, and
/// balances, history and the blockchain info are as before it.
fn unapply_block(tx: &SqlTx<'_>, block: &Block, parent_work: U256) -> Result<(), StoreError> {
    let height = block.height as i64;
    tx.prepare_cached("DELETE FROM active_chain WHERE height = ?1")?
        .execute(params![height])?;
    tx.prepare_cached("DELETE FROM transactions WHERE block_height = ?1")?
        .execute(params![height])?;
    tx.prepare_cached("DELETE FROM outputs WHERE block_height = ?1")?
        .execute(params![height])?;
    tx.prepare_cached("UPDATE outputs SET spent_height = NULL WHERE spent_height = ?1")?
        .execute(params![height])?;
    tx.prepare_cached("DELETE FROM address_history WHERE block_height = ?1")?
        .execute(params![height])?;
    let mut update_address = tx.prepare_cached(
        "UPDATE addresses SET balance = balance - ?2 + ?3, received = received - ?2, sent = sent - ?3,
         transaction_count = transaction_count - 1 WHERE address = ?1",
    )?;
    let mut drop_address =
        tx.prepare_cached("DELETE FROM addresses WHERE address = ?1 AND transaction_count = 0")?;
    let mut gone_addresses = 0i64;
    for (position, t) in block.transactions.iter().enumerate().rev() {
        for (address, (received, sent)) in address_effects(t, position == 0) {
            update_address.execute(params![&address.0[..], received as i64, sent as i64])?;
            gone_addresses += drop_address.execute(params![&address.0[..]])? as i64;
        }
    }
    tx.prepare_cached(
        "UPDATE chain_info SET height = ?1, best_hash = ?2, total_transactions = total_transactions - ?3,
         total_addresses = total_addresses - ?4, total_work = ?5 WHERE id = 0",
    )?
    .execute(params![
        height - 1,
        &block.prev_hash.0[..],
        block.transactions.len() as i64,
        gone_addresses,
        &work_bytes(parent_work)[..]
    ])?;
    Ok(())
}

/// Writes every effect of a connected block: active chain, transactions,
/// outputs spent and created, balances, history and the blockchain info.
fn apply_block(tx: &SqlTx<'_>, block: &Block, total_work: U256) -> Result<(), StoreError> {
    let height = block.height as i64;
    tx.prepare_cached("INSERT INTO active_chain (height, hash) VALUES (?1, ?2)")?
        .execute(params![height, &block.hash.0[..]])?;
    let mut insert_tx = tx.prepare_cached(
        "INSERT OR REPLACE INTO transactions (hash, block_height, position) VALUES (?1, ?2, ?3)",
    )?;
    let mut spend = tx.prepare_cached(
        "UPDATE outputs SET spent_height = ?3 WHERE transaction_hash = ?1 AND output_index = ?2",
    )?;
    let mut create = tx.prepare_cached(
        "INSERT INTO outputs (transaction_hash, output_index, address, value, hash, block_height, transaction_index, coinbase)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut new_address = tx.prepare_cached(
        "INSERT OR IGNORE INTO addresses (address, balance, received, sent, transaction_count) VALUES (?1, 0, 0, 0, 0)",
    )?;
    let mut update_address = tx.prepare_cached(
        "UPDATE addresses SET balance = balance + ?2 - ?3, received = received + ?2, sent = sent + ?3,
         transaction_count = transaction_count + 1 WHERE address = ?1",
    )?;
    let mut history = tx.prepare_cached(
        "INSERT INTO address_history (address, block_height, position, hash, timestamp, delta) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut new_addresses = 0i64;
    for (position, t) in block.transactions.iter().enumerate() {
        insert_tx.execute(params![&t.hash.0[..], height, position as i64])?;
        if position != 0 {
            for input in &t.inputs {
                spend.execute(params![
                    &input.transaction_hash.0[..],
                    input.output_index,
                    height
                ])?;
            }
        }
        for output in &t.outputs {
            if output.address.is_zero() {
                continue; // burnt: never an unspent output, never in a balance
            }
            create.execute(params![
                &t.hash.0[..],
                output.index,
                &output.address.0[..],
                output.value.units() as i64,
                &output.hash.0[..],
                height,
                position as i64,
                position == 0
            ])?;
        }
        for (address, (received, sent)) in address_effects(t, position == 0) {
            new_addresses += new_address.execute(params![&address.0[..]])? as i64;
            update_address.execute(params![&address.0[..], received as i64, sent as i64])?;
            history.execute(params![
                &address.0[..],
                height,
                position as i64,
                &t.hash.0[..],
                t.timestamp as i64,
                received as i64 - sent as i64
            ])?;
        }
    }
    tx.prepare_cached(
        "UPDATE chain_info SET height = ?1, best_hash = ?2, total_transactions = total_transactions + ?3,
         total_addresses = total_addresses + ?4, total_work = ?5 WHERE id = 0",
    )?
    .execute(params![
        height,
        &block.hash.0[..],
        block.transactions.len() as i64,
        new_addresses,
        &work_bytes(total_work)[..]
    ])?;
    Ok(())
}

/// Outputs as step 14 sees them inside a block: the active chain's, plus
/// those created and spent by earlier transactions of the block.
struct BlockView<'a> {
    tx: &'a Connection,
    created: HashMap<(Hash, u32), KnownOutput>,
    spent: HashSet<(Hash, u32)>,
    db_error: RefCell<Option<rusqlite::Error>>,
}

impl<'a> BlockView<'a> {
    /// A view that already sees the block's coinbase output (transaction 0).
    fn new(tx: &'a Connection, block: &Block) -> Self {
        let mut view = BlockView {
            tx,
            created: HashMap::new(),
            spent: HashSet::new(),
            db_error: RefCell::new(None),
        };
        view.add_transaction(block, 0);
        view
    }

    fn add_transaction(&mut self, block: &Block, index: usize) {
        let t = &block.transactions[index];
        if index != 0 {
            for input in &t.inputs {
                self.spent
                    .insert((input.transaction_hash, input.output_index));
            }
        }
        for o in &t.outputs {
            if o.address.is_zero() {
                continue;
            }
            self.created.insert(
                (t.hash, o.index),
                KnownOutput {
                    address: o.address,
                    value: o.value,
                    hash: o.hash,
                    height: Some(block.height),
                    coinbase: index == 0,
                    spent: false,
                },
            );
        }
    }
}

impl OutputView for BlockView<'_> {
    fn output(&self, transaction_hash: &Hash, output_index: u32) -> Option<KnownOutput> {
        let key = (*transaction_hash, output_index);
        let spent_here = self.spent.contains(&key);
        if let Some(o) = self.created.get(&key) {
            return Some(KnownOutput {
                spent: spent_here,
                ..*o
            });
        }
        match lookup_output(self.tx, transaction_hash, output_index) {
            Ok(found) => found.map(|o| KnownOutput {
                spent: o.spent || spent_here,
                ..o
            }),
            Err(e) => {
                *self.db_error.borrow_mut() = Some(e);
                None
            }
        }
    }
}

/// An output of the active chain, spent or not.
pub fn lookup_output(
    conn: &Connection,
    transaction_hash: &Hash,
    output_index: u32,
) -> rusqlite::Result<Option<KnownOutput>> {
    conn.prepare_cached(
        "SELECT address, value, hash, block_height, coinbase, spent_height FROM outputs
         WHERE transaction_hash = ?1 AND output_index = ?2",
    )?
    .query_row(params![&transaction_hash.0[..], output_index], |r| {
        Ok(KnownOutput {
            address: address_col(r.get(0)?)?,
            value: Amount::from_units(r.get::<_, i64>(1)? as u64),
            hash: hash_col(r.get(2)?)?,
            height: Some(r.get::<_, i64>(3)? as u64),
            coinbase: r.get(4)?,
            spent: r.get::<_, Option<i64>>(5)?.is_some(),
        })
    })
    .optional()
}

/// The stored record of block `hash`.
pub fn block_record(conn: &Connection, hash: &Hash) -> Result<Option<BlockRecord>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT prev_hash, height, timestamp, target, cumulative_work, status, error_code, error_message, error_tx
             FROM blocks WHERE hash = ?1",
        )?
        .query_row(params![&hash.0[..]], |r| {
            let target: Vec<u8> = r.get(3)?;
            Ok(BlockRecord {
                hash: *hash,
                prev_hash: hash_col(r.get(0)?)?,
                height: r.get::<_, i64>(1)? as u64,
                timestamp: r.get::<_, i64>(2)? as u64,
                target: Target(hash_col(target)?.0),
                cumulative_work: work_col(r.get(4)?)?,
                status: BlockStatus::from_i64(r.get(5)?),
                error: match r.get::<_, Option<String>>(6)? {
                    Some(code) => Some(StoredError {
                        code,
                        message: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
                        transaction: r.get::<_, Option<i64>>(8)?.map(|t| t as usize),
                    }),
                    None => None,
                },
            })
        })
        .optional()?)
}

/// The active chain's tip.
pub fn tip(conn: &Connection) -> Result<Tip, StoreError> {
    Ok(conn
        .prepare_cached("SELECT height, best_hash, total_work FROM chain_info WHERE id = 0")?
        .query_row([], |r| {
            Ok(Tip {
                height: r.get::<_, i64>(0)? as u64,
                hash: hash_col(r.get(1)?)?,
                total_work: work_col(r.get(2)?)?,
            })
        })?)
}
