//! Transaction rules (PROTOCOL.md §4): one function per rule, applied in
//! the protocol's order by [`check_context_free`] and [`check_contextual`].

use std::collections::HashSet;

use super::RuleError;
use crate::crypto;
use crate::types::{Address, Amount, Hash, OutPoint, Transaction};

/// Most inputs, and most outputs, one transaction may have.
pub const MAX_INPUTS: usize = 256;
pub const MAX_OUTPUTS: usize = 256;
/// How far past the reference time a timestamp may be (§4 step 14, §6 step 8).
pub const MAX_FUTURE_SECONDS: u64 = 7200;

/// Step 1: the counts (types and formats are enforced by parsing).
pub fn check_shape(tx: &Transaction) -> Result<(), RuleError> {
    if tx.inputs.is_empty() || tx.inputs.len() > MAX_INPUTS {
        return Err(RuleError::Malformed(format!(
            "a transaction has 1 to {MAX_INPUTS} inputs, this one {}",
            tx.inputs.len()
        )));
    }
    if tx.outputs.is_empty() || tx.outputs.len() > MAX_OUTPUTS {
        return Err(RuleError::Malformed(format!(
            "a transaction has 1 to {MAX_OUTPUTS} outputs, this one {}",
            tx.outputs.len()
        )));
    }
    Ok(())
}

/// Step 2: output indexes are 0, 1, …, n-1.
pub fn check_output_indexes(tx: &Transaction) -> Result<(), RuleError> {
    for (i, o) in tx.outputs.iter().enumerate() {
        if o.index as usize != i {
            return Err(RuleError::BadOutputIndex {
                index: i,
                found: o.index,
            });
        }
    }
    Ok(())
}

/// Step 3: every output carries at least one unit.
pub fn check_no_zero_output(tx: &Transaction) -> Result<(), RuleError> {
    match tx.outputs.iter().position(|o| o.value == Amount::ZERO) {
        Some(index) => Err(RuleError::ZeroOutput { index }),
        None => Ok(()),
    }
}

/// Step 4: each output's hash is its output hash.
pub fn check_output_hashes(tx: &Transaction) -> Result<(), RuleError> {
    for (index, o) in tx.outputs.iter().enumerate() {
        let expected = o.compute_hash();
        if o.hash != expected {
            return Err(RuleError::BadOutputHash { index, expected });
        }
    }
    Ok(())
}

/// Sum of amounts in u64: at most 256 values of at most MAX_MONEY each
/// cannot overflow (§1).
fn sum_units(values: impl Iterator<Item = Amount>) -> u64 {
    values.map(Amount::units).sum()
}

/// Step 5: `value` is the sum of the outputs.
pub fn check_value(tx: &Transaction) -> Result<(), RuleError> {
    let sum = sum_units(tx.outputs.iter().map(|o| o.value));
    if sum != tx.value.units() {
        return Err(RuleError::ValueMismatch { sum_units: sum });
    }
    Ok(())
}

/// Step 6: the inputs' values are `value + fee`.
pub fn check_fee(tx: &Transaction) -> Result<(), RuleError> {
    let inputs = sum_units(tx.inputs.iter().map(|i| i.output_value));
    if inputs != tx.value.units() + tx.fee.units() {
        return Err(RuleError::FeeMismatch {
            inputs_units: inputs,
        });
    }
    Ok(())
}

/// Step 7: `hash` is the transaction hash.
pub fn check_hash(tx: &Transaction, sighash: &Hash) -> Result<(), RuleError> {
    let expected = tx.hash_with_sighash(sighash);
    if tx.hash != expected {
        return Err(RuleError::BadHash { expected });
    }
    Ok(())
}

/// Step 8: no output is spent twice by one transaction.
pub fn check_duplicate_inputs(tx: &Transaction) -> Result<(), RuleError> {
    let mut seen = HashSet::with_capacity(tx.inputs.len());
    for (input, i) in tx.inputs.iter().enumerate() {
        if !seen.insert((i.transaction_hash, i.output_index)) {
            return Err(RuleError::DuplicateInput { input });
        }
    }
    Ok(())
}

