//! Block rules (PROTOCOL.md §6). Context-free steps here; steps 3 and 5–8
//! need the block's branch and step 14 the chain state, so the node calls
//! them in order with what it knows (see `check_header_context`).

use super::transaction::{self, MAX_FUTURE_SECONDS, OutputView, check_context_free_at};
use super::{BlockError, ChainParams, RuleError};
use crate::types::{Address, Amount, Block, Hash, Signature};

/// Most transactions in a block, the coinbase included.
pub const MAX_BLOCK_TRANSACTIONS: usize = 4096;
/// Most bytes of transaction size (§4) in a block, the coinbase included.
pub const MAX_BLOCK_SIZE: usize = 1_000_000;

/// Step 1: the transaction count and the block size.
pub fn check_block_shape(block: &Block) -> Result<(), RuleError> {
    let n = block.transactions.len();
    if n == 0 || n > MAX_BLOCK_TRANSACTIONS {
        return Err(RuleError::Malformed(format!(
            "a block has 1 to {MAX_BLOCK_TRANSACTIONS} transactions, this one {n}"
        )));
    }
    if block.transaction_count as usize != n {
        return Err(RuleError::Malformed(format!(
            "transaction_count is {} but the block has {n} transactions",
            block.transaction_count
        )));
    }
    let size = block.transactions_size();
    if size > MAX_BLOCK_SIZE {
        return Err(RuleError::Malformed(format!(
            "transactions total {size} bytes, more than {MAX_BLOCK_SIZE}"
        )));
    }
    Ok(())
}

/// Step 2: `hash` is the block hash.
pub fn check_block_hash(block: &Block) -> Result<(), RuleError> {
    let expected = block.compute_hash();
    if block.hash != expected {
        return Err(RuleError::BadHash { expected });
    }
    Ok(())
}

/// Step 4: the hash meets the block's own target.
pub fn check_pow(block: &Block) -> Result<(), RuleError> {
    if !block.hash.meets(&block.target) {
        return Err(RuleError::BadPow);
    }
    Ok(())
}

/// What steps 6–8 need to know of the parent's branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentContext {
    pub height: u64,
    /// The target block `parent.height + 1` must carry (§7).
    pub required_target: crate::types::Target,
    /// Median time past of the (up to) 11 blocks ending at the parent.
    pub median_time_past: u64,
}

/// Steps 6–8 against the parent's branch; `now` is the node's clock.
pub fn check_header_context(
    block: &Block,
    parent: &ParentContext,
    now: u64,
) -> Result<(), RuleError> {
    check_header_fields(block.height, &block.target, block.timestamp, parent, now)
}

/// Steps 6–8 on a header's fields (sync checks headers before any body).
pub fn check_header_fields(
    height: u64,
    target: &crate::types::Target,
    timestamp: u64,
    parent: &ParentContext,
    now: u64,
) -> Result<(), RuleError> {
    let expected = parent.height + 1;
    if height != expected {
        return Err(RuleError::BadHeight {
            found: height,
            expected,
        });
    }
    if *target != parent.required_target {
        return Err(RuleError::BadTarget {
            expected: parent.required_target,
        });
    }
    if timestamp <= parent.median_time_past {
        return Err(RuleError::TimestampTooOld {
            timestamp,
            median: parent.median_time_past,
        });
    }
    if timestamp > now.saturating_add(MAX_FUTURE_SECONDS) {
        return Err(RuleError::TimestampInFuture {
            timestamp,
            limit_base: now,
        });
    }
    Ok(())
}

/// What the block after `parent` must satisfy (PROTOCOL.md §6–§7), from the
/// last blocks of the parent's branch, oldest first and ending at the
/// parent, as (height, timestamp): at least [`context_depth`] of them (or
/// back to genesis).
pub fn next_context(
    params: &ChainParams,
    branch_tail: &[(u64, u64)],
    parent_target: &crate::types::Target,
) -> ParentContext {
    use super::difficulty::{median_time_past, required_target, retarget_start_height};
    let (parent_height, parent_time) = branch_tail.last().copied().unwrap_or((0, 0));
    let height = parent_height + 1;
    let start_height = retarget_start_height(params, height);
    let span_start = branch_tail
        .iter()
        .find(|(h, _)| *h == start_height)
        .map_or(parent_time, |(_, t)| *t);
    let timestamps: Vec<u64> = branch_tail.iter().map(|(_, t)| *t).collect();
    ParentContext {
        height: parent_height,
        required_target: required_target(params, height, parent_target, || {
            parent_time as i64 - span_start as i64
        }),
        median_time_past: median_time_past(&timestamps),
    }
}

