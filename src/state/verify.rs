//! `full-node verify`: checks a stopped node's chain database against
//! itself and computes a digest of its chain state (issue 31).
//!
//! The database is opened read-only, under the data directory's lock (a
//! running node holds it: verify refuses). The checks:
//!
//! * the active chain links from genesis to the tip (hashes, `prev_hash`,
//!   heights, cumulative work), every block of it stored, connected, its
//!   JSON intact (PROTOCOL.md §6 steps 2 and 9–13);
//! * every stored block of any branch has its parent stored and its work
//!   summed, and no stored branch has more work than the active chain
//!   (blocks that failed a rule are not stored, so every stored leaf counts);
//! * replaying the active chain's blocks gives exactly the stored
//!   transactions, outputs (spent and unspent, with the height and the
//!   transaction that spent them), address history, balances and totals; each address's balance, received, sent and transaction
//!   count also equal what its stored outputs and history say.
//!
//! The digest ([`state_digest`]) covers only what the active chain
//! determines, so two nodes on the same best hash have the same digest
//! whatever path each took there.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use primitive_types::U256;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use sha2::Digest as _;

use super::{StoreError, address_col, hash_col, schema, work_col};
use crate::consensus::block::{check_block_body, check_block_hash};
use crate::consensus::{ChainParams, block_work};
use crate::datadir::{DataDir, DataDirError};
use crate::types::{Address, Amount, Block, Hash, OutPoint, Target};

/// The tag of the state digest (PROTOCOL.md §2's tagged hash).
pub const DIGEST_TAG: &str = "cinder-state-digest-v1";

/// Problems listed in full; past this many only their number is given.
const MAX_LISTED_PROBLEMS: usize = 200;

/// Why a directory could not be verified at all (as opposed to the
/// problems a verified directory shows).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("no data directory at {0}")]
    NoDirectory(PathBuf),
    #[error(
        "a full-node is running on data directory {0}: stop it first (verify reads a stopped node's directory)"
    )]
    Running(PathBuf),
    #[error("no chain database in {0} (no {1})")]
    NoDatabase(PathBuf, String),
    #[error("{0} is not a Cinder database")]
    Foreign(String),
    #[error(
        "{path} has schema {found}, this binary checks schema {known}: {}",
        if .found < .known { "start full-node on it once to migrate it, then verify" } else { "use a newer full-node" }
    )]
    Schema {
        path: String,
        found: i64,
        known: i64,
    },
    #[error(
        "the data directory holds the {found} chain, not {wanted}: use --chain {found} or leave --chain out"
    )]
    OtherChain { found: String, wanted: String },
    #[error("unknown chain {0:?} in the database")]
    UnknownChain(String),
    #[error(transparent)]
    DataDir(DataDirError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for VerifyError {
    fn from(e: rusqlite::Error) -> Self {
        VerifyError::Store(StoreError::Sqlite(e))
    }
}

/// What verify found in a chain database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub chain: String,
    pub height: u64,
    pub best_hash: Hash,
    pub total_work: U256,
    pub total_transactions: u64,
    pub total_addresses: u64,
    /// Stored blocks of every branch, and those not on the active chain.
    pub stored_blocks: u64,
    pub side_blocks: u64,
    pub unspent_outputs: u64,
    /// The sum of the unspent outputs, in units.
    pub unspent_value: u64,
    /// Each inconsistency, in words (at most [`MAX_LISTED_PROBLEMS`]).
    pub problems: Vec<String>,
    /// Problems found beyond those listed.
    pub unlisted_problems: u64,
    /// [`state_digest`] of the database as stored.
    pub digest: Hash,
}

impl VerifyReport {
    /// No problem found.
    pub fn is_consistent(&self) -> bool {
        self.problems.is_empty() && self.unlisted_problems == 0
    }

    /// Problems found in all.
    pub fn problem_count(&self) -> u64 {
        self.problems.len() as u64 + self.unlisted_problems
    }

    /// The lines `full-node verify` prints: the state, each problem, then
    /// `digest <64 hex>` last.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!("chain {}", self.chain),
            format!("height {}", self.height),
            format!("best_hash {}", self.best_hash),
            format!("total_work {}", self.total_work),
            format!("total_transactions {}", self.total_transactions),
            format!("total_addresses {}", self.total_addresses),
            format!(
                "unspent_outputs {} ({} coins)",
                self.unspent_outputs,
                Amount::from_units(self.unspent_value)
            ),
            format!(
                "stored_blocks {} ({} off the active chain)",
                self.stored_blocks, self.side_blocks
            ),
        ];
        for problem in &self.problems {
            lines.push(format!("problem: {problem}"));
        }
        if self.unlisted_problems > 0 {
            lines.push(format!(
                "problem: … and {} more problems not listed",
                self.unlisted_problems
            ));
        }
        lines.push(if self.is_consistent() {
            "consistent".to_string()
        } else {
            match self.problem_count() {
                1 => "1 problem".to_string(),
                n => format!("{n} problems"),
            }
        });
        lines.push(format!("digest {}", self.digest));
        lines
    }
}

/// Problems as they are found, the first [`MAX_LISTED_PROBLEMS`] in words.
#[derive(Default)]
struct Problems {
    listed: Vec<String>,
    unlisted: u64,
}

impl Problems {
    fn add(&mut self, problem: String) {
        if self.listed.len() < MAX_LISTED_PROBLEMS {
            self.listed.push(problem);
        } else {
            self.unlisted += 1;
        }
    }
}

