//! What the hottest reads serve without touching the database or any lock
//! that intake holds: replaced whenever the active chain changes.

use super::Node;
use crate::consensus::block::ParentContext;
use crate::state::{self, ChainInfo, ChainStore, StoreError};
use crate::types::Block;

#[derive(Debug)]
pub struct ChainSnapshot {
    pub info: ChainInfo,
    /// `GET /blocks/last/`, serialised once.
    pub tip_summary_json: String,
    /// What the next block must satisfy (PROTOCOL.md §6–§7).
    pub next: ParentContext,
}

impl ChainSnapshot {
    /// The snapshot of the chain as `store` holds it now.
    pub(super) fn of(store: &ChainStore) -> Result<ChainSnapshot, StoreError> {
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
        let tip_summary_json = serde_json::to_string(&block.summary())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(ChainSnapshot {
            info,
            tip_summary_json,
            next,
        })
    }
}

impl Node {
    /// Rebuilds the snapshot from `store`. Called with the pool locked, so
    /// that a template never pairs a tip with a pool of another tip.
    pub(super) fn refresh_snapshot(&self, store: &ChainStore) -> Result<(), StoreError> {
        let snapshot = ChainSnapshot::of(store)?;
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(snapshot);
        Ok(())
    }
}
