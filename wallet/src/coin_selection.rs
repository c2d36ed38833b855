//! Coin selection: which spendable coins pay an amount plus its fee.
//!
//! The fee depends on the transaction's size (PROTOCOL.md §4: body + 65
//! bytes per input), hence on how many inputs are chosen and on whether a
//! change output is needed; a selector recomputes the fee for every input
//! count it tries, so the result is stable: its fee is the fee of exactly
//! the transaction it describes.

use cinder::consensus::transaction::MAX_INPUTS;
use cinder::types::{Amount, Transaction};

use crate::funds::Coin;

/// Units per byte the wallet pays when `--fee` is not given.
pub const DEFAULT_FEE_RATE: u64 = 10;
/// The node's minimum relay fee: 1 unit per byte of size (API.md §4).
pub const MIN_FEE_RATE: u64 = 1;

/// How the fee is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeePolicy {
    /// `size × rate` units.
    PerByte(u64),
    /// Exactly this fee (`--fee`), which must still meet [`MIN_FEE_RATE`].
    Fixed(Amount),
}

impl FeePolicy {
    pub fn fee(&self, inputs: usize, outputs: usize) -> Amount {
        match *self {
            FeePolicy::PerByte(rate) => Amount::from_units(
                (Transaction::size_for(inputs, outputs) as u64).saturating_mul(rate),
            ),
            FeePolicy::Fixed(fee) => fee,
        }
    }
}

/// The node's minimum fee for a transaction of that shape.
pub fn minimum_fee(inputs: usize, outputs: usize) -> Amount {
    FeePolicy::PerByte(MIN_FEE_RATE).fee(inputs, outputs)
}

/// What a selector chose: the inputs, the fee, and the change (zero: no
/// change output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub inputs: Vec<Coin>,
    pub fee: Amount,
    pub change: Amount,
}

impl Selection {
    pub fn input_total(&self) -> Amount {
        Amount::from_units(self.inputs.iter().map(|c| c.value.units()).sum())
    }

    pub fn output_count(&self) -> usize {
        if self.change == Amount::ZERO { 1 } else { 2 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("insufficient funds: {needed} needed with the fee, {available} spendable")]
    Insufficient { needed: Amount, available: Amount },
    #[error(
        "paying this needs more than {MAX_INPUTS} inputs: merge coins first with `send --all` to an address of this wallet, or send less"
    )]
    TooManyInputs,
    #[error("nothing to sweep: {available} is spendable and the fee is {fee}")]
    NothingToSweep { available: Amount, fee: Amount },
    #[error(
        "fee {fee} is below the node's minimum of {minimum} for this {size}-byte transaction (1 unit per byte)"
    )]
    FeeBelowMinimum {
        fee: Amount,
        minimum: Amount,
        size: usize,
    },
}

/// Chooses coins among `coins` (all spendable) to pay `amount` plus the
/// fee of `policy`.
pub trait CoinSelection {
    fn select(
        &self,
        coins: &[Coin],
        amount: Amount,
        policy: FeePolicy,
    ) -> Result<Selection, SelectionError>;
}

/// Largest coins first, until they cover the amount and the fee for that
/// many inputs.
///
/// Chosen over branch-and-bound because here a transaction's cost is its
/// size, which grows with every input (161 bytes each): taking the largest
/// coins gives the fewest inputs, hence the smallest fee, and stays within
/// the 256-input limit whenever any selection can. Branch-and-bound looks
/// for a change-free exact match to avoid creating change outputs; with
/// change going back to an address the wallet already uses and fees this
/// small, that saving is not worth the search or the larger transactions.
/// It is also deterministic, which makes sends reproducible in tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct LargestFirst;

