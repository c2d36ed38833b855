//! One error variant per consensus rule; `code()` is the code of
//! PROTOCOL.md §4–§6 that the API reports.

use crate::types::Hash;

/// A broken rule of PROTOCOL.md §4 (transactions) or §6 (blocks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    // §4 context-free
    #[error("malformed: {0}")]
    Malformed(String),
    #[error("output {index} has index field {found}; indexes must be 0, 1, … in order")]
    BadOutputIndex { index: usize, found: u32 },
    #[error("output {index} carries no value; every output needs at least 1 unit")]
    ZeroOutput { index: usize },
    #[error("output {index} has a wrong hash, expected {expected}")]
    BadOutputHash { index: usize, expected: Hash },
    #[error("value is not the sum of the outputs ({sum_units} units)")]
    ValueMismatch { sum_units: u64 },
    #[error("inputs ({inputs_units} units) are not value + fee")]
    FeeMismatch { inputs_units: u64 },
    #[error("hash is wrong, expected {expected}")]
    BadHash { expected: Hash },
    #[error("input {input} spends the same output as an earlier input")]
    DuplicateInput { input: usize },
    #[error("input {input} spends the all-zero transaction hash outside the coinbase")]
    UnexpectedCoinbase { input: usize },
    // §4 contextual
    #[error("input {input} spends an output that does not exist here")]
    UnknownInput { input: usize },
    #[error("input {input} does not repeat the address, value and hash of the output it spends")]
    InputMismatch { input: usize },
    #[error(
        "input {input} spends a coinbase of height {coinbase_height}, not mature before height {mature_at}"
    )]
    ImmatureCoinbase {
        input: usize,
        coinbase_height: u64,
        mature_at: u64,
    },
    #[error("input {input} spends an output that is already spent")]
    DoubleSpend { input: usize },
    #[error("timestamp {timestamp} is more than 2 hours past {limit_base}")]
    TimestampInFuture { timestamp: u64, limit_base: u64 },
    #[error("input {input} has a bad signature")]
    BadSignature { input: usize },
    // §6 step 3 (a transaction's `already_known` is mempool policy:
    // `crate::mempool::PolicyError`)
    #[error("already known")]
    AlreadyKnown,
    // §6
    #[error("block hash above its target")]
    BadPow,
    #[error("the parent block is invalid")]
    InvalidParent,
    #[error("unknown parent block {0}")]
    UnknownParent(Hash),
    #[error("height {found} is not parent height + 1 ({expected})")]
    BadHeight { found: u64, expected: u64 },
    #[error("target is not the required target {expected}")]
    BadTarget { expected: crate::types::Target },
    #[error("timestamp {timestamp} is not above the median time past {median}")]
    TimestampTooOld { timestamp: u64, median: u64 },
    #[error("merkle root does not match the transactions, expected {expected}")]
    BadMerkleRoot { expected: Hash },
    #[error("reward is not the subsidy of this height ({expected_units} units)")]
    BadReward { expected_units: u64 },
    #[error("fees are not the sum of the transactions' fees ({expected_units} units)")]
    BadFees { expected_units: u64 },
    #[error("transaction 0 is not the coinbase of this block: {0}")]
    BadCoinbase(&'static str),
}

impl RuleError {
    /// The error code of PROTOCOL.md / API.md.
    pub fn code(&self) -> &'static str {
        use RuleError::*;
        match self {
            Malformed(_) => "malformed",
            BadOutputIndex { .. } => "bad_output_index",
            ZeroOutput { .. } => "zero_output",
            BadOutputHash { .. } => "bad_output_hash",
            ValueMismatch { .. } => "value_mismatch",
            FeeMismatch { .. } => "fee_mismatch",
            BadHash { .. } => "bad_hash",
            DuplicateInput { .. } => "duplicate_input",
            UnexpectedCoinbase { .. } => "unexpected_coinbase",
            UnknownInput { .. } => "unknown_input",
            InputMismatch { .. } => "input_mismatch",
            ImmatureCoinbase { .. } => "immature_coinbase",
            DoubleSpend { .. } => "double_spend",
            TimestampInFuture { .. } => "timestamp_in_future",
            BadSignature { .. } => "bad_signature",
            AlreadyKnown => "already_known",
            BadPow => "bad_pow",
            InvalidParent => "invalid_parent",
            UnknownParent(_) => "unknown_parent",
            BadHeight { .. } => "bad_height",
            BadTarget { .. } => "bad_target",
            TimestampTooOld { .. } => "timestamp_too_old",
            BadMerkleRoot { .. } => "bad_merkle_root",
            BadReward { .. } => "bad_reward",
            BadFees { .. } => "bad_fees",
            BadCoinbase(_) => "bad_coinbase",
        }
    }
}

/// A rule a block broke, with the index of the transaction that broke it
/// when the failure is inside one (§6 steps 9 and 14).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{error}", match .transaction { Some(i) => format!("transaction {i}: "), None => String::new() })]
pub struct BlockError {
    pub error: RuleError,
    pub transaction: Option<usize>,
}

impl BlockError {
    pub fn in_transaction(index: usize, error: RuleError) -> BlockError {
        BlockError {
            error,
            transaction: Some(index),
        }
    }
}

impl From<RuleError> for BlockError {
    fn from(error: RuleError) -> BlockError {
        BlockError {
            error,
            transaction: None,
        }
    }
}
