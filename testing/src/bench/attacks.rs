//! The attacks of issue 27, repeated from outside against the real
//! binaries (`bench --only attacks`): what each costs the victim in
//! descriptors, memory and `/health/` latency, and whether it reached
//! anyone it should not. One client on loopback, as the issue's attacker.
//!
//! - an orphan block posted again and again, each time naming another
//!   node in `X-Cinder-Node` (any address of 127/8 reaches one listener
//!   bound to 0.0.0.0, which accepts and never answers);
//! - bodies that never end, on the node and on the seed;
//! - a crowd of registrations from one IP at the seed, then an honest
//!   node of another IP.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::progress;
use super::report::{Figure, Goal, Report};
use crate::{NodeProcess, SeedProcess, get_ok, open_fds, rss_kib};

/// A closed port: the victims know no seed unless given one.
const NO_SEED: &str = "127.0.0.1:1";

/// Watches a process while an attack runs: its descriptors and memory,
/// and the time a cheap read takes (`/health/` of a node, `/nodes/` of the
/// seed; a second at most, else it counts as not answering).
struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Watched>>,
}

/// What a [`Watch`] saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Watched {
    pub max_fds: usize,
    pub max_rss_kib: u64,
    pub max_health_ms: f64,
    /// Probes not answered within a second.
    pub health_failures: usize,
}

impl Watch {
    /// Watches process `pid` and the time `url` + `path` takes to answer.
    fn start(pid: u32, url: &str, path: &str) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        let url = format!("{url}{path}");
        let thread = std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(1))
                .build()
                .unwrap_or_default();
            let mut seen = Watched::default();
            while !done.load(Ordering::Relaxed) {
                seen.max_fds = seen.max_fds.max(open_fds(pid));
                seen.max_rss_kib = seen.max_rss_kib.max(rss_kib(pid));
                let started = Instant::now();
                match client.get(&url).send() {
                    Ok(r) if !r.status().is_server_error() => {
                        let ms = started.elapsed().as_secs_f64() * 1000.0;
                        seen.max_health_ms = seen.max_health_ms.max(ms);
                    }
                    _ => seen.health_failures += 1,
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            seen
        });
        Watch {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Watched {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A listener on 0.0.0.0 (every 127/8 address reaches it) that accepts,
/// holds every connection and never answers; counts the connections.
fn silent_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("0.0.0.0:0").expect("bind 0.0.0.0");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            held.push(s);
            // Bounded here too: the oldest are let go.
            if held.len() > 4000 {
                held.drain(..1000);
            }
        }
    });
    (port, count)
}

fn watched_figures(report: &mut Report, what: &str, seen: &Watched) {
    report.push(
        Figure::new(
            format!("{what}: most open descriptors"),
            seen.max_fds as f64,
            "",
        )
        .goal(Goal::AtMost(1000.0)),
    );
    report.push(
        Figure::new(
            format!("{what}: most memory"),
            seen.max_rss_kib as f64 / 1024.0,
            "MiB",
        )
        .goal(Goal::AtMost(300.0)),
    );
    report.push(
        Figure::new(format!("{what}: slowest answer"), seen.max_health_ms, "ms")
            .goal(Goal::AtMost(1000.0))
            .note(format!(
                "{} of its probes unanswered within 1 s",
                seen.health_failures
            )),
    );
}

/// An orphan block posted `posts` times, each naming another node.
pub fn orphan_flood(report: &mut Report, posts: usize) {
    progress(&format!(
        "attack: an orphan posted {posts} times naming strangers"
    ));
    let node = NodeProcess::start(&["--dns", NO_SEED, "--update-interval", "3600"]);
    let blocks = crate::chain::blocks(4, 1);
    let orphan = serde_json::to_string(&blocks[3]).expect("JSON");
    let (port, contacted) = silent_listener();
    let watch = Watch::start(node.pid(), &node.url, "/health/");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    let started = Instant::now();
    let mut refused = 0usize;
    let mut sent = 0usize;
    for i in 0..posts {
        // Two minutes at most: a victim that stops answering would take
        // hours of client timeouts.
        if started.elapsed() > Duration::from_secs(120) {
            break;
        }
        sent += 1;
        let named = format!(
            "127.{}.{}.{}:{port}",
            1 + i / 65_536 % 250,
            i / 256 % 256,
            i % 256
        );
        match client
            .post(format!("{}/blocks/", node.url))
            .header("X-Cinder-Node", named)
            .header("content-type", "application/json")
            .body(orphan.clone())
            .send()
        {
            Ok(r) if r.status().as_u16() == 400 => {}
            _ => refused += 1,
        }
    }
    let posting = started.elapsed();
    // A sync run starts within a second of a request: watch a while more.
    std::thread::sleep(Duration::from_secs(5));
    let seen = watch.finish();
    let what = format!("orphan naming strangers ×{posts}");
    report.push(
        Figure::new(
            format!("{what}: strangers contacted"),
            contacted.load(Ordering::SeqCst) as f64,
            "",
        )
        .goal(Goal::AtMost(0.0))
        .note(format!(
            "{sent} posts in {:.1} s, {refused} not answered 400",
            posting.as_secs_f64()
        )),
    );
    watched_figures(report, &what, &seen);
}

