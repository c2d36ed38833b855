//! Side branches, fork choice and reorganisation (PROTOCOL.md §6–§7)
//! through real HTTP, with chains built by the library.

mod common;

use std::collections::BTreeSet;

use cinder::consensus::ChainParams;
use cinder::crypto::SecretKey;
use cinder::node::MempoolLimits;
use cinder::types::{Address, Amount, Block, Transaction};
use common::*;
use serde_json::Value;

/// A valid block on `parent` paying `creator`, holding `txs`.
fn block_on(parent: &Block, creator: &Address, txs: &[Transaction], salt: u64) -> Block {
    let params = ChainParams::regtest();
    let height = parent.height + 1;
    // Distinct timestamps make distinct coinbases (and hashes) per branch.
    let timestamp = parent.timestamp + 10 + salt;
    let block = Block::assemble(
        parent.hash,
        height,
        timestamp,
        params.pow_limit,
        *creator,
        params.subsidy(height),
        txs.to_vec(),
    );
    solve(block.expect("no overflow"))
}

fn pay(key: &SecretKey, coin: Coin, to: &Address, value: u64, fee: u64, ts: u64) -> Transaction {
    let change = coin.value.units() - value - fee;
    spend(key, &[coin], &[(*to, value), (key.address(), change)], ts)
}

fn status_of(node: &TestNode, b: &Block) -> (u16, Value) {
    node.post_block(b)
}

/// What a node shows of the state that the branch choice decides.
fn state_of(node: &TestNode, addresses: &[Address]) -> Value {
    let mut out = serde_json::Map::new();
    let (_, mut info) = node.get("/blockchain/");
    info.as_object_mut().unwrap().remove("mempool_size");
    out.insert("blockchain".into(), info);
    for a in addresses {
        out.insert(format!("utxo {a}"), node.get(&format!("/utxo/{a}/")).1);
        out.insert(
            format!("address {a}"),
            node.get(&format!("/addresses/{a}/")).1,
        );
        out.insert(
            format!("history {a}"),
            node.get(&format!("/addresses/{a}/transactions/")).1,
        );
    }
    Value::Object(out)
}

