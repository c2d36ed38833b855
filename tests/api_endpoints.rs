//! Every read endpoint of API.md §2, §3, §5, §7 and block intake through
//! real HTTP, with the vector chain (chain_regtest.json) loaded: exact
//! shapes, every 400/404/413 path, the side-chain answer; then restarts,
//! the data-directory lock and the databases a node refuses to open.

mod common;

use std::collections::BTreeSet;

use cinder::consensus::ChainParams;
use cinder::datadir::{DataDir, DataDirError};
use cinder::node::{DATABASE_FILE, MempoolLimits, Node};
use cinder::types::{Amount, Block, Transaction};
use common::*;
use serde_json::{Value, json};

/// Addresses of the vector chain (see chain_regtest.json).
const A: &str = "0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79"; // mines blocks 1, 2
const B: &str = "0x1cb73920b5ac38f460e38deb684b9c4a408ff3c0"; // receives 2 in block 4
const C: &str = "0x4c2e2bf28069045a8eb627c839ff2306b73bba30"; // mines block 4
const D: &str = "0xd3c0870e8e13a9ec320f1280889127aa15a4c0a1"; // mines block 3

const U64_MAX_PLUS_ONE: &str = "18446744073709551616";
const UNKNOWN_HASH: &str = "abababababababababababababababababababababababababababababababab";

/// A node with vector blocks 1–4 connected.
fn vector_node() -> TestNode {
    let node = TestNode::start();
    node.post_vector_blocks(4);
    node
}

/// Vector block `h` as JSON.
fn vblock(h: usize) -> Value {
    vectors()["blocks"][h].clone()
}

/// Hash of vector block `h`.
fn bhash(h: usize) -> String {
    vblock(h)["hash"].as_str().unwrap().to_string()
}

/// Transaction `i` of vector block `h` as JSON.
fn vtx(h: usize, i: usize) -> Value {
    vblock(h)["transactions"][i].clone()
}

/// Hash of transaction `i` of vector block `h`.
fn thash(h: usize, i: usize) -> String {
    vtx(h, i)["hash"].as_str().unwrap().to_string()
}

