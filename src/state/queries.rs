//! Read queries of the API (API.md §2, §3, §5). Each is one indexed read;
//! none walks the chain.

use primitive_types::U256;
use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, address_col, hash_col, work_col};
use crate::types::{Address, Amount, BlockHeader, Hash, OutPoint};

/// The stored part of `GET /blockchain/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainInfo {
    pub height: u64,
    pub best_hash: Hash,
    pub total_transactions: u64,
    pub total_addresses: u64,
    pub total_work: U256,
    /// The 10 largest confirmed balances, largest first, ties by address.
    pub rich_list: Vec<(Address, Amount)>,
}

pub fn chain_info(conn: &Connection) -> Result<ChainInfo, StoreError> {
    let mut info = conn
        .prepare_cached(
            "SELECT height, best_hash, total_transactions, total_addresses, total_work FROM chain_info WHERE id = 0",
        )?
        .query_row([], |r| {
            Ok(ChainInfo {
                height: r.get::<_, i64>(0)? as u64,
                best_hash: hash_col(r.get(1)?)?,
                total_transactions: r.get::<_, i64>(2)? as u64,
                total_addresses: r.get::<_, i64>(3)? as u64,
                total_work: work_col(r.get(4)?)?,
                rich_list: Vec::new(),
            })
        })?;
    let mut stmt = conn.prepare_cached(
        "SELECT address, balance FROM addresses WHERE balance > 0 ORDER BY balance DESC, address ASC LIMIT 10",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            address_col(r.get(0)?)?,
            Amount::from_units(r.get::<_, i64>(1)? as u64),
        ))
    })?;
    for row in rows {
        info.rich_list.push(row?);
    }
    Ok(info)
}

/// The hash of the active chain's block at `height`.
pub fn active_hash(conn: &Connection, height: u64) -> Result<Option<Hash>, StoreError> {
    let Ok(h) = i64::try_from(height) else {
        return Ok(None);
    };
    Ok(conn
        .prepare_cached("SELECT hash FROM active_chain WHERE height = ?1")?
        .query_row(params![h], |r| hash_col(r.get(0)?))
        .optional()?)
}

/// Height of `hash` when it is on the active chain.
pub fn active_height(conn: &Connection, hash: &Hash) -> Result<Option<u64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT height FROM active_chain WHERE hash = ?1")?
        .query_row(params![&hash.0[..]], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|h| h as u64))
}

/// The stored JSON of a block (any branch, not invalid).
pub fn block_json(conn: &Connection, hash: &Hash) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT json FROM blocks WHERE hash = ?1 AND status != 2")?
        .query_row(params![&hash.0[..]], |r| r.get(0))
        .optional()?)
}

/// Whole blocks of the active chain from `from`, at most `limit`, stopping
/// before the one that would take the answer past `max_bytes` (always at
/// least one).
pub fn blocks_from(
    conn: &Connection,
    from: u64,
    limit: u64,
    max_bytes: usize,
) -> Result<Vec<String>, StoreError> {
    let Ok(from) = i64::try_from(from) else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT b.json FROM active_chain a JOIN blocks b ON b.hash = a.hash
         WHERE a.height >= ?1 ORDER BY a.height LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![from, limit as i64], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for row in rows {
        let json = row?;
        bytes += json.len() + 1;
        if !out.is_empty() && bytes > max_bytes {
            break;
        }
        out.push(json);
    }
    Ok(out)
}

/// Headers of the active chain after `height`, at most `limit`.
pub fn headers_after(
    conn: &Connection,
    height: u64,
    limit: u64,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.header_json FROM active_chain a JOIN blocks b ON b.hash = a.hash
         WHERE a.height > ?1 ORDER BY a.height LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![height as i64, limit as i64], |r| {
        r.get::<_, String>(0)
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Where a transaction of the active chain is: (block height, position).
pub fn transaction_location(
    conn: &Connection,
    hash: &Hash,
) -> Result<Option<(u64, usize)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT block_height, position FROM transactions WHERE hash = ?1")?
        .query_row(params![&hash.0[..]], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as usize))
        })
        .optional()?)
}

