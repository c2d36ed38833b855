//! Strangers against the real binaries (API.md §1 and §8 "Strangers"):
//! what one client on loopback can send — orphans naming other nodes,
//! announcements of addresses it does not own, a crowd of registrations
//! from one IP, bodies that never end — costs a node or the seed a
//! bounded share, and contacts nobody it has no reason to trust; and a
//! transaction whose relay was missed still reaches every mempool.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::fake_peer::FakePeer;
use testing::chain::{self, Coin, owner, payee};
use testing::lab::node_with_chain;
use testing::{NodeProcess, SeedProcess, get, get_ok, open_fds, post, rss_kib, wait_for};

/// A closed port: nodes of these tests know no seed.
const NO_SEED: &str = "127.0.0.1:1";

fn node_json(addr: &str) -> String {
    let (ip, port) = addr.rsplit_once(':').expect("ip:port");
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    format!(r#"{{"ip_address":"{ip}","port":{port}}}"#)
}

/// `/health/` answers, and within a second.
fn answers_health_quickly(url: &str) {
    let started = Instant::now();
    let (status, body) = get(url, "/health/");
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "/health/ took {:?}",
        started.elapsed()
    );
}

/// A listener on `ip` counting the connections made to it.
fn counting_listener(ip: &str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(format!("{ip}:0")).expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stream.is_ok() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (addr, count)
}

#[test]
fn an_orphan_naming_strangers_a_thousand_times_contacts_nobody() {
    let node = NodeProcess::start(&["--dns", NO_SEED, "--update-interval", "3600"]);
    // A block whose parent the node lacks (height 3 of a chain it never saw).
    let blocks = chain::blocks(4, 1);
    let orphan = serde_json::to_string(&blocks[3]).expect("JSON");
    // Strangers: a node answering on 127.0.0.1 the node does not know, and
    // a listener on another loopback IP (the caller's IP is 127.0.0.1).
    let stranger = FakePeer::start(|_| None);
    let (elsewhere, elsewhere_hits) = counting_listener("127.0.0.9");
    let client = reqwest::blocking::Client::new();
    let fds_before = open_fds(node.pid());
    for i in 0..1000 {
        let named = if i % 2 == 0 {
            stranger.addr()
        } else {
            elsewhere.clone()
        };
        let answer = client
            .post(format!("{}/blocks/", node.url))
            .header("X-Cinder-Node", named)
            .header("content-type", "application/json")
            .body(orphan.clone())
            .send()
            .expect("the node answers");
        assert_eq!(answer.status().as_u16(), 400);
        let body: Value = answer.json().expect("JSON");
        assert_eq!(body["error"], "unknown_parent", "{body}");
    }
    // A sync run starts within a second of a request: give it three.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        stranger.received().is_empty(),
        "the node contacted an unknown node named by a header: {:?}",
        stranger.received()
    );
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "the node contacted a node at another IP than the caller's"
    );
    answers_health_quickly(&node.url);
    let fds = open_fds(node.pid());
    assert!(
        fds < fds_before + 50,
        "descriptors grew from {fds_before} to {fds}"
    );
    assert!(rss_kib(node.pid()) < 300 * 1024);
    assert_eq!(get_ok(&node.url, "/health/")["syncing"], false);
}

