//! Blocks that failed a rule: remembered by hash with their error (posting
//! one again answers the same error, its children `invalid_parent`), never
//! stored whole (API.md §7).

use rusqlite::{Connection, OptionalExtension, params};

use super::{ChainStore, StoreError, hash_col};
use crate::consensus::BlockError;
use crate::types::{Block, Hash};

/// A block that failed a rule, as remembered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidBlock {
    pub code: String,
    pub message: String,
    /// The failing transaction's index, when the failure was inside one.
    pub transaction: Option<usize>,
}

/// The error remembered for block `hash`, if it failed.
pub fn invalid_block(conn: &Connection, hash: &Hash) -> Result<Option<InvalidBlock>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT error_code, error_message, error_tx FROM invalid_blocks WHERE hash = ?1",
        )?
        .query_row(params![&hash.0[..]], |r| {
            Ok(InvalidBlock {
                code: r.get(0)?,
                message: r.get(1)?,
                transaction: r.get::<_, Option<i64>>(2)?.map(|t| t as usize),
            })
        })
        .optional()?)
}

const INSERT_INVALID: &str = "INSERT OR REPLACE INTO invalid_blocks
     (hash, prev_hash, height, error_code, error_message, error_tx) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

impl ChainStore {
    /// Remembers that `block` (not stored) failed step 14 with `error`.
    pub fn remember_invalid(
        &mut self,
        block: &Block,
        error: &BlockError,
    ) -> Result<(), StoreError> {
        self.conn.prepare_cached(INSERT_INVALID)?.execute(params![
            &block.hash.0[..],
            &block.prev_hash.0[..],
            block.height as i64,
            error.error.code(),
            error.error.to_string(),
            error.transaction.map(|t| t as i64)
        ])?;
        Ok(())
    }

    /// Block `hash` (stored on a side branch) failed `error`: it and every
    /// stored block built on it (PROTOCOL.md §7) leave the store and are
    /// remembered as invalid, in one transaction.
    pub fn mark_invalid(&mut self, hash: &Hash, error: &BlockError) -> Result<(), StoreError> {
        self.side_bytes = None;
        let tx = self.conn.transaction()?;
        let mut frontier = vec![(
            *hash,
            error.error.code().to_string(),
            error.error.to_string(),
            error.transaction,
        )];
        while let Some((block, code, message, index)) = frontier.pop() {
            let Some(record) = super::block_record(&tx, &block)? else {
                continue;
            };
            tx.prepare_cached(INSERT_INVALID)?.execute(params![
                &block.0[..],
                &record.prev_hash.0[..],
                record.height as i64,
                code,
                message,
                index.map(|t| t as i64)
            ])?;
            tx.prepare_cached("DELETE FROM blocks WHERE hash = ?1")?
                .execute(params![&block.0[..]])?;
            let children: Vec<Vec<u8>> = tx
                .prepare_cached("SELECT hash FROM blocks WHERE prev_hash = ?1")?
                .query_map(params![&block.0[..]], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for child in children {
                frontier.push((
                    hash_col(child)?,
                    "invalid_parent".to_string(),
                    crate::consensus::RuleError::InvalidParent.to_string(),
                    None,
                ));
            }
        }
        tx.commit()?;
        Ok(())
    }
}
