//! The mempool through real HTTP (API.md §4–§6): intake in protocol order,
//! policy, bounds, persistence, block interplay, wallet views, templates.

mod common;

use cinder::crypto::SecretKey;
use cinder::node::MempoolLimits;
use cinder::types::{Amount, Block, Transaction};
use cinder::wire::BlockchainInfo;
use common::*;
use serde_json::Value;

/// A node holding the vector chain plus three blocks mined to `keys[0]`,
/// so that `keys[0]` has mature coinbases of 1.5 at heights 5 and 6.
fn funded(limits: MempoolLimits) -> (TestNode, Vec<SecretKey>, Vec<Coin>) {
    let node = TestNode::start_with(limits);
    node.post_vector_blocks(4);
    let keys = vector_keys();
    let mut coins = Vec::new();
    for _ in 0..3 {
        let b = node.mine(&keys[0].address());
        coins.push(Coin::of(&b.transactions[0], 0));
    }
    coins.pop(); // height 7's coinbase is not mature yet
    (node, keys, coins)
}

fn units(v: &Value) -> u64 {
    Amount::parse(&v.to_string()).expect("amount").units()
}

/// Pays `value` units to `to` from `coin`, the change back, `fee` units fee.
fn pay(key: &SecretKey, coin: Coin, to: &SecretKey, value: u64, fee: u64) -> Transaction {
    let change = coin.value.units() - value - fee;
    spend(
        key,
        &[coin],
        &[(to.address(), value), (key.address(), change)],
        now(),
    )
}

#[test]
fn accept_list_status_and_409() {
    let (node, keys, coins) = funded(MempoolLimits::default());
    let tx = pay(&keys[0], coins[0], &stranger(1), 50_000_000, 10_000);
    let (status, body) = node.post_tx(&tx);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hash"], tx.hash.to_string());
    let (_, list) = node.get("/transactions/");
    assert_eq!(list["transaction_count"], 1);
    assert_eq!(list["transaction_headers"][0]["hash"], tx.hash.to_string());
    assert_eq!(
        node.get(&format!("/transactions/{}/", tx.hash)).1["hash"],
        tx.hash.to_string()
    );
    assert_eq!(node.get("/transactions/0/").1["hash"], tx.hash.to_string());
    assert_eq!(node.get("/transactions/1/").0, 404);
    assert_eq!(
        node.get(&format!("/transactions/{}/status/", tx.hash)).1,
        serde_json::json!({"status": "mempool"})
    );
    assert_eq!(
        node.get(&format!("/transactions/{}/status/", "cd".repeat(32)))
            .1["status"],
        "unknown"
    );
    assert_eq!(node.get("/blockchain/").1["mempool_size"], 1);
    let (status, body) = node.post_tx(&tx);
    assert_eq!(status, 409);
    assert_eq!(body["error"], "already_known");
    // A transaction of the active chain is already known too.
    let confirmed: Transaction =
        serde_json::from_str(&vectors()["blocks"][3]["transactions"][1].to_string()).unwrap();
    let (status, body) = node.post_tx(&confirmed);
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("already_known"))
    );
}

/// `GET /blockchain/` is served from text cached per tip: its bytes are
/// exactly the answer serialised anew, and it follows the pool (no new
/// tip) as well as a new block.
#[test]
fn blockchain_follows_the_pool_and_the_tip() {
    let (node, keys, coins) = funded(MempoolLimits::default());
    let client = reqwest::blocking::Client::new();
    let blockchain = || -> BlockchainInfo {
        let text = client
            .get(format!("{}/blockchain/", node.url))
            .send()
            .expect("GET answered")
            .text()
            .expect("body");
        let info: BlockchainInfo = serde_json::from_str(&text).expect("the answer's shape");
        assert_eq!(
            serde_json::to_string(&info).expect("serialises"),
            text,
            "the bytes are the answer serialised"
        );
        info
    };
    let start = blockchain();
    assert_eq!(start.mempool_size, 0);
    let first = pay(&keys[0], coins[0], &stranger(1), 50_000_000, 10_000);
    assert_eq!(node.post_tx(&first).0, 200);
    let one = blockchain();
    assert_eq!(one.mempool_size, 1);
    assert_eq!(
        BlockchainInfo {
            mempool_size: 0,
            ..one.clone()
        },
        start,
        "only the pool's size moved"
    );
    let second = pay(&keys[0], coins[1], &stranger(2), 50_000_000, 10_000);
    assert_eq!(node.post_tx(&second).0, 200);
    assert_eq!(blockchain().mempool_size, 2);
    let block = node.mine(&stranger(3).address());
    let after = blockchain();
    assert_eq!(after.mempool_size, 0);
    assert_eq!(after.height, start.height + 1);
    assert_eq!(after.best_hash, block.hash);
    assert_eq!(after.total_transactions, start.total_transactions + 3);
    assert_ne!(after.rich_list, start.rich_list);
}