/// A confirmed unspent output (API.md §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnspentOutput {
    pub block_height: u64,
    pub transaction_hash: Hash,
    pub transaction_index: u32,
    pub output_index: u32,
    pub value: Amount,
    pub coinbase: bool,
}

/// The confirmed unspent outputs of `address`, by height, position, index.
pub fn unspent_outputs(
    conn: &Connection,
    address: &Address,
) -> Result<Vec<UnspentOutput>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT block_height, transaction_hash, transaction_index, output_index, value, coinbase FROM outputs
         WHERE address = ?1 AND spent_height IS NULL
         ORDER BY block_height, transaction_index, output_index",
    )?;
    let rows = stmt.query_map(params![&address.0[..]], |r| {
        Ok(UnspentOutput {
            block_height: r.get::<_, i64>(0)? as u64,
            transaction_hash: hash_col(r.get(1)?)?,
            transaction_index: r.get::<_, i64>(2)? as u32,
            output_index: r.get::<_, i64>(3)? as u32,
            value: Amount::from_units(r.get::<_, i64>(4)? as u64),
            coinbase: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Confirmed totals of an address (zero for one never seen).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressTotals {
    pub balance: Amount,
    pub received: Amount,
    pub sent: Amount,
    pub transaction_count: u64,
}

pub fn address_totals(conn: &Connection, address: &Address) -> Result<AddressTotals, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT balance, received, sent, transaction_count FROM addresses WHERE address = ?1",
        )?
        .query_row(params![&address.0[..]], |r| {
            Ok(AddressTotals {
                balance: Amount::from_units(r.get::<_, i64>(0)? as u64),
                received: Amount::from_units(r.get::<_, i64>(1)? as u64),
                sent: Amount::from_units(r.get::<_, i64>(2)? as u64),
                transaction_count: r.get::<_, i64>(3)? as u64,
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// One confirmed transaction touching an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub hash: Hash,
    pub block_height: u64,
    pub timestamp: u64,
    /// Signed change of the address's balance, in units.
    pub delta: i64,
}

/// Confirmed history of `address`, newest first; `before` continues after
/// that entry. `Ok(None)` when `before` is not in the address's history.
pub fn address_history(
    conn: &Connection,
    address: &Address,
    limit: u64,
    before: Option<&Hash>,
) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
    let (height, position) = match before {
        None => (i64::MAX, i64::MAX),
        Some(hash) => {
            let found = conn
                .prepare_cached(
                    "SELECT h.block_height, h.position FROM transactions t
                     JOIN address_history h ON h.address = ?1 AND h.block_height = t.block_height AND h.position = t.position
                     WHERE t.hash = ?2",
                )?
                .query_row(params![&address.0[..], &hash.0[..]], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
                .optional()?;
            match found {
                Some(at) => at,
                None => return Ok(None),
            }
        }
    };
    let mut stmt = conn.prepare_cached(
        "SELECT hash, block_height, timestamp, delta FROM address_history
         WHERE address = ?1 AND (block_height < ?2 OR (block_height = ?2 AND position < ?3))
         ORDER BY block_height DESC, position DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![&address.0[..], height, position, limit as i64],
        |r| {
            Ok(HistoryEntry {
                hash: hash_col(r.get(0)?)?,
                block_height: r.get::<_, i64>(1)? as u64,
                timestamp: r.get::<_, i64>(2)? as u64,
                delta: r.get(3)?,
            })
        },
    )?;
    Ok(Some(rows.collect::<Result<_, _>>()?))
}

// ---------------------------------------------------------------------------
// The explorer's reads (API.md §9): each an indexed read, none a walk of
// the chain or of a whole address history into memory.

/// Headers of the newest `limit` blocks of the active chain, newest first.
pub fn latest_headers(conn: &Connection, limit: u64) -> Result<Vec<BlockHeader>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.header_json FROM active_chain a JOIN blocks b ON b.hash = a.hash
         ORDER BY a.height DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit as i64], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for json in rows {
        let json = json?;
        out.push(
            serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("a stored header: {e}")))?,
        );
    }
    Ok(out)
}

/// Stored blocks (any branch) whose parent is `hash`, with whether each is
/// on the active chain; the active one first.
pub fn block_children(conn: &Connection, hash: &Hash) -> Result<Vec<(Hash, bool)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.hash, a.height IS NOT NULL FROM blocks b
         LEFT JOIN active_chain a ON a.hash = b.hash
         WHERE b.prev_hash = ?1 ORDER BY 2 DESC, b.hash",
    )?;
    let rows = stmt.query_map(params![&hash.0[..]], |r| {
        Ok((hash_col(r.get(0)?)?, r.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Where an output of the active chain stands: its address, and the
/// height of the block that spent it and the spending transaction, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputState {
    pub output_index: u32,
    pub address: Address,
    pub spent_height: Option<u64>,
    /// Stored with the spend (migration 7); `None` for an unspent output,
    /// or a spent one whose row was written without it ([`spender_of`]
    /// then finds it).
    pub spent_by: Option<Hash>,
}

/// The stored outputs of transaction `hash` (outputs to the zero address
/// are burnt and never stored), by index.
pub fn output_states(conn: &Connection, hash: &Hash) -> Result<Vec<OutputState>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT output_index, address, spent_height, spent_by FROM outputs
         WHERE transaction_hash = ?1 ORDER BY output_index",
    )?;
    let rows = stmt.query_map(params![&hash.0[..]], |r| {
        Ok(OutputState {
            output_index: r.get::<_, i64>(0)? as u32,
            address: address_col(r.get(1)?)?,
            spent_height: r.get::<_, Option<i64>>(2)?.map(|h| h as u64),
            spent_by: r.get::<_, Option<Vec<u8>>>(3)?.map(hash_col).transpose()?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The spends of the blocks [`spender_of`] read during one request, by
/// height: each block is read and parsed at most once, however many of
/// its outputs the request asks about.
#[derive(Debug, Default)]
pub struct SpendsRead {
    by_height: HashMap<u64, HashMap<OutPoint, Hash>>,
}

impl SpendsRead {
    /// Blocks read and parsed so far.
    pub fn blocks_read(&self) -> usize {
        self.by_height.len()
    }
}

/// The transaction of the active chain that spent `outpoint`, an output
/// paying `address` spent in the block at `spent_height`, for a row whose
/// `spent_by` is not stored (none is since migration 7 filled them in: a
/// fallback). The spender debits `address` in that block, so it is among
/// the address's history rows at that height (one indexed range of
/// `address_history`'s key); only when several transactions of that block
/// touch the address is the block read, once per `read` whatever the
/// number of outputs asked about.
pub fn spender_of(
    conn: &Connection,
    outpoint: &OutPoint,
    address: &Address,
    spent_height: u64,
    read: &mut SpendsRead,
) -> Result<Option<Hash>, StoreError> {
    if let Some(spends) = read.by_height.get(&spent_height) {
        return Ok(spends.get(outpoint).copied());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT hash FROM address_history WHERE address = ?1 AND block_height = ?2
         ORDER BY position",
    )?;
    let candidates: Vec<Hash> = stmt
        .query_map(params![&address.0[..], spent_height as i64], |r| {
            hash_col(r.get(0)?)
        })?
        .collect::<Result<_, _>>()?;
    if candidates.len() <= 1 {
        return Ok(candidates.first().copied());
    }
    let Some(block_hash) = active_hash(conn, spent_height)? else {
        return Ok(None);
    };
    let Some(json) = block_json(conn, &block_hash)? else {
        return Ok(None);
    };
    let block: crate::types::Block = serde_json::from_str(&json)
        .map_err(|e| StoreError::Corrupt(format!("block {block_hash}: {e}")))?;
    let spends: HashMap<OutPoint, Hash> = block
        .transactions
        .iter()
        .skip(1)
        .flat_map(|t| t.inputs.iter().map(|i| (i.outpoint(), t.hash)))
        .collect();
    let found = spends.get(outpoint).copied();
    read.by_height.insert(spent_height, spends);
    Ok(found)
}

/// One row of an address's history with the address's balance after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRow {
    pub entry: HistoryEntry,
    /// Units the address held once this transaction was applied.
    pub balance_after: i64,
}

/// A page of an address's history (the explorer's address page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryPage {
    pub totals: AddressTotals,
    /// Newest first.
    pub rows: Vec<HistoryRow>,
    /// Whether older entries follow the last row.
    pub older: bool,
}

/// Where `hash` sits in `address`'s history: (height, position).
fn history_position(
    conn: &Connection,
    address: &Address,
    hash: &Hash,
) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT h.block_height, h.position FROM transactions t
             JOIN address_history h ON h.address = ?1 AND h.block_height = t.block_height AND h.position = t.position
             WHERE t.hash = ?2",
        )?
        .query_row(params![&address.0[..], &hash.0[..]], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?)
}

/// Up to `limit` entries of `address`'s confirmed history, newest first,
/// after `before` (API.md §5's cursor), each with the balance after it;
/// `Ok(None)` when `before` is not in the history. Call inside one read
/// transaction ([`crate::node::ReadPool::with_snapshot`]): the balance
/// after the first row is the current balance minus the deltas of the
/// entries newer than the cursor, one indexed range sum over the
/// history's key: its cost grows with the number of those newer entries
/// (not constant: deep pages cost more; 20,000 entries, p99 8.7 ms per
/// page in `bench --only explorer`); each next row's follows from the one
/// before.
pub fn address_history_page(
    conn: &Connection,
    address: &Address,
    limit: u64,
    before: Option<&Hash>,
) -> Result<Option<HistoryPage>, StoreError> {
    let totals = address_totals(conn, address)?;
    let (cursor, newer) = match before {
        None => ((i64::MAX, i64::MAX), 0i64),
        Some(hash) => {
            let Some(at) = history_position(conn, address, hash)? else {
                return Ok(None);
            };
            let newer: i64 = conn
                .prepare_cached(
                    "SELECT COALESCE(SUM(delta), 0) FROM address_history
                     WHERE address = ?1 AND (block_height, position) >= (?2, ?3)",
                )?
                .query_row(params![&address.0[..], at.0, at.1], |r| r.get(0))?;
            (at, newer)
        }
    };
    let mut stmt = conn.prepare_cached(
        "SELECT hash, block_height, timestamp, delta FROM address_history
         WHERE address = ?1 AND (block_height, position) < (?2, ?3)
         ORDER BY block_height DESC, position DESC LIMIT ?4",
    )?;
    let entries = stmt.query_map(
        params![
            &address.0[..],
            cursor.0,
            cursor.1,
            limit.saturating_add(1) as i64
        ],
        |r| {
            Ok(HistoryEntry {
                hash: hash_col(r.get(0)?)?,
                block_height: r.get::<_, i64>(1)? as u64,
                timestamp: r.get::<_, i64>(2)? as u64,
                delta: r.get(3)?,
            })
        },
    )?;
    let mut balance = i64::try_from(totals.balance.units()).unwrap_or(i64::MAX) - newer;
    let mut rows = Vec::new();
    let mut older = false;
    for entry in entries {
        let entry = entry?;
        if rows.len() as u64 == limit {
            older = true;
            break;
        }
        let delta = entry.delta;
        rows.push(HistoryRow {
            entry,
            balance_after: balance,
        });
        balance -= delta;
    }
    Ok(Some(HistoryPage {
        totals,
        rows,
        older,
    }))
}

/// One entry of an address's history in the CSV's order (oldest first),
/// with its place in the history as the next chunk's cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryStep {
    pub block_height: u64,
    pub position: u64,
    pub hash: Hash,
    pub timestamp: u64,
    pub delta: i64,
}

/// Up to `limit` entries of `address`'s confirmed history, oldest first,
/// after `after` = (height, position) exclusive (from the start when
/// `None`): one range of the history's key per chunk.
pub fn address_history_ascending(
    conn: &Connection,
    address: &Address,
    after: Option<(u64, u64)>,
    limit: u64,
) -> Result<Vec<HistoryStep>, StoreError> {
    let (height, position) = match after {
        Some((h, p)) => (h as i64, p as i64),
        None => (-1, -1),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT block_height, position, hash, timestamp, delta FROM address_history
         WHERE address = ?1 AND (block_height, position) > (?2, ?3)
         ORDER BY block_height, position LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![&address.0[..], height, position, limit as i64],
        |r| {
            Ok(HistoryStep {
                block_height: r.get::<_, i64>(0)? as u64,
                position: r.get::<_, i64>(1)? as u64,
                hash: hash_col(r.get(2)?)?,
                timestamp: r.get::<_, i64>(3)? as u64,
                delta: r.get(4)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The `limit` largest confirmed balances, largest first, ties by address,
/// zero balances left out (the index `addresses_rich` in order).
pub fn rich_list(conn: &Connection, limit: u64) -> Result<Vec<(Address, Amount)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT address, balance FROM addresses WHERE balance > 0
         ORDER BY balance DESC, address ASC LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit as i64], |r| {
        Ok((
            address_col(r.get(0)?)?,
            Amount::from_units(r.get::<_, i64>(1)? as u64),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::open_connection;
    use crate::state::verify::tests::{block_on, key, main_chain, pay, payee, write};

    /// `blocks` written into a fresh directory, and a connection to it.
    fn chain_db(blocks: &[crate::types::Block]) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("temporary directory");
        write(dir.path(), blocks);
        let conn = open_connection(&dir.path().join("chain.sqlite")).expect("connection");
        (dir, conn)
    }

    /// Pages of 4 at the `before=` cursor of the previous page's last row:
    /// every entry once, newest first, each with the balance after it as
    /// the oldest-first running sum gives it.
    #[test]
    fn the_history_pages_at_a_cursor_with_the_balance_after_each_row() {
        let chain = main_chain(14);
        let (_dir, conn) = chain_db(&chain);
        let owner = key().address();
        let all = address_history(&conn, &owner, 1000, None)
            .expect("read")
            .expect("no cursor");
        assert_eq!(all.len(), 3 + 10, "three coinbases, ten payments");
        // The balance after each entry, from the oldest.
        let mut running = 0i64;
        let mut after: Vec<i64> = all
            .iter()
            .rev()
            .map(|e| {
                running += e.delta;
                running
            })
            .collect();
        after.reverse();
        let totals = address_totals(&conn, &owner).expect("totals");
        assert_eq!(running, totals.balance.units() as i64);

        let mut seen: Vec<HistoryRow> = Vec::new();
        let mut before: Option<Hash> = None;
        let mut pages = 0;
        loop {
            let page = address_history_page(&conn, &owner, 4, before.as_ref())
                .expect("read")
                .expect("the cursor is in the history");
            pages += 1;
            assert_eq!(page.totals, totals);
            assert!(page.rows.len() <= 4);
            seen.extend(page.rows.iter().cloned());
            if !page.older {
                break;
            }
            before = page.rows.last().map(|r| r.entry.hash);
        }
        assert_eq!(pages, 4, "13 entries, 4 a page");
        assert_eq!(seen.len(), all.len());
        for ((row, entry), balance) in seen.iter().zip(&all).zip(&after) {
            assert_eq!(&row.entry, entry);
            assert_eq!(row.balance_after, *balance, "after {}", entry.hash);
        }
        // A cursor that is not in this address's history (a coinbase
        // paying another address).
        let elsewhere = chain[4].transactions[0].hash;
        assert!(
            address_history_page(&conn, &owner, 4, Some(&elsewhere))
                .expect("read")
                .is_none()
        );
        // Past the oldest entry: an empty page, nothing older.
        let oldest = all.last().expect("an entry").hash;
        let end = address_history_page(&conn, &owner, 4, Some(&oldest))
            .expect("read")
            .expect("in the history");
        assert!(end.rows.is_empty() && !end.older);
    }

    /// Oldest first, 3 at a time after the previous chunk's last entry:
    /// the whole history once, in order.
    #[test]
    fn the_ascending_history_reads_in_small_chunks() {
        let (_dir, conn) = chain_db(&main_chain(12));
        let owner = key().address();
        let mut all = address_history(&conn, &owner, 1000, None)
            .expect("read")
            .expect("no cursor");
        all.reverse();
        let mut chunks = 0;
        let mut got: Vec<HistoryStep> = Vec::new();
        let mut after = None;
        loop {
            let chunk = address_history_ascending(&conn, &owner, after, 3).expect("read");
            assert!(chunk.len() <= 3);
            let Some(last) = chunk.last() else { break };
            after = Some((last.block_height, last.position));
            got.extend(chunk);
            chunks += 1;
        }
        assert_eq!(chunks, all.len().div_ceil(3));
        assert_eq!(got.len(), all.len());
        for (step, entry) in got.iter().zip(&all) {
            assert_eq!(
                (step.hash, step.block_height, step.timestamp, step.delta),
                (entry.hash, entry.block_height, entry.timestamp, entry.delta)
            );
        }
        assert!(
            got.windows(2).all(|w| {
                (w[0].block_height, w[0].position) < (w[1].block_height, w[1].position)
            })
        );
    }

    /// Spenders are stored with the spend; a row without one (written
    /// before migration 7) is found from the block, read once for all the
    /// outputs it spends.
    #[test]
    fn spenders_are_stored_and_found_without_it() {
        let mut chain = main_chain(8);
        let tip = chain.last().expect("a tip").clone();
        // Two payments of the owner in one block: two candidates.
        let change = tip.transactions[1].clone();
        let coinbase = chain[2].transactions[0].clone();
        let first = pay(&change, 1, payee(50), 7_000, tip.timestamp + 1);
        let second = pay(&coinbase, 0, payee(51), 8_000, tip.timestamp + 1);
        let block = block_on(&tip, payee(100), vec![first.clone(), second.clone()], 10);
        chain.push(block);
        let (_dir, conn) = chain_db(&chain);
        let spent = [
            (OutPoint::new(change.hash, 1), first.hash),
            (OutPoint::new(coinbase.hash, 0), second.hash),
        ];
        for (outpoint, spender) in &spent {
            let state = output_states(&conn, &outpoint.transaction_hash)
                .expect("read")
                .into_iter()
                .find(|o| o.output_index == outpoint.output_index)
                .expect("stored");
            assert_eq!(state.spent_height, Some(8));
            assert_eq!(state.spent_by, Some(*spender), "stored with the spend");
        }
        let unspent = output_states(&conn, &first.hash).expect("read");
        assert!(unspent.iter().all(|o| o.spent_by.is_none()));
        conn.execute("UPDATE outputs SET spent_by = NULL", [])
            .expect("as before migration 7");
        let mut read = SpendsRead::default();
        for (outpoint, spender) in &spent {
            assert_eq!(
                spender_of(&conn, outpoint, &key().address(), 8, &mut read).expect("read"),
                Some(*spender)
            );
        }
        assert_eq!(read.blocks_read(), 1, "the block parsed once");
        // One candidate: no block read.
        let mut read = SpendsRead::default();
        let earlier = OutPoint::new(chain[5].transactions[1].hash, 1);
        assert_eq!(
            spender_of(&conn, &earlier, &key().address(), 6, &mut read).expect("read"),
            Some(chain[6].transactions[1].hash)
        );
        assert_eq!(read.blocks_read(), 0);
    }
}