/// A JSON number from its exact text (amounts are compared as written).
fn num(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// `{timestamp, value, fee, hash}` of a transaction JSON.
fn tx_header(tx: &Value) -> Value {
    json!({
        "timestamp": tx["timestamp"],
        "value": tx["value"],
        "fee": tx["fee"],
        "hash": tx["hash"],
    })
}

/// A block JSON without `transactions`: what `/headers/` serves.
fn header_of(block: &Value) -> Value {
    let mut h = block.clone();
    h.as_object_mut().unwrap().remove("transactions");
    h
}

/// What `GET /blocks/{bid}/` serves for a block JSON.
fn summary_of(block: &Value) -> Value {
    let mut s = header_of(block);
    let headers: Vec<Value> = block["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(tx_header)
        .collect();
    s["transaction_headers"] = Value::Array(headers);
    s
}

/// A non-200 body is exactly `{"error": code, "message": non-empty}`.
fn assert_error_body(context: &str, body: &Value, code: &str) {
    assert_eq!(
        keys(body),
        set(&["error", "message"]),
        "{context}: error body {body}"
    );
    assert_eq!(body["error"], code, "{context}: {body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| !m.trim().is_empty()),
        "{context}: empty message in {body}"
    );
}

/// GETs `path` and expects `status` with error `code`.
fn assert_get_error(node: &TestNode, path: &str, status: u16, code: &str) {
    let (got, body) = node.get(path);
    assert_eq!(got, status, "GET {path}: {body}");
    assert_error_body(&format!("GET {path}"), &body, code);
}

fn get_ok(node: &TestNode, path: &str) -> Value {
    let (status, body) = node.get(path);
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// A POST of raw bytes; `chunked` sends the body without Content-Length.
fn raw_post(node: &TestNode, path: &str, body: Vec<u8>, chunked: bool) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let request = client
        .post(format!("{}{}", node.url, path))
        .header("content-type", "application/json");
    let request = if chunked {
        request.body(reqwest::blocking::Body::new(std::io::Cursor::new(body)))
    } else {
        request.body(body)
    };
    let response = request.send().expect("POST answered");
    let status = response.status().as_u16();
    let text = response.text().expect("body");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("POST {path}: not JSON ({e}): {text:?}"));
    (status, value)
}

fn heights(blocks: &Value) -> Vec<u64> {
    blocks
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {blocks}"))
        .iter()
        .map(|b| b["height"].as_u64().unwrap())
        .collect()
}

// ---------------------------------------------------------------- §2, §7

#[test]
fn blockchain_and_health_have_their_exact_shape() {
    let node = vector_node();
    let info = get_ok(&node, "/blockchain/");
    assert_eq!(
        keys(&info),
        set(&[
            "name",
            "height",
            "total_transactions",
            "total_addresses",
            "block_time",
            "block_reward",
            "rich_list",
            "best_hash",
            "target",
            "total_work",
            "genesis_hash",
            "mempool_size",
        ])
    );
    let expected = vectors()["expected"].clone();
    assert_eq!(info["name"], "regtest");
    assert_eq!(info["height"], 4);
    assert_eq!(info["total_transactions"], 8);
    assert_eq!(info["total_addresses"], 4);
    assert_eq!(info["block_time"], 10);
    // The subsidy of block 5, a number.
    assert!(info["block_reward"].is_number(), "{info}");
    assert_eq!(info["block_reward"], num("1.5"));
    assert_eq!(info["rich_list"], expected["rich_list"]);
    for entry in info["rich_list"].as_array().unwrap() {
        assert_eq!(keys(entry), set(&["address", "balance"]));
        assert!(entry["balance"].is_number());
    }
    assert_eq!(info["best_hash"], bhash(4));
    assert_eq!(info["target"], format!("7f{}", "f".repeat(62)));
    assert_eq!(info["total_work"], "10");
    assert_eq!(info["genesis_hash"], bhash(0));
    assert_eq!(info["mempool_size"], 0);

    let health = get_ok(&node, "/health/");
    assert_eq!(
        health,
        json!({"status": "ok", "height": 4, "peers": 0, "syncing": false})
    );
}

#[test]
fn a_fresh_node_reports_genesis_only() {
    let node = TestNode::start();
    let info = get_ok(&node, "/blockchain/");
    assert_eq!(info["height"], 0);
    assert_eq!(info["best_hash"], bhash(0));
    // The genesis coinbase pays the zero address: counted as a transaction,
    // never as an address or a balance.
    assert_eq!(info["total_transactions"], 1);
    assert_eq!(info["total_addresses"], 0);
    assert_eq!(info["rich_list"], json!([]));
    assert_eq!(info["total_work"], "2");
    assert_eq!(get_ok(&node, "/health/")["height"], 0);
    assert_eq!(get_ok(&node, "/blocks/last/"), summary_of(&vblock(0)));
}

// ---------------------------------------------------------------- §3 blocks

#[test]
fn a_block_by_height_last_and_hash() {
    let node = vector_node();
    for h in 0..=4 {
        let want = summary_of(&vblock(h));
        assert_eq!(get_ok(&node, &format!("/blocks/{h}/")), want, "height {h}");
        assert_eq!(
            get_ok(&node, &format!("/blocks/{}/", bhash(h))),
            want,
            "hash of {h}"
        );
        assert_eq!(
            get_ok(&node, &format!("/blocks/{h}/full/")),
            vblock(h),
            "full {h}"
        );
        assert_eq!(
            get_ok(&node, &format!("/blocks/{}/full/", bhash(h))),
            vblock(h)
        );
    }
    let last = get_ok(&node, "/blocks/last/");
    assert_eq!(last, summary_of(&vblock(4)));
    assert!(last.get("transactions").is_none());
    assert_eq!(
        keys(&last),
        set(&[
            "timestamp",
            "height",
            "creator",
            "reward",
            "fees",
            "nonce",
            "target",
            "merkle_root",
            "transaction_count",
            "transaction_headers",
            "hash",
            "prev_hash",
        ])
    );
    for th in last["transaction_headers"].as_array().unwrap() {
        assert_eq!(keys(th), set(&["timestamp", "value", "fee", "hash"]));
        assert!(th["value"].is_number() && th["fee"].is_number());
    }
    assert!(last["reward"].is_number() && last["fees"].is_number());
    assert_eq!(get_ok(&node, "/blocks/last/full/"), vblock(4));
}

#[test]
fn transactions_inputs_and_outputs_of_a_block() {
    let node = vector_node();
    let block3 = vblock(3);
    let headers: Vec<Value> = block3["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(tx_header)
        .collect();
    for bid in ["3".to_string(), bhash(3)] {
        assert_eq!(
            get_ok(&node, &format!("/blocks/{bid}/transactions/")),
            json!({"transaction_count": 3, "transaction_headers": headers})
        );
    }
    assert_eq!(
        get_ok(&node, "/blocks/last/transactions/")["transaction_count"],
        2
    );

    for i in 0..3 {
        let tx = vtx(3, i);
        for tid in [i.to_string(), thash(3, i)] {
            let base = format!("/blocks/3/transactions/{tid}");
            assert_eq!(get_ok(&node, &format!("{base}/")), tx, "{base}");
            assert_eq!(get_ok(&node, &format!("{base}/inputs/")), tx["inputs"]);
            assert_eq!(get_ok(&node, &format!("{base}/outputs/")), tx["outputs"]);
            for (k, input) in tx["inputs"].as_array().unwrap().iter().enumerate() {
                assert_eq!(get_ok(&node, &format!("{base}/inputs/{k}/")), *input);
            }
            for (k, output) in tx["outputs"].as_array().unwrap().iter().enumerate() {
                assert_eq!(get_ok(&node, &format!("{base}/outputs/{k}/")), *output);
            }
        }
    }
    // By block hash and `last` as well.
    let out = get_ok(
        &node,
        &format!(
            "/blocks/{}/transactions/{}/outputs/1/",
            bhash(3),
            thash(3, 1)
        ),
    );
    assert_eq!(
        keys(&out),
        set(&["index", "address", "value", "hash"]),
        "{out}"
    );
    assert_eq!(out["address"], C);
    assert_eq!(out["value"], num("0.2"));
    let input = get_ok(&node, "/blocks/last/transactions/1/inputs/1/");
    assert_eq!(
        keys(&input),
        set(&[
            "transaction_hash",
            "output_index",
            "output_address",
            "output_value",
            "output_hash",
            "signature",
        ])
    );
    assert_eq!(input["output_value"], num("1.2"));
    assert_eq!(input["transaction_hash"], thash(3, 1));
}

#[test]
fn block_path_ids_are_validated() {
    let node = vector_node();
    let bad = [
        "/blocks/abc/",
        "/blocks/-1/",
        "/blocks/+1/",
        "/blocks/1.0/",
        "/blocks/0x1/",
        "/blocks/LAST/",
        &format!("/blocks/{U64_MAX_PLUS_ONE}/"),
        "/blocks/99999999999999999999999/",
        // 64 characters: always a hash, and these are not lowercase hex.
        &format!("/blocks/{}/", "AB".repeat(32)),
        &format!("/blocks/{}/", "zz".repeat(32)),
        // 63 and 65 hex digits: neither a number nor a hash.
        &format!("/blocks/{}/", "a".repeat(63)),
        &format!("/blocks/{}/", "a".repeat(65)),
        "/blocks/abc/full/",
        "/blocks/abc/transactions/",
        &format!("/blocks/{U64_MAX_PLUS_ONE}/full/"),
        "/blocks/3/transactions/x/",
        "/blocks/3/transactions/-1/",
        &format!("/blocks/3/transactions/{U64_MAX_PLUS_ONE}/"),
        &format!("/blocks/3/transactions/{}/", "AB".repeat(32)),
        "/blocks/3/transactions/1/inputs/x/",
        &format!("/blocks/3/transactions/1/inputs/{U64_MAX_PLUS_ONE}/"),
        "/blocks/3/transactions/1/outputs/x/",
        &format!("/blocks/3/transactions/1/outputs/{U64_MAX_PLUS_ONE}/"),
        "/blocks/3/transactions/x/outputs/0/",
    ];
    for path in bad {
        assert_get_error(&node, path, 400, "bad_request");
    }

    let not_found = [
        "/blocks/5/".to_string(),
        "/blocks/99/".to_string(),
        "/blocks/18446744073709551615/".to_string(),
        format!("/blocks/{UNKNOWN_HASH}/"),
        // 64 decimal digits are hex digits: a hash, not an overflowing number.
        format!("/blocks/{}/", "1".repeat(64)),
        "/blocks/99/full/".to_string(),
        format!("/blocks/{UNKNOWN_HASH}/full/"),
        "/blocks/99/transactions/".to_string(),
        "/blocks/99/transactions/0/".to_string(),
        "/blocks/3/transactions/3/".to_string(),
        "/blocks/3/transactions/99/".to_string(),
        "/blocks/3/transactions/18446744073709551615/".to_string(),
        format!("/blocks/3/transactions/{UNKNOWN_HASH}/"),
        // A transaction of another block is not in this one.
        format!("/blocks/3/transactions/{}/", thash(4, 1)),
        "/blocks/3/transactions/1/inputs/1/".to_string(),
        "/blocks/3/transactions/1/inputs/99/".to_string(),
        "/blocks/3/transactions/1/outputs/3/".to_string(),
        "/blocks/3/transactions/1/outputs/18446744073709551615/".to_string(),
        "/blocks/3/transactions/9/outputs/0/".to_string(),
        "/blocks/9/transactions/0/outputs/0/".to_string(),
    ];
    for path in &not_found {
        assert_get_error(&node, path, 404, "not_found");
    }
}

#[test]
fn mempool_reads_of_an_empty_pool() {
    let node = vector_node();
    assert_eq!(
        get_ok(&node, "/transactions/"),
        json!({"transaction_count": 0, "transaction_headers": []})
    );
    assert_get_error(&node, "/transactions/0/", 404, "not_found");
    assert_get_error(
        &node,
        &format!("/transactions/{UNKNOWN_HASH}/"),
        404,
        "not_found",
    );
    // A confirmed transaction is not a mempool transaction.
    assert_get_error(
        &node,
        &format!("/transactions/{}/", thash(4, 1)),
        404,
        "not_found",
    );
    assert_get_error(&node, "/transactions/abc/", 400, "bad_request");
    assert_get_error(
        &node,
        &format!("/transactions/{U64_MAX_PLUS_ONE}/"),
        400,
        "bad_request",
    );
}

#[test]
fn blocks_from_and_limit() {
    let node = vector_node();
    let all = get_ok(&node, "/blocks/");
    assert_eq!(heights(&all), vec![0, 1, 2, 3, 4]);
    for h in 0..=4 {
        assert_eq!(all[h], vblock(h), "whole block {h}");
    }
    assert_eq!(heights(&get_ok(&node, "/blocks/?from=2")), vec![2, 3, 4]);
    assert_eq!(
        heights(&get_ok(&node, "/blocks/?from=1&limit=2")),
        vec![1, 2]
    );
    assert_eq!(heights(&get_ok(&node, "/blocks/?limit=1")), vec![0]);
    assert_eq!(
        heights(&get_ok(&node, "/blocks/?limit=100")),
        vec![0, 1, 2, 3, 4]
    );
    // Past the tip: fewer, then none.
    assert_eq!(
        heights(&get_ok(&node, "/blocks/?from=3&limit=5")),
        vec![3, 4]
    );
    assert_eq!(heights(&get_ok(&node, "/blocks/?from=4")), vec![4]);
    assert_eq!(get_ok(&node, "/blocks/?from=5"), json!([]));
    assert_eq!(
        get_ok(&node, "/blocks/?from=18446744073709551615"),
        json!([])
    );
    for query in [
        "limit=0",
        "limit=101",
        "limit=100000000",
        "limit=-5",
        "limit=abc",
        "limit=",
        "limit=1.5",
        "from=-1",
        "from=abc",
        "from=",
        &format!("from={U64_MAX_PLUS_ONE}"),
        "from=1&from=2",
        "limit=%FF",
    ] {
        assert_get_error(&node, &format!("/blocks/?{query}"), 400, "bad_request");
    }
}

#[test]
fn blocks_by_hashes() {
    let node = vector_node();
    let got = get_ok(
        &node,
        &format!("/blocks/?hashes={},{},{}", bhash(3), bhash(0), bhash(4)),
    );
    assert_eq!(got, json!([vblock(3), vblock(0), vblock(4)]));
    assert_eq!(
        get_ok(&node, &format!("/blocks/?hashes={}", bhash(2))),
        json!([vblock(2)])
    );
    // 100 hashes is the bound: allowed.
    let hundred = vec![bhash(1); 100].join(",");
    assert_eq!(
        heights(&get_ok(&node, &format!("/blocks/?hashes={hundred}"))),
        vec![1; 100]
    );
    assert_get_error(
        &node,
        &format!("/blocks/?hashes={},{UNKNOWN_HASH}", bhash(1)),
        404,
        "not_found",
    );
    let too_many = vec![bhash(1); 101].join(",");
    assert_get_error(
        &node,
        &format!("/blocks/?hashes={too_many}"),
        400,
        "bad_request",
    );
    for hashes in [
        String::new(),
        "xyz".to_string(),
        format!("{},", bhash(1)),
        format!("{},,{}", bhash(1), bhash(2)),
        "AB".repeat(32),
        "1".to_string(),
    ] {
        assert_get_error(
            &node,
            &format!("/blocks/?hashes={hashes}"),
            400,
            "bad_request",
        );
    }
}

#[test]
fn headers_follow_the_first_locator_found() {
    let node = vector_node();
    let after =
        |h: usize| -> Value { Value::Array((h + 1..=4).map(|k| header_of(&vblock(k))).collect()) };
    // No locator: everything after genesis, as bare headers.
    let all = get_ok(&node, "/headers/");
    assert_eq!(all, after(0));
    for header in all.as_array().unwrap() {
        assert!(header.get("transactions").is_none());
        assert!(header.get("transaction_headers").is_none());
    }
    assert_eq!(
        get_ok(&node, &format!("/headers/?locator={}", bhash(2))),
        after(2)
    );
    assert_eq!(
        get_ok(&node, &format!("/headers/?locator={}", bhash(0))),
        after(0)
    );
    assert_eq!(
        get_ok(&node, &format!("/headers/?locator={}", bhash(4))),
        json!([])
    );
    // The first locator found wins, whatever the order.
    assert_eq!(
        get_ok(
            &node,
            &format!("/headers/?locator={UNKNOWN_HASH},{},{}", bhash(3), bhash(1))
        ),
        after(3)
    );
    assert_eq!(
        get_ok(
            &node,
            &format!("/headers/?locator={},{}", bhash(1), bhash(3))
        ),
        after(1)
    );
    // None found: after genesis.
    assert_eq!(
        get_ok(&node, &format!("/headers/?locator={UNKNOWN_HASH}")),
        after(0)
    );
    assert_eq!(
        get_ok(&node, &format!("/headers/?locator={}&limit=2", bhash(1))),
        json!([header_of(&vblock(2)), header_of(&vblock(3))])
    );
    assert_eq!(heights(&get_ok(&node, "/headers/?limit=1")), vec![1]);
    assert_eq!(
        heights(&get_ok(&node, "/headers/?limit=2000")),
        vec![1, 2, 3, 4]
    );
    // 64 locators is the bound.
    let sixty_four = vec![UNKNOWN_HASH; 64].join(",");
    assert_eq!(
        get_ok(&node, &format!("/headers/?locator={sixty_four}")),
        after(0)
    );
    let sixty_five = vec![UNKNOWN_HASH; 65].join(",");
    assert_get_error(
        &node,
        &format!("/headers/?locator={sixty_five}"),
        400,
        "bad_request",
    );
    for query in [
        "locator=".to_string(),
        "locator=xyz".to_string(),
        format!("locator={},", bhash(1)),
        format!("locator={},,{}", bhash(1), bhash(2)),
        format!("locator={}", "AB".repeat(32)),
        format!("locator={}", &bhash(1)[..63]),
        "limit=0".to_string(),
        "limit=2001".to_string(),
        "limit=-5".to_string(),
        "limit=abc".to_string(),
        "limit=".to_string(),
    ] {
        assert_get_error(&node, &format!("/headers/?{query}"), 400, "bad_request");
    }
}

// ---------------------------------------------------------------- §5

/// An unspent output entry as API.md §5 writes it.
fn unspent(height: u64, tx: &str, tx_index: u64, index: u64, value: &str, coinbase: bool) -> Value {
    json!({
        "block_height": height,
        "transaction_hash": tx,
        "transaction_index": tx_index,
        "output_index": index,
        "value": num(value),
        "coinbase": coinbase,
    })
}

#[test]
fn unspent_outputs_of_an_address() {
    let node = vector_node();
    // C: an output of block 3 tx 1, of block 3 tx 2, and block 4's coinbase,
    // ordered by height, position, index.
    let c_outputs = json!([
        unspent(3, &thash(3, 1), 1, 1, "0.2", false),
        unspent(3, &thash(3, 2), 2, 0, "0.098", false),
        unspent(4, &thash(4, 0), 0, 0, "1.5005", true),
    ]);
    let c_utxo = json!({"utxo_outputs": c_outputs, "balance": num("1.7985")});
    assert_eq!(get_ok(&node, &format!("/utxo/{C}/")), c_utxo);
    // With an empty mempool, the mempool's view is the same.
    assert_eq!(get_ok(&node, &format!("/utxo/{C}/?mempool=true")), c_utxo);
    assert_eq!(get_ok(&node, &format!("/utxo/{C}/?mempool=false")), c_utxo);
    assert_eq!(get_ok(&node, &format!("/utxo/{C}/outputs/")), c_outputs);
    assert_eq!(
        get_ok(&node, &format!("/utxo/{C}/outputs/?mempool=true")),
        c_outputs
    );
    assert_eq!(
        get_ok(&node, &format!("/utxo/{C}/outputs/{}/", thash(3, 2))),
        json!([c_outputs[1]])
    );
    assert_eq!(
        get_ok(&node, &format!("/utxo/{C}/outputs/{}/", thash(4, 0))),
        json!([c_outputs[2]])
    );
    // A transaction that paid C nothing still unspent: empty.
    assert_eq!(
        get_ok(&node, &format!("/utxo/{C}/outputs/{}/", thash(4, 1))),
        json!([])
    );
    assert_eq!(
        get_ok(&node, &format!("/utxo/{C}/outputs/{UNKNOWN_HASH}/")),
        json!([])
    );

    // A: everything spent but the change of block 4.
    assert_eq!(
        get_ok(&node, &format!("/utxo/{A}/")),
        json!({
            "utxo_outputs": [unspent(4, &thash(4, 1), 1, 1, "0.6995", false)],
            "balance": num("0.6995"),
        })
    );
    // Its coinbase of block 1 was spent in block 3.
    assert_eq!(
        get_ok(&node, &format!("/utxo/{A}/outputs/{}/", thash(1, 0))),
        json!([])
    );
    // D: block 3's coinbase (the 1.2 it got was spent in block 4).
    assert_eq!(
        get_ok(&node, &format!("/utxo/{D}/")),
        json!({
            "utxo_outputs": [unspent(3, &thash(3, 0), 0, 0, "1.502", true)],
            "balance": num("1.502"),
        })
    );
    assert_eq!(get_ok(&node, &format!("/utxo/{B}/"))["balance"], num("2"));

    for query in ["mempool=bogus", "mempool=", "mempool=1", "mempool=TRUE"] {
        assert_get_error(&node, &format!("/utxo/{C}/?{query}"), 400, "bad_request");
        assert_get_error(
            &node,
            &format!("/utxo/{C}/outputs/?{query}"),
            400,
            "bad_request",
        );
    }
    for hash in ["xyz", &"AB".repeat(32), &UNKNOWN_HASH[..63]] {
        assert_get_error(
            &node,
            &format!("/utxo/{C}/outputs/{hash}/"),
            400,
            "bad_request",
        );
    }
}

#[test]
fn address_totals_history_and_mempool() {
    let node = vector_node();
    assert_eq!(
        get_ok(&node, &format!("/addresses/{A}/")),
        json!({
            "address": A,
            "balance": num("0.6995"),
            "unconfirmed_balance": num("0.6995"),
            "received": num("3.7985"),
            "sent": num("3.099"),
            "transaction_count": 5,
        })
    );
    assert_eq!(
        get_ok(&node, &format!("/addresses/{C}/")),
        json!({
            "address": C,
            "balance": num("1.7985"),
            "unconfirmed_balance": num("1.7985"),
            "received": num("1.7985"),
            "sent": num("0"),
            "transaction_count": 3,
        })
    );
    let entry = |h: usize, i: usize, delta: &str| {
        json!({
            "hash": thash(h, i),
            "block_height": h,
            "timestamp": vtx(h, i)["timestamp"],
            "delta": num(delta),
        })
    };
    // Newest first: height descending, then position descending.
    let history = vec![
        entry(4, 1, "-0.8005"),
        entry(3, 2, "-0.099"),
        entry(3, 1, "-1.401"),
        entry(2, 0, "1.5"),
        entry(1, 0, "1.5"),
    ];
    let path = format!("/addresses/{A}/transactions/");
    assert_eq!(get_ok(&node, &path), json!(history));
    assert_eq!(get_ok(&node, &format!("{path}?limit=1000")), json!(history));
    // Pages of two, each continuing after the last entry of the previous.
    assert_eq!(
        get_ok(&node, &format!("{path}?limit=2")),
        json!(history[0..2])
    );
    assert_eq!(
        get_ok(&node, &format!("{path}?limit=2&before={}", thash(3, 2))),
        json!(history[2..4])
    );
    assert_eq!(
        get_ok(&node, &format!("{path}?limit=2&before={}", thash(2, 0))),
        json!(history[4..5])
    );
    assert_eq!(
        get_ok(&node, &format!("{path}?before={}", thash(1, 0))),
        json!([])
    );
    // `before` without limit: the default page after it.
    assert_eq!(
        get_ok(&node, &format!("{path}?before={}", thash(4, 1))),
        json!(history[1..5])
    );
    // Not in A's history (C's coinbase, an unknown hash): 400.
    for before in [thash(4, 0), UNKNOWN_HASH.to_string()] {
        assert_get_error(
            &node,
            &format!("{path}?before={before}"),
            400,
            "bad_request",
        );
    }
    for query in [
        "limit=0",
        "limit=1001",
        "limit=-1",
        "limit=abc",
        "before=xyz",
        "before=",
    ] {
        assert_get_error(&node, &format!("{path}?{query}"), 400, "bad_request");
    }
    assert_eq!(
        get_ok(&node, &format!("/addresses/{A}/mempool/")),
        json!([])
    );
}

#[test]
fn an_address_that_never_received_anything() {
    let node = vector_node();
    let s = stranger(7).address().to_string();
    assert_eq!(
        get_ok(&node, &format!("/utxo/{s}/")),
        json!({"utxo_outputs": [], "balance": num("0")})
    );
    assert_eq!(
        get_ok(&node, &format!("/utxo/{s}/?mempool=true")),
        json!({"utxo_outputs": [], "balance": num("0")})
    );
    assert_eq!(get_ok(&node, &format!("/utxo/{s}/outputs/")), json!([]));
    assert_eq!(
        get_ok(&node, &format!("/utxo/{s}/outputs/{}/", thash(4, 1))),
        json!([])
    );
    assert_eq!(
        get_ok(&node, &format!("/addresses/{s}/")),
        json!({
            "address": s,
            "balance": num("0"),
            "unconfirmed_balance": num("0"),
            "received": num("0"),
            "sent": num("0"),
            "transaction_count": 0,
        })
    );
    assert_eq!(
        get_ok(&node, &format!("/addresses/{s}/transactions/")),
        json!([])
    );
    assert_eq!(
        get_ok(&node, &format!("/addresses/{s}/mempool/")),
        json!([])
    );
    // Nothing in its history to continue after.
    assert_get_error(
        &node,
        &format!("/addresses/{s}/transactions/?before={}", thash(4, 1)),
        400,
        "bad_request",
    );
    // The zero address (burnt genesis coinbase) is well-formed and holds nothing.
    let zero = format!("0x{}", "0".repeat(40));
    assert_eq!(get_ok(&node, &format!("/addresses/{zero}/"))["balance"], 0);
    assert_eq!(get_ok(&node, &format!("/utxo/{zero}/outputs/")), json!([]));
}

#[test]
fn malformed_addresses_are_bad_requests() {
    let node = vector_node();
    let bad = [
        A.to_uppercase().replacen("0X", "0x", 1), // uppercase hex
        A.to_uppercase(),                         // 0X prefix
        "0x3A2D4145a4f098523b3e8127f1da87cfc55b8e79".to_string(), // mixed case
        A[..20].to_string(),                      // short
        format!("{A}00"),                         // long
        A[2..].to_string(),                       // no 0x
        format!("0x{}", "g".repeat(40)),          // not hex
        "abc".to_string(),
    ];
    for address in &bad {
        for path in [
            format!("/utxo/{address}/"),
            format!("/utxo/{address}/?mempool=true"),
            format!("/utxo/{address}/outputs/"),
            format!("/utxo/{address}/outputs/{}/", thash(4, 1)),
            format!("/addresses/{address}/"),
            format!("/addresses/{address}/transactions/"),
            format!("/addresses/{address}/mempool/"),
        ] {
            assert_get_error(&node, &path, 400, "bad_request");
        }
    }
}

// ---------------------------------------------------------------- routing

#[test]
fn paths_work_with_and_without_the_trailing_slash() {
    let node = vector_node();
    for path in [
        "/blockchain",
        "/health",
        "/blocks/2",
        "/blocks/last",
        "/blocks/3/full",
        "/blocks/3/transactions",
        "/blocks/3/transactions/1",
        "/blocks/3/transactions/1/inputs",
        "/blocks/3/transactions/1/inputs/0",
        "/blocks/3/transactions/1/outputs",
        "/blocks/3/transactions/1/outputs/2",
        "/transactions",
        &format!("/utxo/{C}"),
        &format!("/utxo/{C}/outputs"),
        &format!("/utxo/{C}/outputs/{}", thash(4, 0)),
        &format!("/addresses/{A}"),
        &format!("/addresses/{A}/transactions"),
        &format!("/addresses/{A}/mempool"),
    ] {
        let with = get_ok(&node, &format!("{path}/"));
        let without = get_ok(&node, path);
        assert_eq!(with, without, "{path}");
    }
    // With a query string.
    for (without, with) in [
        ("/blocks?from=1&limit=2", "/blocks/?from=1&limit=2"),
        ("/headers?limit=2", "/headers/?limit=2"),
        (
            &format!("/addresses/{A}/transactions?limit=2"),
            &format!("/addresses/{A}/transactions/?limit=2"),
        ),
        (
            &format!("/utxo/{C}?mempool=true"),
            &format!("/utxo/{C}/?mempool=true"),
        ),
    ] {
        let a = get_ok(&node, without);
        assert_eq!(a, get_ok(&node, with), "{without}");
        assert!(!a.as_array().is_some_and(Vec::is_empty), "{without}: {a}");
    }
    // Errors too.
    assert_get_error(&node, "/blocks/99", 404, "not_found");
    assert_get_error(&node, "/blocks?limit=0", 400, "bad_request");
    // A POST without the slash is block intake too.
    let (status, body) = node.post("/blocks", vblock(4).to_string());
    assert_eq!(status, 409, "{body}");
    assert_error_body("POST /blocks", &body, "already_known");
}

#[test]
fn unknown_routes_are_json_404s() {
    let node = vector_node();
    for path in [
        "/nope",
        "/nope/",
        "/block/1/",
        "/blocks/1/nope/",
        "/blocks/3/transactions/1/outputs/0/extra/",
        &format!("/utxo/{A}/outputs/{}/extra/", thash(4, 1)),
        "/addresses/",
        "/utxo/",
    ] {
        assert_get_error(&node, path, 404, "not_found");
    }
    let (status, body) = node.post("/nope/", "{}");
    assert_eq!(status, 404);
    assert_error_body("POST /nope/", &body, "not_found");
    // A method a known path does not take: 405 in JSON, with the methods
    // it does take (API.md top).
    let client = reqwest::blocking::Client::new();
    for (method, path, allow) in [
        ("POST", "/blockchain/", "GET"),
        ("POST", "/blocks/1/", "GET"),
        ("DELETE", "/blocks/", "GET, POST"),
        ("PUT", "/transactions/", "GET, POST"),
        ("GET", "/", "POST"),
        ("PUT", "/nodes/", "GET, POST, DELETE"),
    ] {
        let response = client
            .request(method.parse().unwrap(), format!("{}{path}", node.url))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        let allowed = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        assert_eq!(allowed.as_deref(), Some(allow), "{method} {path}");
        let body: Value = response.json().expect("a JSON error body");
        assert_error_body(&format!("{method} {path}"), &body, "method_not_allowed");
    }
}

// ---------------------------------------------------------------- intake

#[test]
fn oversized_bodies_are_413() {
    let node = vector_node();
    let tx_limit = 256 * 1024;
    let block_limit = 8 * 1024 * 1024;
    for chunked in [false, true] {
        let ctx = if chunked { "chunked" } else { "Content-Length" };
        // Exactly the limit is read (and is not JSON); one byte more is not.
        let (status, body) = raw_post(&node, "/transactions/", vec![b' '; tx_limit], chunked);
        assert_eq!(status, 400, "{ctx}: {body}");
        assert_error_body(ctx, &body, "malformed");
        let (status, body) = raw_post(&node, "/transactions/", vec![b' '; tx_limit + 1], chunked);
        assert_eq!(status, 413, "{ctx}: {body}");
        assert_error_body(ctx, &body, "too_large");

        let (status, body) = raw_post(&node, "/blocks/", vec![b' '; block_limit], chunked);
        assert_eq!(status, 400, "{ctx}: {body}");
        assert_error_body(ctx, &body, "malformed");
        let (status, body) = raw_post(&node, "/blocks/", vec![b' '; block_limit + 1], chunked);
        assert_eq!(status, 413, "{ctx}: {body}");
        assert_error_body(ctx, &body, "too_large");
    }
    // A transaction body between the two limits is too large for
    // /transactions/ only.
    let (status, body) = raw_post(&node, "/transactions/", vec![b' '; 300 * 1024], false);
    assert_eq!(status, 413, "{body}");
    // The node still answers, and nothing changed.
    assert_eq!(get_ok(&node, "/blockchain/")["height"], 4);
    assert_eq!(get_ok(&node, "/transactions/")["transaction_count"], 0);
}

#[test]
fn malformed_bodies_are_400_malformed() {
    let node = TestNode::start();
    node.post_vector_blocks(3);
    let mut with_unknown = vblock(4);
    with_unknown["extra"] = json!(1);
    let mut missing = vblock(4);
    missing.as_object_mut().unwrap().remove("nonce");
    let mut tx_unknown = vtx(4, 1);
    tx_unknown["note"] = json!("hi");
    let mut input_unknown = vtx(4, 1);
    input_unknown["inputs"][0]["extra"] = json!(true);
    let mut bad_amount = vblock(4);
    bad_amount["reward"] = num("1.5e0");
    for (path, body) in [
        ("/blocks/", String::new()),
        ("/blocks/", "not json".to_string()),
        ("/blocks/", "{}".to_string()),
        ("/blocks/", "[]".to_string()),
        ("/blocks/", with_unknown.to_string()),
        ("/blocks/", missing.to_string()),
        ("/blocks/", bad_amount.to_string()),
        ("/blocks/", format!("{}x", vblock(4))),
        ("/transactions/", String::new()),
        ("/transactions/", "{\"timestamp\": 1".to_string()),
        ("/transactions/", tx_unknown.to_string()),
        ("/transactions/", input_unknown.to_string()),
        // A block is not a transaction.
        ("/transactions/", vblock(4).to_string()),
    ] {
        let (status, answer) = node.post(path, body.clone());
        assert_eq!(status, 400, "POST {path} {body:.80}: {answer}");
        assert_error_body(&format!("POST {path}"), &answer, "malformed");
    }
    // Nothing was taken: block 4 itself still connects.
    assert_eq!(get_ok(&node, "/transactions/")["transaction_count"], 0);
    let (status, answer) = node.post("/blocks/", vblock(4).to_string());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"status": "connected", "hash": bhash(4), "height": 4})
    );
}

