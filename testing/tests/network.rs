//! The seed (`dns-server`) and the full nodes' address books as real
//! processes (API.md §1, §8 "Peers"): nodes that know only the seed find
//! each other, the dead are dropped, the restarted come back, another
//! chain is refused, the seed keeps its list across restarts, and bad
//! input gets 400/413.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use testing::{NodeProcess, SeedProcess, get, get_ok, post, request, run_to_end, wait_for};

/// The one answer to a node that failed the check (API.md §1).
const CHECK_FAILED: &str = "the announced node did not pass the check";

/// A server on a free loopback port answering every connection with an
/// HTTP 200 whose body is `secret`; its `ip:port`.
fn junk_server(secret: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                secret.len() + 2,
                format_args!("\"{secret}\"")
            );
        }
    });
    addr
}

/// A node body for `ip:port`.
fn node_json(addr: &str) -> String {
    let (ip, port) = addr.rsplit_once(':').expect("ip:port");
    format!(r#"{{"ip_address":"{ip}","port":{port}}}"#)
}

/// `ip:port` of every node in a `GET /nodes/`-shaped answer.
fn addrs(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|n| {
            let ip = n["ip_address"].as_str().unwrap_or_else(|| panic!("{n}"));
            let port = n["port"].as_u64().unwrap_or_else(|| panic!("{n}"));
            format!("{ip}:{port}")
        })
        .collect()
}

fn listed(url: &str) -> BTreeSet<String> {
    addrs(&get_ok(url, "/nodes/"))
}

fn health_peers(url: &str) -> u64 {
    get_ok(url, "/health/")["peers"]
        .as_u64()
        .expect("peers is a number")
}

