//! Chain state in SQLite: every stored block, the active chain, unspent
//! (and spent) outputs, balances, address history and the blockchain info.
//! A block is connected in one SQLite transaction: all its effects or none.
//!
//! A file per job: `connect` (connect, disconnect, reorganise, through one
//! check-and-apply path), `invalid` (blocks that failed a rule),
//! `pool_table` (the persisted mempool), `peers_table` (known and banned
//! nodes), `queries` (the API's reads),
//! `schema` (opening and migrations), `verify` (`full-node verify`: the
//! state checked against itself, and its digest).

mod connect;
mod invalid;
mod peers_table;
mod pool_table;
mod queries;
mod schema;
mod verify;

use std::path::Path;

use primitive_types::U256;
use rusqlite::{Connection, OptionalExtension, params};

pub use connect::{ConnectError, ReorgError, Reorganized};
pub use invalid::{InvalidBlock, invalid_block};
pub use peers_table::SqlitePeerStore;
pub use pool_table::{PoolJournal, PoolOp};
pub use queries::*;
pub use schema::{APPLICATION_ID, SchemaError};
pub use verify::{
    DIGEST_TAG, VerifyError, VerifyReport, open_read_only, state_digest, verify, verify_data_dir,
};

use crate::consensus::block::{ParentContext, context_depth, next_context};
use crate::consensus::transaction::KnownOutput;
use crate::consensus::{ChainParams, block_work};
use crate::types::{Address, Amount, Block, Hash, OutPoint, Target};

/// Where a stored block stands. (A block that failed a rule is not stored:
/// see [`InvalidBlock`].)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockStatus {
    /// Passed §6 steps 1–13; on a side branch until its branch is heaviest.
    Stored,
    /// Passed step 14 (connected on the active chain, now or before).
    Valid,
}

impl BlockStatus {
    /// The `blocks.status` column.
    pub(crate) fn as_sql(self) -> i64 {
        match self {
            BlockStatus::Stored => 0,
            BlockStatus::Valid => 1,
        }
    }

    fn from_sql(v: i64) -> BlockStatus {
        if v == BlockStatus::Valid.as_sql() {
            BlockStatus::Valid
        } else {
            BlockStatus::Stored
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
    /// Not a `#[source]`: its text is the whole message (a chain printed
    /// with its sources would say the same thing three times).
    #[error("database error: {}", crate::state::sqlite_message(.0))]
    Sqlite(rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Io(String),
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
    let mut conn = Connection::open(path)?;
    schema::configure(&mut conn)?;
    Ok(conn)
}

/// The writer's side of the chain state.
pub struct ChainStore {
    conn: Connection,
    params: ChainParams,
    /// Bytes of stored side blocks never connected (status 0), when known:
    /// kept up to date by storing and pruning, forgotten by anything else
    /// that may change a block's status.
    side_bytes: Option<u64>,
}

impl ChainStore {
    /// Opens (or creates) the chain database at `path` for `params`' chain.
    pub fn open(path: &Path, params: &ChainParams) -> Result<ChainStore, StoreError> {
        let mut conn = open_connection(path)?;
        schema::migrate(&mut conn, &path.display().to_string())?;
        let mut store = ChainStore {
            conn,
            params: params.clone(),
            side_bytes: None,
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
        connect::insert_block(&tx, &genesis, work, BlockStatus::Valid)?;
        connect::apply_block(&tx, &genesis, work)?;
        tx.commit()?;
        Ok(())
    }

    /// The stored record of block `hash`, if any.
    pub fn record(&self, hash: &Hash) -> Result<Option<BlockRecord>, StoreError> {
        block_record(&self.conn, hash)
    }

    /// Block `hash` when it failed a rule (or descends from one that did).
    pub fn invalid(&self, hash: &Hash) -> Result<Option<InvalidBlock>, StoreError> {
        invalid_block(&self.conn, hash)
    }

    pub fn tip(&self) -> Result<Tip, StoreError> {
        tip(&self.conn)
    }

    /// What steps 6–8 need of the branch ending at `parent` (PROTOCOL.md §6–§7).
    pub fn parent_context(&self, parent: &BlockRecord) -> Result<ParentContext, StoreError> {
        let tail = branch_tail(&self.conn, parent, context_depth(&self.params))?;
        Ok(next_context(&self.params, &tail, &parent.target))
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

    /// The stored block with the most cumulative work (every stored block
    /// passed steps 1–13; failed ones are not stored). The caller moves only
    /// to one strictly heavier than the tip, so a tie keeps the active chain.
    pub fn heaviest_candidate(&self) -> Result<Option<BlockRecord>, StoreError> {
        let hash: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT hash FROM blocks ORDER BY cumulative_work DESC LIMIT 1")?
            .query_row([], |r| r.get(0))
            .optional()?;
        match hash {
            Some(h) => self.record(&hash_col(h)?),
            None => Ok(None),
        }
    }
}

/// An output of the active chain, spent or not.
pub fn lookup_output(
    conn: &Connection,
    outpoint: &OutPoint,
) -> Result<Option<KnownOutput>, StoreError> {
    conn.prepare_cached(
        "SELECT address, value, hash, block_height, coinbase, spent_height FROM outputs
         WHERE transaction_hash = ?1 AND output_index = ?2",
    )?
    .query_row(
        params![&outpoint.transaction_hash.0[..], outpoint.output_index],
        |r| {
            Ok(KnownOutput {
                address: address_col(r.get(0)?)?,
                value: Amount::from_units(r.get::<_, i64>(1)? as u64),
                hash: hash_col(r.get(2)?)?,
                height: Some(r.get::<_, i64>(3)? as u64),
                coinbase: r.get(4)?,
                spent: r.get::<_, Option<i64>>(5)?.is_some(),
            })
        },
    )
    .optional()
    .map_err(StoreError::from)
}

/// The stored record of block `hash`.
pub fn block_record(conn: &Connection, hash: &Hash) -> Result<Option<BlockRecord>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT prev_hash, height, timestamp, target, cumulative_work, status FROM blocks WHERE hash = ?1",
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
                status: BlockStatus::from_sql(r.get(5)?),
            })
        })
        .optional()?)
}