/// A block at height 2 on block 1 (the tip is 4): same work as the active
/// branch's block 2, so it is stored on a side chain.
fn side_block_at_2() -> Block {
    let blocks = vector_blocks();
    let mut block = blocks[2].clone();
    block.timestamp += 1;
    let amount = block.reward.checked_add(block.fees).unwrap();
    block.transactions = vec![Transaction::coinbase(
        block.height,
        block.timestamp,
        block.creator,
        amount,
    )];
    block.prev_hash = blocks[1].hash;
    let block = reseal(block);
    assert_ne!(block.hash, blocks[2].hash);
    block
}

#[test]
fn a_block_on_an_older_parent_is_a_side_chain() {
    let node = vector_node();
    let side = side_block_at_2();
    let hash = side.hash.to_string();
    let (status, body) = node.post_block(&side);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "side_chain", "hash": hash, "height": 2})
    );
    // The active chain did not move.
    let info = get_ok(&node, "/blockchain/");
    assert_eq!(info["height"], 4);
    assert_eq!(info["best_hash"], bhash(4));
    assert_eq!(info["total_transactions"], 8);
    assert_eq!(get_ok(&node, "/blocks/2/")["hash"], bhash(2));
    // Stored: served by hash, on any branch.
    let side_json: Value = serde_json::to_value(&side).unwrap();
    assert_eq!(get_ok(&node, &format!("/blocks/{hash}/full/")), side_json);
    assert_eq!(
        get_ok(&node, &format!("/blocks/{hash}/")),
        summary_of(&side_json)
    );
    assert_eq!(
        get_ok(&node, &format!("/blocks/{hash}/transactions/0/")),
        side_json["transactions"][0]
    );
    assert_eq!(
        get_ok(&node, &format!("/blocks/?hashes={hash},{}", bhash(2))),
        json!([side_json, vblock(2)])
    );
    // Not on the active chain: as a locator it is not found.
    let headers = get_ok(&node, &format!("/headers/?locator={hash}"));
    assert_eq!(heights(&headers), vec![1, 2, 3, 4]);
    assert_eq!(headers[1]["hash"], bhash(2));
    // Its coinbase pays nobody on the active chain.
    assert_eq!(
        get_ok(
            &node,
            &format!("/utxo/{A}/outputs/{}/", side.transactions[0].hash)
        ),
        json!([])
    );
    // Posted again: already known.
    let (status, body) = node.post_block(&side);
    assert_eq!(status, 409, "{body}");
    assert_error_body("side again", &body, "already_known");
}