/// How many blocks ending at the parent [`next_context`] needs.
pub fn context_depth(params: &ChainParams) -> usize {
    11usize.max(params.retarget_interval as usize)
}

/// Step 10: the merkle root of the transaction hashes.
pub fn check_merkle_root(block: &Block) -> Result<(), RuleError> {
    let expected = block.compute_merkle_root();
    if block.merkle_root != expected {
        return Err(RuleError::BadMerkleRoot { expected });
    }
    Ok(())
}

/// Step 11: `reward` is the subsidy of the height.
pub fn check_reward(block: &Block, params: &ChainParams) -> Result<(), RuleError> {
    let expected = params.subsidy(block.height);
    if block.reward != expected {
        return Err(RuleError::BadReward {
            expected_units: expected.units(),
        });
    }
    Ok(())
}

/// Step 12: `fees` is the sum of the fees of transactions 1….
pub fn check_fees(block: &Block) -> Result<(), RuleError> {
    // At most 4095 fees of at most MAX_MONEY each: no u64 overflow.
    let expected: u64 = block
        .transactions
        .iter()
        .skip(1)
        .map(|t| t.fee.units())
        .sum();
    if block.fees.units() != expected {
        return Err(RuleError::BadFees {
            expected_units: expected,
        });
    }
    Ok(())
}

/// Step 13: transaction 0 is exactly the coinbase of §5.
pub fn check_coinbase(block: &Block) -> Result<(), RuleError> {
    let cb = &block.transactions[0];
    let amount = block
        .reward
        .checked_add(block.fees)
        .ok_or(RuleError::BadCoinbase("reward + fees overflow"))?;
    if cb.inputs.len() != 1 {
        return Err(RuleError::BadCoinbase("it must have exactly one input"));
    }
    if cb.outputs.len() != 1 {
        return Err(RuleError::BadCoinbase("it must have exactly one output"));
    }
    let input = &cb.inputs[0];
    if !input.transaction_hash.is_zero()
        || u64::from(input.output_index) != block.height
        || input.output_address != Address::ZERO
        || input.output_value != amount
        || !input.output_hash.is_zero()
        || input.signature != Signature::ZERO
    {
        return Err(RuleError::BadCoinbase(
            "its input must be the zero outpoint at the block height, of reward + fees, unsigned",
        ));
    }
    let output = &cb.outputs[0];
    if output.index != 0 || output.address != block.creator || output.value != amount {
        return Err(RuleError::BadCoinbase(
            "its output must pay reward + fees to the creator",
        ));
    }
    if cb.value != amount || cb.fee != Amount::ZERO || cb.timestamp != block.timestamp {
        return Err(RuleError::BadCoinbase(
            "its value must be reward + fees, its fee 0, its timestamp the block's",
        ));
    }
    Ok(())
}

/// Steps 9–13; returns each transaction's sighash for step 14.
pub fn check_block_body(block: &Block, params: &ChainParams) -> Result<Vec<Hash>, BlockError> {
    let mut sighashes = Vec::with_capacity(block.transactions.len());
    for (i, tx) in block.transactions.iter().enumerate() {
        let sighash =
            check_context_free_at(tx, i == 0).map_err(|e| BlockError::in_transaction(i, e))?;
        sighashes.push(sighash);
    }
    check_merkle_root(block)?;
    check_reward(block, params)?;
    check_fees(block)?;
    check_coinbase(block)?;
    Ok(sighashes)
}

/// Step 15 for every transaction of a block, on all cores when the `node`
/// feature brings rayon; index 0 (the coinbase) is always `Ok`.
pub fn signature_results(block: &Block) -> Vec<Result<(), RuleError>> {
    let check = |(i, tx): (usize, &crate::types::Transaction)| {
        if i == 0 {
            Ok(())
        } else {
            transaction::check_signatures(tx, &tx.sighash())
        }
    };
    #[cfg(feature = "node")]
    {
        use rayon::prelude::*;
        block
            .transactions
            .par_iter()
            .enumerate()
            .map(check)
            .collect()
    }
    #[cfg(not(feature = "node"))]
    {
        block.transactions.iter().enumerate().map(check).collect()
    }
}

