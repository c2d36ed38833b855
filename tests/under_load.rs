//! The node as a busy network and an attacker use it: concurrent intake
//! over real HTTP, chains of unconfirmed spends, blocks that fail.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cinder::consensus::ChainParams;
use cinder::crypto::SecretKey;
use cinder::miner::Miner;
use cinder::node::Node;
use cinder::types::{Address, Block, Transaction};
use common::*;

/// One-input one-output transactions pay at least this (1 unit per byte).
fn min_fee() -> u64 {
    Transaction::size_for(1, 1) as u64
}

/// A solved block on the node's tip holding `txs`, paying `creator`.
fn next_block(node: &Node, creator: &Address, txs: Vec<Transaction>) -> Block {
    let params = ChainParams::regtest();
    let snapshot = node.snapshot();
    let height = snapshot.info.height + 1;
    let block = Block::assemble(
        snapshot.info.best_hash,
        height,
        now().max(snapshot.next.median_time_past + 1),
        snapshot.next.required_target,
        *creator,
        params.subsidy(height),
        txs,
    )
    .expect("no overflow");
    solve(block)
}

/// Gives `owner` `count` confirmed coins of `value` units each (through
/// coinbases and fan-out transactions connected by the library).
fn fund(node: &Node, owner: &SecretKey, count: usize, value: u64) -> Vec<Coin> {
    let me = owner.address();
    let per_fanout = count.min(200);
    let fanouts = count.div_ceil(per_fanout);
    let mut coinbases = Vec::new();
    // Coinbases mature two blocks later on regtest.
    for _ in 0..fanouts + 2 {
        let b = next_block(node, &me, Vec::new());
        node.submit_block(&b).expect("coinbase block");
        coinbases.push(Coin::of(&b.transactions[0], 0));
    }
    let mut coins = Vec::new();
    let mut txs = Vec::new();
    for cb in coinbases.iter().take(fanouts) {
        let outs: Vec<(Address, u64)> = (0..per_fanout).map(|_| (me, value)).collect();
        assert!(
            cb.value.units() >= value * per_fanout as u64 + 100_000,
            "a coinbase pays enough"
        );
        let tx = spend(owner, &[*cb], &outs, now());
        coins.extend((0..per_fanout as u32).map(|i| Coin::of(&tx, i)));
        txs.push(tx);
    }
    let b = next_block(node, &me, txs);
    node.submit_block(&b).expect("fan-out block");
    coins.truncate(count);
    coins
}

