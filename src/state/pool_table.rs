//! The persisted mempool: the `mempool` table, written behind the
//! in-memory pool with group commit, and read back at start.

use std::path::Path;

use rusqlite::{Connection, params};

use super::{ChainStore, StoreError, hash_col, open_connection};
use crate::types::Hash;

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

impl ChainStore {
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
}
