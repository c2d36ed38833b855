//! Sync between real `full-node` processes (API.md §8 "Sync", "Bad
//! peers"): a late joiner catches up through the seed, a split network
//! heals, dishonest peers are banned while an honest one is synced from,
//! and a node killed mid-sync finishes after a restart.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::fake_peer::{FakePeer, json as answer};
use testing::chain::{self, owner, payee};
use testing::lab::{ALONE, args, network_args, node_with_chain};
use testing::{NodeProcess, SeedProcess, get, get_ok, post, wait_for};

const CATCH_UP: Duration = Duration::from_secs(120);

/// What two nodes on the same chain must show alike.
fn state_of(url: &str) -> Value {
    let mut info = get_ok(url, "/blockchain/");
    if let Some(o) = info.as_object_mut() {
        o.remove("mempool_size");
    }
    let mut addresses = vec![owner().address()];
    addresses.extend((1..=5).map(payee));
    let per_address: Vec<Value> = addresses
        .iter()
        .map(|a| {
            json!({
                "utxo": get_ok(url, &format!("/utxo/{a}/")),
                "address": get_ok(url, &format!("/addresses/{a}/")),
            })
        })
        .collect();
    json!({"blockchain": info, "addresses": per_address})
}

fn best_hash(url: &str) -> String {
    get(url, "/blockchain/").1["best_hash"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn height(url: &str) -> u64 {
    get(url, "/blockchain/").1["height"].as_u64().unwrap_or(0)
}

#[test]
fn a_late_joiner_catches_up_through_the_seed() {
    let seed = SeedProcess::start(&["-u", "1"]);
    let net = network_args(&seed.addr(), 1);
    let blocks = chain::blocks(320, 8);
    let a = node_with_chain(&blocks, &args(&net));
    let target = blocks.last().expect("a tip").hash.to_string();
    assert_eq!(best_hash(&a.url), target);
    let b = NodeProcess::start(&args(&net));
    wait_for("B on A's best hash", CATCH_UP, || {
        (best_hash(&b.url) == target).then_some(())
    });
    assert_eq!(state_of(&b.url), state_of(&a.url));
    let health = get_ok(&b.url, "/health/");
    assert_eq!(health["height"], 320);
}

#[test]
fn a_split_network_heals_on_the_heavier_branch() {
    // A common prefix, then A mines one block holding a payment, B two
    // empty ones, each alone.
    let prefix = chain::blocks(6, 2);
    let tip = prefix.last().expect("a tip").clone();
    // A coin both branches share: the change output of the last payment.
    let shared = chain::Coin {
        tx: tip.transactions[1].hash,
        index: 1,
        value: tip.transactions[1].outputs[1].value.units(),
    };
    let payment = chain::spend(
        shared,
        &[
            (payee(99), 5_000),
            (owner().address(), shared.value - 6_000),
        ],
        tip.timestamp + 1,
    );
    let a1 = chain::block_on(&tip, &payee(100), vec![payment.clone()], tip.timestamp + 10);
    let b1 = chain::block_on(&tip, &payee(101), Vec::new(), tip.timestamp + 11);
    let b2 = chain::block_on(&b1, &payee(101), Vec::new(), tip.timestamp + 20);
    let mut a_blocks = prefix.clone();
    a_blocks.push(a1);
    let mut b_blocks = prefix;
    b_blocks.extend([b1, b2.clone()]);
    // No seed answers at this address: each runs alone.
    let a = node_with_chain(&a_blocks, &ALONE);
    let b = node_with_chain(&b_blocks, &ALONE);
    assert_ne!(best_hash(&a.url), best_hash(&b.url));
    // Introduced: B announces itself to A.
    let b_node =
        json!({"ip_address": "127.0.0.1", "port": b.port().parse::<u16>().expect("a port")});
    let (status, body) = post(&a.url, "/", &b_node.to_string());
    assert_eq!(status, 200, "{body}");
    let winner = b2.hash.to_string();
    wait_for("both on the heavier branch", CATCH_UP, || {
        (best_hash(&a.url) == winner && best_hash(&b.url) == winner).then_some(())
    });
    assert_eq!(state_of(&a.url), state_of(&b.url));
    // The losing branch's payment is still valid: back in both mempools.
    for url in [&a.url, &b.url] {
        wait_for(
            "the payment back in the mempool",
            Duration::from_secs(30),
            || (get(url, &format!("/transactions/{}/", payment.hash)).0 == 200).then_some(()),
        );
    }
}

#[test]
fn liars_are_banned_the_slow_peer_is_not_and_the_honest_one_is_synced_from() {
    let blocks = chain::blocks(40, 2);
    let honest = node_with_chain(&blocks, &["--dns", "127.0.0.1:9"]);
    let info = get_ok(&honest.url, "/blockchain/");
    let genesis = info["genesis_hash"].clone();
    let huge = json!("1000000000000000000000000");
    let claim = move |work: &Value| {
        let mut i = info.clone();
        i["total_work"] = work.clone();
        i["height"] = json!(1_000_000);
        i
    };
    // 1. Claims huge work and serves a block that breaks a rule.
    let bad_block = {
        let mut b = blocks[1].clone();
        b.transactions[0].outputs[0].value =
            cinder::types::Amount::from_units(b.transactions[0].outputs[0].value.units() + 1);
        b.transactions[0].hash = b.transactions[0].compute_hash();
        b.seal();
        assert!(b.solve(10_000_000));
        b
    };
    let liar_claim = claim(&huge);
    let bad = bad_block.clone();
    let rule_breaker = FakePeer::start(move |r| match r.target.as_str() {
        t if t.starts_with("/blockchain") => answer(200, &liar_claim),
        t if t.starts_with("/headers") => answer(200, &json!([bad.header()])),
        t if t.starts_with("/blocks/?hashes") => answer(200, &json!([bad])),
        _ => answer(404, &json!({"error": "not_found", "message": "no"})),
    });
    // 2. Serves headers of another genesis.
    let foreign = {
        let mut params = cinder::consensus::ChainParams::regtest();
        params.genesis_hash = cinder::types::Hash([7; 32]);
        let mut g = params.genesis();
        g.prev_hash = cinder::types::Hash([7; 32]);
        g.seal();
        assert!(g.solve(10_000_000));
        let next = chain::block_on(&g, &payee(3), Vec::new(), g.timestamp + 10);
        vec![next.header()]
    };
    let other_claim = claim(&huge);
    let other_genesis = FakePeer::start(move |r| match r.target.as_str() {
        t if t.starts_with("/blockchain") => answer(200, &other_claim),
        t if t.starts_with("/headers") => answer(200, &json!(foreign)),
        _ => answer(404, &json!({"error": "not_found", "message": "no"})),
    });
    // 3. Answers /blockchain/, then nothing else ever.
    let slow_claim = claim(&huge);
    let slow = FakePeer::start(move |r| match r.target.as_str() {
        t if t.starts_with("/blockchain") => answer(200, &slow_claim),
        _ => None,
    });
    // 4. Answers headers with a body past its bound.
    let big_claim = claim(&huge);
    let oversized = FakePeer::start(move |r| match r.target.as_str() {
        t if t.starts_with("/blockchain") => answer(200, &big_claim),
        t if t.starts_with("/headers") => Some((200, vec![b' '; 3 * 1024 * 1024])),
        _ => answer(404, &json!({"error": "not_found", "message": "no"})),
    });
    assert_eq!(genesis, get_ok(&honest.url, "/blockchain/")["genesis_hash"]);

    let b = NodeProcess::start(&ALONE);
    for peer in [&rule_breaker, &other_genesis, &slow, &oversized] {
        let (status, body) = post(&b.url, "/", &peer.node_json());
        assert_eq!(status, 200, "{body}");
    }
    let honest_node =
        json!({"ip_address": "127.0.0.1", "port": honest.port().parse::<u16>().expect("a port")});
    let (status, body) = post(&b.url, "/", &honest_node.to_string());
    assert_eq!(status, 200, "{body}");
    let target = blocks.last().expect("a tip").hash.to_string();
    wait_for("B synced from the honest peer", CATCH_UP, || {
        (best_hash(&b.url) == target).then_some(())
    });
    assert_eq!(state_of(&b.url), state_of(&honest.url));
    // The liars are gone and stay gone; the slow one is still known.
    wait_for("the liars dropped", Duration::from_secs(30), || {
        let nodes = get_ok(&b.url, "/nodes/");
        let listed = |p: &FakePeer| {
            nodes
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n["port"] == json!(p.port)))
        };
        (!listed(&rule_breaker) && !listed(&other_genesis) && !listed(&oversized) && listed(&slow))
            .then_some(())
    });
    // The banned ones are refused at the door (API.md §8 "Bans": 403).
    for liar in [&rule_breaker, &oversized] {
        let (status, body) = post(&b.url, "/", &liar.node_json());
        assert_eq!(status, 403, "a banned peer announcing itself: {body}");
        assert_eq!(body["error"], "forbidden", "{body}");
    }
    for liar in [&rule_breaker, &other_genesis, &oversized] {
        let _ = post(&b.url, "/", &liar.node_json());
        let nodes = get_ok(&b.url, "/nodes/");
        assert!(
            !nodes
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n["port"] == json!(liar.port))),
            "a banned peer is not re-added by POST /"
        );
    }
    assert!(height(&b.url) == 40);
}

