//! Required target (PROTOCOL.md §7) and median time past (§6 step 8).

use primitive_types::{U256, U512};

use super::ChainParams;
use crate::types::Target;

/// True when block `height` starts a new difficulty period.
pub fn is_retarget_height(params: &ChainParams, height: u64) -> bool {
    height != 0 && params.retarget_interval != 0 && height.is_multiple_of(params.retarget_interval)
}

/// The height whose timestamp opens the period that block `height` closes
/// (`h - R`): the caller looks it up on the block's own branch.
pub fn retarget_start_height(params: &ChainParams, height: u64) -> u64 {
    height.saturating_sub(params.retarget_interval)
}

/// The target block `height` must carry. `parent_target` is the target of
/// block `height - 1`; `span` is `timestamp(h-1) - timestamp(h-R)` (signed),
/// needed only at a retarget height.
pub fn required_target(
    params: &ChainParams,
    height: u64,
    parent_target: &Target,
    span: impl FnOnce() -> i64,
) -> Target {
    if height == 0 {
        return params.pow_limit;
    }
    if !is_retarget_height(params, height) {
        return *parent_target;
    }
    retarget(params, parent_target, span())
}

/// `parent_target · clamp(actual) / expected`, at most `pow_limit`, at least 1.
pub fn retarget(params: &ChainParams, parent_target: &Target, actual: i64) -> Target {
    let expected = (params.retarget_interval.saturating_sub(1) * params.block_time) as i128;
    let expected = expected.max(1);
    let clamped = (actual as i128).clamp(expected / 4, expected * 4).max(0);
    let product = U512::from(parent_target.to_u256()) * U512::from(clamped as u128);
    let new = product / U512::from(expected as u128);
    let limit = U512::from(params.pow_limit.to_u256());
    let bounded = if new > limit { limit } else { new };
    let bounded = U256::try_from(bounded)
        .unwrap_or(U256::MAX)
        .max(U256::one());
    Target::from_u256(bounded)
}

/// Median time past of the last (up to) 11 timestamps ending at the
/// parent: sorted ascending, element `k div 2` of `k`.
pub fn median_time_past(timestamps: &[u64]) -> u64 {
    let start = timestamps.len().saturating_sub(11);
    let mut last: Vec<u64> = timestamps[start..].to_vec();
    if last.is_empty() {
        return 0;
    }
    last.sort_unstable();
    last[last.len() / 2]
}