fn set(items: &[&String]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn assert_error(what: &str, status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{what}: {body}");
    assert_eq!(body["error"], code, "{what}: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: a message: {body}"
    );
}

/// Each node lists exactly the others and `/health/` counts them.
fn each_knows_the_others(nodes: &[&NodeProcess]) -> bool {
    nodes.iter().all(|n| {
        let others: BTreeSet<String> = nodes
            .iter()
            .filter(|o| o.url != n.url)
            .map(|o| o.addr())
            .collect();
        listed(&n.url) == others && health_peers(&n.url) == others.len() as u64
    })
}

#[test]
fn nodes_find_each_other_through_the_seed_drop_the_dead_and_take_back_the_restarted() {
    let seed = SeedProcess::start(&["-u", "1"]);
    let dns = seed.addr();
    let args = ["--dns", dns.as_str(), "--update-interval", "1"];
    let first_start = Instant::now();
    let a = NodeProcess::start(&args);
    let b = NodeProcess::start(&args);
    let c = NodeProcess::start(&args);
    let all_started = Instant::now();
    wait_for(
        "each node knowing the other two",
        Duration::from_secs(20),
        || each_knows_the_others(&[&a, &b, &c]).then_some(()),
    );
    eprintln!(
        "MEASURE three nodes knew each other {:?} after the first start ({:?} after all three printed their URL)",
        first_start.elapsed(),
        all_started.elapsed()
    );
    assert_eq!(listed(&seed.url), set(&[&a.addr(), &b.addr(), &c.addr()]));

    // C dies without a word: the seed drops it at its next check, A and B
    // after three failed checks in a row.
    let c_addr = c.addr();
    let c_port = c.port();
    let killed = Instant::now();
    let c_root = c.kill();
    wait_for(
        "the seed dropping the killed node",
        Duration::from_secs(5),
        || (!listed(&seed.url).contains(&c_addr)).then_some(()),
    );
    let seed_dropped = killed.elapsed();
    wait_for(
        "A and B dropping the killed node",
        Duration::from_secs(15),
        || each_knows_the_others(&[&a, &b]).then_some(()),
    );
    let peers_dropped = killed.elapsed();
    eprintln!(
        "MEASURE killed node dropped by the seed after {seed_dropped:?}, by its peers after {peers_dropped:?}"
    );
    assert!(
        peers_dropped >= Duration::from_secs(2),
        "peers drop after 3 failed checks, one a second: {peers_dropped:?}"
    );
    assert!(
        b.stderr().contains("dropped"),
        "the drop is logged: {}",
        b.stderr()
    );
    assert!(
        seed.stderr().contains("dropped") && seed.stderr().contains(&c_addr),
        "the seed logs who it dropped: {}",
        seed.stderr()
    );

    // C restarts on its address: everyone takes it back.
    let c = NodeProcess::start_on(c_root, &c_port, &args);
    wait_for(
        "the restarted node back everywhere",
        Duration::from_secs(20),
        || {
            (each_knows_the_others(&[&a, &b, &c])
                && listed(&seed.url) == set(&[&a.addr(), &b.addr(), &c.addr()]))
            .then_some(())
        },
    );
    // Never itself.
    for n in [&a, &b, &c] {
        assert!(!listed(&n.url).contains(&n.addr()));
    }
}

#[test]
fn a_node_of_another_chain_is_refused_by_the_seed_and_by_nodes() {
    let seed = SeedProcess::start(&["-u", "1"]);
    let dns = seed.addr();
    let a = NodeProcess::start(&["--dns", dns.as_str(), "--update-interval", "1"]);
    let other = NodeProcess::start(&[
        "--chain",
        "test_blockchain",
        "--dns",
        dns.as_str(),
        "--update-interval",
        "1",
    ]);
    let their_genesis = get_ok(&other.url, "/blockchain/")["genesis_hash"]
        .as_str()
        .expect("genesis_hash")
        .to_string();
    let our_genesis = get_ok(&a.url, "/blockchain/")["genesis_hash"]
        .as_str()
        .expect("genesis_hash")
        .to_string();
    assert_ne!(their_genesis, our_genesis);
    wait_for("the seed listing A", Duration::from_secs(10), || {
        listed(&seed.url).contains(&a.addr()).then_some(())
    });
    for (url, path) in [
        (&seed.url, "/nodes/"),
        (&seed.url, "/"),
        (&a.url, "/"),
        (&a.url, "/nodes/"),
    ] {
        let (status, body) = post(url, path, &node_json(&other.addr()));
        let what = format!("POST {url}{path} of a test_blockchain node");
        assert_error(&what, status, &body, 400, "bad_request");
        // API.md §1: one fixed message; why goes to the server's log.
        assert_eq!(
            body["message"], CHECK_FAILED,
            "{what}: the fixed message, nothing of what the node answered: {body}"
        );
        assert!(!body.to_string().contains(&their_genesis), "{what}: {body}");
    }
    // A few rounds later nobody took it, and it took nobody.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(listed(&seed.url), set(&[&a.addr()]));
    assert!(listed(&a.url).is_empty());
    assert!(listed(&other.url).is_empty(), "A runs another chain for it");
    assert_eq!(health_peers(&other.url), 0);
    let seed_log = seed.stderr();
    assert!(
        seed_log.contains("refused") && seed_log.contains(&other.addr()),
        "the seed logs whom it refused: {seed_log}"
    );
}

#[test]
fn the_seed_keeps_its_list_across_restarts_and_rechecks_it() {
    let seed = SeedProcess::start(&["-u", "1"]);
    let port = seed.port();
    let dns = seed.addr();
    // Nodes that register only at their start: after the seed's restart,
    // the list can only come from its file.
    let args = ["--dns", dns.as_str(), "--update-interval", "3600"];
    let a = NodeProcess::start(&args);
    let b = NodeProcess::start(&args);
    let both = set(&[&a.addr(), &b.addr()]);
    wait_for(
        "the seed listing both nodes",
        Duration::from_secs(10),
        || (listed(&seed.url) == both).then_some(()),
    );
    let (root, status) = seed.stop();
    assert!(status.success(), "clean stop on SIGTERM: {status}");
    let seed = SeedProcess::start_on(root, &port, &["-u", "1"]);
    assert_eq!(listed(&seed.url), both, "the list is back at once");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(listed(&seed.url), both, "and still there after its checks");

    // A node that dies while the seed is down is dropped at the check the
    // seed runs at its start.
    let (root, _) = seed.stop();
    let b_addr = b.addr();
    drop(b);
    let seed = SeedProcess::start_on(root, &port, &["-u", "3600"]);
    wait_for(
        "the restarted seed dropping the dead node",
        Duration::from_secs(10),
        || (listed(&seed.url) == set(&[&a.addr()])).then_some(()),
    );
    assert!(seed.stderr().contains(&b_addr), "{}", seed.stderr());
}

#[test]
fn the_seed_refuses_bad_input_with_400_or_413() {
    let seed = SeedProcess::start(&["-u", "1"]);
    // An empty seed.
    assert!(listed(&seed.url).is_empty());
    let (status, body) = get(&seed.url, "/nodes/random/");
    assert_error(
        "GET /nodes/random/ of an empty seed",
        status,
        &body,
        404,
        "not_found",
    );
    let (status, body) = get(&seed.url, "/nodes/0/");
    assert_error(
        "GET /nodes/0/ of an empty seed",
        status,
        &body,
        404,
        "not_found",
    );
    let (status, body) = get(&seed.url, "/nodes/first/");
    assert_error("GET /nodes/first/", status, &body, 400, "bad_request");
    // POST / without a body: the seed's own node.
    let (status, body) = post(&seed.url, "/", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        addrs(&Value::Array(vec![body.clone()])),
        set(&[&seed.addr()]),
        "{body}"
    );

    for path in ["/nodes/", "/"] {
        for (what, body) in [
            (
                "malformed JSON",
                r#"{"ip_address": "127.0.0.1","#.to_string(),
            ),
            (
                "port 0",
                r#"{"ip_address":"127.0.0.1","port":0}"#.to_string(),
            ),
            (
                "port 65536",
                r#"{"ip_address":"127.0.0.1","port":65536}"#.to_string(),
            ),
            (
                "a host name",
                r#"{"ip_address":"localhost","port":50000}"#.to_string(),
            ),
            (
                "an extra field",
                r#"{"ip_address":"127.0.0.1","port":5,"x":1}"#.to_string(),
            ),
            ("not an object", "[1, 2]".to_string()),
        ] {
            let (status, answer) = post(&seed.url, path, &body);
            assert_error(
                &format!("POST {path} with {what}"),
                status,
                &answer,
                400,
                "bad_request",
            );
        }
        let big = vec![b' '; 256 * 1024 + 1];
        let (status, answer) = request("POST", &seed.url, path, big);
        assert_error(
            &format!("POST {path} of 256 KiB + 1"),
            status,
            &answer,
            413,
            "too_large",
        );
    }
    let (status, body) = post(&seed.url, "/nodes/", "");
    assert_error(
        "POST /nodes/ without a body",
        status,
        &body,
        400,
        "bad_request",
    );
    // A node nobody runs, one that accepts and never answers, and one that
    // answers something else all fail the check with the same fixed
    // message (API.md §1): the seed is no port scanner, and no proxy.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let junk = junk_server("secret-of-the-internal-service");
    for (what, addr) in [
        ("a closed port", "127.0.0.1:1".to_string()),
        (
            "a silent port",
            silent.local_addr().expect("addr").to_string(),
        ),
        ("a port answering junk", junk.clone()),
    ] {
        let (status, body) = post(&seed.url, "/nodes/", &node_json(&addr));
        assert_error(
            &format!("POST /nodes/ of {what}"),
            status,
            &body,
            400,
            "bad_request",
        );
        assert_eq!(body["message"], CHECK_FAILED, "{what}: {body}");
        assert!(!body.to_string().contains("secret"), "{what}: {body}");
    }
    // Its own address is not a node of its list.
    let (status, body) = post(&seed.url, "/nodes/", &node_json(&seed.addr()));
    assert_error(
        "POST /nodes/ of the seed itself",
        status,
        &body,
        400,
        "bad_request",
    );
    assert!(listed(&seed.url).is_empty());

    // A live node is taken, listed, numbered, and removed from loopback.
    let node = NodeProcess::start(&["--dns", "127.0.0.1:1", "--update-interval", "3600"]);
    let (status, body) = post(&seed.url, "/nodes/", &node_json(&node.addr()));
    assert_eq!(status, 200, "{body}");
    assert_eq!(addrs(&body), set(&[&node.addr()]));
    let one = set(&[&node.addr()]);
    assert_eq!(
        addrs(&Value::Array(vec![get_ok(&seed.url, "/nodes/0/")])),
        one
    );
    assert_eq!(
        addrs(&Value::Array(vec![get_ok(&seed.url, "/nodes/random")])),
        one
    );
    let (status, body) = request(
        "DELETE",
        &seed.url,
        "/nodes/",
        node_json(&node.addr()).into_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    assert!(addrs(&body).is_empty());
    assert!(seed.stderr().contains("registered"), "{}", seed.stderr());

    // One seed per data directory.
    let mut second = std::process::Command::new(testing::dns_server_bin());
    second.arg("-d").arg(&seed.data_dir).args(["-p", "0"]);
    let run = run_to_end(second, None, Duration::from_secs(30));
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(
        run.stderr.contains("another dns-server is already running"),
        "{run}"
    );
    assert!(run.stdout.is_empty(), "{run}");
}

#[test]
fn a_flood_of_registrations_neither_grows_the_list_nor_blocks_answers() {
    let seed = SeedProcess::start(&["-u", "1"]);
    let url = seed.url.clone();
    // Tar pits: they take connections and never answer, so every check of
    // them waits for its 2 s timeout.
    let pits: Vec<std::net::TcpListener> = (0..8)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a tar pit"))
        .collect();
    let pit_ports: Vec<u16> = pits
        .iter()
        .map(|p| p.local_addr().expect("tar pit address").port())
        .collect();
    // 48 threads registering tar pits as fast as they are answered: more
    // than the seed checks at once.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooders: Vec<_> = (0..48usize)
        .map(|t| {
            let url = url.clone();
            let stop = stop.clone();
            let port = pit_ports[t % pit_ports.len()];
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("client");
                let mut statuses = BTreeSet::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = format!(r#"{{"ip_address":"127.0.0.1","port":{port}}}"#);
                    if let Ok(response) = client
                        .post(format!("{url}/nodes/"))
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                    {
                        statuses.insert(response.status().as_u16());
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                statuses
            })
        })
        .collect();
    // Meanwhile reads answer at once, and the list stays empty.
    std::thread::sleep(Duration::from_millis(300));
    let mut slowest = Duration::ZERO;
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let asked = Instant::now();
        assert!(listed(&url).is_empty());
        let (status, body) = get(&url, "/nodes/random/");
        assert_eq!(status, 404, "{body}");
        slowest = slowest.max(asked.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut statuses = BTreeSet::new();
    for flooder in flooders {
        statuses.extend(flooder.join().expect("flooder"));
    }
    drop(pits);
    eprintln!(
        "MEASURE slowest GET /nodes/ + /nodes/random/ during the flood: {slowest:?}; statuses {statuses:?}"
    );
    // A read stuck behind a check would take its 2 s.
    assert!(slowest < Duration::from_millis(1500), "{slowest:?}");
    assert_eq!(
        statuses,
        BTreeSet::from([400, 503]),
        "checks time out (400), and beyond 32 at once the seed is busy (503)"
    );
}

#[test]
fn a_node_without_its_seed_says_so_once_and_serves_alone() {
    // Nothing listens on port 1.
    let node = NodeProcess::start(&["--dns", "127.0.0.1:1", "--update-interval", "1"]);
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(health_peers(&node.url), 0);
    let log = node.stderr();
    let seed_lines = log
        .lines()
        .filter(|l| l.contains("no registration with the seed"))
        .count();
    assert_eq!(
        seed_lines, 1,
        "one line for a seed down over 3 rounds:\n{log}"
    );
    assert!(!log.contains("ERROR"), "not an error:\n{log}");
    // Its §1 endpoints refuse bad input like the seed's.
    let (status, body) = post(&node.url, "/", r#"{"ip_address":"localhost","port":1}"#);
    assert_error("POST / with a host name", status, &body, 400, "bad_request");
    let (status, body) = request("POST", &node.url, "/nodes/", vec![b' '; 256 * 1024 + 1]);
    assert_error(
        "POST /nodes/ of 256 KiB + 1",
        status,
        &body,
        413,
        "too_large",
    );
    let (status, body) = post(&node.url, "/", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(addrs(&Value::Array(vec![body])), set(&[&node.addr()]));
}
