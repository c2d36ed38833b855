//! chain_regtest.json through a real node over HTTP: blocks 1–4 connect,
//! the node reports what the file implies, every invalid block is refused
//! with its code (and transaction index).

mod common;

use std::collections::BTreeMap;

use cinder::types::{Address, Amount, Block};
use common::*;
use serde_json::Value;

/// Replays the vector blocks independently: confirmed unspent outputs per
/// address, (received, sent, transaction count) per address.
/// Unspent (transaction hash, index, units) per address.
type Unspent = BTreeMap<Address, Vec<(String, u32, u64)>>;
/// (received, sent, transaction count) per address.
type Totals = BTreeMap<Address, (u64, u64, u64)>;

fn implied_state(blocks: &[Block]) -> (Unspent, Totals) {
    let mut unspent: BTreeMap<(String, u32), (Address, u64)> = BTreeMap::new();
    let mut totals: BTreeMap<Address, (u64, u64, u64)> = BTreeMap::new();
    for b in blocks {
        for (pos, tx) in b.transactions.iter().enumerate() {
            let mut touched = std::collections::BTreeSet::new();
            if pos > 0 {
                for i in &tx.inputs {
                    unspent.remove(&(i.transaction_hash.to_string(), i.output_index));
                    totals.entry(i.output_address).or_default().1 += i.output_value.units();
                    touched.insert(i.output_address);
                }
            }
            for o in &tx.outputs {
                if o.address.is_zero() {
                    continue;
                }
                unspent.insert((tx.hash.to_string(), o.index), (o.address, o.value.units()));
                totals.entry(o.address).or_default().0 += o.value.units();
                touched.insert(o.address);
            }
            for a in touched {
                totals.entry(a).or_default().2 += 1;
            }
        }
    }
    let mut by_address: BTreeMap<Address, Vec<(String, u32, u64)>> = BTreeMap::new();
    for ((h, i), (a, v)) in unspent {
        by_address.entry(a).or_default().push((h, i, v));
    }
    (by_address, totals)
}

fn amount(v: &Value) -> u64 {
    Amount::parse(&v.to_string()).expect("amount").units()
}

#[test]
fn vector_chain_connects_and_reports_what_it_implies() {
    let node = TestNode::start();
    node.post_vector_blocks(4);
    let v = vectors();
    let expected = &v["expected"];
    let (status, info) = node.get("/blockchain/");
    assert_eq!(status, 200);
    for field in [
        "height",
        "best_hash",
        "total_transactions",
        "total_addresses",
        "rich_list",
    ] {
        assert_eq!(info[field], expected[field], "{field}");
    }
    assert_eq!(info["name"], "regtest");
    assert_eq!(info["mempool_size"], 0);
    assert_eq!(info["genesis_hash"], v["blocks"][0]["hash"]);
    // Five blocks of work 2 each (target 2^255 - 1).
    assert_eq!(info["total_work"], "10");
    let (_, last) = node.get("/blocks/last/");
    assert_eq!(last["hash"], expected["best_hash"]);
    assert_eq!(last["height"], 4);
    assert!(last.get("transactions").is_none());
    assert_eq!(last["transaction_headers"].as_array().unwrap().len(), 2);

    let blocks = vector_blocks();
    let (unspent, totals) = implied_state(&blocks);
    assert_eq!(totals.len(), 4);
    for (address, (received, sent, count)) in &totals {
        let (status, utxo) = node.get(&format!("/utxo/{address}/"));
        assert_eq!(status, 200);
        let got: Vec<(String, u32, u64)> = utxo["utxo_outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["transaction_hash"].as_str().unwrap().to_string(),
                    o["output_index"].as_u64().unwrap() as u32,
                    amount(&o["value"]),
                )
            })
            .collect();
        let mut want = unspent.get(address).cloned().unwrap_or_default();
        let mut got_sorted = got.clone();
        want.sort();
        got_sorted.sort();
        assert_eq!(got_sorted, want, "{address}");
        let balance: u64 = want.iter().map(|o| o.2).sum();
        assert_eq!(amount(&utxo["balance"]), balance);
        let (_, info) = node.get(&format!("/addresses/{address}/"));
        assert_eq!(amount(&info["balance"]), balance);
        assert_eq!(amount(&info["unconfirmed_balance"]), balance);
        assert_eq!(amount(&info["received"]), *received);
        assert_eq!(amount(&info["sent"]), *sent);
        assert_eq!(info["transaction_count"].as_u64().unwrap(), *count);
        let (_, history) = node.get(&format!("/addresses/{address}/transactions/"));
        assert_eq!(history.as_array().unwrap().len() as u64, *count);
    }
}

