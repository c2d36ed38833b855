//! Connecting, disconnecting and reorganising: step 14 and every effect of
//! a block, through one check-and-apply path that connect and reorganise
//! share, each in one SQLite transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use primitive_types::U256;
use rusqlite::{Connection, OptionalExtension, Transaction as SqlTx, params};

use super::{
    BlockStatus, ChainStore, StoreError, active_height, block_record, lookup_output, work_bytes,
};
use crate::consensus::block::check_block_transactions;
use crate::consensus::transaction::{KnownOutput, OutputView};
use crate::consensus::{BlockError, RuleError, block_work};
use crate::types::{Address, Block, Hash, OutPoint};

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

/// What a reorganisation did: blocks disconnected (old tip first) and
/// connected (oldest first).
#[derive(Debug, Default)]
pub struct Reorganized {
    pub disconnected: Vec<Block>,
    pub connected: Vec<Block>,
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

/// Step 14 for `block` on top of the active tip as `tx` sees it, and when it
/// passes, all its effects (with `work`, the chain's work up to it). The one
/// path of connect and reorganise. `signatures[i]` is step 15 for
/// transaction `i`, computed beforehand on all cores.
fn check_and_apply(
    tx: &SqlTx<'_>,
    block: &Block,
    work: U256,
    signatures: &[Result<(), RuleError>],
    coinbase_maturity: u64,
) -> Result<Result<(), BlockError>, StoreError> {
    let verdict = {
        let mut view = BlockView::new(tx, block);
        check_block_transactions(block, &mut view, coinbase_maturity, signatures, |v, i| {
            v.add_transaction(block, i)
        })?
    };
    if verdict.is_ok() {
        insert_block(tx, block, work, BlockStatus::Valid)?;
        apply_block(tx, block, work)?;
    }
    Ok(verdict)
}

impl ChainStore {
    /// Step 14 and the connection of `block` on top of the active tip, in one
    /// SQLite transaction. A block that fails step 14 is remembered as
    /// invalid (not stored).
    ///
    /// `signatures` gives step 15's result for each transaction; it is
    /// called only after the block has been checked and applied as if every
    /// signature held, so that they can be computed meanwhile. Nothing is
    /// committed unless all of them hold; when any rule fails, the check
    /// runs again with the real results, so the error is the first failing
    /// rule in order, as if they had been known from the start.
    pub fn connect_block(
        &mut self,
        block: &Block,
        signatures: impl FnOnce() -> Vec<Result<(), RuleError>>,
    ) -> Result<(), ConnectError> {
        let tip = self.tip()?;
        if block.prev_hash != tip.hash {
            return Err(StoreError::Corrupt("connect_block called off the tip".into()).into());
        }
        let work = tip.total_work.saturating_add(block_work(&block.target));
        let maturity = self.params.coinbase_maturity;
        let all_hold = vec![Ok(()); block.transactions.len()];
        let tx = self.conn.transaction()?;
        let verdict = check_and_apply(&tx, block, work, &all_hold, maturity)?;
        let signatures = signatures();
        if verdict.is_ok() && signatures.iter().all(Result::is_ok) {
            tx.commit()?;
            return Ok(());
        }
        // Something failed: roll back, and find the first failing rule.
        drop(tx);
        let tx = self.conn.transaction()?;
        match check_and_apply(&tx, block, work, &signatures, maturity)? {
            Ok(()) => {
                tx.commit()?;
                Ok(())
            }
            Err(rule) => {
                drop(tx);
                self.remember_invalid(block, &rule)?;
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
        let bytes: i64 = tx
            .prepare_cached("SELECT octet_length(json) FROM blocks WHERE hash = ?1")?
            .query_row(params![&block.hash.0[..]], |r| r.get(0))?;
        tx.commit()?;
        if let Some(total) = &mut self.side_bytes {
            *total += u64::try_from(bytes).unwrap_or(0);
        }
        Ok(work)
    }

    /// Bytes of the stored bodies of side blocks never connected (API.md
    /// §8 "Work before bodies": every such block is lighter than the
    /// active chain, or the node would have moved to it).
    pub fn side_bytes(&mut self) -> Result<u64, StoreError> {
        if let Some(total) = self.side_bytes {
            return Ok(total);
        }
        let total: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(octet_length(json)), 0) FROM blocks WHERE status = 0",
            [],
            |r| r.get(0),
        )?;
        let total = u64::try_from(total).unwrap_or(0);
        self.side_bytes = Some(total);
        Ok(total)
    }