// ---------------------------------------------------------------- data dir

/// Every answer a restart must keep.
fn durable_answers(node: &TestNode) -> Vec<Value> {
    let mut out = vec![
        get_ok(node, "/blockchain/"),
        get_ok(node, "/blocks/last/"),
        get_ok(node, "/blocks/"),
        get_ok(node, "/headers/"),
    ];
    for a in [A, B, C, D] {
        out.push(get_ok(node, &format!("/utxo/{a}/")));
        out.push(get_ok(node, &format!("/addresses/{a}/")));
        out.push(get_ok(node, &format!("/addresses/{a}/transactions/")));
    }
    out
}

#[test]
fn a_restart_on_the_same_directory_serves_the_same_chain() {
    let node = vector_node();
    let side = side_block_at_2();
    assert_eq!(node.post_block(&side).1["status"], "side_chain");
    let before = durable_answers(&node);
    assert_eq!(before[0]["height"], 4);
    let dir = node.stop().expect("the node owned its directory");

    let again = TestNode::start_in(dir.path(), MempoolLimits::default());
    assert_eq!(durable_answers(&again), before);
    // The side block was kept too.
    assert_eq!(
        get_ok(&again, &format!("/blocks/{}/", side.hash))["hash"],
        side.hash.to_string()
    );
    // And the chain keeps growing from where it was.
    let mined = again.mine(&stranger(3).address());
    assert_eq!(mined.height, 5);
    assert_eq!(mined.prev_hash.to_string(), bhash(4));
}

