//! `GET /mining/template/` (API.md §6): a block ready to mine.

use super::Node;
use crate::consensus::block::{MAX_BLOCK_SIZE, MAX_BLOCK_TRANSACTIONS};
use crate::state::StoreError;
use crate::types::{Address, Block, Transaction};

impl Node {
    /// A block ready to mine for the next height: coinbase paying `address`
    /// with reward + fees, pool transactions by fee per byte (parents
    /// first) within the block limits, nonce 0.
    ///
    /// Only the pool's lock is held, never the chain's: block intake goes on
    /// meanwhile, and the tip read under the pool's lock is the one the pool
    /// belongs to (a connect updates pool and snapshot under that lock).
    pub fn block_template(&self, address: &Address) -> Result<Block, StoreError> {
        let (snapshot, transactions) = {
            let pool = self.pool();
            let snapshot = self.snapshot();
            let coinbase_size = Transaction::size_for(1, 1);
            let picked = pool.select(MAX_BLOCK_TRANSACTIONS - 1, MAX_BLOCK_SIZE - coinbase_size);
            (snapshot, picked)
        };
        let height = snapshot.info.height + 1;
        let transactions: Vec<Transaction> = transactions.iter().map(|t| (**t).clone()).collect();
        let timestamp = self.now().max(snapshot.next.median_time_past + 1);
        Block::assemble(
            snapshot.info.best_hash,
            height,
            timestamp,
            snapshot.next.required_target,
            *address,
            self.params.subsidy(height),
            transactions,
        )
        .ok_or_else(|| StoreError::Corrupt("the pool's fees overflow".into()))
    }
}