/// Opens `n` connections each sending a head announcing 1,000 bytes of
/// body and 1 byte of it; how many the server still holds after `after`.
fn slow_bodies(addr: &str, path: &str, n: usize, after: Duration) -> usize {
    let mut streams = Vec::new();
    for _ in 0..n {
        let Ok(mut s) = TcpStream::connect(addr) else {
            continue;
        };
        let _ = write!(
            s,
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{"
        );
        streams.push(s);
    }
    std::thread::sleep(after);
    // Still open: a read finds neither an answer nor the end.
    streams
        .iter()
        .filter(|s| {
            let mut s: &TcpStream = s;
            let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
            let mut buf = [0u8; 256];
            let mut closed = false;
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(_) => continue,
                    Err(_) => break,
                }
            }
            !closed
        })
        .count()
}

/// Bodies that never end: 150 on the node, 150 on the seed.
pub fn slow_body_attack(report: &mut Report) {
    progress("attack: 150 bodies that never end, on a node and on the seed");
    let node = NodeProcess::start(&["--dns", NO_SEED, "--update-interval", "3600"]);
    let seed = SeedProcess::start(&["-u", "3600"]);
    let watch = Watch::start(node.pid(), &node.url, "/health/");
    let after = Duration::from_secs(35);
    let (node_addr, seed_addr) = (node.addr(), seed.addr());
    let on_seed = std::thread::spawn(move || slow_bodies(&seed_addr, "/nodes/", 150, after));
    let on_node = slow_bodies(&node_addr, "/transactions/", 150, after);
    let on_seed = on_seed.join().unwrap_or(usize::MAX);
    let seen = watch.finish();
    for (who, held) in [("node", on_node), ("seed", on_seed)] {
        report.push(
            Figure::new(
                format!("150 slow bodies: connections the {who} still holds after 35 s"),
                held as f64,
                "",
            )
            .goal(Goal::AtMost(0.0))
            .note("API.md: a body arrives within 10 s (30 s for a block)"),
        );
    }
    watched_figures(report, "150 slow bodies (node)", &seen);
}

/// A node on `127.0.0.1` answering every request with `blockchain`; one
/// thread, connections served in turn.
fn fake_node(blockchain: Arc<String>, served: Arc<AtomicU64>) -> Option<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").ok()?;
    let port = listener.local_addr().ok()?.port();
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 2048];
                let _ = stream.read(&mut buf);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                    blockchain.len(),
                    blockchain
                );
                served.fetch_add(1, Ordering::Relaxed);
            }
        })
        .ok()?;
    Some(port)
}