/// Verifies the stopped node's data directory `dir` (`chain`: the chain it
/// must hold; `None`: the one it holds). Holds the directory's lock while
/// it reads, so that no node starts on it meanwhile.
pub fn verify_data_dir(dir: &Path, chain: Option<&str>) -> Result<VerifyReport, VerifyError> {
    if !dir.is_dir() {
        return Err(VerifyError::NoDirectory(dir.to_path_buf()));
    }
    let _lock = DataDir::lock_existing(dir).map_err(|e| match e {
        DataDirError::Locked(path) => VerifyError::Running(path),
        other => VerifyError::DataDir(other),
    })?;
    let path = dir.join(crate::node::DATABASE_FILE);
    if !path.is_file() {
        return Err(VerifyError::NoDatabase(
            dir.to_path_buf(),
            crate::node::DATABASE_FILE.to_string(),
        ));
    }
    let conn = open_read_only(&path)?;
    let found: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'chain'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let found = found.ok_or_else(|| {
        VerifyError::Store(StoreError::Corrupt("the database names no chain".into()))
    })?;
    if let Some(wanted) = chain
        && wanted != found
    {
        return Err(VerifyError::OtherChain {
            found,
            wanted: wanted.to_string(),
        });
    }
    let params = ChainParams::by_name(&found).ok_or(VerifyError::UnknownChain(found))?;
    Ok(verify(&conn, &params)?)
}

/// Opens the database at `path` read-only, after checking it is a Cinder
/// database of the schema this binary knows (nothing is migrated).
///
/// A database whose write-ahead log holds nothing (a node stopped
/// cleanly) is opened immutable: SQLite then creates no `-wal` or `-shm`
/// file beside it. One with a log to read (a node killed) is opened
/// read-only through the log. Either way the database is never written;
/// call it with the data directory's lock held, as [`verify_data_dir`]
/// does, so that no writer comes meanwhile.
pub fn open_read_only(path: &Path) -> Result<Connection, VerifyError> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let log_pending = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let immutable_uri = path.to_str().filter(|_| !log_pending).map(|p| {
        let mut uri = String::from("file:");
        for c in p.chars() {
            match c {
                '%' => uri.push_str("%25"),
                '?' => uri.push_str("%3f"),
                '#' => uri.push_str("%23"),
                c => uri.push(c),
            }
        }
        uri + "?immutable=1"
    });
    let conn = match immutable_uri {
        Some(uri) => Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)?,
        None => Connection::open_with_flags(path, flags)?,
    };
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let shown = path.display().to_string();
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
                VerifyError::Foreign(shown.clone())
            }
            other => other.into(),
        })?;
    if app_id != schema::APPLICATION_ID {
        return Err(VerifyError::Foreign(shown));
    }
    let found: i64 = conn
        .query_row("SELECT max(version) FROM schema_migrations", [], |r| {
            r.get::<_, Option<i64>>(0)
        })?
        .unwrap_or(0);
    let known = schema::MIGRATIONS.last().map_or(0, |m| m.0);
    if found != known {
        return Err(VerifyError::Schema {
            path: shown,
            found,
            known,
        });
    }
    Ok(conn)
}

/// The digest of the chain state in `conn`: SHA-256, tagged
/// [`DIGEST_TAG`], of (all integers little-endian, work big-endian)
///
/// `chain name (u32 length ‖ bytes) ‖ u64 height ‖ best_hash ‖ total_work (32 bytes) ‖
/// u64 total_transactions ‖ u64 total_addresses ‖
/// u64 n ‖ n × (transaction_hash ‖ u32 output_index ‖ address ‖ u64 value ‖ output hash ‖
///              u64 block_height ‖ u32 transaction_index ‖ u8 coinbase)   — the unspent outputs by (transaction_hash, output_index) ‖
/// u64 m ‖ m × (address ‖ u64 balance ‖ u64 received ‖ u64 sent ‖ u64 transaction_count) — the addresses by address`
///
/// as stored. Everything in it follows from the active chain alone:
/// never row ids, insertion order, side blocks, the mempool or the peers.
/// Spent outputs are not in it, nor their `spent_height` and `spent_by`
/// (verify checks those against the replay).
pub fn state_digest(conn: &Connection) -> Result<Hash, StoreError> {
    let mut h = crate::hash::tagged_hasher(DIGEST_TAG);
    let chain: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'chain'", [], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or_default();
    h.update((chain.len() as u32).to_le_bytes());
    h.update(chain.as_bytes());
    let info = super::chain_info(conn)?;
    h.update(info.height.to_le_bytes());
    h.update(info.best_hash.0);
    h.update(info.total_work.to_big_endian());
    h.update(info.total_transactions.to_le_bytes());
    h.update(info.total_addresses.to_le_bytes());
    let unspent: i64 = conn.query_row(
        "SELECT count(*) FROM outputs WHERE spent_height IS NULL",
        [],
        |r| r.get(0),
    )?;
    h.update((unspent as u64).to_le_bytes());
    let mut stmt = conn.prepare(
        "SELECT transaction_hash, output_index, address, value, hash, block_height, transaction_index, coinbase
         FROM outputs WHERE spent_height IS NULL ORDER BY transaction_hash, output_index",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        h.update(hash_col(r.get(0)?)?.0);
        h.update((r.get::<_, i64>(1)? as u32).to_le_bytes());
        h.update(address_col(r.get(2)?)?.0);
        h.update((r.get::<_, i64>(3)? as u64).to_le_bytes());
        h.update(hash_col(r.get(4)?)?.0);
        h.update((r.get::<_, i64>(5)? as u64).to_le_bytes());
        h.update((r.get::<_, i64>(6)? as u32).to_le_bytes());
        h.update([u8::from(r.get::<_, bool>(7)?)]);
    }
    let addresses: i64 = conn.query_row("SELECT count(*) FROM addresses", [], |r| r.get(0))?;
    h.update((addresses as u64).to_le_bytes());
    let mut stmt = conn.prepare(
        "SELECT address, balance, received, sent, transaction_count FROM addresses ORDER BY address",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        h.update(address_col(r.get(0)?)?.0);
        for i in 1..=4 {
            h.update((r.get::<_, i64>(i)? as u64).to_le_bytes());
        }
    }
    Ok(Hash(h.finalize().into()))
}

