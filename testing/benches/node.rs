//! Node throughput, measured with the raw limit in the same run:
//! `cargo bench -p testing --bench node`.
//!
//! * signature recoveries per second on all cores (the raw limit);
//! * blocks of 1,000 one-input transactions connected per second;
//! * `GET /blocks/last/` requests per second with 32 keep-alive clients;
//! * distinct valid transactions accepted per second through
//!   `POST /transactions/` with 32 keep-alive clients;
//! * the time to reorganise 100 blocks of 100 transactions each.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cinder::consensus::ChainParams;
use cinder::crypto::SecretKey;
use cinder::node::{Accepted, MempoolLimits, Node};
use cinder::types::{Address, Amount, Block, Hash, Input, Signature, Transaction};

const CLIENTS: usize = 32;

fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes(&[n; 32]).expect("valid key")
}

/// A solved block on `parent` (hash, height, timestamp) paying `creator`.
fn block_on(
    parent: (Hash, u64, u64),
    creator: &Address,
    txs: Vec<Transaction>,
    salt: u64,
) -> Block {
    let params = ChainParams::regtest();
    let height = parent.1 + 1;
    let mut block = Block::assemble(
        parent.0,
        height,
        parent.2 + 1 + salt,
        params.pow_limit,
        *creator,
        params.subsidy(height),
        txs,
    )
    .expect("no overflow");
    assert!(block.solve(1_000_000), "regtest target is easy");
    block
}

#[derive(Clone, Copy)]
struct Coin {
    tx: Hash,
    index: u32,
    value: u64,
}

/// A signed transaction of `owner` spending `coins` to `outputs`.
fn spend(
    owner: &SecretKey,
    coins: &[Coin],
    outputs: &[(Address, u64)],
    timestamp: u64,
) -> Transaction {
    let inputs = coins
        .iter()
        .map(|c| Input::spending(c.tx, c.index, owner.address(), Amount::from_units(c.value)))
        .collect();
    let outputs: Vec<(Address, Amount)> = outputs
        .iter()
        .map(|(a, v)| (*a, Amount::from_units(*v)))
        .collect();
    let mut tx = Transaction::unsigned(timestamp, inputs, &outputs).expect("outputs within inputs");
    tx.sign_all(owner);
    tx
}

/// A node whose chain gives `owner` at least `wanted` mature coins of
/// 500,000 units each. Returns the node, the coins and the tip.
fn funded(
    dir: &std::path::Path,
    owner: &SecretKey,
    wanted: usize,
    limits: MempoolLimits,
) -> (Arc<Node>, Vec<Coin>, (Hash, u64, u64)) {
    let node = Node::open(dir, ChainParams::regtest(), limits).expect("node opens");
    let genesis = ChainParams::regtest().genesis();
    let mut tip = (genesis.hash, 0u64, genesis.timestamp);
    let me = owner.address();
    let per_fanout = 250usize;
    let fanouts = wanted.div_ceil(per_fanout);
    let mut coinbases = Vec::new();
    for _ in 0..fanouts + 2 {
        let b = block_on(tip, &me, Vec::new(), 0);
        assert_eq!(
            node.submit_block(&b).expect("coinbase block"),
            Accepted::Connected
        );
        coinbases.push(Coin {
            tx: b.transactions[0].hash,
            index: 0,
            value: b.transactions[0].outputs[0].value.units(),
        });
        tip = (b.hash, b.height, b.timestamp);
    }
    let mut coins = Vec::new();
    let mut pending = Vec::new();
    for cb in coinbases.iter().take(fanouts) {
        let outs: Vec<(Address, u64)> = (0..per_fanout).map(|_| (me, 500_000)).collect();
        let tx = spend(owner, &[*cb], &outs, tip.2);
        for i in 0..per_fanout {
            coins.push(Coin {
                tx: tx.hash,
                index: i as u32,
                value: 500_000,
            });
        }
        pending.push(tx);
        if pending.len() == 40 {
            let b = block_on(tip, &me, std::mem::take(&mut pending), 0);
            node.submit_block(&b).expect("fan-out block");
            tip = (b.hash, b.height, b.timestamp);
        }
    }
    if !pending.is_empty() {
        let b = block_on(tip, &me, pending, 0);
        node.submit_block(&b).expect("fan-out block");
        tip = (b.hash, b.height, b.timestamp);
    }
    (Arc::new(node), coins, tip)
}