/// 1,000 registrations from one IP at the seed, each of a node passing the
/// check; then an honest node on another IP.
pub fn crowd_at_the_seed(report: &mut Report, crowd: usize) {
    progress(&format!(
        "attack: {crowd} registrations from one IP at the seed"
    ));
    let seed = SeedProcess::start(&["-u", "3600"]);
    let model = NodeProcess::start(&["--dns", NO_SEED, "--update-interval", "3600"]);
    let blockchain = Arc::new(get_ok(&model.url, "/blockchain/").to_string());
    drop(model);
    let served = Arc::new(AtomicU64::new(0));
    let ports: Vec<u16> = (0..crowd)
        .filter_map(|_| fake_node(blockchain.clone(), served.clone()))
        .collect();
    let watch = Watch::start(seed.pid(), &seed.url, "/nodes/");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let mut refused = 0usize;
    for port in &ports {
        let body = format!(r#"{{"ip_address":"127.0.0.1","port":{port}}}"#);
        let ok = client
            .post(format!("{}/nodes/", seed.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .is_ok_and(|r| r.status().is_success());
        if !ok {
            refused += 1;
        }
    }
    // How many the seed keeps: the highest number it answers.
    let kept = (0..=crowd)
        .find(|i| crate::get(&seed.url, &format!("/nodes/{i}/")).0 == 404)
        .unwrap_or(crowd);
    let honest = NodeProcess::start(&[
        "-i",
        "127.0.0.3",
        "--dns",
        &seed.addr(),
        "--update-interval",
        "1",
    ]);
    let listed = |list: &serde_json::Value| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|n| n["ip_address"] == "127.0.0.3"))
    };
    // Registered within seconds when kept: seen in a sample, or else
    // looked for among every node the seed keeps.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut registered = false;
    while !registered && Instant::now() < deadline {
        registered = listed(&get_ok(&seed.url, "/nodes/"));
        std::thread::sleep(Duration::from_millis(500));
    }
    if !registered {
        registered = (0..=kept + 1).any(|i| {
            let (status, node) = crate::get(&seed.url, &format!("/nodes/{i}/"));
            status == 200 && node["ip_address"] == "127.0.0.3"
        });
    }
    let samples = 20;
    let in_samples = (0..samples)
        .filter(|_| listed(&get_ok(&seed.url, "/nodes/")))
        .count();
    let seen = watch.finish();
    report.push(
        Figure::new(
            format!("seed: nodes kept of {crowd} registered from one IP"),
            kept as f64,
            "",
        )
        .goal(Goal::AtMost(125.0))
        .note(format!("{refused} registrations not answered 200")),
    );
    report.push(
        Figure::new(
            "seed: an honest node of another IP is kept (1) or not (0)",
            f64::from(u8::from(registered)),
            "",
        )
        .note(format!("in {in_samples} of {samples} GET /nodes/ answers")),
    );
    watched_figures(report, &format!("seed under {crowd} registrations"), &seen);
    drop(honest);
}

/// A node knowing no seed, given `blocks` over HTTP (not written
/// in-process: a binary of an older schema runs the same attacks).
fn fed_node(blocks: &[cinder::types::Block]) -> NodeProcess {
    let node = NodeProcess::start(&["--dns", NO_SEED, "--update-interval", "3600"]);
    for block in &blocks[1..] {
        crate::post_block(&node.url, block);
    }
    node
}