impl CoinSelection for LargestFirst {
    fn select(
        &self,
        coins: &[Coin],
        amount: Amount,
        policy: FeePolicy,
    ) -> Result<Selection, SelectionError> {
        let sorted = largest_first(coins);
        let available: u64 = sorted
            .iter()
            .fold(0u64, |s, c| s.saturating_add(c.value.units()));
        let amount_units = amount.units();
        let mut total = 0u64;
        for (k, coin) in sorted.iter().enumerate().take(MAX_INPUTS) {
            let n = k + 1;
            total = total.saturating_add(coin.value.units());
            let fee_alone = policy.fee(n, 1).units();
            let needed_alone = amount_units.saturating_add(fee_alone);
            if total < needed_alone {
                continue;
            }
            let fee_with_change = policy.fee(n, 2).units();
            let (fee, change) = if total == needed_alone {
                (fee_alone, 0)
            } else if total > amount_units.saturating_add(fee_with_change) {
                (fee_with_change, total - amount_units - fee_with_change)
            } else {
                // A change output would cost more than it returns: the few
                // units left go to the fee instead.
                (total - amount_units, 0)
            };
            let outputs = if change == 0 { 1 } else { 2 };
            let minimum = minimum_fee(n, outputs);
            if fee < minimum.units() {
                return Err(SelectionError::FeeBelowMinimum {
                    fee: Amount::from_units(fee),
                    minimum,
                    size: Transaction::size_for(n, outputs),
                });
            }
            return Ok(Selection {
                inputs: sorted[..n].iter().map(|c| (*c).clone()).collect(),
                fee: Amount::from_units(fee),
                change: Amount::from_units(change),
            });
        }
        let n = sorted.len().clamp(1, MAX_INPUTS);
        let needed = amount_units.saturating_add(policy.fee(n, 1).units());
        if sorted.len() > MAX_INPUTS && available >= needed {
            return Err(SelectionError::TooManyInputs);
        }
        Err(SelectionError::Insufficient {
            needed: Amount::from_units(needed),
            available: Amount::from_units(available),
        })
    }
}

/// `coins` largest first; among equals, confirmed before unconfirmed,
/// older first (a deterministic order, so sends are reproducible).
fn largest_first(coins: &[Coin]) -> Vec<&Coin> {
    let mut sorted: Vec<&Coin> = coins.iter().collect();
    sorted.sort_by(|a, b| {
        b.value
            .cmp(&a.value)
            .then_with(|| a.block_height.is_none().cmp(&b.block_height.is_none()))
            .then_with(|| a.block_height.cmp(&b.block_height))
            .then_with(|| a.transaction_hash.cmp(&b.transaction_hash))
            .then_with(|| a.output_index.cmp(&b.output_index))
    });
    sorted
}

/// What `send --all` spends: a [`Selection`] without change, the amount it
/// pays (inputs less the fee), and how many coins did not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sweep {
    pub selection: Selection,
    pub amount: Amount,
    /// Coins left out because a transaction has at most [`MAX_INPUTS`]
    /// inputs (PROTOCOL.md §4 step 1); the smallest ones.
    pub left: usize,
}