/// Several clients post transactions while blocks are posted and the
/// miner runs: no answer is a 5xx and every block posted is accepted. (A
/// valid block once got `500 database is locked`: connect read, then wrote,
/// while the mempool table committed from its own connection.)
#[test]
fn a_transaction_flood_beside_block_intake_and_the_miner_gives_no_5xx() {
    let node = TestNode::start();
    let owner = stranger(7);
    let coins = fund(&node.node, &owner, 900, 100_000);
    let miner = Miner::spawn(node.node.clone(), stranger(8).address(), Duration::ZERO)
        .expect("miner starts");
    let server_errors = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let url = node.url.clone();
    let clients: Vec<_> = coins
        .chunks(300)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            let (url, owner, errors, accepted) = (
                url.clone(),
                owner.clone(),
                server_errors.clone(),
                accepted.clone(),
            );
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                for coin in chunk {
                    let value = coin.value.units() - min_fee();
                    let tx = spend(&owner, &[coin], &[(stranger(9).address(), value)], now());
                    let r = http
                        .post(format!("{url}/transactions/"))
                        .header("content-type", "application/json")
                        .body(serde_json::to_string(&tx).expect("serialises"))
                        .send()
                        .expect("the node answers");
                    let status = r.status().as_u16();
                    if status >= 500 {
                        errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("POST /transactions/: {status} {:?}", r.text());
                    } else if status == 200 {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // Blocks from templates, posted over HTTP while the flood goes on.
    let http = reqwest::blocking::Client::new();
    let mut posted = Vec::new();
    while clients.iter().any(|c| !c.is_finished()) || posted.len() < 5 {
        let template: Block = http
            .get(format!(
                "{url}/mining/template/?address={}",
                stranger(10).address()
            ))
            .send()
            .and_then(|r| r.json())
            .expect("a template");
        let block = solve(template);
        let r = http
            .post(format!("{url}/blocks/"))
            .header("content-type", "application/json")
            .body(serde_json::to_string(&block).expect("serialises"))
            .send()
            .expect("the node answers");
        let status = r.status().as_u16();
        let body = r.text().unwrap_or_default();
        assert_eq!(status, 200, "valid block {} refused: {body}", block.hash);
        posted.push(block);
    }
    for c in clients {
        c.join().expect("client thread");
    }
    miner.stop();
    assert_eq!(server_errors.load(Ordering::Relaxed), 0, "5xx answers");
    assert!(
        accepted.load(Ordering::Relaxed) > 0,
        "the flood was accepted"
    );
    for b in &posted {
        let (status, _) = node.get(&format!("/blocks/{}/", b.hash));
        assert_eq!(status, 200, "block {} stored", b.hash);
    }
    let height = node.get("/blockchain/").1["height"]
        .as_u64()
        .expect("height");
    assert!(
        height > posted.len() as u64,
        "miner and poster both extended the chain"
    );
}

/// API.md §4: more than 25 unconfirmed ancestors, or a 26th descendant for
/// a pool transaction, is `chain_too_long` (after `fee_too_low`).
#[test]
fn chains_of_unconfirmed_spends_are_bounded() {
    let node = TestNode::start();
    let owner = stranger(11);
    let me = owner.address();
    let coins = fund(&node.node, &owner, 2, 10_000_000);
    // A chain: each spends the previous one's only output.
    let mut coin = coins[0];
    for n in 1..=26 {
        let tx = spend(
            &owner,
            &[coin],
            &[(me, coin.value.units() - min_fee())],
            now(),
        );
        let (status, body) = node.post_tx(&tx);
        assert_eq!(status, 200, "transaction {n} of the chain: {body}");
        coin = Coin::of(&tx, 0);
    }
    let too_long = spend(
        &owner,
        &[coin],
        &[(me, coin.value.units() - min_fee())],
        now(),
    );
    let (status, body) = node.post_tx(&too_long);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("chain_too_long")),
        "{body}"
    );
    // The relay fee is checked first.
    let free = spend(&owner, &[coin], &[(me, coin.value.units())], now());
    assert_eq!(node.post_tx(&free).1["error"], "fee_too_low");

    // Descendants: a fan-out with 26 outputs takes 25 children, not 26.
    let fan_value = coins[1].value.units() - 10 * min_fee();
    let each = fan_value / 26;
    let outs: Vec<(Address, u64)> = (0..26).map(|_| (me, each)).collect();
    let fan = spend(&owner, &[coins[1]], &outs, now());
    assert_eq!(node.post_tx(&fan).0, 200);
    for i in 0..25 {
        let c = Coin::of(&fan, i);
        let child = spend(&owner, &[c], &[(me, each - min_fee())], now());
        let (status, body) = node.post_tx(&child);
        assert_eq!(status, 200, "child {i}: {body}");
    }
    let c = Coin::of(&fan, 25);
    let child = spend(&owner, &[c], &[(me, each - min_fee())], now());
    let (status, body) = node.post_tx(&child);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("chain_too_long")),
        "{body}"
    );
    // Both families fit one template, parents first.
    let (status, template) = node.get(&format!("/mining/template/?address={me}"));
    assert_eq!(status, 200);
    assert_eq!(
        template["transactions"].as_array().map(Vec::len),
        Some(1 + 26 + 26)
    );
}

/// A block failing step 14 is remembered by hash and error, not stored
/// whole; posting it again answers the same error.
#[test]
fn a_block_that_fails_is_remembered_not_stored() {
    let node = TestNode::start();
    let owner = stranger(12);
    let coins = fund(&node.node, &owner, 1, 1_000_000);
    let me = owner.address();
    let pay = spend(&owner, &[coins[0]], &[(me, 1_000_000 - min_fee())], now());
    // The same coin spent twice in one block: step 14, transaction 2.
    let again = spend(
        &owner,
        &[coins[0]],
        &[(me, 1_000_000 - 2 * min_fee())],
        now(),
    );
    let bad = next_block(&node.node, &me, vec![pay, again]);
    let (status, first) = node.post_block(&bad);
    assert_eq!(
        (status, first["error"].as_str()),
        (400, Some("double_spend"))
    );
    assert_eq!(first["transaction"], 2);
    let (status, second) = node.post_block(&bad);
    assert_eq!(status, 400);
    assert_eq!(second, first);
    assert_eq!(node.get(&format!("/blocks/{}/", bad.hash)).0, 404);
    let db = rusqlite::Connection::open(node.dir.join("chain.sqlite")).expect("database opens");
    let count = |table: &str| -> i64 {
        db.query_row(
            &format!("SELECT count(*) FROM {table} WHERE hash = ?1"),
            [&bad.hash.0[..]],
            |r| r.get(0),
        )
        .expect("count")
    };
    assert_eq!(count("blocks"), 0, "the failed block is not stored");
    assert_eq!(count("invalid_blocks"), 1, "the failed block is remembered");
    // Its child is invalid_parent, and not stored either.
    let child = {
        let params = ChainParams::regtest();
        let b = Block::assemble(
            bad.hash,
            bad.height + 1,
            bad.timestamp + 1,
            bad.target,
            me,
            params.subsidy(bad.height + 1),
            Vec::new(),
        )
        .expect("no overflow");
        solve(b)
    };
    assert_eq!(node.post_block(&child).1["error"], "invalid_parent");
}