#[test]
fn chained_spends_and_first_seen_wins() {
    let (node, keys, coins) = funded(MempoolLimits::default());
    let parent = pay(&keys[0], coins[0], &keys[1], 100_000_000, 10_000);
    assert_eq!(node.post_tx(&parent).0, 200);
    // The child spends the parent's unconfirmed output.
    let child = pay(
        &keys[1],
        Coin::of(&parent, 0),
        &stranger(2),
        40_000_000,
        10_000,
    );
    let (status, body) = node.post_tx(&child);
    assert_eq!(status, 200, "{body}");
    // A conflicting spend of the parent's coin: first seen wins.
    let rival = pay(&keys[0], coins[0], &stranger(3), 20_000_000, 50_000);
    let (status, body) = node.post_tx(&rival);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("double_spend"))
    );
    // And of the child's coin.
    let rival_child = pay(
        &keys[1],
        Coin::of(&parent, 0),
        &stranger(3),
        10_000_000,
        50_000,
    );
    assert_eq!(node.post_tx(&rival_child).1["error"], "double_spend");
    // The template puts the parent before the child; mining it empties the pool.
    let (_, template) = node.get(&format!(
        "/mining/template/?address={}",
        stranger(4).address()
    ));
    let hashes: Vec<&str> = template["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["hash"].as_str().unwrap())
        .collect();
    assert_eq!(
        hashes[1..],
        [parent.hash.to_string(), child.hash.to_string()]
    );
    assert_eq!(units(&template["fees"]), 20_000);
    assert_eq!(
        units(&template["transactions"][0]["value"]),
        150_000_000 + 20_000
    );
    assert_eq!(template["nonce"], 0);
    let block: Block = serde_json::from_str(&template.to_string()).unwrap();
    assert_eq!(block.compute_hash(), block.hash);
    let block = solve(block);
    assert_eq!(node.post_block(&block).1["status"], "connected");
    assert_eq!(node.get("/transactions/").1["transaction_count"], 0);
    assert_eq!(node.get("/blockchain/").1["mempool_size"], 0);
    let (_, status) = node.get(&format!("/transactions/{}/status/", child.hash));
    assert_eq!(status["status"], "confirmed");
    assert_eq!(status["block_height"], block.height);
    assert_eq!(status["confirmations"], 1);
}

/// Every error code of PROTOCOL.md §4 through `POST /transactions/`.
#[test]
fn every_transaction_rule_through_http() {
    let (node, keys, coins) = funded(MempoolLimits::default());
    // Context-free cases straight from transaction.json (their inputs do not
    // exist here, but steps 1–9 come first).
    let v: Value = serde_json::from_str(include_str!("../docs/vectors/transaction.json")).unwrap();
    let mut codes = std::collections::BTreeSet::new();
    for case in v["invalid"].as_array().unwrap() {
        let body = match case.get("text") {
            Some(t) => t.as_str().unwrap().to_string(),
            None => case["transaction"].to_string(),
        };
        let (status, answer) = node.post("/transactions/", body);
        let code = case["error"].as_str().unwrap();
        if code == "bad_signature" {
            // Contextual steps come before step 15: these spend outputs that do not exist here.
            assert_eq!(answer["error"], "unknown_input", "{}", case["why"]);
            continue;
        }
        assert_eq!(status, 400);
        assert_eq!(answer["error"], code, "{}", case["why"]);
        codes.insert(code.to_string());
    }
    assert!(codes.len() >= 9, "{codes:?}");
    assert_eq!(
        node.post("/transactions/", "{not json").1["error"],
        "malformed"
    );

    let ts = now();
    let me = &keys[0];
    let payee = stranger(5).address();
    let check = |tx: &Transaction, code: &str| {
        let (status, body) = node.post_tx(tx);
        assert_eq!(status, 400, "{code}: {body}");
        assert_eq!(body["error"], code, "{body}");
    };
    // unknown_input
    let ghost = Coin {
        tx: "ee".repeat(32).parse().unwrap(),
        ..coins[0]
    };
    check(
        &spend(me, &[ghost], &[(payee, 1_000_000)], ts),
        "unknown_input",
    );
    // input_mismatch: claims a wrong value for a real output
    let lie = Coin {
        value: Amount::from_units(coins[0].value.units() + 1),
        ..coins[0]
    };
    check(
        &spend(me, &[lie], &[(payee, 1_000_000)], ts),
        "input_mismatch",
    );
    // immature_coinbase: height 7's coinbase at tip 7 (spent at 8: 8 - 7 < 2)
    let (_, tip) = node.get("/blocks/last/full/");
    let tip_block: Block = serde_json::from_str(&tip.to_string()).unwrap();
    check(
        &spend(
            me,
            &[Coin::of(&tip_block.transactions[0], 0)],
            &[(payee, 1_000_000)],
            ts,
        ),
        "immature_coinbase",
    );
    // double_spend against the chain: an output of block 3 already spent in block 4
    let blocks = vector_blocks();
    let spent_in_chain = &blocks[4].transactions[1].inputs[0];
    let owner = keys
        .iter()
        .find(|k| k.address() == spent_in_chain.output_address)
        .unwrap();
    let coin = Coin {
        tx: spent_in_chain.transaction_hash,
        index: spent_in_chain.output_index,
        address: spent_in_chain.output_address,
        value: spent_in_chain.output_value,
    };
    check(
        &spend(owner, &[coin], &[(payee, 1_000)], ts),
        "double_spend",
    );
    // timestamp_in_future
    check(
        &spend(me, &[coins[0]], &[(payee, 1_000_000)], ts + 7200 + 600),
        "timestamp_in_future",
    );
    // bad_signature: signed by someone else
    check(
        &spend(&stranger(6), &[coins[0]], &[(payee, 1_000_000)], ts),
        "bad_signature",
    );
    // A timestamp within the 2 hours is fine.
    let ok = spend(me, &[coins[0]], &[(payee, 1_000_000)], ts + 7000);
    assert_eq!(node.post_tx(&ok).0, 200);
}