/// Every coin into one output (`send --all`): all of `coins` when they fit
/// in one transaction, else the [`MAX_INPUTS`] largest, with the fee of
/// `policy` for that many inputs and one output. 256 inputs are about
/// 41 kB of size, far within the block's 1 MB (§6) and, as JSON, within
/// the API's 256 KiB request body.
pub fn select_all(coins: &[Coin], policy: FeePolicy) -> Result<Sweep, SelectionError> {
    let sorted = largest_first(coins);
    let n = sorted.len().min(MAX_INPUTS);
    let chosen = &sorted[..n];
    let total = chosen
        .iter()
        .fold(0u64, |s, c| s.saturating_add(c.value.units()));
    let fee = policy.fee(n.max(1), 1);
    // Every output must be worth at least one unit (§4 step 3).
    if n == 0 || total <= fee.units() {
        return Err(SelectionError::NothingToSweep {
            available: Amount::from_units(total),
            fee,
        });
    }
    let minimum = minimum_fee(n, 1);
    if fee < minimum {
        return Err(SelectionError::FeeBelowMinimum {
            fee,
            minimum,
            size: Transaction::size_for(n, 1),
        });
    }
    Ok(Sweep {
        selection: Selection {
            inputs: chosen.iter().map(|c| (*c).clone()).collect(),
            fee,
            change: Amount::ZERO,
        },
        amount: Amount::from_units(total - fee.units()),
        left: sorted.len() - n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPath;
    use cinder::types::{Address, Hash};

    fn coin(units: u64, n: u8) -> Coin {
        Coin {
            transaction_hash: Hash([n; 32]),
            output_index: 0,
            address: Address([1; 20]),
            path: KeyPath::receive(0),
            value: Amount::from_units(units),
            block_height: Some(1),
        }
    }

    fn fee(policy: FeePolicy, i: usize, o: usize) -> u64 {
        policy.fee(i, o).units()
    }

    const RATE: FeePolicy = FeePolicy::PerByte(DEFAULT_FEE_RATE);

    #[test]
    fn exact_amount_has_no_change() {
        let f = fee(RATE, 1, 1);
        let coins = [coin(1_000_000 + f, 1)];
        let s = LargestFirst
            .select(&coins, Amount::from_units(1_000_000), RATE)
            .unwrap();
        assert_eq!(s.change, Amount::ZERO);
        assert_eq!(s.fee.units(), f);
        assert_eq!(s.output_count(), 1);
    }

    #[test]
    fn with_change_pays_the_fee_of_two_outputs() {
        let coins = [coin(500, 1), coin(10_000_000, 2), coin(3_000_000, 3)];
        let s = LargestFirst
            .select(&coins, Amount::from_units(4_000_000), RATE)
            .unwrap();
        assert_eq!(s.inputs.len(), 1);
        assert_eq!(s.inputs[0].value.units(), 10_000_000);
        assert_eq!(s.fee.units(), fee(RATE, 1, 2));
        assert_eq!(s.change.units(), 10_000_000 - 4_000_000 - fee(RATE, 1, 2));
        assert_eq!(
            s.input_total().units(),
            4_000_000 + s.fee.units() + s.change.units()
        );
    }

    #[test]
    fn leftover_too_small_for_change_goes_to_fee() {
        let amount = 1_000_000;
        let f1 = fee(RATE, 1, 1);
        let coins = [coin(amount + f1 + 5, 1)];
        let s = LargestFirst
            .select(&coins, Amount::from_units(amount), RATE)
            .unwrap();
        assert_eq!(s.change, Amount::ZERO);
        assert_eq!(s.fee.units(), f1 + 5);
    }

    #[test]
    fn insufficient_says_needed_and_available() {
        let coins = [coin(1_000, 1), coin(2_000, 2)];
        let err = LargestFirst
            .select(&coins, Amount::from_units(1_000_000), RATE)
            .unwrap_err();
        assert_eq!(
            err,
            SelectionError::Insufficient {
                needed: Amount::from_units(1_000_000 + fee(RATE, 2, 1)),
                available: Amount::from_units(3_000),
            }
        );
        let err = LargestFirst
            .select(&[], Amount::from_units(1), RATE)
            .unwrap_err();
        assert!(
            matches!(err, SelectionError::Insufficient { available, .. } if available == Amount::ZERO)
        );
    }

    #[test]
    fn many_small_inputs_fee_grows_with_each() {
        // 100 coins of 10 000 units; each input adds 161 bytes, i.e. 1610 units.
        let coins: Vec<Coin> = (0..100u8).map(|n| coin(10_000, n)).collect();
        let amount = Amount::from_units(200_000);
        let s = LargestFirst.select(&coins, amount, RATE).unwrap();
        let n = s.inputs.len();
        // The smallest count that covers amount + fee(n) with its own fee.
        assert!(n as u64 * 10_000 >= 200_000 + fee(RATE, n, 1));
        assert!(((n - 1) as u64) * 10_000 < 200_000 + fee(RATE, n - 1, 1));
        assert_eq!(
            s.fee.units(),
            if s.change == Amount::ZERO {
                s.input_total().units() - 200_000
            } else {
                fee(RATE, n, 2)
            }
        );
        assert_eq!(
            s.input_total().units(),
            200_000 + s.fee.units() + s.change.units()
        );
        assert!(n > 20, "fee made it need more than 20 inputs: {n}");
    }

    #[test]
    fn too_many_inputs() {
        let coins: Vec<Coin> = (0..300u32)
            .map(|n| Coin {
                output_index: n,
                ..coin(100_000, 1)
            })
            .collect();
        let err = LargestFirst
            .select(
                &coins,
                Amount::from_units(26_000_000),
                FeePolicy::PerByte(1),
            )
            .unwrap_err();
        assert_eq!(err, SelectionError::TooManyInputs);
    }

    #[test]
    fn fixed_fee_is_kept_but_never_below_the_minimum() {
        let coins = [coin(10_000_000, 1)];
        let s = LargestFirst
            .select(
                &coins,
                Amount::from_units(1_000_000),
                FeePolicy::Fixed(Amount::from_units(100_000)),
            )
            .unwrap();
        assert_eq!(s.fee.units(), 100_000);
        assert_eq!(s.change.units(), 10_000_000 - 1_000_000 - 100_000);
        let err = LargestFirst
            .select(
                &coins,
                Amount::from_units(1_000_000),
                FeePolicy::Fixed(Amount::from_units(10)),
            )
            .unwrap_err();
        assert!(
            matches!(err, SelectionError::FeeBelowMinimum { size, .. } if size == Transaction::size_for(1, 2))
        );
    }

    #[test]
    fn select_all_takes_every_coin_without_change() {
        let coins = [coin(500, 1), coin(10_000_000, 2), coin(3_000_000, 3)];
        let sweep = select_all(&coins, RATE).unwrap();
        assert_eq!(sweep.selection.inputs.len(), 3);
        assert_eq!(sweep.selection.inputs[0].value.units(), 10_000_000);
        assert_eq!(sweep.selection.change, Amount::ZERO);
        assert_eq!(sweep.selection.output_count(), 1);
        assert_eq!(sweep.selection.fee.units(), fee(RATE, 3, 1));
        assert_eq!(
            sweep.amount.units(),
            13_000_500 - fee(RATE, 3, 1),
            "inputs = amount + fee"
        );
        assert_eq!(sweep.left, 0);
        let fixed = FeePolicy::Fixed(Amount::from_units(100_000));
        let sweep = select_all(&coins, fixed).unwrap();
        assert_eq!(sweep.amount.units(), 13_000_500 - 100_000);
        let err = select_all(&coins, FeePolicy::Fixed(Amount::from_units(10))).unwrap_err();
        assert!(
            matches!(err, SelectionError::FeeBelowMinimum { size, .. } if size == Transaction::size_for(3, 1))
        );
    }

    #[test]
    fn select_all_beyond_max_inputs_takes_the_largest_and_counts_the_rest() {
        let coins: Vec<Coin> = (0..300u32)
            .map(|n| Coin {
                output_index: n,
                value: Amount::from_units(100_000 + u64::from(n)),
                ..coin(0, 1)
            })
            .collect();
        let sweep = select_all(&coins, RATE).unwrap();
        assert_eq!(sweep.selection.inputs.len(), MAX_INPUTS);
        assert_eq!(sweep.left, 300 - MAX_INPUTS);
        // The 44 smallest (output indexes 0..44) are the ones left.
        assert!(sweep.selection.inputs.iter().all(|c| c.output_index >= 44));
        assert_eq!(sweep.selection.fee.units(), fee(RATE, MAX_INPUTS, 1));
        assert_eq!(
            sweep.amount.units() + sweep.selection.fee.units(),
            sweep.selection.input_total().units()
        );
    }

    #[test]
    fn select_all_with_nothing_above_the_fee_is_refused() {
        assert_eq!(
            select_all(&[], RATE).unwrap_err(),
            SelectionError::NothingToSweep {
                available: Amount::ZERO,
                fee: RATE.fee(1, 1),
            }
        );
        let f = fee(RATE, 1, 1);
        let err = select_all(&[coin(f, 1)], RATE).unwrap_err();
        assert!(
            matches!(err, SelectionError::NothingToSweep { available, .. } if available.units() == f)
        );
        // One unit above the fee: a one-unit output.
        assert_eq!(
            select_all(&[coin(f + 1, 1)], RATE).unwrap().amount.units(),
            1
        );
    }

    #[test]
    fn minimum_fee_is_one_unit_per_byte() {
        assert_eq!(
            minimum_fee(1, 1).units(),
            Transaction::size_for(1, 1) as u64
        );
        assert_eq!(
            FeePolicy::PerByte(DEFAULT_FEE_RATE).fee(2, 2).units(),
            10 * Transaction::size_for(2, 2) as u64
        );
    }
}