/// Step 9: no all-zero `transaction_hash` outside the coinbase.
pub fn check_no_coinbase_input(tx: &Transaction) -> Result<(), RuleError> {
    match tx.inputs.iter().position(|i| i.transaction_hash.is_zero()) {
        Some(input) => Err(RuleError::UnexpectedCoinbase { input }),
        None => Ok(()),
    }
}

/// Steps 1–9 in order for a transaction outside the coinbase position.
/// Returns the sighash, which step 15 needs again.
pub fn check_context_free(tx: &Transaction) -> Result<Hash, RuleError> {
    check_context_free_at(tx, false)
}

/// Steps 1–9; the coinbase is exempt from steps 3 and 9 (§6 step 9).
pub fn check_context_free_at(tx: &Transaction, coinbase: bool) -> Result<Hash, RuleError> {
    check_shape(tx)?;
    check_output_indexes(tx)?;
    if !coinbase {
        check_no_zero_output(tx)?;
    }
    check_output_hashes(tx)?;
    check_value(tx)?;
    check_fee(tx)?;
    let sighash = tx.sighash();
    check_hash(tx, &sighash)?;
    check_duplicate_inputs(tx)?;
    if !coinbase {
        check_no_coinbase_input(tx)?;
    }
    Ok(sighash)
}

/// An output as the chain (or mempool, or block) knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownOutput {
    pub address: Address,
    pub value: Amount,
    pub hash: Hash,
    /// Height of the block that created it; `None` while unconfirmed.
    pub height: Option<u64>,
    pub coinbase: bool,
    /// Already spent where this lookup was made.
    pub spent: bool,
}

/// A read-only view of outputs at a transaction's place: the active chain
/// plus whatever is earlier in the block or the mempool.
///
/// A lookup can fail (a database error): the checks then return the view's
/// error, told apart from a broken rule, rather than calling the output
/// unknown.
pub trait OutputView {
    type Error;
    fn output(&self, outpoint: &OutPoint) -> Result<Option<KnownOutput>, Self::Error>;
}

/// Steps 10–13, input by input; `height` is the height the transaction is
/// (or would be) confirmed at. The outer result is the view's; the inner,
/// the verdict.
pub fn check_inputs<V: OutputView>(
    tx: &Transaction,
    view: &V,
    height: u64,
    coinbase_maturity: u64,
) -> Result<Result<(), RuleError>, V::Error> {
    for (input, i) in tx.inputs.iter().enumerate() {
        let Some(out) = view.output(&i.outpoint())? else {
            return Ok(Err(RuleError::UnknownInput { input }));
        };
        if out.address != i.output_address
            || out.value != i.output_value
            || out.hash != i.output_hash
        {
            return Ok(Err(RuleError::InputMismatch { input }));
        }
        if out.coinbase
            && let Some(c) = out.height
            && height.saturating_sub(c) < coinbase_maturity
        {
            return Ok(Err(RuleError::ImmatureCoinbase {
                input,
                coinbase_height: c,
                mature_at: c + coinbase_maturity,
            }));
        }
        if out.spent {
            return Ok(Err(RuleError::DoubleSpend { input }));
        }
    }
    Ok(Ok(()))
}

/// Step 14: `timestamp` ≤ `base + 7200` (now for the mempool, the block's
/// timestamp inside a block).
pub fn check_timestamp(tx: &Transaction, base: u64) -> Result<(), RuleError> {
    if tx.timestamp > base.saturating_add(MAX_FUTURE_SECONDS) {
        return Err(RuleError::TimestampInFuture {
            timestamp: tx.timestamp,
            limit_base: base,
        });
    }
    Ok(())
}

/// Step 15: every input is signed by the key of its `output_address`.
pub fn check_signatures(tx: &Transaction, sighash: &Hash) -> Result<(), RuleError> {
    for (input, i) in tx.inputs.iter().enumerate() {
        if !crypto::verify(sighash, &i.signature, &i.output_address) {
            return Err(RuleError::BadSignature { input });
        }
    }
    Ok(())
}