#[test]
fn every_invalid_block_is_refused_with_its_code() {
    let node = TestNode::start();
    node.post_vector_blocks(2);
    let v = vectors();
    let cases = v["invalid_at_height_3"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let (status, body) = node.post("/blocks/", case["block"].to_string());
        assert_eq!(status, 400, "{}: {body}", case["why"]);
        assert_eq!(body["error"], case["error"], "{}: {body}", case["why"]);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        if let Some(index) = case.get("index") {
            assert_eq!(&body["transaction"], index, "{}", case["why"]);
        }
    }
    // The chain did not move.
    let (_, info) = node.get("/blockchain/");
    assert_eq!(info["height"], 2);

    // already_known: blocks[2] again.
    let known = &v["already_known"];
    let b = &v["blocks"][known["block"].as_u64().unwrap() as usize];
    let (status, body) = node.post("/blocks/", b.to_string());
    assert_eq!(status as u64, known["status"].as_u64().unwrap());
    assert_eq!(body["error"], known["error"]);

    // invalid_at_height_5 after blocks 3 and 4.
    for b in vector_blocks().iter().skip(3) {
        assert_eq!(node.post_block(b).0, 200);
    }
    for case in v["invalid_at_height_5"].as_array().unwrap() {
        let (status, body) = node.post("/blocks/", case["block"].to_string());
        assert_eq!(status, 400);
        assert_eq!(body["error"], case["error"], "{}", case["why"]);
        if let Some(index) = case.get("index") {
            assert_eq!(&body["transaction"], index);
        }
        // Marked invalid for good: posted again, the same error and index.
        let (status2, body2) = node.post("/blocks/", case["block"].to_string());
        assert_eq!(status2, 400);
        assert_eq!(body2["error"], body["error"]);
        assert_eq!(body2["transaction"], body["transaction"]);
        // A block built on it is invalid_parent.
        let bad: Block = serde_json::from_str(&case["block"].to_string()).unwrap();
        let mut child = bad.clone();
        child.prev_hash = bad.hash;
        child.height = bad.height + 1;
        child.timestamp = bad.timestamp + 10;
        child.transactions.truncate(1);
        child.fees = Amount::ZERO;
        child.reward = cinder::consensus::ChainParams::regtest().subsidy(child.height);
        child.transactions[0] = cinder::types::Transaction::coinbase(
            child.height,
            child.timestamp,
            child.creator,
            child.reward,
        );
        let child = reseal(child);
        let (status, body) = node.post_block(&child);
        assert_eq!(status, 400);
        assert_eq!(body["error"], "invalid_parent");
    }
}

/// Signatures are checked on all cores, but the error reported is the
/// first in sequential order: a bad signature in transaction 1 wins over an
/// unknown input in transaction 2.
#[test]
fn parallel_signature_checks_report_in_order() {
    let node = TestNode::start();
    node.post_vector_blocks(4);
    let keys = vector_keys();
    // A mature coin: block 1's coinbase pays keys[0] 1.5 and was spent in
    // block 3; block 2's coinbase (keys[0]) is spendable or spent — use the
    // node's view to find one.
    let coin = node.first_coin(keys[3].address());
    let ts = now();
    // Transaction 1: signed by the wrong key.
    let bad_sig = spend(
        &stranger(9),
        &[coin],
        &[(stranger(8).address(), coin.value.units() - 10_000)],
        ts,
    );
    // Transaction 2: spends an output that does not exist.
    let ghost = Coin {
        tx: "ab".repeat(32).parse().unwrap(),
        index: 0,
        address: keys[0].address(),
        value: Amount::from_units(100_000),
    };
    let unknown = spend(&keys[0], &[ghost], &[(stranger(8).address(), 50_000)], ts);
    let block = node.block_with(&keys[1].address(), &[bad_sig, unknown]);
    let (status, body) = node.post_block(&block);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "bad_signature");
    assert_eq!(body["transaction"], 1);
}

/// Step 14 is applied while the signatures are checked, and committed only
/// when they all hold: a block whose only fault is a signature is refused
/// with it, and leaves no trace in the chain state.
#[test]
fn a_block_applied_before_its_bad_signature_is_found_is_rolled_back() {
    let node = TestNode::start();
    node.post_vector_blocks(4);
    let keys = vector_keys();
    let coin = node.first_coin(keys[3].address());
    let bad_sig = spend(
        &stranger(9),
        &[coin],
        &[(stranger(8).address(), coin.value.units() - 10_000)],
        now(),
    );
    let before = node.get("/blockchain/").1;
    let utxo = node.get(&format!("/utxo/{}/", keys[3].address())).1;
    let block = node.block_with(&keys[1].address(), std::slice::from_ref(&bad_sig));
    let (status, body) = node.post_block(&block);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "bad_signature");
    assert_eq!(body["transaction"], 1);
    assert_eq!(node.get("/blockchain/").1, before);
    assert_eq!(node.get(&format!("/utxo/{}/", keys[3].address())).1, utxo);
    assert_eq!(
        node.get(&format!("/transactions/{}/status/", bad_sig.hash))
            .1["status"],
        "unknown"
    );
    assert_eq!(node.get(&format!("/blocks/{}/", block.hash)).0, 404);
}