fn pool_hashes(node: &TestNode) -> BTreeSet<String> {
    node.get("/transactions/").1["transaction_headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hash"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn side_chain_reorg_and_back_equal_to_a_node_that_saw_only_the_winner() {
    let node = TestNode::start();
    node.post_vector_blocks(4);
    let keys = vector_keys();
    let blocks = vector_blocks();
    let tip4 = &blocks[4];
    let ts = tip4.timestamp + 5;
    let (a, b, c) = (
        stranger(1).address(),
        stranger(2).address(),
        stranger(3).address(),
    );
    // Two spendable outputs of the vector chain's keys (mature at height 5).
    let mut spendable = Vec::new();
    for key in &keys {
        let (_, utxo) = node.get(&format!("/utxo/{}/", key.address()));
        for o in utxo["utxo_outputs"].as_array().unwrap() {
            if o["coinbase"] == true && o["block_height"].as_u64().unwrap() > 3 {
                continue;
            }
            let coin = Coin {
                tx: o["transaction_hash"].as_str().unwrap().parse().unwrap(),
                index: o["output_index"].as_u64().unwrap() as u32,
                address: key.address(),
                value: Amount::parse(&o["value"].to_string()).unwrap(),
            };
            spendable.push((key.clone(), coin));
        }
    }
    assert!(spendable.len() >= 2, "{spendable:?}");
    let ((k0, coin0), (k1, coin1)) = (spendable[0].clone(), spendable[1].clone());
    // Branch X spends coin0 to a; branch Y spends coin0 to b (a conflict)
    // and coin1 to c.
    let x_tx = pay(&k0, coin0, &a, 10_000_000, 10_000, ts);
    let y_tx = pay(&k0, coin0, &b, 20_000_000, 10_000, ts + 1);
    let y_tx2 = pay(&k1, coin1, &c, 30_000_000, 10_000, ts + 2);
    let x5 = block_on(tip4, &a, std::slice::from_ref(&x_tx), 0);
    let y5 = block_on(tip4, &b, std::slice::from_ref(&y_tx), 1);
    let y6 = block_on(&y5, &b, std::slice::from_ref(&y_tx2), 1);
    let x6 = block_on(&x5, &a, &[], 0);
    let x7 = block_on(&x6, &a, &[], 0);

    assert_eq!(status_of(&node, &x5).1["status"], "connected");
    // A tie keeps the current chain.
    let (status, body) = status_of(&node, &y5);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("side_chain")),
        "{body}"
    );
    assert_eq!(body["hash"], y5.hash.to_string());
    assert_eq!(body["height"], 5);
    assert_eq!(node.get("/blocks/last/").1["hash"], x5.hash.to_string());
    // Any branch by hash; by height only the active chain.
    assert_eq!(
        node.get(&format!("/blocks/{}/", y5.hash)).1["hash"],
        y5.hash.to_string()
    );
    assert_eq!(node.get("/blocks/5/").1["hash"], x5.hash.to_string());
    let (_, both) = node.get(&format!("/blocks/?hashes={},{}", y5.hash, x5.hash));
    assert_eq!(both[0]["hash"], y5.hash.to_string());
    assert_eq!(both[1]["hash"], x5.hash.to_string());
    // A pool transaction that Y will conflict with (spends coin1 too).
    let pool_tx = pay(&k1, coin1, &a, 5_000_000, 10_000, ts + 3);
    assert_eq!(node.post_tx(&pool_tx).0, 200);

    // Y overtakes: reorganized.
    let (status, body) = status_of(&node, &y6);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("reorganized")),
        "{body}"
    );
    assert_eq!(node.get("/blocks/last/").1["hash"], y6.hash.to_string());
    assert_eq!(node.get("/blocks/5/").1["hash"], y5.hash.to_string());
    // x_tx conflicts with y_tx and pool_tx with y_tx2: neither is in the pool.
    assert!(pool_hashes(&node).is_empty(), "{:?}", pool_hashes(&node));

    let addresses = [
        a,
        b,
        c,
        keys[0].address(),
        keys[1].address(),
        keys[2].address(),
        keys[3].address(),
    ];
    let reference = TestNode::start();
    reference.post_vector_blocks(4);
    for blk in [&y5, &y6] {
        assert_eq!(reference.post_block(blk).1["status"], "connected");
    }
    assert_eq!(
        state_of(&node, &addresses),
        state_of(&reference, &addresses)
    );

    // And back: X grows heavier again.
    assert_eq!(status_of(&node, &x6).1["status"], "side_chain");
    let (status, body) = status_of(&node, &x7);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("reorganized")),
        "{body}"
    );
    // y_tx2 of the disconnected Y returns to the pool (still valid on X);
    // y_tx conflicts with x_tx and does not.
    assert_eq!(pool_hashes(&node), BTreeSet::from([y_tx2.hash.to_string()]));
    let reference = TestNode::start();
    reference.post_vector_blocks(4);
    for blk in [&x5, &x6, &x7] {
        assert_eq!(reference.post_block(blk).1["status"], "connected");
    }
    assert_eq!(reference.post_tx(&y_tx2).0, 200);
    assert_eq!(
        state_of(&node, &addresses),
        state_of(&reference, &addresses)
    );
    assert_eq!(pool_hashes(&node), pool_hashes(&reference));

    // Restart after the reorganisations keeps the chain.
    let before = state_of(&node, &addresses);
    let dir = node.dir.clone();
    let tmp = node.stop();
    let again = TestNode::start_in(&dir, MempoolLimits::default());
    assert_eq!(state_of(&again, &addresses), before);
    assert_eq!(
        pool_hashes(&again),
        BTreeSet::from([y_tx2.hash.to_string()])
    );
    drop(again);
    drop(tmp);
}