#[test]
fn an_announced_node_must_be_at_the_callers_ip_and_one_spelling_is_one_node() {
    let seed = SeedProcess::start(&["-u", "3600"]);
    // A node on 127.0.0.2 registers from 127.0.0.2 (its requests leave
    // from the IP it listens on) and is listed.
    let far = NodeProcess::start(&[
        "-i",
        "127.0.0.2",
        "--dns",
        &seed.addr(),
        "--update-interval",
        "1",
    ]);
    assert!(far.addr().starts_with("127.0.0.2:"), "{}", far.addr());
    wait_for(
        "the seed lists the node on 127.0.0.2",
        Duration::from_secs(20),
        || {
            get_ok(&seed.url, "/nodes/")
                .as_array()
                .is_some_and(|l| l.iter().any(|n| n["ip_address"] == "127.0.0.2"))
                .then_some(())
        },
    );
    // This client is on 127.0.0.1: announcing the node at 127.0.0.2 is
    // refused, at the seed and at a node, before any check.
    let near = NodeProcess::start(&["--dns", NO_SEED, "--update-interval", "3600"]);
    for (url, path) in [(&seed.url, "/nodes/"), (&near.url, "/")] {
        let (status, body) = post(url, path, &node_json(&far.addr()));
        assert_eq!(status, 400, "POST {path}: {body}");
        assert_eq!(body["error"], "bad_request", "{body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("IP the request came from")),
            "{body}"
        );
    }
    // The IPv4-mapped spelling of a node is that node: listed once, in
    // its canonical form.
    let port = near.port();
    for spelling in ["127.0.0.1", "::ffff:127.0.0.1"] {
        let body = format!(r#"{{"ip_address":"{spelling}","port":{port}}}"#);
        let (status, answer) = post(&seed.url, "/nodes/", &body);
        assert_eq!(status, 200, "{spelling}: {answer}");
    }
    let list = get_ok(&seed.url, "/nodes/");
    let near_entries: Vec<&Value> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter(|n| n["port"].as_u64().map(|p| p.to_string()) == Some(port.clone()))
        .collect();
    assert_eq!(near_entries.len(), 1, "{list}");
    assert_eq!(near_entries[0]["ip_address"], "127.0.0.1");
}

/// A minimal node on `ip`: answers every request with `blockchain` (the
/// check asks `GET /blockchain/`). Its `ip:port`.
fn fake_node(ip: &str, blockchain: Arc<String>) -> String {
    let listener = TcpListener::bind(format!("{ip}:0")).expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                blockchain.len(),
                blockchain
            );
        }
    });
    addr
}

#[test]
fn one_ip_registering_a_crowd_takes_an_eighth_of_the_seed_and_honest_nodes_get_in() {
    let seed = SeedProcess::start(&["-u", "3600"]);
    let model = NodeProcess::start(&["--dns", NO_SEED, "--update-interval", "3600"]);
    let blockchain = Arc::new(get_ok(&model.url, "/blockchain/").to_string());
    drop(model);
    // 140 nodes passing the check, all on 127.0.0.1 (one group).
    let crowd: Vec<String> = (0..140)
        .map(|_| fake_node("127.0.0.1", blockchain.clone()))
        .collect();
    for addr in &crowd {
        let (status, body) = post(&seed.url, "/nodes/", &node_json(addr));
        assert_eq!(status, 200, "{addr}: {body}");
    }
    let (status, _) = get(&seed.url, "/nodes/124/");
    assert_eq!(status, 200, "125 kept");
    let (status, body) = get(&seed.url, "/nodes/125/");
    assert_eq!(status, 404, "no more than 125 of one group: {body}");
    // An honest node of another group registers and is listed, and it is
    // in every answer of `GET /nodes/` (a group is drawn first).
    let honest = NodeProcess::start(&[
        "-i",
        "127.0.0.3",
        "--dns",
        &seed.addr(),
        "--update-interval",
        "1",
    ]);
    wait_for("the honest node listed", Duration::from_secs(20), || {
        get_ok(&seed.url, "/nodes/")
            .as_array()
            .is_some_and(|l| l.iter().any(|n| n["ip_address"] == "127.0.0.3"))
            .then_some(())
    });
    for _ in 0..10 {
        let list = get_ok(&seed.url, "/nodes/");
        assert!(
            list.as_array()
                .is_some_and(|l| l.iter().any(|n| n["ip_address"] == "127.0.0.3")),
            "{list}"
        );
    }
    drop(honest);
}

/// Sends a request head announcing `length` bytes of body and 10 of them,
/// then waits: how long until the server answered and closed, and its
/// status line.
fn slow_body(addr: &str, path: &str) -> (Duration, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"a\": 123"
    )
    .expect("write");
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_string();
    (
        started.elapsed(),
        text.lines().next().unwrap_or_default().to_string(),
    )
}

