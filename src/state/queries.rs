//! Read queries of the API (API.md §2, §3, §5). Each is one indexed read;
//! none walks the chain.

use primitive_types::U256;
use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, address_col, hash_col, work_col};
use crate::types::{Address, Amount, Hash};

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