/// One-input, one-output transactions paying `to`, one per coin.
fn small_spends(
    owner: &SecretKey,
    coins: &[Coin],
    to: &Address,
    timestamp: u64,
) -> Vec<Transaction> {
    let fee = Transaction::size_for(1, 1) as u64;
    coins
        .iter()
        .map(|c| spend(owner, &[*c], &[(*to, c.value - fee)], timestamp))
        .collect()
}

fn raw_recoveries_per_second(sample: &[Transaction]) -> f64 {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let pairs: Vec<(Hash, Signature)> = sample
        .iter()
        .map(|t| (t.sighash(), t.inputs[0].signature))
        .collect();
    let pairs = Arc::new(pairs);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let pairs = pairs.clone();
            std::thread::spawn(move || {
                let mut ok = 0usize;
                for (i, (h, s)) in pairs.iter().enumerate() {
                    if i % threads == t && cinder::crypto::recover_address(h, s).is_some() {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(total, pairs.len());
    total as f64 / start.elapsed().as_secs_f64()
}

/// Serves `node` over HTTP on a free port; returns the base URL.
fn serve(node: Arc<Node>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        system.block_on(async move {
            let workers = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2);
            cinder::api::serve(node, listener, workers)
                .expect("server")
                .await
                .expect("server runs");
        });
    });
    std::thread::sleep(Duration::from_millis(200));
    format!("http://127.0.0.1:{port}")
}

/// Runs `per_client` requests on each of 32 keep-alive clients; `make`
/// builds request `i` of client `c`. Returns (successes, seconds).
fn load(
    per_client: usize,
    request: impl Fn(&reqwest::blocking::Client, usize, usize) -> bool + Send + Sync + 'static,
) -> (usize, f64) {
    let request = Arc::new(request);
    let ok = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let request = request.clone();
            let ok = ok.clone();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .expect("client");
                for i in 0..per_client {
                    if request(&client, c, i) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
    (ok.load(Ordering::Relaxed), start.elapsed().as_secs_f64())
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let owner = key(7);
    let payee = key(8).address();
    let tmp = tempfile::tempdir().expect("temp dir");

    // 1 + 2: connect blocks of 1,000 one-input transactions.
    let blocks_n = 5;
    let (node, coins, mut tip) = funded(
        &tmp.path().join("connect"),
        &owner,
        blocks_n * 1000,
        MempoolLimits::default(),
    );
    let txs = small_spends(&owner, &coins[..blocks_n * 1000], &payee, tip.2);
    let raw = raw_recoveries_per_second(&txs);
    let mut blocks = Vec::new();
    for chunk in txs.chunks(1000) {
        let b = block_on(tip, &owner.address(), chunk.to_vec(), 0);
        tip = (b.hash, b.height, b.timestamp);
        blocks.push(b);
    }
    let start = Instant::now();
    for b in &blocks {
        assert_eq!(
            node.submit_block(b).expect("block connects"),
            Accepted::Connected
        );
    }
    let secs = start.elapsed().as_secs_f64();
    println!("signature recoveries, all cores (raw limit): {raw:>10.0} /s");
    println!(
        "connect blocks of 1,000 one-input txs:       {:>10.2} blocks/s = {:>8.0} tx/s ({} blocks in {:.2} s)",
        blocks_n as f64 / secs,
        (blocks_n * 1000) as f64 / secs,
        blocks_n,
        secs
    );

    // 3: GET /blocks/last/ with 32 keep-alive clients.
    let url = serve(node.clone());
    let target = format!("{url}/blocks/last/");
    let (ok, secs) = load(500, move |client, _, _| {
        client
            .get(&target)
            .send()
            .map(|r| r.status().is_success() && r.bytes().is_ok())
            .unwrap_or(false)
    });
    println!(
        "GET /blocks/last/, {CLIENTS} keep-alive clients:  {:>10.0} req/s ({ok} in {secs:.2} s)",
        ok as f64 / secs
    );

    // 4: POST /transactions/ with 32 keep-alive clients, distinct valid txs.
    let per_client = 150;
    let (node2, coins2, tip2) = funded(
        &tmp.path().join("intake"),
        &owner,
        CLIENTS * per_client,
        MempoolLimits::default(),
    );
    let bodies: Vec<String> = small_spends(&owner, &coins2[..CLIENTS * per_client], &payee, tip2.2)
        .iter()
        .map(|t| serde_json::to_string(t).expect("JSON"))
        .collect();
    let raw2 = raw_recoveries_per_second(
        &bodies
            .iter()
            .take(2000)
            .map(|b| serde_json::from_str(b).expect("tx"))
            .collect::<Vec<Transaction>>(),
    );
    let bodies = Arc::new(bodies);
    let url2 = serve(node2.clone());
    let post = format!("{url2}/transactions/");
    let (ok, secs) = load(per_client, move |client, c, i| {
        client
            .post(&post)
            .header("content-type", "application/json")
            .body(bodies[c * per_client + i].clone())
            .send()
            .map(|r| r.status().is_success())
            .unwrap_or(false)
    });
    assert_eq!(ok, CLIENTS * per_client, "every transaction accepted");
    assert_eq!(node2.mempool_size(), ok);
    println!("signature recoveries, all cores (raw limit): {raw2:>10.0} /s");
    println!(
        "POST /transactions/, {CLIENTS} keep-alive clients: {:>10.0} accepted tx/s ({ok} in {secs:.2} s)",
        ok as f64 / secs
    );

    // 4b: the same intake without HTTP (Node::submit_transaction on every
    // core), to show what the HTTP layer and the load clients cost.
    let (node4, coins4, tip4) = funded(
        &tmp.path().join("intake-direct"),
        &owner,
        4800,
        MempoolLimits::default(),
    );
    let txs4 = Arc::new(small_spends(&owner, &coins4[..4800], &payee, tip4.2));
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let node = node4.clone();
            let txs = txs4.clone();
            std::thread::spawn(move || {
                txs.iter()
                    .skip(t)
                    .step_by(threads)
                    .filter(|tx| node.submit_transaction((*tx).clone()).is_ok())
                    .count()
            })
        })
        .collect();
    let accepted: usize = handles
        .into_iter()
        .map(|h| h.join().expect("intake thread"))
        .sum();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(accepted, txs4.len());
    println!(
        "submit_transaction without HTTP, {threads} threads: {:>8.0} accepted tx/s ({accepted} in {secs:.2} s)",
        accepted as f64 / secs
    );

    // 5: reorganise 100 blocks of 100 transactions each.
    let (node3, coins3, fork) = funded(
        &tmp.path().join("reorg"),
        &owner,
        100 * 100,
        MempoolLimits::default(),
    );
    let spends = small_spends(&owner, &coins3[..100 * 100], &payee, fork.2);
    let mut a_tip = fork;
    for chunk in spends.chunks(100) {
        let b = block_on(a_tip, &owner.address(), chunk.to_vec(), 0);
        node3.submit_block(&b).expect("branch A");
        a_tip = (b.hash, b.height, b.timestamp);
    }
    // Branch B: the same transactions in other blocks, one block longer.
    let mut b_tip = fork;
    let mut b_blocks = Vec::new();
    for chunk in spends.chunks(100) {
        let b = block_on(b_tip, &key(9).address(), chunk.to_vec(), 1);
        b_tip = (b.hash, b.height, b.timestamp);
        b_blocks.push(b);
    }
    b_blocks.push(block_on(b_tip, &key(9).address(), Vec::new(), 1));
    let last = b_blocks.pop().expect("last block");
    for b in &b_blocks {
        assert_eq!(
            node3.submit_block(b).expect("side block"),
            Accepted::SideChain
        );
    }
    let start = Instant::now();
    assert_eq!(
        node3.submit_block(&last).expect("reorganisation"),
        Accepted::Reorganized
    );
    let secs = start.elapsed().as_secs_f64();
    println!("reorganise 100 blocks of 100 txs (disconnect 100, connect 101): {secs:.2} s");
}
