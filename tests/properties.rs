//! Property tests: JSON round trips and signatures that commit to the
//! whole transaction.

use cinder::consensus::transaction::{check_context_free, check_signatures};
use cinder::crypto::SecretKey;
use cinder::hash::merkle_root;
use cinder::types::{Address, Amount, Block, Hash, Input, Target, Transaction};
use proptest::prelude::*;

fn key(seed: u8) -> SecretKey {
    let mut bytes = [7u8; 32];
    bytes[0] = seed.max(1);
    SecretKey::from_bytes(&bytes).expect("valid scalar")
}

/// A signed transaction spending outputs of `key(seed)` worth `in_values`
/// to `out_values` paid to `payee`.
fn signed_tx(
    seed: u8,
    timestamp: u64,
    in_values: &[u64],
    out_values: &[u64],
    payee: [u8; 20],
) -> Transaction {
    let k = key(seed);
    let inputs = in_values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            Input::spending(
                Hash([i as u8 + 1; 32]),
                i as u32,
                k.address(),
                Amount::from_units(*v),
            )
        })
        .collect();
    let outputs: Vec<(Address, Amount)> = out_values
        .iter()
        .map(|v| (Address(payee), Amount::from_units(*v)))
        .collect();
    let mut tx = Transaction::unsigned(timestamp, inputs, &outputs).expect("inputs cover outputs");
    tx.sign_all(&k);
    tx
}

fn tx_strategy() -> impl Strategy<Value = Transaction> {
    (
        1u8..=255,
        0u64..4_000_000_000,
        prop::collection::vec(1u64..1_000_000_000, 1..4),
        prop::collection::vec(1u64..100_000_000, 1..4),
        any::<[u8; 20]>(),
    )
        .prop_map(|(seed, ts, ins, outs, payee)| {
            // Inputs always cover the outputs: add their sum to the first input.
            let mut ins = ins;
            ins[0] += outs.iter().sum::<u64>();
            signed_tx(seed, ts, &ins, &outs, payee)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn transaction_json_round_trip(tx in tx_strategy()) {
        let sighash = check_context_free(&tx).expect("generated transactions are valid");
        check_signatures(&tx, &sighash).expect("signed by the spent outputs' key");
        let json = serde_json::to_string(&tx).unwrap();
        let back: Transaction = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &tx);
        prop_assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    #[test]
    fn block_json_round_trip(txs in prop::collection::vec(tx_strategy(), 1..4), nonce: u64, height in 0u64..1_000_000) {
        let hashes: Vec<Hash> = txs.iter().map(|t| t.hash).collect();
        let mut block = Block {
            timestamp: 1_763_769_600 + height,
            height,
            creator: Address([3; 20]),
            reward: Amount::from_units(150_000_000),
            fees: Amount::from_units(txs.iter().map(|t| t.fee.units()).sum()),
            nonce,
            target: Target([0xff; 32]),
            merkle_root: merkle_root(&hashes),
            transaction_count: txs.len() as u32,
            transactions: txs,
            hash: Hash::ZERO,
            prev_hash: Hash([9; 32]),
        };
        block.hash = block.compute_hash();
        let json = serde_json::to_string(&block).unwrap();
        let back: Block = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &block);
        prop_assert_eq!(back.compute_hash(), block.hash);
    }

    /// Any change to what the signer saw — timestamp, an input's fields, an
    /// output's payee or value, value or fee — invalidates every signature,
    /// even when the hashes are recomputed to match.
    #[test]
    fn signature_never_verifies_on_mutated_transaction(tx in tx_strategy(), which in 0usize..7, delta in 1u64..1000) {
        let mut m = tx.clone();
        match which {
            0 => m.timestamp ^= delta,
            1 => m.inputs[0].output_index ^= delta as u32,
            2 => m.inputs[0].transaction_hash.0[0] ^= 1,
            3 => m.outputs[0].address.0[0] ^= 1,
            4 => m.outputs[0].value = Amount::from_units(m.outputs[0].value.units() + delta),
            5 => m.fee = Amount::from_units(m.fee.units() + delta),
            _ => m.value = Amount::from_units(m.value.units() + delta),
        }
        for o in &mut m.outputs {
            o.hash = o.compute_hash();
        }
        m.hash = m.compute_hash();
        prop_assert_ne!(m.sighash(), tx.sighash());
        prop_assert!(check_signatures(&m, &m.sighash()).is_err());
    }
}