/// A stored output, or one the replay of the active chain expects.
#[derive(Clone, Debug, PartialEq, Eq)]
struct OutputRow {
    address: Address,
    value: u64,
    hash: Hash,
    block_height: u64,
    transaction_index: u32,
    coinbase: bool,
    spent_height: Option<u64>,
    /// The transaction that spent it (`None` exactly when unspent).
    spent_by: Option<Hash>,
}

/// A stored row of `address_history`, or one the replay expects.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HistoryRow {
    hash: Hash,
    timestamp: u64,
    delta: i64,
}

/// An address's totals: stored, or as some source says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Totals {
    balance: i128,
    received: i128,
    sent: i128,
    transaction_count: i128,
}

/// A stored block without its JSON.
struct BlockRow {
    prev_hash: Hash,
    height: u64,
    target: Target,
    work: U256,
    status: i64,
}

/// What replaying the active chain gives.
#[derive(Default)]
struct Replay {
    transactions: BTreeMap<Hash, (u64, u64)>,
    outputs: BTreeMap<OutPoint, OutputRow>,
    history: BTreeMap<(Address, u64, u64), HistoryRow>,
    addresses: BTreeMap<Address, Totals>,
    total_transactions: u64,
}

/// Checks the chain state in `conn` (a database of `params`' chain), in one
/// read transaction; see the module's text.
pub fn verify(conn: &Connection, params: &ChainParams) -> Result<VerifyReport, StoreError> {
    let read = conn.unchecked_transaction()?;
    let conn: &Connection = &read;
    let mut problems = Problems::default();
    let info = super::chain_info(conn)?;

    // Every stored block, without its JSON.
    let mut blocks: HashMap<Hash, BlockRow> = HashMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT hash, prev_hash, height, target, cumulative_work, status FROM blocks",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            blocks.insert(
                hash_col(r.get(0)?)?,
                BlockRow {
                    prev_hash: hash_col(r.get(1)?)?,
                    height: r.get::<_, i64>(2)? as u64,
                    target: Target(hash_col(r.get(3)?)?.0),
                    work: work_col(r.get(4)?)?,
                    status: r.get(5)?,
                },
            );
        }
    }
    let invalid: HashSet<Hash> = conn
        .prepare("SELECT hash FROM invalid_blocks")?
        .query_map([], |r| hash_col(r.get(0)?))?
        .collect::<Result<_, _>>()?;

    // The active chain by height.
    let active: BTreeMap<u64, Hash> = conn
        .prepare("SELECT height, hash FROM active_chain")?
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as u64, hash_col(r.get(1)?)?))
        })?
        .collect::<Result<_, _>>()?;
    let active_set: HashSet<Hash> = active.values().copied().collect();

    // The tip the blockchain info names.
    match active.get(&info.height) {
        Some(hash) if *hash == info.best_hash => {}
        Some(hash) => problems.add(format!(
            "the blockchain info names best hash {} at height {}, but the active chain has {} there",
            info.best_hash, info.height, hash
        )),
        None => problems.add(format!(
            "the blockchain info names height {}, but the active chain has no block there",
            info.height
        )),
    }
    if let Some((&top, _)) = active.last_key_value()
        && top > info.height
    {
        problems.add(format!(
            "the active chain goes up to height {top}, past the tip's height {}",
            info.height
        ));
    }
    match blocks.get(&info.best_hash) {
        Some(tip) if tip.work != info.total_work => problems.add(format!(
            "the blockchain info says total work {}, but the tip {} has {}",
            info.total_work, info.best_hash, tip.work
        )),
        Some(_) => {}
        None => problems.add(format!("the tip {} is not stored", info.best_hash)),
    }

    // Every stored block: its parent stored, its height and work summed; no
    // branch heavier than the active chain; none remembered as invalid.
    let parents: HashSet<Hash> = blocks.values().map(|b| b.prev_hash).collect();
    let mut stored: Vec<(&Hash, &BlockRow)> = blocks.iter().collect();
    stored.sort_by_key(|(hash, b)| (b.height, **hash));
    for (hash, block) in &stored {
        if **hash == params.genesis_hash {
            if block.work != block_work(&block.target) || block.height != 0 {
                problems.add(format!(
                    "genesis {hash} is stored with a wrong height or work"
                ));
            }
        } else {
            match blocks.get(&block.prev_hash) {
                None => problems.add(format!(
                    "stored block {hash} (height {}) has no stored parent {}",
                    block.height, block.prev_hash
                )),
                Some(parent) => {
                    if block.height != parent.height + 1 {
                        problems.add(format!(
                            "stored block {hash} has height {}, its parent {} height {}",
                            block.height, block.prev_hash, parent.height
                        ));
                    }
                    let work = parent.work.saturating_add(block_work(&block.target));
                    if block.work != work {
                        problems.add(format!(
                            "stored block {hash} (height {}) has cumulative work {}, its parent's plus its own make {work}",
                            block.height, block.work
                        ));
                    }
                }
            }
        }
        if block.work > info.total_work && !parents.contains(*hash) {
            problems.add(format!(
                "stored block {hash} (height {}) ends a branch with more work than the active chain ({} > {}): the active chain is not the heaviest stored branch",
                block.height, block.work, info.total_work
            ));
        }
        if invalid.contains(*hash) {
            problems.add(format!("stored block {hash} is also remembered as invalid"));
        }
    }

    // The active chain from genesis, replayed.
    let replay = replay_active_chain(
        conn,
        params,
        &info,
        &active,
        &blocks,
        &invalid,
        &mut problems,
    )?;

    // The stored tables against the replay.
    compare_transactions(conn, &replay, &mut problems)?;
    let stored_outputs = compare_outputs(conn, &replay, &mut problems)?;
    let stored_history = compare_history(conn, &replay, &mut problems)?;
    let stored_addresses = compare_addresses(
        conn,
        &replay,
        &stored_outputs,
        &stored_history,
        &mut problems,
    )?;
    if info.total_transactions != replay.total_transactions {
        problems.add(format!(
            "the blockchain info counts {} transactions, the active chain's blocks hold {}",
            info.total_transactions, replay.total_transactions
        ));
    }
    let replayed_addresses = replay.addresses.len() as u64;
    if info.total_addresses != replayed_addresses || info.total_addresses != stored_addresses {
        problems.add(format!(
            "the blockchain info counts {} addresses; the active chain's transactions touch {replayed_addresses}, the addresses table holds {stored_addresses}",
            info.total_addresses
        ));
    }

    let (unspent_outputs, unspent_value) = stored_outputs
        .values()
        .filter(|o| o.spent_height.is_none())
        .fold((0u64, 0u64), |(n, v), o| (n + 1, v.saturating_add(o.value)));
    let digest = state_digest(conn)?;
    Ok(VerifyReport {
        chain: params.name.to_string(),
        height: info.height,
        best_hash: info.best_hash,
        total_work: info.total_work,
        total_transactions: info.total_transactions,
        total_addresses: info.total_addresses,
        stored_blocks: blocks.len() as u64,
        side_blocks: blocks.keys().filter(|h| !active_set.contains(h)).count() as u64,
        unspent_outputs,
        unspent_value,
        problems: problems.listed,
        unlisted_problems: problems.unlisted,
        digest,
    })
}

