//! What the hottest reads serve without touching the database or any lock
//! that intake holds: replaced whenever the active chain changes.

use super::Node;
use crate::consensus::ChainParams;
use crate::consensus::block::ParentContext;
use crate::state::{self, ChainInfo, ChainStore, StoreError};
use crate::types::Block;
use crate::wire::{BlockchainInfo, RichEntry, Work};

/// How the serialised `GET /blockchain/` answer ends when its
/// `mempool_size` is 0: the field is last (API.md §2), so the rest of the
/// text does not depend on the pool.
const MEMPOOL_SIZE_TAIL: &str = "\"mempool_size\":0}";

#[derive(Debug)]
pub struct ChainSnapshot {
    pub info: ChainInfo,
    /// `GET /blocks/last/`, serialised once (shared by every answer).
    pub tip_summary_json: actix_web::web::Bytes,
    /// The tip's timestamp (`cinder_chain_best_timestamp_seconds`).
    pub best_timestamp: u64,
    /// What the next block must satisfy (PROTOCOL.md §6–§7).
    pub next: ParentContext,
    /// `GET /blockchain/` serialised once, up to and including
    /// `"mempool_size":`: the live pool size and `}` are appended per answer.
    blockchain_json_head: String,
}

impl ChainSnapshot {
    /// The snapshot of the chain as `store` holds it now. `connected` is
    /// the block just connected, when the caller holds it: if it is the
    /// tip, its summary is taken from it instead of reading and parsing the
    /// stored block again.
    pub(super) fn of(
        store: &ChainStore,
        connected: Option<&Block>,
    ) -> Result<ChainSnapshot, StoreError> {
        let conn = store.connection();
        let info = state::chain_info(conn)?;
        let tip = store
            .record(&info.best_hash)?
            .ok_or_else(|| StoreError::Corrupt(format!("tip {} not stored", info.best_hash)))?;
        let next = store.parent_context(&tip)?;
        let (summary, best_timestamp) = match connected {
            Some(block) if block.hash == info.best_hash => {
                (serde_json::to_string(&block.summary()), block.timestamp)
            }
            _ => {
                let json = state::block_json(conn, &info.best_hash)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("tip {} not stored", info.best_hash))
                })?;
                let block: Block =
                    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                (serde_json::to_string(&block.summary()), block.timestamp)
            }
        };
        let tip_summary_json = summary
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
            .into();
        let mut snapshot = ChainSnapshot {
            info,
            tip_summary_json,
            best_timestamp,
            next,
            blockchain_json_head: String::new(),
        };
        let whole = serde_json::to_string(&snapshot.blockchain_info(store.params(), 0))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let head = whole.strip_suffix(MEMPOOL_SIZE_TAIL).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "/blockchain/ does not end with {MEMPOOL_SIZE_TAIL}"
            ))
        })?;
        snapshot.blockchain_json_head = format!("{head}\"mempool_size\":");
        Ok(snapshot)
    }

    /// `GET /blockchain/` (API.md §2) of this snapshot with `mempool_size`.
    pub fn blockchain_info(&self, params: &ChainParams, mempool_size: u64) -> BlockchainInfo {
        let info = &self.info;
        BlockchainInfo {
            name: params.name.to_string(),
            height: info.height,
            total_transactions: info.total_transactions,
            total_addresses: info.total_addresses,
            block_time: params.block_time,
            block_reward: params.subsidy(info.height + 1),
            rich_list: info
                .rich_list
                .iter()
                .map(|(address, balance)| RichEntry {
                    address: *address,
                    balance: *balance,
                })
                .collect(),
            best_hash: info.best_hash,
            target: self.next.required_target,
            total_work: Work(info.total_work),
            genesis_hash: params.genesis_hash,
            mempool_size,
        }
    }

    /// The JSON text of [`ChainSnapshot::blockchain_info`], without
    /// serialising it again: only the pool's size changes between tips.
    pub fn blockchain_json(&self, mempool_size: u64) -> String {
        let size = mempool_size.to_string();
        let mut json = String::with_capacity(self.blockchain_json_head.len() + size.len() + 1);
        json.push_str(&self.blockchain_json_head);
        json.push_str(&size);
        json.push('}');
        json
    }
}

impl Node {
    /// Rebuilds the snapshot from `store` (`connected`: see
    /// [`ChainSnapshot::of`]). Called with the pool locked, so that a
    /// template never pairs a tip with a pool of another tip.
    pub(super) fn refresh_snapshot(
        &self,
        store: &ChainStore,
        connected: Option<&Block>,
    ) -> Result<(), StoreError> {
        let snapshot = ChainSnapshot::of(store, connected)?;
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(snapshot);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cached text is exactly what serialising the whole answer gives,
    /// whatever the pool's size.
    #[test]
    fn the_cached_blockchain_text_is_the_serialised_answer() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let params = ChainParams::regtest();
        let store = ChainStore::open(&dir.path().join("chain.sqlite"), &params).expect("store");
        let snapshot = ChainSnapshot::of(&store, None).expect("snapshot");
        for size in [0, 1, 9, 10, 12_345, u64::MAX] {
            let want = serde_json::to_string(&snapshot.blockchain_info(&params, size))
                .expect("the answer serialises");
            assert_eq!(snapshot.blockchain_json(size), want, "mempool_size {size}");
        }
    }
}