#[test]
fn a_data_directory_is_locked_by_one_node() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let first = DataDir::lock(&dir).expect("first lock");
    assert_eq!(first.path(), dir.as_path());
    match DataDir::lock(&dir) {
        Err(DataDirError::Locked(path)) => assert_eq!(path, dir),
        other => panic!("second lock: {other:?}"),
    }
    let message = DataDir::lock(&dir).unwrap_err().to_string();
    assert!(message.contains("already running"), "{message}");
    drop(first);
    DataDir::lock(&dir).expect("free again once the first is gone");
}

fn open_error(dir: &std::path::Path, params: ChainParams) -> String {
    match Node::open(dir, params, MempoolLimits::default()) {
        Ok(_) => panic!("{} opened", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_foreign_database_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(DATABASE_FILE);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE foo (x INTEGER); INSERT INTO foo VALUES (42);")
            .unwrap();
    }
    let message = open_error(tmp.path(), ChainParams::regtest());
    assert!(message.contains("not a Cinder database"), "{message}");
    // Untouched: still only `foo`, with its row.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, vec!["foo".to_string()]);
    let x: i64 = conn
        .query_row("SELECT x FROM foo", [], |r| r.get(0))
        .unwrap();
    assert_eq!(x, 42);
}

#[test]
fn a_database_of_a_newer_cinder_is_refused() {
    let node = TestNode::start();
    let dir = node.stop().expect("the node owned its directory");
    {
        let conn = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations VALUES (999, 'future', 0)",
            [],
        )
        .unwrap();
    }
    let message = open_error(dir.path(), ChainParams::regtest());
    assert!(message.contains("newer"), "{message}");
    assert!(message.contains("999"), "{message}");
}