#[test]
fn a_reorganisation_through_an_invalid_block_ends_on_the_old_chain() {
    let node = TestNode::start();
    node.post_vector_blocks(4);
    let blocks = vector_blocks();
    let tip4 = &blocks[4];
    let keys = vector_keys();
    let me = stranger(1).address();
    let x5 = block_on(tip4, &me, &[], 0);
    let x6 = block_on(&x5, &me, &[], 0);
    assert_eq!(node.post_block(&x5).1["status"], "connected");
    assert_eq!(node.post_block(&x6).1["status"], "connected");
    let before = node.get("/blockchain/").1;

    // Z: z5 valid, z6 spends an output that does not exist (step 14), z7.
    let ghost = Coin {
        tx: "ab".repeat(32).parse().unwrap(),
        index: 0,
        address: keys[0].address(),
        value: Amount::from_units(1_000_000),
    };
    let bad = pay(&keys[0], ghost, &me, 100_000, 10_000, tip4.timestamp);
    let z5 = block_on(tip4, &me, &[], 3);
    let z6 = block_on(&z5, &me, std::slice::from_ref(&bad), 3);
    let z7 = block_on(&z6, &me, &[], 3);
    assert_eq!(node.post_block(&z5).1["status"], "side_chain");
    assert_eq!(node.post_block(&z6).1["status"], "side_chain");
    let (status, body) = node.post_block(&z7);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "unknown_input");
    assert_eq!(body["transaction"], 1);
    assert_eq!(body["block"], z6.hash.to_string());
    // The node is still on X, its state untouched.
    let mut after = node.get("/blockchain/").1;
    after["mempool_size"] = before["mempool_size"].clone();
    assert_eq!(after, before);
    // z6 gets its own error again; z7 and blocks on it are invalid_parent.
    let (status, again) = node.post_block(&z6);
    assert_eq!(
        (
            status,
            again["error"].as_str(),
            again["transaction"].as_u64()
        ),
        (400, Some("unknown_input"), Some(1))
    );
    let z8 = block_on(&z7, &me, &[], 3);
    assert_eq!(node.post_block(&z8).1["error"], "invalid_parent");
    let (status, z7_again) = node.post_block(&z7);
    assert_eq!(
        (status, z7_again["error"].as_str()),
        (400, Some("invalid_parent"))
    );
    // Invalid blocks are not served.
    assert_eq!(node.get(&format!("/blocks/{}/", z6.hash)).0, 404);
    // The valid z5 stays a side block that can still win later.
    let z6b = block_on(&z5, &me, &[], 4);
    let z7b = block_on(&z6b, &me, &[], 4);
    assert_eq!(node.post_block(&z6b).1["status"], "side_chain");
    assert_eq!(node.post_block(&z7b).1["status"], "reorganized");
    assert_eq!(node.get("/blocks/last/").1["hash"], z7b.hash.to_string());
}

