//! Consensus: parameters, difficulty, and the rules of PROTOCOL.md §4–§7 as
//! pure functions (context-free over a transaction or block, contextual
//! over a read-only view of outputs).

pub mod block;
pub mod difficulty;
mod error;
mod params;
pub mod transaction;

pub use error::{BlockError, RuleError};
pub use params::{ChainParams, block_work};