#[test]
fn a_directory_of_another_chain_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let regtest_dir = tmp.path().join("regtest");
    std::fs::create_dir(&regtest_dir).unwrap();
    drop(
        Node::open(
            &regtest_dir,
            ChainParams::regtest(),
            MempoolLimits::default(),
        )
        .unwrap(),
    );
    let message = open_error(&regtest_dir, ChainParams::test_blockchain());
    assert!(
        message.contains("regtest") && message.contains("test_blockchain"),
        "{message}"
    );
    // Still a good regtest directory.
    drop(
        Node::open(
            &regtest_dir,
            ChainParams::regtest(),
            MempoolLimits::default(),
        )
        .unwrap(),
    );

    let other_dir = tmp.path().join("test_blockchain");
    std::fs::create_dir(&other_dir).unwrap();
    drop(
        Node::open(
            &other_dir,
            ChainParams::test_blockchain(),
            MempoolLimits::default(),
        )
        .unwrap(),
    );
    let message = open_error(&other_dir, ChainParams::regtest());
    assert!(
        message.contains("regtest") && message.contains("test_blockchain"),
        "{message}"
    );
}

#[test]
fn amounts_are_json_numbers_everywhere() {
    let node = vector_node();
    let mut checked = 0;
    let mut check = |v: &Value, field: &str| {
        assert!(v[field].is_number(), "{field} in {v}");
        Amount::parse(&v[field].to_string()).expect("an amount as written");
        checked += 1;
    };
    let info = get_ok(&node, "/blockchain/");
    check(&info, "block_reward");
    let last = get_ok(&node, "/blocks/last/");
    check(&last, "reward");
    check(&last, "fees");
    for th in last["transaction_headers"].as_array().unwrap() {
        check(th, "value");
        check(th, "fee");
    }
    for o in get_ok(&node, &format!("/utxo/{C}/outputs/"))
        .as_array()
        .unwrap()
    {
        check(o, "value");
    }
    let a = get_ok(&node, &format!("/addresses/{A}/"));
    for f in ["balance", "unconfirmed_balance", "received", "sent"] {
        check(&a, f);
    }
    for e in get_ok(&node, &format!("/addresses/{A}/transactions/"))
        .as_array()
        .unwrap()
    {
        assert!(e["delta"].is_number(), "{e}");
        checked += 1;
    }
    // blockchain 1, block 2 + 2 transaction headers × 2, 3 outputs, 4 totals, 5 deltas.
    assert_eq!(checked, 1 + 2 + 2 * 2 + 3 + 4 + 5);
}