/// Bytes of the files in `dir` (a node's data directory).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// `count` side blocks of about `bytes` each, chained on a lighter branch
/// forking early from a 40-block chain, posted to a node: how much its
/// data directory grows (API.md §8: lighter posted side branches take at
/// most `--max-side-bytes`, 64 MiB by default).
pub fn side_branch_flood(report: &mut Report, count: usize, bytes: usize) {
    use cinder::types::Hash;
    progress(&format!(
        "attack: {count} lighter side blocks of ~{} KiB each",
        bytes / 1024
    ));
    let blocks = crate::chain::blocks(count as u64 + 20, 1);
    let node = fed_node(&blocks);
    let before = dir_bytes(&node.data_dir);
    let watch = Watch::start(node.pid(), &node.url, "/health/");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default();
    // Transactions pass the context-free checks of a side block (PROTOCOL.md
    // §6 step 9) without spending anything that exists.
    let mut parent = blocks[2].clone();
    let mut posted = 0u64;
    let mut stored = 0usize;
    let mut n = 0u64;
    let started = Instant::now();
    for _ in 0..count {
        let mut txs = Vec::new();
        let mut size = 0usize;
        while size < bytes {
            n += 1;
            let mut fake = [0u8; 32];
            fake[..8].copy_from_slice(&n.to_be_bytes());
            fake[31] = 1;
            let coin = crate::chain::Coin {
                tx: Hash(fake),
                index: 0,
                value: 1_000_000,
            };
            let tx =
                crate::chain::spend(coin, &[(crate::chain::payee(1), 999_000)], parent.timestamp);
            size += serde_json::to_string(&tx).map_or(0, |t| t.len());
            txs.push(tx);
        }
        let block =
            crate::chain::block_on(&parent, &crate::chain::payee(2), txs, parent.timestamp + 1);
        let body = serde_json::to_string(&block).expect("JSON");
        posted += body.len() as u64;
        if let Ok(r) = client
            .post(format!("{}/blocks/", node.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
        {
            let answer: serde_json::Value = r.json().unwrap_or_default();
            if answer["status"] == "side_chain" {
                stored += 1;
            }
        }
        parent = block;
    }
    std::thread::sleep(Duration::from_secs(2));
    let seen = watch.finish();
    let grown = dir_bytes(&node.data_dir).saturating_sub(before);
    let what = format!("{count} lighter side blocks");
    report.push(
        Figure::new(
            format!("{what}: data directory growth"),
            grown as f64 / (1024.0 * 1024.0),
            "MiB",
        )
        .goal(Goal::AtMost(72.0))
        .note(format!(
            "{:.0} MiB posted in {:.0} s, {stored} accepted as side_chain; bound 64 MiB of bodies (+ indexes, WAL)",
            posted as f64 / (1024.0 * 1024.0),
            started.elapsed().as_secs_f64()
        )),
    );
    watched_figures(report, &what, &seen);
}

/// The ban table at its bound (API.md §8 "Bans"): 10,500 bans of distinct
/// keys, each with a kilobyte of text offered as its note, then the book
/// saved once (the saver writes at most once a second).
pub fn ban_table(report: &mut Report, tmp: &std::path::Path) {
    use cinder::p2p::{BookConfig, Misbehaviour, PeerBook, PeerStore, Time};
    progress("attack: the ban table at its bound");
    let dir = tmp.join("bans");
    let store = cinder::node::Node::open(
        &dir,
        cinder::consensus::ChainParams::regtest(),
        cinder::node::MempoolLimits::default(),
    )
    .map_err(|e| e.to_string())
    .and_then(|_| {
        cinder::state::SqlitePeerStore::open(&dir.join(cinder::node::DATABASE_FILE))
            .map_err(|e| e.to_string())
    });
    let store = match store {
        Ok(store) => store,
        Err(e) => {
            report.push(Figure::not_measured(
                "ban table: one save at the bound",
                "ms",
                Goal::AtMost(1000.0),
                e,
            ));
            return;
        }
    };
    let me = cinder::wire::NodeAddr::new([127, 0, 0, 1].into(), 50_000);
    let mut book = PeerBook::new(BookConfig::full_node(me, 10));
    let words = "w".repeat(1024);
    let bans = cinder::p2p::peers::MAX_BANS + 500;
    let started = Instant::now();
    for i in 0..bans {
        let node = cinder::wire::NodeAddr::new(
            [45, (i >> 16) as u8, (i >> 8) as u8, i as u8].into(),
            8000,
        );
        book.ban(
            node,
            Misbehaviour::MalformedAnswer,
            &words,
            Time::from_millis(i as u64),
        );
    }
    let banning = started.elapsed();
    let saved = book.saved();
    let started = Instant::now();
    let result = store.save(&saved);
    let saving = started.elapsed();
    let kept = saved.banned.len();
    let note_bytes: usize = saved.banned.iter().map(|b| b.reason.len()).sum();
    report.push(
        Figure::new("ban table: bans kept after 10,500", kept as f64, "")
            .goal(Goal::AtMost(10_000.0))
            .note(format!(
                "{bans} bans in {:.0} ms in the book; notes {} B in all (≤ 160 B each + code)",
                banning.as_secs_f64() * 1000.0,
                note_bytes
            )),
    );
    report.push(
        Figure::new(
            "ban table: one save at the bound",
            saving.as_secs_f64() * 1000.0,
            "ms",
        )
        .goal(Goal::AtMost(1000.0))
        .note(match result {
            Ok(()) => "SQLite, the whole table; at most one save a second".to_string(),
            Err(e) => format!("failed: {e}"),
        }),
    );
}

/// A tiny HTTP server on `127.0.0.1`: `answer` maps a request target to a
/// JSON body, or `None` to hold the connection and never answer. One
/// thread per connection (a few at a time here). Its port.
fn scripted_peer(answer: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Option<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").ok()?;
    let port = listener.local_addr().ok()?.port();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                // Keep-alive: one request after another on the connection.
                loop {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match stream.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let text = String::from_utf8_lossy(&head).to_string();
                    let target = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                    match answer(&target) {
                        Some(body) => {
                            let _ = write!(
                                stream,
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
                                body.len(),
                                body
                            );
                        }
                        None => {
                            std::thread::sleep(Duration::from_secs(3600));
                            return;
                        }
                    }
                }
            });
        }
    });
    Some(port)
}

