//! Relay between real `full-node` processes (API.md §8 "Relay"): what is
//! posted or mined anywhere reaches every node, never goes back to its
//! sender, and a silent peer holds nobody up.

mod support;

use std::time::{Duration, Instant};

use cinder::types::Block;
use serde_json::json;
use support::fake_peer::{FakePeer, json as answer};
use testing::chain::{self, Coin, owner, payee};
use testing::lab::{args, network_args, node_with_chain};
use testing::{NodeProcess, SeedProcess, get, get_ok, post, wait_for};

const SPREAD: Duration = Duration::from_secs(30);

fn peers(url: &str) -> u64 {
    get(url, "/health/").1["peers"].as_u64().unwrap_or(0)
}

fn in_mempool(url: &str, hash: &str) -> bool {
    get(url, &format!("/transactions/{hash}/")).0 == 200
}

fn tip(url: &str) -> String {
    get(url, "/blocks/last/").1["hash"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The last coin of a built chain: the change of the block's last payment.
fn spendable(blocks: &[Block]) -> Vec<Coin> {
    let last = blocks.last().expect("a tip");
    last.transactions
        .iter()
        .skip(1)
        .map(|t| Coin {
            tx: t.hash,
            index: 1,
            value: t.outputs[1].value.units(),
        })
        .collect()
}

/// Three nodes around a seed, sharing a funded chain, knowing each other.
fn three_nodes() -> (SeedProcess, Vec<NodeProcess>, Vec<Block>) {
    let seed = SeedProcess::start(&["-u", "1"]);
    let net = network_args(&seed.addr(), 30);
    let blocks = chain::blocks(8, 4);
    let nodes: Vec<NodeProcess> = (0..3)
        .map(|_| node_with_chain(&blocks, &args(&net)))
        .collect();
    for n in &nodes {
        wait_for("every node knows the two others", SPREAD, || {
            (peers(&n.url) >= 2).then_some(())
        });
    }
    (seed, nodes, blocks)
}

#[test]
fn transactions_and_blocks_reach_every_node() {
    let (_seed, nodes, blocks) = three_nodes();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let coins = spendable(&blocks);
    let tx = chain::spend(
        coins[0],
        &[
            (payee(50), 10_000),
            (owner().address(), coins[0].value - 11_000),
        ],
        cinder::node::unix_now(),
    );
    let (status, body) = post(
        &a.url,
        "/transactions/",
        &serde_json::to_string(&tx).expect("JSON"),
    );
    assert_eq!(status, 200, "{body}");
    let hash = tx.hash.to_string();
    for n in [b, c] {
        wait_for("the transaction in every mempool", SPREAD, || {
            in_mempool(&n.url, &hash).then_some(())
        });
    }
    // A block posted to B becomes the tip of A and C.
    let block = testing::mine_block(&b.url, &payee(60));
    for n in [a, c] {
        wait_for("the block is every tip", SPREAD, || {
            (tip(&n.url) == block.hash.to_string()).then_some(())
        });
    }
    // Its transaction left every mempool.
    for n in [a, b, c] {
        wait_for("confirmed everywhere", SPREAD, || {
            (!in_mempool(&n.url, &hash)).then_some(())
        });
    }
}

#[test]
fn a_mined_block_reaches_the_others() {
    let seed = SeedProcess::start(&["-u", "1"]);
    let net = network_args(&seed.addr(), 30);
    let miner_address = payee(77).to_string();
    let mut miner_args = args(&net);
    miner_args.extend([
        "--mine",
        "--reward-address",
        &miner_address,
        "--mine-interval",
        "1",
    ]);
    let a = NodeProcess::start(&args(&net));
    let c = NodeProcess::start(&miner_args);
    wait_for("the miner's block at A", SPREAD, || {
        let last = get_ok(&a.url, "/blocks/last/");
        (last["creator"] == json!(miner_address)).then_some(())
    });
    drop(c);
}

#[test]
fn nothing_goes_back_to_its_sender_and_a_silent_peer_holds_nobody_up() {
    let seed = SeedProcess::start(&["-u", "1"]);
    let net = network_args(&seed.addr(), 30);
    let blocks = chain::blocks(8, 6);
    let a = node_with_chain(&blocks, &args(&net));
    let b = node_with_chain(&blocks, &args(&net));
    wait_for("A and B know each other", SPREAD, || {
        (peers(&a.url) >= 1 && peers(&b.url) >= 1).then_some(())
    });
    let genesis_info = get_ok(&a.url, "/blockchain/");
    // A fake peer that counts what it gets, and one that never answers a post.
    let info = genesis_info.clone();
    let counter = FakePeer::start(move |r| match (r.method.as_str(), r.target.as_str()) {
        ("GET", t) if t.starts_with("/blockchain") => answer(200, &info),
        ("POST", t) if t.starts_with("/transactions") => Some((200, r.body.clone())),
        _ => answer(404, &json!({"error": "not_found", "message": "no"})),
    });
    let info = genesis_info.clone();
    let silent = FakePeer::start(move |r| match (r.method.as_str(), r.target.as_str()) {
        ("GET", t) if t.starts_with("/blockchain") => answer(200, &info),
        _ => None,
    });
    for fake in [&counter, &silent] {
        let (status, body) = post(&a.url, "/", &fake.node_json());
        assert_eq!(status, 200, "{body}");
    }
    let coins = spendable(&blocks);
    let now = cinder::node::unix_now();
    let pay = |coin: Coin, n: usize| {
        chain::spend(
            coin,
            &[(payee(n), 10_000), (owner().address(), coin.value - 11_000)],
            now,
        )
    };
    // The counter posts one transaction to A naming itself.
    let from_counter = pay(coins[0], 1);
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/transactions/", a.url))
        .header("content-type", "application/json")
        .header("X-Cinder-Node", counter.addr())
        .body(serde_json::to_string(&from_counter).expect("JSON"))
        .send()
        .expect("A answers");
    assert_eq!(response.status().as_u16(), 200);
    // Later ones, from a client, reach it; and reach B despite the silent peer.
    let started = Instant::now();
    let later: Vec<_> = (1..5).map(|i| pay(coins[i], i + 1)).collect();
    for t in &later {
        let (status, body) = post(
            &a.url,
            "/transactions/",
            &serde_json::to_string(t).expect("JSON"),
        );
        assert_eq!(status, 200, "{body}");
    }
    for t in &later {
        let hash = t.hash.to_string();
        wait_for("B has them", SPREAD, || {
            in_mempool(&b.url, &hash).then_some(())
        });
    }
    let spread = started.elapsed();
    assert!(
        spread < Duration::from_secs(3),
        "a silent peer delayed relay to B: {spread:?} (bound: 3 s; one post times out after 5 s)"
    );
    wait_for("the counter got the later ones", SPREAD, || {
        let got = counter.received();
        later
            .iter()
            .all(|t| {
                got.iter().any(|r| {
                    r.method == "POST"
                        && String::from_utf8_lossy(&r.body).contains(&t.hash.to_string())
                })
            })
            .then_some(())
    });
    let echoed = counter.received().iter().any(|r| {
        r.method == "POST"
            && String::from_utf8_lossy(&r.body).contains(&from_counter.hash.to_string())
    });
    assert!(!echoed, "a transaction went back to the peer that sent it");
    // Every post names its sender.
    assert!(
        counter
            .received()
            .iter()
            .filter(|r| r.method == "POST")
            .all(|r| r.from.as_deref() == Some(&a.addr()))
    );
}

#[test]
fn a_thousand_transactions_posted_quickly_all_reach_the_far_node() {
    let (_seed, nodes, _) = three_nodes();
    let (a, c) = (&nodes[0], &nodes[2]);
    // Coinbases to the owner, then four fan-outs of 250 (at most 256
    // outputs a transaction).
    let me = owner().address();
    for _ in 0..6 {
        testing::mine_block(&a.url, &me);
    }
    let top = get_ok(&a.url, "/blocks/last/")["height"]
        .as_u64()
        .expect("height");
    let now = cinder::node::unix_now();
    let mut coins = Vec::new();
    for h in top - 5..=top - 2 {
        let block: Block =
            serde_json::from_value(get_ok(&a.url, &format!("/blocks/{h}/full/"))).expect("a block");
        let cb = &block.transactions[0];
        let total = cb.outputs[0].value.units();
        let each = (total - 200_000) / 250;
        let fan = chain::spend(
            Coin {
                tx: cb.hash,
                index: 0,
                value: total,
            },
            &vec![(me, each); 250],
            now,
        );
        let (status, body) = post(
            &a.url,
            "/transactions/",
            &serde_json::to_string(&fan).expect("JSON"),
        );
        assert_eq!(status, 200, "{body}");
        coins.extend((0..250u32).map(|i| Coin {
            tx: fan.hash,
            index: i,
            value: each,
        }));
    }
    testing::mine_block(&a.url, &me);
    let txs: Vec<String> = coins
        .iter()
        .enumerate()
        .map(|(i, coin)| {
            serde_json::to_string(&chain::spend(*coin, &[(payee(i), coin.value - 500)], now))
                .expect("JSON")
        })
        .collect();
    assert_eq!(txs.len(), 1000);
    let url = a.url.clone();
    let posters: Vec<_> = txs
        .chunks(250)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            let url = url.clone();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                for body in chunk {
                    let r = http
                        .post(format!("{url}/transactions/"))
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .expect("A answers");
                    assert_eq!(r.status().as_u16(), 200);
                }
            })
        })
        .collect();
    for p in posters {
        p.join().expect("poster");
    }
    wait_for("all 1,000 in C's mempool", Duration::from_secs(60), || {
        let size = get_ok(&c.url, "/blockchain/")["mempool_size"]
            .as_u64()
            .unwrap_or(0);
        (size >= 1000).then_some(())
    });
}