/// Walks the active chain from genesis to the tip: each block linked,
/// stored, connected and intact, and its effects applied to a fresh state
/// (PROTOCOL.md §4 steps 10–13 checked on the way).
fn replay_active_chain(
    conn: &Connection,
    params: &ChainParams,
    info: &super::ChainInfo,
    active: &BTreeMap<u64, Hash>,
    blocks: &HashMap<Hash, BlockRow>,
    invalid: &HashSet<Hash>,
    problems: &mut Problems,
) -> Result<Replay, StoreError> {
    let mut replay = Replay::default();
    let mut json_of = conn.prepare("SELECT json FROM blocks WHERE hash = ?1")?;
    let mut previous: Option<Hash> = None;
    for height in 0..=info.height {
        let Some(hash) = active.get(&height).copied() else {
            problems.add(format!(
                "the active chain has no block at height {height} (tip height {})",
                info.height
            ));
            break;
        };
        if height == 0 && hash != params.genesis_hash {
            problems.add(format!(
                "the active chain starts with {hash}, not the {} genesis {}",
                params.name, params.genesis_hash
            ));
        }
        if invalid.contains(&hash) {
            problems.add(format!(
                "block {hash} of the active chain (height {height}) is remembered as invalid"
            ));
        }
        let Some(row) = blocks.get(&hash) else {
            problems.add(format!(
                "block {hash} of the active chain (height {height}) is not stored"
            ));
            break;
        };
        if row.height != height {
            problems.add(format!(
                "block {hash} is at height {height} of the active chain but stored with height {}",
                row.height
            ));
        }
        if let Some(prev) = previous
            && row.prev_hash != prev
        {
            problems.add(format!(
                "block {hash} at height {height} does not link: its prev_hash is {}, the active chain has {prev} below it",
                row.prev_hash
            ));
        }
        if row.status != super::BlockStatus::Valid.as_sql() {
            problems.add(format!(
                "block {hash} of the active chain (height {height}) is not marked connected (status {})",
                row.status
            ));
        }
        let json: String = json_of.query_row([&hash.0[..]], |r| r.get(0))?;
        let block: Block = match serde_json::from_str(&json) {
            Ok(block) => block,
            Err(e) => {
                problems.add(format!(
                    "block {hash} at height {height} is stored as unreadable JSON: {e}"
                ));
                break;
            }
        };
        if block.hash != hash
            || block.prev_hash != row.prev_hash
            || block.height != height
            || block.target != row.target
        {
            problems.add(format!(
                "block {hash} at height {height}: its stored JSON (hash {}, height {}, prev_hash {}) differs from its row",
                block.hash, block.height, block.prev_hash
            ));
        }
        if let Err(e) = check_block_hash(&block) {
            problems.add(format!("block {hash} at height {height}: {e}"));
        }
        if height > 0
            && let Err(e) = check_block_body(&block, params)
        {
            problems.add(format!("block {hash} at height {height}: {e}"));
        }
        apply(&mut replay, &block, params, problems);
        previous = Some(hash);
    }
    Ok(replay)
}