/// A peer serving a chain whose mempool lists 5,000 transactions it never
/// hands out: how long the victim still says `syncing` after catching up
/// from it, and how long until it follows a heavier chain shown then.
pub fn silent_mempool(report: &mut Report) {
    progress("attack: a sync peer whose 5,000 mempool transactions never come");
    let blocks = crate::chain::blocks(10, 1);
    let model = fed_node(&blocks);
    let claim = get_ok(&model.url, "/blockchain/").to_string();
    drop(model);
    let script = crate::chain::SilentMempoolPeer::new(blocks.clone(), claim, 5000);
    let Some(port) = scripted_peer(move |target| script.answer(target)) else {
        report.push(Figure::not_measured(
            "silent mempool: syncing after catching up",
            "s",
            Goal::AtMost(5.0),
            "no listener",
        ));
        return;
    };
    let victim = NodeProcess::start(&[
        "--dns",
        NO_SEED,
        "--update-interval",
        "3600",
        "--sync-interval",
        "1",
    ]);
    let watch = Watch::start(victim.pid(), &victim.url, "/health/");
    let body = format!(r#"{{"ip_address":"127.0.0.1","port":{port}}}"#);
    let _ = crate::post(&victim.url, "/", &body);
    let tip = blocks
        .last()
        .map(|b| b.hash.to_string())
        .unwrap_or_default();
    let limit = Duration::from_secs(60);
    let started = Instant::now();
    while started.elapsed() < limit
        && crate::get(&victim.url, "/blocks/last/").1["hash"] != tip.as_str()
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let caught_up = Instant::now();
    while caught_up.elapsed() < limit && crate::get(&victim.url, "/health/").1["syncing"] == true {
        std::thread::sleep(Duration::from_millis(50));
    }
    let syncing_after = caught_up.elapsed();
    // A heavier chain appears: how long until the victim is on it.
    let longer = crate::chain::blocks(14, 1);
    let other = fed_node(&longer);
    let longer_tip = longer
        .last()
        .map(|b| b.hash.to_string())
        .unwrap_or_default();
    let _ = crate::post(
        &victim.url,
        "/",
        &format!(r#"{{"ip_address":"127.0.0.1","port":{}}}"#, other.port()),
    );
    let shown = Instant::now();
    while shown.elapsed() < limit
        && crate::get(&victim.url, "/blocks/last/").1["hash"] != longer_tip.as_str()
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let followed = shown.elapsed();
    let seen = watch.finish();
    report.push(
        Figure::new(
            "silent mempool: still syncing after catching up",
            syncing_after.as_secs_f64(),
            "s",
        )
        .goal(Goal::AtMost(5.0))
        .note("a sync peer listing 5,000 transactions it never sends; 60 s at most measured"),
    );
    report.push(
        Figure::new(
            "silent mempool: a heavier chain followed after",
            followed.as_secs_f64(),
            "s",
        )
        .goal(Goal::AtMost(10.0))
        .note("shown by a new peer; --sync-interval 1; 60 s at most measured"),
    );
    watched_figures(report, "silent mempool", &seen);
}

/// The check as a port scanner or a proxy (API.md §1): the seed's answers
/// to registrations of a closed port, a silent one and one answering some
/// text of its own.
pub fn check_as_scanner(report: &mut Report) {
    progress("attack: the seed's check as a port scanner");
    let seed = SeedProcess::start(&["-u", "3600"]);
    let silent = TcpListener::bind("127.0.0.1:0").ok();
    let silent_port = silent
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map_or(1, |a| a.port());
    let secret = "internal-service-secret-42";
    let junk = scripted_peer(move |_| Some(format!("\"{secret}\""))).unwrap_or(1);
    let mut answers = std::collections::BTreeSet::new();
    let mut echoed = 0usize;
    for port in [1, silent_port, junk] {
        let body = format!(r#"{{"ip_address":"127.0.0.1","port":{port}}}"#);
        let (status, answer) = crate::post(&seed.url, "/nodes/", &body);
        let text = answer.to_string();
        if text.contains(secret) {
            echoed += 1;
        }
        answers.insert(format!("{status} {}", answer["message"]));
    }
    report.push(
        Figure::new(
            "seed check: distinct answers for closed, silent and junk ports",
            answers.len() as f64,
            "",
        )
        .goal(Goal::AtMost(1.0))
        .note(format!("answers echoing the port's own text: {echoed}")),
    );
    report.push(
        Figure::new(
            "seed check: answers echoing what the port said",
            echoed as f64,
            "",
        )
        .goal(Goal::AtMost(0.0)),
    );
    drop(silent);
}