#[test]
fn minimum_relay_fee_is_one_unit_per_byte() {
    let (node, keys, coins) = funded(MempoolLimits::default());
    let size = Transaction::size_for(1, 2) as u64;
    let under = pay(&keys[0], coins[0], &stranger(1), 1_000_000, size - 1);
    assert_eq!(under.size() as u64, size);
    let (status, body) = node.post_tx(&under);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("fee_too_low")),
        "{body}"
    );
    let at = pay(&keys[0], coins[0], &stranger(1), 1_000_000, size);
    assert_eq!(node.post_tx(&at).0, 200);
}

#[test]
fn full_pool_evicts_lowest_fee_rate_with_descendants() {
    let limits = MempoolLimits {
        max_count: 3,
        max_size: 1_000_000,
    };
    let (node, keys, coins) = funded(limits);
    let size = Transaction::size_for(1, 2) as u64;
    // cheap (2/byte) with a child (5/byte), and a middle one (3/byte).
    let cheap = pay(&keys[0], coins[0], &keys[1], 100_000_000, 2 * size);
    let child = pay(
        &keys[1],
        Coin::of(&cheap, 0),
        &stranger(1),
        10_000_000,
        5 * size,
    );
    let middle = pay(&keys[0], coins[1], &stranger(2), 10_000_000, 3 * size);
    for tx in [&cheap, &child, &middle] {
        assert_eq!(node.post_tx(tx).0, 200);
    }
    // Paying no more per byte than the cheapest: mempool_full.
    let owner = &keys[3];
    let coin = node.first_coin(owner.address());
    let same = pay(owner, coin, &stranger(3), 1_000_000, 2 * size);
    let (status, body) = node.post_tx(&same);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("mempool_full")),
        "{body}"
    );
    // Paying more: the cheapest goes, with its child.
    let better = pay(owner, coin, &stranger(3), 1_000_000, 4 * size);
    assert_eq!(node.post_tx(&better).0, 200);
    let (_, list) = node.get("/transactions/");
    let hashes: Vec<String> = list["transaction_headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hash"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hashes, [middle.hash.to_string(), better.hash.to_string()]);
}

#[test]
fn pool_survives_a_restart() {
    let (node, keys, coins) = funded(MempoolLimits::default());
    let a = pay(&keys[0], coins[0], &keys[1], 100_000_000, 10_000);
    let b = pay(&keys[1], Coin::of(&a, 0), &stranger(1), 50_000_000, 10_000);
    assert_eq!(node.post_tx(&a).0, 200);
    assert_eq!(node.post_tx(&b).0, 200);
    let before = node.get("/transactions/").1;
    let dir = node.dir.clone();
    let tmp = node.stop();
    let again = TestNode::start_in(&dir, MempoolLimits::default());
    assert_eq!(again.get("/transactions/").1, before);
    assert_eq!(again.get("/blockchain/").1["mempool_size"], 2);
    assert_eq!(again.post_tx(&b).0, 409);
    drop(again);
    drop(tmp);
}

