//! The network lab on real `full-node` processes, small: its delay proxy
//! delays and cuts what it is told to, and on 4 nodes behind 20 ms links a
//! transaction and a block reach everyone, two halves that mined apart agree
//! again without banning each other, and a sync whose peer goes silent
//! mid-way finishes from the other peer. The figures on 16 nodes are
//! `bench`'s (timings belong there, not in tests).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use testing::chain::{self, Coin, owner, payee};
use testing::lab::{self, ALONE, ChainTemplate, LINK_DELAY, Lab};
use testing::{get, get_ok, post, wait_for};

/// The `ip:port`s of a node list.
fn addrs(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|n| format!("{}:{}", n["ip_address"].as_str().unwrap_or("?"), n["port"]))
        .collect()
}

/// A GET through node `to`'s front naming node `from` (or nobody), with a
/// short timeout: the status, or `None` when nothing came back.
fn get_through(lab: &Lab, to: usize, from: Option<usize>, timeout: Duration) -> Option<u16> {
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .expect("HTTP client");
    let mut request = client.get(format!("http://{}/health/", lab.fronts[to]));
    if let Some(from) = from {
        request = request.header("X-Cinder-Node", lab.fronts[from].to_string());
    }
    request.send().ok().map(|r| r.status().as_u16())
}

#[test]
fn the_proxy_delays_both_ways_and_drops_what_is_cut() {
    let mut lab = Lab::new(LINK_DELAY);
    let a = lab.add_node(None, &ALONE);
    let b = lab.add_node(None, &ALONE);
    let patient = Duration::from_secs(10);

    // A request and its answer each wait 20 ms: never under 40 ms.
    let start = Instant::now();
    assert_eq!(get_through(&lab, a, Some(b), patient), Some(200));
    let took = start.elapsed();
    assert!(took >= 2 * LINK_DELAY, "a round trip took only {took:?}");

    // Split: B's requests to A are dropped (no answer, no refusal); the
    // outside still reaches A.
    lab.proxy.partition(&[0, 1]);
    let brief = Duration::from_millis(500);
    assert_eq!(get_through(&lab, a, Some(b), brief), None);
    assert!(lab.proxy.traffic().dropped > 0, "nothing was dropped");
    assert_eq!(get_through(&lab, a, None, patient), Some(200));
    lab.proxy.heal();
    assert_eq!(get_through(&lab, a, Some(b), patient), Some(200));

    // Silence: nobody reaches A, A still reaches B.
    lab.proxy.silence(a);
    assert_eq!(get_through(&lab, a, None, brief), None);
    assert_eq!(get_through(&lab, a, Some(b), brief), None);
    assert_eq!(get_through(&lab, b, Some(a), patient), Some(200));
    lab.proxy.heal();
    assert_eq!(get_through(&lab, a, Some(b), patient), Some(200));
}

#[test]
fn a_small_lab_relays_heals_a_split_and_survives_a_silent_sync_peer() {
    let (blocks, coins) = chain::blocks_with_coins(6, 110);
    let mut tip = blocks.last().expect("a tip").clone();
    let lab = Lab::network(4, 3, &blocks, LINK_DELAY);
    let now = cinder::node::unix_now();
    let pay = |coin: &Coin, n: usize| chain::spend(*coin, &[(payee(n), coin.value - 500)], now);

    // Every node registered and announced its front (`--advertise`), never
    // the address it listens on: the seed and the peers know only fronts.
    let fronts: BTreeSet<String> = lab.fronts.iter().map(|f| f.to_string()).collect();
    let seed = lab.seed.as_ref().expect("a seed");
    assert_eq!(addrs(&get_ok(&seed.url, "/nodes/")), fronts);
    for (i, node) in lab.nodes.iter().enumerate() {
        let mut others = fronts.clone();
        others.remove(&lab.fronts[i].to_string());
        assert_eq!(addrs(&get_ok(&node.url, "/nodes/")), others);
    }

    // A transaction posted to each node in turn reaches the 3 others.
    for (i, coin) in coins[..4].iter().enumerate() {
        let reach = lab.transaction_reach(i, &pay(coin, i));
        assert_eq!(reach.0.len(), 3);
    }
    // A block of 100 transactions reaches every tip.
    let txs = coins[10..110]
        .iter()
        .enumerate()
        .map(|(i, c)| pay(c, 100 + i))
        .collect();
    let block = chain::block_on(&tip, &owner().address(), txs, tip.timestamp + 10);
    assert_eq!(lab.block_reach(1, &block).0.len(), 3);
    tip = block;

    // Split 2 + 2, each half mines its own branch (2 and 3 blocks), then
    // heal: everyone on the heavier branch, nobody banned. The split lasts
    // longer than 3 failed peer checks, so each half forgets the other.
    let healing = lab::split_and_heal(&lab, &tip, 2, 3, Duration::from_secs(4));
    eprintln!("{healing:?}");
    assert!(healing.dropped > 0, "the split dropped nothing");
    assert!(
        healing.bans.is_empty(),
        "honest nodes banned: {:?}",
        healing.bans
    );
    drop(lab);

    // A fresh node syncing from two peers: the one it downloads from goes
    // silent once the first blocks arrived; the sync finishes from the other.
    let stall = lab::stall_mid_sync(&chain::blocks(400, 1), LINK_DELAY);
    eprintln!("{stall:?}");
    assert!(stall.height_at_silence < stall.tip_height);
    assert!(stall.finished_after >= stall.resumed_after);
}

#[test]
fn a_node_that_starts_after_the_others_filled_their_books_still_hears_of_transactions() {
    // 6 nodes looking for 2 peers each: the first ones fill their books
    // with each other before the last ones start. The late ones are kept
    // as peers when they announce themselves, so relay reaches them too.
    let (blocks, coins) = chain::blocks_with_coins(6, 3);
    let chain_dir = ChainTemplate::new(&blocks);
    let mut lab = Lab::with_seed(LINK_DELAY);
    for _ in 0..6 {
        lab.add_peer_node(&chain_dir, 2);
        std::thread::sleep(Duration::from_millis(300));
    }
    lab.wait_until_all_know(2);
    let now = cinder::node::unix_now();
    for (i, coin) in coins.iter().enumerate() {
        let tx = chain::spend(*coin, &[(payee(i), coin.value - 500)], now);
        let (status, answer) = post(
            &lab.nodes[i].url,
            "/transactions/",
            &serde_json::to_string(&tx).expect("JSON"),
        );
        assert_eq!(status, 200, "{answer}");
        let path = format!("/transactions/{}/", tx.hash);
        wait_for(
            "the transaction in every mempool",
            Duration::from_secs(30),
            || {
                let missing: Vec<_> = lab
                    .nodes
                    .iter()
                    .filter(|n| get(&n.url, &path).0 != 200)
                    .map(|n| n.url.clone())
                    .collect();
                missing.is_empty().then_some(())
            },
        );
    }
}