/// Steps 1, 2 and 4: what can be checked before looking anything up.
pub fn check_block_header_free(block: &Block) -> Result<(), RuleError> {
    check_block_shape(block)?;
    check_block_hash(block)?;
    check_pow(block)
}

/// Step 14 for transactions 1…: inputs (10–13) and timestamp (14) in
/// order against `view`, which must see outputs of earlier transactions of
/// the block as they are applied by `apply`; signatures (15) are checked on
/// all cores by `signatures_ok` beforehand and reported in sequential order.
///
/// `signature_results[i]` is the result of step 15 for transaction `i`
/// (index 0, the coinbase, is ignored).
pub fn check_block_transactions<V: OutputView>(
    block: &Block,
    view: &mut V,
    coinbase_maturity: u64,
    signature_results: &[Result<(), RuleError>],
    mut apply: impl FnMut(&mut V, usize),
) -> Result<Result<(), BlockError>, V::Error> {
    for (i, tx) in block.transactions.iter().enumerate().skip(1) {
        let fail = |e| Ok(Err(BlockError::in_transaction(i, e)));
        if let Err(e) = transaction::check_inputs(tx, view, block.height, coinbase_maturity)? {
            return fail(e);
        }
        if let Err(e) = transaction::check_timestamp(tx, block.timestamp) {
            return fail(e);
        }
        if let Some(Err(e)) = signature_results.get(i) {
            return fail(e.clone());
        }
        apply(view, i);
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Input, Target, Transaction};

    fn block_with(transactions: Vec<Transaction>) -> Block {
        let params = ChainParams::regtest();
        Block::assemble(
            Hash([1; 32]),
            5,
            1_763_800_000,
            params.pow_limit,
            Address([2; 20]),
            params.subsidy(5),
            transactions,
        )
        .expect("no overflow")
    }

    fn paying_tx(n: u8, timestamp: u64) -> Transaction {
        let key = crate::crypto::SecretKey::from_bytes(&[n.max(1); 32]).expect("key");
        let input = Input::spending(
            Hash([n; 32]),
            0,
            key.address(),
            Amount::from_units(1_000_000),
        );
        let mut t = Transaction::unsigned(
            timestamp,
            vec![input],
            &[(Address([3; 20]), Amount::from_units(900_000))],
        )
        .expect("fee within value");
        t.sign_all(&key);
        t
    }

    #[test]
    fn shape_counts_and_size() {
        let mut b = block_with(vec![]);
        assert_eq!(check_block_shape(&b), Ok(()));
        b.transaction_count = 2;
        assert_eq!(
            check_block_shape(&b).map_err(|e| e.code()),
            Err("malformed")
        );
        b.transactions.clear();
        b.transaction_count = 0;
        assert_eq!(
            check_block_shape(&b).map_err(|e| e.code()),
            Err("malformed")
        );
        // 4096 transactions is the limit, coinbase included (so many
        // one-input transactions are over the size limit already: the count
        // is checked first and named).
        let tx = paying_tx(9, 1);
        let mut full = block_with(vec![]);
        full.transactions
            .extend(std::iter::repeat_n(tx.clone(), MAX_BLOCK_TRANSACTIONS - 1));
        full.transaction_count = full.transactions.len() as u32;
        let message = |b: &Block| match check_block_shape(b) {
            Err(RuleError::Malformed(m)) => m,
            other => panic!("expected malformed, got {other:?}"),
        };
        assert!(message(&full).contains("bytes"), "{}", message(&full));
        full.transactions.push(tx.clone());
        full.transaction_count += 1;
        assert!(
            message(&full).contains("4096 transactions"),
            "{}",
            message(&full)
        );
        // Size: a transaction of 256 outputs is 16,577 bytes; 61 of them pass 1,000,000.
        let key = crate::crypto::SecretKey::from_bytes(&[4; 32]).expect("key");
        let input = Input::spending(
            Hash([4; 32]),
            0,
            key.address(),
            Amount::from_units(100_000_000),
        );
        let outputs: Vec<(Address, Amount)> = (0..256)
            .map(|_| (Address([5; 20]), Amount::from_units(1000)))
            .collect();
        let big = Transaction::unsigned(1, vec![input], &outputs).expect("fee within value");
        let mut heavy = block_with(vec![]);
        heavy.transactions.extend(std::iter::repeat_n(big, 61));
        heavy.transaction_count = heavy.transactions.len() as u32;
        assert!(heavy.transactions_size() > MAX_BLOCK_SIZE);
        assert_eq!(
            check_block_shape(&heavy).map_err(|e| e.code()),
            Err("malformed")
        );
    }

    #[test]
    fn pow_is_checked_against_the_blocks_own_target() {
        let mut b = block_with(vec![]);
        b.target = Target([0; 32]);
        b.hash = b.compute_hash();
        assert_eq!(check_pow(&b), Err(RuleError::BadPow));
        b.target = Target([0xff; 32]);
        assert_eq!(check_pow(&b), Ok(()));
    }

    #[test]
    fn coinbase_must_be_exactly_the_protocols() {
        let params = ChainParams::regtest();
        let good = block_with(vec![paying_tx(7, 1)]);
        assert_eq!(check_coinbase(&good), Ok(()));
        assert!(check_block_body(&good, &params).is_ok());
        type Mutation = fn(&mut Transaction);
        let mutations: [Mutation; 7] = [
            |t| t.inputs[0].output_index += 1,
            |t| t.inputs[0].output_address = Address([1; 20]),
            |t| t.inputs[0].signature.0[0] = 1,
            |t| t.outputs[0].address = Address([9; 20]),
            |t| t.timestamp += 1,
            |t| t.fee = Amount::from_units(1),
            |t| t.inputs.push(t.inputs[0].clone()),
        ];
        for (i, mutate) in mutations.iter().enumerate() {
            let mut b = good.clone();
            mutate(&mut b.transactions[0]);
            assert_eq!(
                check_coinbase(&b).map_err(|e| e.code()),
                Err("bad_coinbase"),
                "mutation {i}"
            );
        }
        // Reward and fees fields are checked before the coinbase (steps 11, 12).
        let mut b = good.clone();
        b.reward = Amount::from_units(b.reward.units() + 1);
        assert_eq!(
            check_reward(&b, &params).map_err(|e| e.code()),
            Err("bad_reward")
        );
        let mut b = good;
        b.fees = Amount::ZERO;
        assert_eq!(check_fees(&b).map_err(|e| e.code()), Err("bad_fees"));
    }

    #[test]
    fn a_transaction_may_not_be_two_hours_past_its_block() {
        let b = block_with(vec![]);
        let ok = paying_tx(3, b.timestamp + MAX_FUTURE_SECONDS);
        let late = paying_tx(3, b.timestamp + MAX_FUTURE_SECONDS + 1);
        assert_eq!(transaction::check_timestamp(&ok, b.timestamp), Ok(()));
        assert_eq!(
            transaction::check_timestamp(&late, b.timestamp).map_err(|e| e.code()),
            Err("timestamp_in_future")
        );
    }

    #[test]
    fn header_context_rules_in_order() {
        let b = block_with(vec![]);
        let parent = ParentContext {
            height: 4,
            required_target: b.target,
            median_time_past: b.timestamp - 1,
        };
        assert_eq!(check_header_context(&b, &parent, b.timestamp), Ok(()));
        let code = |p: &ParentContext, now| check_header_context(&b, p, now).map_err(|e| e.code());
        assert_eq!(
            code(
                &ParentContext {
                    height: 5,
                    ..parent.clone()
                },
                b.timestamp
            ),
            Err("bad_height")
        );
        assert_eq!(
            code(
                &ParentContext {
                    required_target: Target([1; 32]),
                    ..parent.clone()
                },
                b.timestamp
            ),
            Err("bad_target")
        );
        assert_eq!(
            code(
                &ParentContext {
                    median_time_past: b.timestamp,
                    ..parent.clone()
                },
                b.timestamp
            ),
            Err("timestamp_too_old")
        );
        assert_eq!(
            code(&parent, b.timestamp - MAX_FUTURE_SECONDS - 1),
            Err("timestamp_in_future")
        );
        assert_eq!(code(&parent, b.timestamp - MAX_FUTURE_SECONDS), Ok(()));
    }
}