/// A transaction of a disconnected block returns to the pool when still
/// valid, whatever fee it paid (fee policy is not validity).
#[test]
fn disconnected_transactions_return_even_below_the_relay_fee() {
    let node = TestNode::start();
    node.post_vector_blocks(4);
    let keys = vector_keys();
    let blocks = vector_blocks();
    let tip4 = &blocks[4];
    let coin = node.first_coin(keys[3].address());
    // Fee 0: valid in a block, below the relay fee for the mempool.
    let free = spend(
        &keys[3],
        &[coin],
        &[(stranger(1).address(), coin.value.units())],
        tip4.timestamp,
    );
    assert_eq!(free.fee, Amount::ZERO);
    assert_eq!(node.post_tx(&free).1["error"], "fee_too_low");
    let me = stranger(2).address();
    let x5 = block_on(tip4, &me, std::slice::from_ref(&free), 0);
    assert_eq!(node.post_block(&x5).1["status"], "connected");
    let y5 = block_on(tip4, &me, &[], 1);
    let y6 = block_on(&y5, &me, &[], 1);
    assert_eq!(node.post_block(&y5).1["status"], "side_chain");
    assert_eq!(node.post_block(&y6).1["status"], "reorganized");
    assert_eq!(pool_hashes(&node), BTreeSet::from([free.hash.to_string()]));
    // And a template built now carries it on the new tip.
    let (_, template) = node.get(&format!("/mining/template/?address={me}"));
    assert_eq!(template["prev_hash"], y6.hash.to_string());
    assert_eq!(template["transactions"][1]["hash"], free.hash.to_string());
    // It stays in the pool across a restart (reloading checks validity only).
    let dir = node.dir.clone();
    let tmp = node.stop();
    let again = TestNode::start_in(&dir, MempoolLimits::default());
    assert_eq!(pool_hashes(&again), BTreeSet::from([free.hash.to_string()]));
    // A later reorganisation re-admits the pool as a restart does: by
    // validity, not by the relay fee (it used to drop it here).
    let w6 = block_on(&y5, &me, &[], 2);
    let w7 = block_on(&w6, &me, &[], 2);
    assert_eq!(again.post_block(&w6).1["status"], "side_chain");
    assert_eq!(again.post_block(&w7).1["status"], "reorganized");
    assert_eq!(pool_hashes(&again), BTreeSet::from([free.hash.to_string()]));
    drop(again);
    drop(tmp);
}

/// From height 4200 regtest's subsidy is 0 and an empty block pays its
/// creator a 0-value coinbase: the creator still "received an output".
/// Disconnecting a later block must not forget the address (a chain with a
/// zero reward from the start makes that reachable at once).
#[test]
fn zero_value_coinbases_survive_a_reorganisation() {
    let mut params = ChainParams::regtest();
    params.block_reward = Amount::ZERO;
    params.genesis_hash = params.genesis().hash;
    let genesis = params.genesis();
    let (x, y) = (stranger(1).address(), stranger(2).address());
    let build = |parent: &Block, creator: &Address, salt: u64| {
        let height = parent.height + 1;
        let timestamp = parent.timestamp + 10 + salt;
        solve(
            Block::assemble(
                parent.hash,
                height,
                timestamp,
                params.pow_limit,
                *creator,
                Amount::ZERO,
                Vec::new(),
            )
            .expect("no overflow"),
        )
    };
    let b1 = build(&genesis, &x, 0);
    let b2 = build(&b1, &x, 0);
    let c2 = build(&b1, &y, 1);
    let c3 = build(&c2, &y, 1);
    let open = |dir: &std::path::Path| {
        cinder::node::Node::open(dir, params.clone(), MempoolLimits::default()).expect("node opens")
    };
    let totals = |n: &cinder::node::Node| {
        n.reads()
            .with(|conn| {
                Ok((
                    cinder::state::chain_info(conn)?,
                    cinder::state::address_totals(conn, &x)?,
                    cinder::state::address_history(conn, &x, 10, None)?.map(|h| h.len()),
                ))
            })
            .expect("reads")
    };
    let tmp = tempfile::tempdir().unwrap();
    let node = open(tmp.path());
    for b in [&b1, &b2, &c2] {
        node.submit_block(b).expect("accepted");
    }
    assert_eq!(
        node.submit_block(&c3).expect("reorganised"),
        cinder::node::Accepted::Reorganized
    );
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = open(reference_dir.path());
    for b in [&b1, &c2, &c3] {
        reference.submit_block(b).expect("accepted");
    }
    let (info, x_totals, x_history) = totals(&node);
    assert_eq!((info.height, info.total_addresses), (3, 2));
    assert_eq!(x_totals.transaction_count, 1);
    assert_eq!(x_history, Some(1));
    assert_eq!(totals(&node), totals(&reference));
}