#[test]
fn a_node_killed_mid_sync_finishes_after_a_restart() {
    let seed = SeedProcess::start(&["-u", "1"]);
    let net = network_args(&seed.addr(), 1);
    let blocks = chain::blocks(400, 10);
    let a = node_with_chain(&blocks, &args(&net));
    let target = blocks.last().expect("a tip").hash.to_string();
    let b = NodeProcess::start(&args(&net));
    let reached = wait_for("B syncing", CATCH_UP, || {
        let h = height(&b.url);
        (h > 0).then_some(h)
    });
    let root = b.kill();
    eprintln!("killed at height {reached} of 400");
    let b = NodeProcess::start_in(root, &args(&net));
    wait_for("B on A's best hash after the restart", CATCH_UP, || {
        (best_hash(&b.url) == target).then_some(())
    });
    assert_eq!(state_of(&b.url), state_of(&a.url));
}

/// Two mining nodes on one network converge: at some moment both show the
/// same best hash, both have won blocks of that chain, and its blocks link
/// height after height (a block found on a stale tip was never connected
/// on top of the newer one).
#[test]
fn two_miners_converge_and_both_win_blocks() {
    let seed = SeedProcess::start(&["-u", "1"]);
    let net = network_args(&seed.addr(), 1);
    let (x, y) = (payee(150).to_string(), payee(151).to_string());
    let with_miner = |address: &str| {
        let mut a = net.clone();
        a.extend(
            [
                "--mine",
                "--reward-address",
                address,
                "--mine-interval",
                "1",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        a
    };
    let a = NodeProcess::start(&args(&with_miner(&x)));
    let b = NodeProcess::start(&args(&with_miner(&y)));
    let both_won = |url: &str| {
        let h = height(url);
        let creators: std::collections::BTreeSet<String> = (1..=h)
            .filter_map(|i| {
                get(url, &format!("/blocks/{i}/")).1["creator"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        creators.contains(&x) && creators.contains(&y)
    };
    wait_for(
        "both miners won blocks of one chain",
        Duration::from_secs(90),
        || {
            (best_hash(&a.url) == best_hash(&b.url) && height(&a.url) >= 4 && both_won(&a.url))
                .then_some(())
        },
    );
    // The chain A shows links block after block (read again if a block
    // arrives during the walk and moves the tip).
    let links = |url: &str| {
        let tip = best_hash(url);
        let h = height(url);
        let mut prev = get_ok(url, "/blocks/0/")["hash"].clone();
        for i in 1..=h {
            let block = get(url, &format!("/blocks/{i}/")).1;
            if block["prev_hash"] != prev {
                return false;
            }
            prev = block["hash"].clone();
        }
        prev.as_str() == Some(tip.as_str())
    };
    wait_for(
        "a consistent walk of the chain",
        Duration::from_secs(30),
        || links(&a.url).then_some(()),
    );
}

/// A block relayed with `X-Cinder-Node` whose parent the receiver lacks
/// answers `unknown_parent`, and the receiver syncs from the node it names
/// at once (its sync interval is far away).
#[test]
fn an_unknown_parent_from_a_named_node_starts_a_sync_from_it() {
    let blocks = chain::blocks(12, 2);
    let quiet = [
        "--dns",
        "127.0.0.1:9",
        "--update-interval",
        "300",
        "--sync-interval",
        "300",
    ];
    // Both start on the same chain but its last two blocks.
    let start = &blocks[..blocks.len() - 2];
    let a = node_with_chain(start, &quiet);
    let b = node_with_chain(start, &quiet);
    // B knows A (API.md §8 "Named syncs": only a known peer is synced
    // from); A does not know B, so nothing is relayed to B.
    let (status, body) = testing::post(
        &b.url,
        "/",
        &format!(r#"{{"ip_address":"127.0.0.1","port":{}}}"#, a.port()),
    );
    assert_eq!(status, 200, "{body}");
    // Let B's look at its new peer pass (equal chains: nothing to sync).
    std::thread::sleep(Duration::from_secs(3));
    for block in &blocks[blocks.len() - 2..] {
        testing::post_block(&a.url, block);
    }
    let tip = blocks.last().expect("a tip");
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/blocks/", b.url))
        .header("content-type", "application/json")
        .header("X-Cinder-Node", a.addr())
        .body(serde_json::to_string(tip).expect("JSON"))
        .send()
        .expect("B answers");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().expect("an error body");
    assert_eq!(body["error"], "unknown_parent");
    let target = tip.hash.to_string();
    // Well before B's next periodic run (300 s).
    wait_for(
        "B synced from the node that relayed",
        Duration::from_secs(30),
        || (best_hash(&b.url) == target).then_some(()),
    );
}