    /// Keeps the side blocks never connected within `max_bytes` of stored
    /// bodies (`--max-side-bytes`): past it, the lightest leaves are
    /// deleted first, down to nine tenths of the bound (so a flood costs a
    /// scan per tenth, not per block), leaving no stored block without its
    /// parent; a deleted block can be fetched again if its branch grows.
    /// Returns the blocks deleted and the bytes kept.
    pub fn prune_side_blocks(&mut self, max_bytes: u64) -> Result<(u64, u64), StoreError> {
        let mut total = self.side_bytes()?;
        if total <= max_bytes {
            return Ok((0, total));
        }
        let goal = max_bytes - max_bytes / 10;
        let tx = self.conn.transaction()?;
        // (work, hash) -> (prev, bytes) of every side block, and how many
        // children each stored block has among them (a connected block
        // never has a side block's child... but a side block may).
        type Key = ([u8; 32], [u8; 32]);
        let mut side: BTreeMap<Key, ([u8; 32], u64)> = BTreeMap::new();
        let mut children: HashMap<[u8; 32], usize> = HashMap::new();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT hash, prev_hash, octet_length(json), cumulative_work FROM blocks
                 WHERE status = 0",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                ))
            })?;
            for row in rows {
                let (hash, prev, bytes, work) = row?;
                let (Ok(hash), Ok(prev), Ok(work)) = (
                    <[u8; 32]>::try_from(hash.as_slice()),
                    <[u8; 32]>::try_from(prev.as_slice()),
                    <[u8; 32]>::try_from(work.as_slice()),
                ) else {
                    return Err(StoreError::Corrupt("a block row of the wrong size".into()));
                };
                *children.entry(prev).or_insert(0) += 1;
                side.insert((work, hash), (prev, u64::try_from(bytes).unwrap_or(0)));
            }
        }
        // The scan's sum is the truth (the cached figure only says when to
        // look).
        total = side.values().map(|(_, bytes)| *bytes).sum();
        let mut deleted = 0u64;
        {
            let mut delete = tx.prepare_cached("DELETE FROM blocks WHERE hash = ?1")?;
            let mut leaves: std::collections::BTreeSet<Key> = side
                .keys()
                .filter(|(_, hash)| !children.contains_key(hash))
                .copied()
                .collect();
            let by_hash: HashMap<[u8; 32], Key> = side.keys().map(|k| (k.1, *k)).collect();
            while total > goal {
                let Some(key) = leaves.pop_first() else {
                    break;
                };
                let Some((prev, bytes)) = side.remove(&key) else {
                    continue;
                };
                delete.execute(params![&key.1[..]])?;
                total = total.saturating_sub(bytes);
                deleted += 1;
                // Its parent may be a leaf now.
                if let Some(n) = children.get_mut(&prev) {
                    *n -= 1;
                    if *n == 0
                        && let Some(parent) = by_hash.get(&prev)
                    {
                        leaves.insert(*parent);
                    }
                }
            }
        }
        tx.commit()?;
        self.side_bytes = Some(total);
        Ok((deleted, total))
    }

    /// Moves the active chain to the branch ending at `new_tip`, in one
    /// SQLite transaction: disconnects back to the fork point, then connects
    /// the branch's blocks with step 14 (signatures on all cores). Returns
    /// what was disconnected and connected. On a failing block nothing is
    /// written and the error names that block.
    pub fn reorganize(&mut self, new_tip: &Hash) -> Result<Reorganized, ReorgError> {
        self.side_bytes = None;
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
            let work = block_record(&tx, &block.hash)?
                .map(|r| r.cumulative_work)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("branch block {} missing", block.hash))
                })?;
            if let Err(error) = check_and_apply(&tx, block, work, &signatures, maturity)? {
                // Dropping `tx` rolls the whole reorganisation back.
                return Err(ReorgError::Invalid {
                    block: block.hash,
                    error,
                });
            }
        }
        tx.commit()?;
        Ok(Reorganized {
            disconnected,
            connected: branch,
        })
    }
}

/// Inserts the block row if it is not there yet.
pub(super) fn insert_block(
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
        status.as_sql(),
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
    tx.prepare_cached(
        "UPDATE outputs SET spent_height = NULL, spent_by = NULL WHERE spent_height = ?1",
    )?
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
pub(super) fn apply_block(
    tx: &SqlTx<'_>,
    block: &Block,
    total_work: U256,
) -> Result<(), StoreError> {
    let height = block.height as i64;
    tx.prepare_cached("INSERT INTO active_chain (height, hash) VALUES (?1, ?2)")?
        .execute(params![height, &block.hash.0[..]])?;
    let mut insert_tx = tx.prepare_cached(
        "INSERT OR REPLACE INTO transactions (hash, block_height, position) VALUES (?1, ?2, ?3)",
    )?;
    let mut spend = tx.prepare_cached(
        "UPDATE outputs SET spent_height = ?3, spent_by = ?4 WHERE transaction_hash = ?1 AND output_index = ?2",
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
                    height,
                    &t.hash.0[..]
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
    created: HashMap<OutPoint, KnownOutput>,
    spent: HashSet<OutPoint>,
}

impl<'a> BlockView<'a> {
    /// A view that already sees the block's coinbase output (transaction 0).
    fn new(tx: &'a Connection, block: &Block) -> Self {
        let mut view = BlockView {
            tx,
            created: HashMap::new(),
            spent: HashSet::new(),
        };
        view.add_transaction(block, 0);
        view
    }

    fn add_transaction(&mut self, block: &Block, index: usize) {
        let t = &block.transactions[index];
        if index != 0 {
            for input in &t.inputs {
                self.spent.insert(input.outpoint());
            }
        }
        for o in &t.outputs {
            if o.address.is_zero() {
                continue;
            }
            self.created.insert(
                OutPoint::new(t.hash, o.index),
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
    type Error = StoreError;

    fn output(&self, outpoint: &OutPoint) -> Result<Option<KnownOutput>, StoreError> {
        let spent_here = self.spent.contains(outpoint);
        if let Some(o) = self.created.get(outpoint) {
            return Ok(Some(KnownOutput {
                spent: spent_here,
                ..*o
            }));
        }
        Ok(lookup_output(self.tx, outpoint)?.map(|o| KnownOutput {
            spent: o.spent || spent_here,
            ..o
        }))
    }
}