#[test]
fn blocks_default_to_100_per_answer() {
    let node = TestNode::start();
    let miner = stranger(5).address();
    for _ in 0..101 {
        let block = solve(node.node.block_template(&miner).expect("template"));
        assert_eq!(
            node.node.submit_block(&block).expect("mined block"),
            cinder::node::Accepted::Connected
        );
    }
    assert_eq!(get_ok(&node, "/blockchain/")["height"], 101);
    let page = get_ok(&node, "/blocks/");
    assert_eq!(heights(&page), (0..100).collect::<Vec<_>>());
    assert_eq!(
        heights(&get_ok(&node, "/blocks/?from=1")),
        (1..101).collect::<Vec<_>>()
    );
    assert_eq!(
        heights(&get_ok(&node, "/blocks/?from=2")),
        (2..102).collect::<Vec<_>>()
    );
    assert_eq!(heights(&get_ok(&node, "/blocks/?from=100")), vec![100, 101]);
    // Headers default to 2000: all 101 after genesis.
    assert_eq!(
        heights(&get_ok(&node, "/headers/")),
        (1..102).collect::<Vec<_>>()
    );
}

/// API.md §5: a path address may be the wallet's checksummed display
/// form; a wrong checksum is 400; answers carry the lowercase form.
#[test]
fn addresses_in_paths_take_the_display_form() {
    let node = vector_node();
    let address: cinder::types::Address = A.parse().expect("vector address");
    let display = address.to_checksummed();
    assert_ne!(display, A, "the vector address has letters to case");
    for path in [
        format!("/addresses/{display}/"),
        format!("/utxo/{display}/"),
        format!("/addresses/{display}/transactions/"),
        format!("/mining/template/?address={display}"),
    ] {
        let (status, body) = node.get(&path);
        assert_eq!(status, 200, "{path}: {body}");
    }
    assert_eq!(
        get_ok(&node, &format!("/addresses/{display}/"))["address"],
        A
    );
    // One letter's case flipped: a typo the checksum catches.
    let flipped: String = display
        .char_indices()
        .map(|(i, c)| {
            if i == display
                .rfind(|c: char| c.is_ascii_alphabetic() && c != 'x')
                .unwrap_or(0)
            {
                if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            } else {
                c
            }
        })
        .collect();
    let (status, body) = node.get(&format!("/addresses/{flipped}/"));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("wrong checksum")),
        "{body}"
    );
}