#[test]
fn a_block_spending_a_pool_input_evicts_it_and_its_child() {
    let (node, keys, coins) = funded(MempoolLimits::default());
    let a = pay(&keys[0], coins[0], &keys[1], 100_000_000, 10_000);
    let child = pay(&keys[1], Coin::of(&a, 0), &stranger(1), 50_000_000, 10_000);
    let other = pay(&keys[0], coins[1], &stranger(2), 50_000_000, 10_000);
    for tx in [&a, &child, &other] {
        assert_eq!(node.post_tx(tx).0, 200);
    }
    // A block (from elsewhere) spends coins[0] differently.
    let rival = pay(&keys[0], coins[0], &stranger(3), 70_000_000, 20_000);
    let (_, template) = node.get(&format!(
        "/mining/template/?address={}",
        stranger(4).address()
    ));
    let mut block: Block = serde_json::from_str(&template.to_string()).unwrap();
    block.transactions.truncate(1);
    block.transactions.push(rival.clone());
    block.fees = rival.fee;
    let amount = block.reward.checked_add(block.fees).unwrap();
    block.transactions[0] =
        Transaction::coinbase(block.height, block.timestamp, block.creator, amount);
    let block = reseal(block);
    assert_eq!(node.post_block(&block).1["status"], "connected");
    let (_, list) = node.get("/transactions/");
    assert_eq!(list["transaction_count"], 1);
    assert_eq!(
        list["transaction_headers"][0]["hash"],
        other.hash.to_string()
    );
    assert_eq!(
        node.get(&format!("/transactions/{}/status/", a.hash)).1["status"],
        "unknown"
    );
    // The table behind the pool agrees: a restart brings back only `other`.
    let before = node.get("/transactions/").1;
    let dir = node.dir.clone();
    let tmp = node.stop();
    let again = TestNode::start_in(&dir, MempoolLimits::default());
    assert_eq!(again.get("/transactions/").1, before);
    drop(again);
    drop(tmp);
}

#[test]
fn wallet_views_of_the_mempool() {
    let (node, keys, coins) = funded(MempoolLimits::default());
    let me = keys[0].address();
    let (_, confirmed) = node.get(&format!("/utxo/{me}/"));
    let confirmed_balance = units(&confirmed["balance"]);
    let tx = pay(&keys[0], coins[0], &keys[1], 100_000_000, 10_000);
    assert_eq!(node.post_tx(&tx).0, 200);
    // Confirmed view unchanged.
    assert_eq!(node.get(&format!("/utxo/{me}/")).1, confirmed);
    assert_eq!(node.get(&format!("/utxo/{me}/?mempool=false")).1, confirmed);
    // Mempool view: coins[0] gone, the change (output 1) appended.
    let (_, view) = node.get(&format!("/utxo/{me}/?mempool=true"));
    let outputs = view["utxo_outputs"].as_array().unwrap();
    assert!(
        !outputs
            .iter()
            .any(|o| o["transaction_hash"] == coins[0].tx.to_string()
                && o["output_index"] == coins[0].index)
    );
    let last = outputs.last().unwrap();
    assert_eq!(last["transaction_hash"], tx.hash.to_string());
    assert_eq!(last["output_index"], 1);
    assert_eq!(last["block_height"], Value::Null);
    assert_eq!(last["transaction_index"], Value::Null);
    assert_eq!(last["coinbase"], false);
    let net = 100_000_000 + 10_000;
    assert_eq!(units(&view["balance"]), confirmed_balance - net);
    // Address info and the mempool list.
    let (_, info) = node.get(&format!("/addresses/{me}/"));
    assert_eq!(units(&info["balance"]), confirmed_balance);
    assert_eq!(units(&info["unconfirmed_balance"]), confirmed_balance - net);
    let (_, entries) = node.get(&format!("/addresses/{me}/mempool/"));
    assert_eq!(entries.as_array().unwrap().len(), 1);
    assert_eq!(entries[0]["hash"], tx.hash.to_string());
    assert_eq!(entries[0]["delta"].to_string(), "-1.0001");
    let (_, payee) = node.get(&format!("/addresses/{}/mempool/", keys[1].address()));
    assert_eq!(payee[0]["delta"].to_string(), "1");
    // Outputs of one transaction for the address.
    let (_, of_tx) = node.get(&format!("/utxo/{me}/outputs/{}/?mempool=true", tx.hash));
    assert_eq!(of_tx.as_array().unwrap().len(), 1);
}

#[test]
fn template_requires_a_valid_address() {
    let node = TestNode::start();
    for path in [
        "/mining/template/",
        "/mining/template/?address=0x12",
        "/mining/template/?address=bogus",
    ] {
        let (status, body) = node.get(path);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("bad_request")),
            "{path}"
        );
    }
    // An empty pool: a coinbase-only block at height 1 on genesis.
    let (_, t) = node.get(&format!(
        "/mining/template/?address={}",
        stranger(1).address()
    ));
    assert_eq!(t["height"], 1);
    assert_eq!(t["transaction_count"], 1);
    assert_eq!(units(&t["reward"]), 150_000_000);
    assert!(t["timestamp"].as_u64().unwrap() > 1_763_769_600);
}