/// The last `depth` blocks of the branch ending at `last` (or back to
/// genesis), oldest first, as (height, timestamp).
pub fn branch_tail(
    conn: &Connection,
    last: &BlockRecord,
    depth: usize,
) -> Result<Vec<(u64, u64)>, StoreError> {
    let mut tail = vec![(last.height, last.timestamp)];
    let mut cursor = last.prev_hash;
    let mut height = last.height;
    while height > 0 && tail.len() < depth {
        let Some(rec) = block_record(conn, &cursor)? else {
            return Err(StoreError::Corrupt(format!("missing ancestor {cursor}")));
        };
        height = rec.height;
        tail.push((rec.height, rec.timestamp));
        cursor = rec.prev_hash;
    }
    tail.reverse();
    Ok(tail)
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

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

/// SQLite's error once: its message when it has one, else its code's text.
pub fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            let text = message.clone().unwrap_or_else(|| code.to_string());
            if code.code == rusqlite::ErrorCode::NotADatabase {
                format!("{text} (another program's file, or a damaged one)")
            } else {
                text
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written before migration 5 (`blocks` WITHOUT ROWID)
    /// opens with its blocks intact, read by hash as before.
    #[test]
    fn blocks_move_to_a_rowid_table_intact() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("chain.sqlite");
        let params = ChainParams::regtest();
        {
            let conn = open_connection(&path).expect("connection");
            conn.pragma_update(None, "journal_mode", "WAL")
                .expect("wal");
            conn.pragma_update(None, "application_id", schema::APPLICATION_ID)
                .expect("application id");
            conn.execute_batch(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
            )
            .expect("migrations table");
            for (version, name, sql) in schema::MIGRATIONS.iter().filter(|m| m.0 <= 4) {
                conn.execute_batch(sql).expect("an old migration");
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, 0)",
                    params![version, name],
                )
                .expect("recorded");
            }
            // This binary writes a spender with each spend (migration 7):
            // the column only while it writes genesis.
            conn.execute_batch("ALTER TABLE outputs ADD COLUMN spent_by BLOB")
                .expect("a column for now");
            let mut old = ChainStore {
                conn,
                params: params.clone(),
                side_bytes: None,
            };
            old.initialise().expect("genesis in the old schema");
            old.conn
                .execute_batch("ALTER TABLE outputs DROP COLUMN spent_by")
                .expect("back to schema 4");
        }
        let store = ChainStore::open(&path, &params).expect("the old database opens");
        let genesis = params.genesis();
        let record = store
            .record(&genesis.hash)
            .expect("read")
            .expect("genesis kept");
        assert_eq!(
            (record.height, record.prev_hash, record.status),
            (0, genesis.prev_hash, BlockStatus::Valid)
        );
        assert_eq!(store.block(&genesis.hash).expect("read"), Some(genesis));
        let sql: String = store
            .conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'blocks'",
                [],
                |r| r.get(0),
            )
            .expect("blocks table");
        assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
        // Migration 7 too: nothing spent, no spender.
        let spenders: i64 = store
            .conn
            .query_row("SELECT count(spent_by) FROM outputs", [], |r| r.get(0))
            .expect("the column");
        assert_eq!(spenders, 0);
    }

    /// A database written before migration 7 (no `outputs.spent_by`)
    /// opens with the spender of every spent output filled in from the
    /// active chain's blocks, as connecting them would have written it, and
    /// verifies consistent.
    #[test]
    fn spenders_are_filled_in_for_a_database_from_before_migration_7() {
        use super::verify::tests::{main_chain, write};
        let dir = tempfile::tempdir().expect("temporary directory");
        let chain = main_chain(9);
        write(dir.path(), &chain);
        let path = dir.path().join("chain.sqlite");
        type Spent = Vec<(Vec<u8>, i64, Option<i64>, Option<Vec<u8>>)>;
        let spent = |conn: &Connection| -> Spent {
            conn.prepare(
                "SELECT transaction_hash, output_index, spent_height, spent_by FROM outputs
                 ORDER BY transaction_hash, output_index",
            )
            .expect("prepared")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("read")
            .collect::<Result<_, _>>()
            .expect("rows")
        };
        let written = {
            let conn = open_connection(&path).expect("connection");
            let written = spent(&conn);
            // Back to schema 6.
            conn.execute_batch(
                "ALTER TABLE outputs DROP COLUMN spent_by;
                 DELETE FROM schema_migrations WHERE version = 7;",
            )
            .expect("the column dropped");
            written
        };
        let spenders = written.iter().filter(|o| o.3.is_some()).count();
        assert_eq!(
            spenders, 5,
            "a coinbase spent by the first payment, then each change but the last"
        );
        assert!(
            written.iter().all(|o| o.2.is_some() == o.3.is_some()),
            "a spender exactly when spent"
        );
        let store = ChainStore::open(&path, &ChainParams::regtest()).expect("the old one opens");
        assert_eq!(spent(&store.conn), written);
        drop(store);
        let report = verify::verify_data_dir(dir.path(), Some("regtest")).expect("verifies");
        assert!(report.is_consistent(), "{:#?}", report.problems);
    }

    /// Two writers on one database, as the chain and the mempool table are:
    /// one reads then writes while the other commits in between. With
    /// deferred transactions the first one's write fails at once with
    /// `database is locked` (the busy timeout does not cover the upgrade);
    /// every writer connection begins IMMEDIATE, so the other one waits.
    #[test]
    fn a_writer_that_reads_first_never_fails_on_a_concurrent_commit() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("chain.sqlite");
        ChainStore::open(&path, &ChainParams::regtest()).expect("store opens");
        let mut chain = open_connection(&path).expect("chain connection");
        let pool = open_connection(&path).expect("pool connection");
        let tx = chain.transaction().expect("begin");
        let before: i64 = tx
            .query_row("SELECT count(*) FROM mempool", [], |r| r.get(0))
            .expect("read");
        let other = std::thread::spawn(move || {
            pool.execute(
                "INSERT INTO mempool (seq, hash, json) VALUES (1, x'01', '{}')",
                [],
            )
        });
        // Give the other writer every chance to commit in between.
        std::thread::sleep(std::time::Duration::from_millis(300));
        tx.execute(
            "INSERT INTO mempool (seq, hash, json) VALUES (2, x'02', '{}')",
            [],
        )
        .expect("the write after a read is not refused");
        tx.commit().expect("commit");
        other
            .join()
            .expect("thread")
            .expect("the other writer waited, then wrote");
        let after: i64 = chain
            .query_row("SELECT count(*) FROM mempool", [], |r| r.get(0))
            .expect("read");
        assert_eq!(after, before + 2);
    }
}