#[test]
fn a_body_that_never_ends_is_cut_at_its_deadline_on_the_node_and_the_seed() {
    let node = NodeProcess::start(&["--dns", NO_SEED, "--update-interval", "3600"]);
    let seed = SeedProcess::start(&["-u", "3600"]);
    let cases = [
        (node.addr(), "/transactions/"),
        (seed.addr(), "/nodes/"),
        (node.addr(), "/"),
    ];
    let handles: Vec<_> = cases
        .into_iter()
        .map(|(addr, path)| std::thread::spawn(move || (path, slow_body(&addr, path))))
        .collect();
    for h in handles {
        let (path, (elapsed, status)) = h.join().expect("the slow client");
        assert!(
            elapsed >= Duration::from_secs(9) && elapsed < Duration::from_secs(20),
            "POST {path}: closed after {elapsed:?}"
        );
        assert!(status.contains(" 400 "), "POST {path}: {status:?}");
    }
    answers_health_quickly(&node.url);
}

#[test]
fn a_transaction_whose_relay_was_missed_reaches_a_peer_through_the_merge() {
    let (blocks, coins) = chain::blocks_with_coins(8, 2);
    let flags = [
        "--dns",
        NO_SEED,
        "--update-interval",
        "1",
        "--sync-interval",
        "1",
    ];
    let a = node_with_chain(&blocks, &flags);
    let b = node_with_chain(&blocks, &flags);
    // Posted to A while A knows nobody: no relay can carry it.
    let coin: Coin = coins[0];
    let tx = chain::spend(
        coin,
        &[(payee(9), 10_000), (owner().address(), coin.value - 11_000)],
        cinder::node::unix_now(),
    );
    let (status, body) = post(
        &a.url,
        "/transactions/",
        &serde_json::to_string(&tx).expect("JSON"),
    );
    assert_eq!(status, 200, "{body}");
    // B learns of A; both chains are equal, so no sync run ever merges.
    let (status, body) = post(&b.url, "/", &node_json(&a.addr()));
    assert_eq!(status, 200, "{body}");
    let hash = tx.hash.to_string();
    wait_for(
        "the transaction in B's mempool",
        Duration::from_secs(20),
        || (get(&b.url, &format!("/transactions/{hash}/")).0 == 200).then_some(()),
    );
}

#[test]
fn a_peer_whose_mempool_never_answers_does_not_freeze_sync() {
    let blocks = chain::blocks(10, 1);
    let honest = node_with_chain(&blocks, &["--dns", NO_SEED, "--update-interval", "3600"]);
    let claim = get_ok(&honest.url, "/blockchain/");
    drop(honest);
    let script = chain::SilentMempoolPeer::new(blocks.clone(), claim.to_string(), 5000);
    let stalling =
        FakePeer::start(move |r| script.answer(&r.target).map(|b| (200, b.into_bytes())));
    let flags = [
        "--dns",
        NO_SEED,
        "--update-interval",
        "3600",
        "--sync-interval",
        "1",
    ];
    let b = NodeProcess::start(&flags);
    let (status, body) = post(&b.url, "/", &stalling.node_json());
    assert_eq!(status, 200, "{body}");
    let tip = blocks.last().expect("a tip").hash.to_string();
    wait_for(
        "B synced from the stalling peer",
        Duration::from_secs(20),
        || (get_ok(&b.url, "/blocks/last/")["hash"] == tip.as_str()).then_some(()),
    );
    // The merge of its 5,000 silent transactions goes on apart: sync is
    // not held, and says so.
    wait_for("B no longer syncing", Duration::from_secs(5), || {
        (get_ok(&b.url, "/health/")["syncing"] == false).then_some(())
    });
    // A heavier chain shows up: B follows it at its next sync interval.
    let longer = chain::blocks(14, 1);
    let other = node_with_chain(&longer, &["--dns", NO_SEED, "--update-interval", "3600"]);
    let (status, body) = post(&b.url, "/", &node_json(&other.addr()));
    assert_eq!(status, 200, "{body}");
    let longer_tip = longer.last().expect("a tip").hash.to_string();
    wait_for("B on the heavier chain", Duration::from_secs(20), || {
        (get_ok(&b.url, "/blocks/last/")["hash"] == longer_tip.as_str()).then_some(())
    });
    // The merge gave up after three silent fetches in a row.
    let fetched = stalling
        .received()
        .iter()
        .filter(|r| r.target.starts_with("/transactions/") && r.target.len() > 20)
        .count();
    assert!(
        fetched <= 6,
        "{fetched} transactions asked of a silent peer"
    );
}