/// The effects of `block` on the replayed state, as `apply_block` writes
/// them (burnt outputs never stored, the coinbase's input spends nothing).
fn apply(replay: &mut Replay, block: &Block, params: &ChainParams, problems: &mut Problems) {
    let height = block.height;
    for (position, t) in block.transactions.iter().enumerate() {
        let coinbase = position == 0;
        replay.total_transactions += 1;
        replay
            .transactions
            .insert(t.hash, (height, position as u64));
        let mut touched: BTreeMap<Address, (u64, u64)> = BTreeMap::new();
        if !coinbase {
            for input in &t.inputs {
                let outpoint = input.outpoint();
                match replay.outputs.get_mut(&outpoint) {
                    None => problems.add(format!(
                        "transaction {} at height {height} spends {}:{}, which the active chain never created before it",
                        t.hash, outpoint.transaction_hash, outpoint.output_index
                    )),
                    Some(spent) => {
                        if let Some(at) = spent.spent_height {
                            problems.add(format!(
                                "transaction {} at height {height} spends {}:{}, already spent at height {at}",
                                t.hash, outpoint.transaction_hash, outpoint.output_index
                            ));
                        }
                        if spent.address != input.output_address
                            || spent.value != input.output_value.units()
                            || spent.hash != input.output_hash
                        {
                            problems.add(format!(
                                "transaction {} at height {height} spends {}:{} naming another address, value or hash",
                                t.hash, outpoint.transaction_hash, outpoint.output_index
                            ));
                        }
                        if spent.coinbase
                            && height.saturating_sub(spent.block_height) < params.coinbase_maturity
                        {
                            problems.add(format!(
                                "transaction {} at height {height} spends the immature coinbase {}",
                                t.hash, outpoint.transaction_hash
                            ));
                        }
                        spent.spent_height = Some(height);
                        spent.spent_by = Some(t.hash);
                    }
                }
                touched.entry(input.output_address).or_default().1 += input.output_value.units();
            }
        }
        for output in t.outputs.iter().filter(|o| !o.address.is_zero()) {
            replay.outputs.insert(
                OutPoint::new(t.hash, output.index),
                OutputRow {
                    address: output.address,
                    value: output.value.units(),
                    hash: output.hash,
                    block_height: height,
                    transaction_index: position as u32,
                    coinbase,
                    spent_height: None,
                    spent_by: None,
                },
            );
            touched.entry(output.address).or_default().0 += output.value.units();
        }
        touched.remove(&Address::ZERO);
        for (address, (received, sent)) in touched {
            let totals = replay.addresses.entry(address).or_default();
            totals.received += i128::from(received);
            totals.sent += i128::from(sent);
            totals.balance += i128::from(received) - i128::from(sent);
            totals.transaction_count += 1;
            replay.history.insert(
                (address, height, position as u64),
                HistoryRow {
                    hash: t.hash,
                    timestamp: t.timestamp,
                    delta: received as i64 - sent as i64,
                },
            );
        }
    }
}

