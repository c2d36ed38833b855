//! The mempool's own rules (API.md §4): not consensus. A transaction they
//! refuse is valid and may be mined; this node just does not keep or relay it.

use crate::types::Hash;

/// Most unconfirmed ancestors a pool transaction may have, and most
/// unconfirmed descendants it may get (API.md §4).
pub const MAX_ANCESTORS: usize = 25;
pub const MAX_DESCENDANTS: usize = 25;

/// Why the mempool refuses a valid transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// In the pool or on the chain already (409).
    #[error("already known")]
    AlreadyKnown,
    #[error("pays {paid_units} units for {size} bytes; the minimum relay fee is 1 unit per byte")]
    FeeTooLow { paid_units: u64, size: usize },
    #[error(
        "more than {MAX_ANCESTORS} unconfirmed ancestors, or more than {MAX_DESCENDANTS} unconfirmed descendants for {of}: wait for a block"
    )]
    ChainTooLong { of: Hash },
    #[error(
        "the mempool is full and this transaction pays no more per byte than the cheapest in it"
    )]
    MempoolFull,
}

impl PolicyError {
    /// The error code of API.md §4.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::AlreadyKnown => "already_known",
            PolicyError::FeeTooLow { .. } => "fee_too_low",
            PolicyError::ChainTooLong { .. } => "chain_too_long",
            PolicyError::MempoolFull => "mempool_full",
        }
    }
}
