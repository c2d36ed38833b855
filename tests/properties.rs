//! Property tests: JSON round trips and signatures that commit to the
//! whole transaction.

use cinder::consensus::transaction::{check_context_free, check_signatures};
use cinder::crypto::SecretKey;
use cinder::hash::merkle_root;
use cinder::types::{Address, Amount, Block, Hash, Input, Output, Target, Transaction};
use proptest::prelude::*;

fn key(seed: u8) -> SecretKey {
    let mut bytes = [7u8; 32];
    bytes[0] = seed.max(1);
    SecretKey::from_bytes(&bytes).expect("valid scalar")
}

/// A signed transaction spending `inputs` outputs of `key(seed)`.
fn signed_tx(
    seed: u8,
    timestamp: u64,
    in_values: &[u64],
    out_values: &[u64],
    payee: [u8; 20],
) -> Transaction {
    let k = key(seed);
    let inputs: Vec<Input> = in_values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let value = Amount::from_units(*v);
            Input {
                transaction_hash: Hash([i as u8 + 1; 32]),
                output_index: i as u32,
                output_address: k.address(),
                output_value: value,
                output_hash: cinder::types::output_hash(i as u32, &k.address(), value),
                signature: cinder::types::Signature::ZERO,
            }
        })
        .collect();
    let outputs: Vec<Output> = out_values
        .iter()
        .enumerate()
        .map(|(i, v)| Output::new(i as u32, Address(payee), Amount::from_units(*v)))
        .collect();
    let value: u64 = out_values.iter().sum();
    let total_in: u64 = in_values.iter().sum();
    let mut tx = Transaction {
        timestamp,
        inputs,
        outputs,
        value: Amount::from_units(value),
        fee: Amount::from_units(total_in - value),
        hash: Hash::ZERO,
    };
    sign_all(&mut tx, &k);
    tx
}

fn sign_all(tx: &mut Transaction, k: &SecretKey) {
    let sighash = tx.sighash();
    for input in &mut tx.inputs {
        input.signature = k.sign(&sighash);
    }
    tx.hash = tx.compute_hash();
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
