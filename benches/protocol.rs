//! Per-operation cost of the protocol's hot paths:
//! `cargo bench -p cinder --bench protocol`.

use std::hint::black_box;

use cinder::consensus::transaction::{check_context_free, check_signatures};
use cinder::crypto::{self, SecretKey};
use cinder::types::{Block, Transaction};
use criterion::{Criterion, criterion_group, criterion_main};

const TX: &str = include_str!("../docs/vectors/transaction.json");
const GENESIS: &str = include_str!("../docs/vectors/genesis.json");

fn vector_tx_json() -> String {
    let v: serde_json::Value = serde_json::from_str(TX).expect("vector JSON");
    v["transaction"].to_string()
}

fn benches(c: &mut Criterion) {
    let json = vector_tx_json();
    let tx: Transaction = serde_json::from_str(&json).expect("vector transaction");
    let sighash = tx.sighash();
    let signature = tx.inputs[0].signature;
    let address = tx.inputs[0].output_address;

    c.bench_function("sighash + recover + address check (1 input)", |b| {
        b.iter(|| {
            let sighash = black_box(&tx).sighash();
            assert!(crypto::verify(&sighash, &signature, &address));
        })
    });
    c.bench_function("recover public key only (raw limit)", |b| {
        b.iter(|| crypto::recover_address(black_box(&sighash), black_box(&signature)))
    });
    c.bench_function(
        "transaction JSON parse + context-free checks (steps 1-9)",
        |b| {
            b.iter(|| {
                let tx: Transaction = serde_json::from_str(black_box(&json)).expect("parses");
                check_context_free(&tx).expect("valid")
            })
        },
    );
    c.bench_function("full transaction check (parse, 1-9, signatures)", |b| {
        b.iter(|| {
            let tx: Transaction = serde_json::from_str(black_box(&json)).expect("parses");
            let sighash = check_context_free(&tx).expect("valid");
            check_signatures(&tx, &sighash).expect("signed")
        })
    });
    let key = SecretKey::from_bytes(&[0x11; 32]).expect("valid key");
    c.bench_function("sign sighash (RFC 6979)", |b| {
        b.iter(|| key.sign(black_box(&sighash)))
    });

    let g: serde_json::Value = serde_json::from_str(GENESIS).expect("vector JSON");
    let block: Block = serde_json::from_str(&g["regtest"]["block"].to_string()).expect("genesis");
    let header = block.header();
    c.bench_function("block header hash (serialise + tagged SHA-256)", |b| {
        b.iter(|| black_box(&header).compute_hash())
    });
    let hasher = cinder::types::HeaderHasher::new(&header);
    let mut nonce = 0u64;
    c.bench_function("block header hash, nonce only (miner path)", |b| {
        b.iter(|| {
            nonce = nonce.wrapping_add(1);
            hasher.hash(black_box(nonce))
        })
    });
}

criterion_group!(protocol, benches);
criterion_main!(protocol);