/// A row's columns by name, as a mismatch names them.
trait Columns: PartialEq {
    fn columns(&self) -> Vec<(&'static str, String)>;
}

/// A transaction's place: (block height, position).
impl Columns for (u64, u64) {
    fn columns(&self) -> Vec<(&'static str, String)> {
        vec![
            ("block_height", self.0.to_string()),
            ("position", self.1.to_string()),
        ]
    }
}

impl Columns for OutputRow {
    fn columns(&self) -> Vec<(&'static str, String)> {
        vec![
            ("address", self.address.to_string()),
            ("value", Amount::from_units(self.value).to_string()),
            ("hash", self.hash.to_string()),
            ("block_height", self.block_height.to_string()),
            ("transaction_index", self.transaction_index.to_string()),
            ("coinbase", self.coinbase.to_string()),
            (
                "spent_height",
                self.spent_height
                    .map_or_else(|| "none (unspent)".to_string(), |h| h.to_string()),
            ),
            (
                "spent_by",
                self.spent_by
                    .map_or_else(|| "none".to_string(), |h| h.to_string()),
            ),
        ]
    }
}

impl Columns for HistoryRow {
    fn columns(&self) -> Vec<(&'static str, String)> {
        vec![
            ("hash", self.hash.to_string()),
            ("timestamp", self.timestamp.to_string()),
            ("delta", coins(self.delta.into())),
        ]
    }
}

/// Reports keys present on one side only and the columns that differ,
/// naming each row with `name`.
fn compare_maps<K: Ord, V: Columns>(
    table: &str,
    stored: &BTreeMap<K, V>,
    expected: &BTreeMap<K, V>,
    name: impl Fn(&K) -> String,
    problems: &mut Problems,
) {
    for (key, value) in stored {
        match expected.get(key) {
            None => problems.add(format!(
                "{table}: {} is stored but not on the active chain",
                name(key)
            )),
            Some(want) if want != value => {
                let differ: Vec<String> = value
                    .columns()
                    .into_iter()
                    .zip(want.columns())
                    .filter(|(have, want)| have.1 != want.1)
                    .map(|((column, have), (_, want))| {
                        format!("{column} is {have}, the active chain gives {want}")
                    })
                    .collect();
                problems.add(format!("{table}: {}: {}", name(key), differ.join("; ")))
            }
            Some(_) => {}
        }
    }
    for key in expected.keys().filter(|k| !stored.contains_key(k)) {
        problems.add(format!(
            "{table}: {} of the active chain is missing",
            name(key)
        ));
    }
}

fn compare_transactions(
    conn: &Connection,
    replay: &Replay,
    problems: &mut Problems,
) -> Result<(), StoreError> {
    let stored: BTreeMap<Hash, (u64, u64)> = conn
        .prepare("SELECT hash, block_height, position FROM transactions")?
        .query_map([], |r| {
            Ok((
                hash_col(r.get(0)?)?,
                (r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64),
            ))
        })?
        .collect::<Result<_, _>>()?;
    compare_maps(
        "transactions",
        &stored,
        &replay.transactions,
        |h| format!("transaction {h}"),
        problems,
    );
    Ok(())
}

/// Compares the outputs table (unspent and spent) with the replay; gives
/// the stored outputs back.
fn compare_outputs(
    conn: &Connection,
    replay: &Replay,
    problems: &mut Problems,
) -> Result<BTreeMap<OutPoint, OutputRow>, StoreError> {
    let stored: BTreeMap<OutPoint, OutputRow> = conn
        .prepare(
            "SELECT transaction_hash, output_index, address, value, hash, block_height, transaction_index, coinbase, spent_height, spent_by
             FROM outputs",
        )?
        .query_map([], |r| {
            Ok((
                OutPoint::new(hash_col(r.get(0)?)?, r.get::<_, i64>(1)? as u32),
                OutputRow {
                    address: address_col(r.get(2)?)?,
                    value: r.get::<_, i64>(3)? as u64,
                    hash: hash_col(r.get(4)?)?,
                    block_height: r.get::<_, i64>(5)? as u64,
                    transaction_index: r.get::<_, i64>(6)? as u32,
                    coinbase: r.get(7)?,
                    spent_height: r.get::<_, Option<i64>>(8)?.map(|h| h as u64),
                    spent_by: r.get::<_, Option<Vec<u8>>>(9)?.map(hash_col).transpose()?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    // The unspent set first, in its own words: what the API serves.
    let unspent = |m: &BTreeMap<OutPoint, OutputRow>| -> BTreeSet<OutPoint> {
        m.iter()
            .filter(|(_, o)| o.spent_height.is_none())
            .map(|(k, _)| *k)
            .collect()
    };
    let (have, want) = (unspent(&stored), unspent(&replay.outputs));
    for o in have.difference(&want) {
        problems.add(format!(
            "unspent output {}:{} is stored as unspent, but the active chain spent it or never created it",
            o.transaction_hash, o.output_index
        ));
    }
    for o in want.difference(&have) {
        problems.add(format!(
            "unspent output {}:{} of the active chain is not stored as unspent",
            o.transaction_hash, o.output_index
        ));
    }
    // Then every column of every output (spent ones stay known).
    let outpoint = |o: &OutPoint| format!("output {}:{}", o.transaction_hash, o.output_index);
    compare_maps("outputs", &stored, &replay.outputs, outpoint, problems);
    Ok(stored)
}

fn compare_history(
    conn: &Connection,
    replay: &Replay,
    problems: &mut Problems,
) -> Result<BTreeMap<(Address, u64, u64), HistoryRow>, StoreError> {
    let stored: BTreeMap<(Address, u64, u64), HistoryRow> = conn
        .prepare(
            "SELECT address, block_height, position, hash, timestamp, delta FROM address_history",
        )?
        .query_map([], |r| {
            Ok((
                (
                    address_col(r.get(0)?)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                ),
                HistoryRow {
                    hash: hash_col(r.get(3)?)?,
                    timestamp: r.get::<_, i64>(4)? as u64,
                    delta: r.get(5)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    compare_maps(
        "address_history",
        &stored,
        &replay.history,
        |(a, h, p)| format!("the entry of {a} at height {h}, position {p}"),
        problems,
    );
    Ok(stored)
}

/// Units, or a signed amount in coins when negative (a corrupt row).
fn coins(units: i128) -> String {
    let magnitude = Amount::from_units(u64::try_from(units.unsigned_abs()).unwrap_or(u64::MAX));
    if units < 0 {
        format!("-{magnitude}")
    } else {
        magnitude.to_string()
    }
}

/// Each address's stored totals against its stored outputs and history
/// and against the replay; gives back the number of stored addresses.
fn compare_addresses(
    conn: &Connection,
    replay: &Replay,
    outputs: &BTreeMap<OutPoint, OutputRow>,
    history: &BTreeMap<(Address, u64, u64), HistoryRow>,
    problems: &mut Problems,
) -> Result<u64, StoreError> {
    let stored: BTreeMap<Address, Totals> = conn
        .prepare("SELECT address, balance, received, sent, transaction_count FROM addresses")?
        .query_map([], |r| {
            Ok((
                address_col(r.get(0)?)?,
                Totals {
                    balance: r.get::<_, i64>(1)?.into(),
                    received: r.get::<_, i64>(2)?.into(),
                    sent: r.get::<_, i64>(3)?.into(),
                    transaction_count: r.get::<_, i64>(4)?.into(),
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    // What the stored outputs say (balance, received, sent) and what the
    // stored history says (balance, transaction count).
    let mut by_outputs: BTreeMap<Address, Totals> = BTreeMap::new();
    for o in outputs.values() {
        let t = by_outputs.entry(o.address).or_default();
        t.received += i128::from(o.value);
        if o.spent_height.is_some() {
            t.sent += i128::from(o.value);
        } else {
            t.balance += i128::from(o.value);
        }
    }
    let mut by_history: BTreeMap<Address, Totals> = BTreeMap::new();
    for ((address, _, _), entry) in history {
        let t = by_history.entry(*address).or_default();
        t.balance += i128::from(entry.delta);
        t.transaction_count += 1;
    }
    let all: BTreeSet<Address> = stored
        .keys()
        .chain(replay.addresses.keys())
        .chain(by_outputs.keys())
        .chain(by_history.keys())
        .copied()
        .collect();
    type Field = (&'static str, fn(&Totals) -> i128, bool);
    let fields: [Field; 4] = [
        ("balance", |t| t.balance, true),
        ("received", |t| t.received, true),
        ("sent", |t| t.sent, true),
        ("transaction_count", |t| t.transaction_count, false),
    ];
    for address in all {
        let zero = Totals::default();
        let have = stored.get(&address);
        let chain = replay.addresses.get(&address).unwrap_or(&zero);
        let outs = by_outputs.get(&address).unwrap_or(&zero);
        let hist = by_history.get(&address).unwrap_or(&zero);
        if have.is_none() && replay.addresses.contains_key(&address) {
            problems.add(format!(
                "addresses: {address} is touched by the active chain but has no row"
            ));
            continue;
        }
        if have.is_some() && !replay.addresses.contains_key(&address) {
            problems.add(format!(
                "addresses: {address} has a row but no transaction of the active chain touches it"
            ));
            continue;
        }
        let have = have.unwrap_or(&zero);
        for (field, get, amount) in fields {
            let show = |v: i128| if amount { coins(v) } else { v.to_string() };
            let mut sources: Vec<(&str, i128)> =
                vec![("the active chain's transactions", get(chain))];
            match field {
                "balance" => {
                    sources.push(("its unspent outputs", outs.balance));
                    sources.push(("its history", hist.balance));
                }
                "received" => sources.push(("its outputs", outs.received)),
                "sent" => sources.push(("its spent outputs", outs.sent)),
                _ => sources.push(("its history", hist.transaction_count)),
            }
            if sources.iter().all(|(_, v)| *v == get(have)) {
                continue;
            }
            let mut text = format!(
                "address {address}: {field} is {} in the addresses table, but",
                show(get(have))
            );
            for (i, (source, value)) in sources.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(text, "{sep} {} by {source}", show(*value));
            }
            problems.add(text);
        }
    }
    Ok(stored.len() as u64)
}

/// Chains for the state's tests (here, the schema's and the queries').
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use crate::node::{MempoolLimits, Node};
    use crate::state::ChainStore;
    use crate::types::{Input, Transaction};

    pub(crate) fn key() -> SecretKey {
        SecretKey::from_bytes(&[42; 32]).expect("valid key")
    }

    pub(crate) fn payee(n: u8) -> Address {
        SecretKey::from_bytes(&[n; 32])
            .expect("valid key")
            .address()
    }

    pub(crate) fn block_on(
        parent: &Block,
        creator: Address,
        txs: Vec<Transaction>,
        dt: u64,
    ) -> Block {
        let params = ChainParams::regtest();
        let height = parent.height + 1;
        let mut block = Block::assemble(
            parent.hash,
            height,
            parent.timestamp + dt,
            params.pow_limit,
            creator,
            params.subsidy(height),
            txs,
        )
        .expect("no overflow");
        assert!(block.solve(10_000_000));
        block
    }

    /// `key()` spends output `index` of `tx` (worth `value`) to `to`, the
    /// rest back to itself less a fee.
    pub(crate) fn pay(
        tx: &Transaction,
        index: u32,
        to: Address,
        amount: u64,
        timestamp: u64,
    ) -> Transaction {
        let value = tx.outputs[index as usize].value.units();
        let input = Input::spending(tx.hash, index, key().address(), Amount::from_units(value));
        let outputs = [
            (to, Amount::from_units(amount)),
            (key().address(), Amount::from_units(value - amount - 1_000)),
        ];
        let mut t = Transaction::unsigned(timestamp, vec![input], &outputs).expect("outputs");
        t.sign_all(&key());
        t
    }

    /// Genesis, three coinbases to `key()`, then blocks of payments.
    pub(crate) fn main_chain(len: usize) -> Vec<Block> {
        let mut chain = vec![ChainParams::regtest().genesis()];
        for _ in 0..3 {
            let b = block_on(chain.last().expect("tip"), key().address(), Vec::new(), 10);
            chain.push(b);
        }
        let mut coin = chain[1].transactions[0].clone();
        let mut index = 0;
        while chain.len() < len {
            let tip = chain.last().expect("tip").clone();
            let t = pay(
                &coin,
                index,
                payee(chain.len() as u8),
                5_000,
                tip.timestamp + 1,
            );
            coin = t.clone();
            index = 1;
            chain.push(block_on(&tip, payee(100), vec![t], 10));
        }
        chain
    }

    pub(crate) fn write(dir: &Path, blocks: &[Block]) {
        let node =
            Node::open(dir, ChainParams::regtest(), MempoolLimits::default()).expect("opens");
        for b in blocks.iter().skip(1) {
            node.submit_block(b).expect("accepted");
        }
    }

    fn report_of(dir: &Path) -> VerifyReport {
        verify_data_dir(dir, Some("regtest")).expect("verifies")
    }

    #[test]
    fn a_written_chain_is_consistent_and_its_digest_is_stable() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let chain = main_chain(9);
        write(dir.path(), &chain);
        let report = report_of(dir.path());
        assert!(report.is_consistent(), "{:#?}", report.problems);
        assert_eq!(report.height, 8);
        assert_eq!(report.best_hash, chain[8].hash);
        assert_eq!(report.total_transactions, 9 + 5);
        assert_eq!(report_of(dir.path()).digest, report.digest);
        let lines = report.lines();
        assert_eq!(
            lines.last().map(String::as_str),
            Some(format!("digest {}", report.digest).as_str())
        );
        assert!(lines.contains(&"consistent".to_string()), "{lines:?}");
    }

    #[test]
    fn a_corrupted_balance_is_named() {
        let dir = tempfile::tempdir().expect("temporary directory");
        write(dir.path(), &main_chain(8));
        let before = report_of(dir.path()).digest;
        let victim = payee(5);
        {
            let conn = super::super::open_connection(&dir.path().join("chain.sqlite"))
                .expect("connection");
            let changed = conn
                .execute(
                    "UPDATE addresses SET balance = balance + 1 WHERE address = ?1",
                    [&victim.0[..]],
                )
                .expect("update");
            assert_eq!(changed, 1);
        }
        let report = report_of(dir.path());
        assert!(!report.is_consistent());
        assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
        let problem = &report.problems[0];
        assert!(
            problem.contains(&victim.to_string()) && problem.contains("balance"),
            "{problem}"
        );
        assert_ne!(report.digest, before, "the digest covers the balances");
    }

    /// The spender of a spent output is checked like its other columns;
    /// the digest (unspent outputs only) does not cover it.
    #[test]
    fn a_wrong_spender_is_named_and_the_digest_ignores_spent_outputs() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let chain = main_chain(8);
        write(dir.path(), &chain);
        let before = report_of(dir.path());
        assert!(before.is_consistent(), "{:#?}", before.problems);
        // The change of block 5's payment, spent by block 6's.
        let spent = &chain[5].transactions[1];
        let spender = &chain[6].transactions[1];
        let conn =
            super::super::open_connection(&dir.path().join("chain.sqlite")).expect("connection");
        let stored: Vec<u8> = conn
            .query_row(
                "SELECT spent_by FROM outputs WHERE transaction_hash = ?1 AND output_index = 1",
                [&spent.hash.0[..]],
                |r| r.get(0),
            )
            .expect("a spender stored");
        assert_eq!(stored, spender.hash.0.to_vec());
        conn.execute(
            "UPDATE outputs SET spent_by = ?1 WHERE transaction_hash = ?2 AND output_index = 1",
            [&chain[7].transactions[1].hash.0[..], &spent.hash.0[..]],
        )
        .expect("update");
        drop(conn);
        let report = report_of(dir.path());
        assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
        let problem = &report.problems[0];
        assert!(
            problem.contains(&format!("output {}:1", spent.hash))
                && problem.contains(&format!(
                    "spent_by is {}, the active chain gives {}",
                    chain[7].transactions[1].hash, spender.hash
                )),
            "{problem}"
        );
        assert_eq!(
            report.digest, before.digest,
            "spent outputs are not digested"
        );
    }

    #[test]
    fn a_missing_unspent_output_and_a_broken_link_are_named() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let chain = main_chain(8);
        write(dir.path(), &chain);
        let conn =
            super::super::open_connection(&dir.path().join("chain.sqlite")).expect("connection");
        let last = &chain[7].transactions[1];
        conn.execute(
            "DELETE FROM outputs WHERE transaction_hash = ?1 AND output_index = 0",
            [&last.hash.0[..]],
        )
        .expect("delete");
        conn.execute(
            "UPDATE blocks SET prev_hash = ?1 WHERE hash = ?2",
            [&chain[1].hash.0[..], &chain[4].hash.0[..]],
        )
        .expect("update");
        drop(conn);
        let problems = report_of(dir.path()).problems.join("\n");
        assert!(
            problems.contains(&format!("unspent output {}:0", last.hash)),
            "{problems}"
        );
        assert!(
            problems.contains(&format!(
                "block {} at height 4 does not link",
                chain[4].hash
            )),
            "{problems}"
        );
    }

    /// One directory connects the main chain directly; another first
    /// follows a branch, stores a lighter side branch, then reorganises to
    /// the main chain: the same best hash, the same digest.
    #[test]
    fn two_paths_to_one_tip_give_one_digest() {
        let chain = main_chain(10);
        let direct = tempfile::tempdir().expect("temporary directory");
        write(direct.path(), &chain);

        let detour = tempfile::tempdir().expect("temporary directory");
        // A branch from height 4 with a payment of its own, two blocks long.
        let fork = &chain[4];
        let coin = &chain[4].transactions[1];
        let other = pay(coin, 1, payee(77), 9_000, fork.timestamp + 2);
        let b5 = block_on(fork, payee(101), vec![other], 11);
        let b6 = block_on(&b5, payee(101), Vec::new(), 10);
        let b7 = block_on(&b6, payee(101), Vec::new(), 10);
        let mut first: Vec<Block> = chain[..5].to_vec();
        first.extend([b5, b6, b7]);
        write(detour.path(), &first);
        let on_branch = report_of(detour.path());
        assert!(on_branch.is_consistent(), "{:#?}", on_branch.problems);
        assert_eq!(on_branch.height, 7);
        // A lighter side branch, then the main chain (reorganised to).
        let side = block_on(&chain[2], payee(102), Vec::new(), 12);
        let node = Node::open(
            detour.path(),
            ChainParams::regtest(),
            MempoolLimits::default(),
        )
        .expect("opens");
        node.submit_block(&side).expect("side chain");
        for b in &chain[5..] {
            node.submit_block(b).expect("accepted");
        }
        drop(node);

        let a = report_of(direct.path());
        let b = report_of(detour.path());
        assert!(a.is_consistent(), "{:#?}", a.problems);
        assert!(b.is_consistent(), "{:#?}", b.problems);
        assert_eq!(a.best_hash, b.best_hash);
        assert_eq!(b.side_blocks, 4, "three of the branch, one side block");
        assert_eq!(a.digest, b.digest);
        assert_ne!(a.digest, on_branch.digest);
    }

    /// A heavier block stored but not connected (a node killed between the
    /// two: API.md §7) is named; the active chain is then not the heaviest.
    #[test]
    fn a_heavier_stored_branch_is_named() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let chain = main_chain(6);
        write(dir.path(), &chain);
        let params = ChainParams::regtest();
        let b4 = block_on(&chain[3], payee(103), Vec::new(), 13);
        let b5 = block_on(&b4, payee(103), Vec::new(), 10);
        let b6 = block_on(&b5, payee(103), Vec::new(), 10);
        let mut store = ChainStore::open(&dir.path().join("chain.sqlite"), &params).expect("store");
        for b in [&b4, &b5, &b6] {
            store.store_side_block(b).expect("stored");
        }
        drop(store);
        let report = report_of(dir.path());
        assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
        assert!(
            report.problems[0].contains(&b6.hash.to_string())
                && report.problems[0].contains("more work than the active chain"),
            "{}",
            report.problems[0]
        );
    }

    #[test]
    fn a_running_node_s_directory_is_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        write(dir.path(), &main_chain(5));
        let lock = DataDir::lock(dir.path()).expect("locked as a node would");
        match verify_data_dir(dir.path(), None) {
            Err(VerifyError::Running(path)) => assert_eq!(path, dir.path()),
            other => panic!("not refused: {other:?}"),
        }
        drop(lock);
        assert!(verify_data_dir(dir.path(), None).is_ok());
        match verify_data_dir(dir.path(), Some("test_blockchain")) {
            Err(e @ VerifyError::OtherChain { .. }) => {
                assert!(e.to_string().contains("regtest"), "{e}")
            }
            other => panic!("another chain accepted: {other:?}"),
        }
        let empty = tempfile::tempdir().expect("temporary directory");
        assert!(matches!(
            verify_data_dir(empty.path(), None),
            Err(VerifyError::NoDatabase(..))
        ));
        assert!(matches!(
            verify_data_dir(&empty.path().join("absent"), None),
            Err(VerifyError::NoDirectory(..))
        ));
    }
}
