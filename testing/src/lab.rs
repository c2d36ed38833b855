//! A network lab on one machine: a seed and N real `full-node` processes on
//! loopback, and the network's figures measured on them (API.md §8): how
//! fast a transaction and a block spread, how fast a fresh node syncs
//! next to the same blocks connected locally, its peak memory, and how soon
//! blocks flow again after a peer stalls.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cinder::types::{Block, Transaction};
use serde_json::Value;

use crate::chain;
use crate::{NodeProcess, SeedProcess, get, post, wait_for};

/// How long anything in the lab may take before it counts as a failure.
const PATIENCE: Duration = Duration::from_secs(300);
/// Flags of a node that knows no seed (nothing answers at port 9) and
/// runs its peer rounds and sync every second: it meets only the nodes a
/// test introduces.
pub const ALONE: [&str; 6] = [
    "--dns",
    "127.0.0.1:9",
    "--update-interval",
    "1",
    "--sync-interval",
    "1",
];

/// Flags of a node on a fast-moving test network around `seed`.
pub fn network_args(seed: &str, sync_interval: u64) -> Vec<String> {
    let sync = sync_interval.to_string();
    [
        "--dns",
        seed,
        "--update-interval",
        "1",
        "--sync-interval",
        sync.as_str(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `&str`s of owned arguments.
pub fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Introduces `to` to the node `who` (`POST /` with its node).
pub fn introduce(to: &NodeProcess, who: u16) {
    let body = format!(r#"{{"ip_address":"127.0.0.1","port":{who}}}"#);
    let (status, answer) = post(&to.url, "/", &body);
    assert_eq!(status, 200, "introduction refused: {answer}");
}

/// Time between two looks at a node.
const POLL: Duration = Duration::from_millis(5);

/// A seed and `n` nodes knowing each other, all holding the same chain.
pub struct Network {
    pub seed: SeedProcess,
    pub nodes: Vec<NodeProcess>,
}

/// A node whose data directory holds `blocks` before it starts.
pub fn node_with_chain(blocks: &[Block], args: &[&str]) -> NodeProcess {
    let root = tempfile::tempdir().expect("temporary directory");
    chain::write_into(&NodeProcess::data_dir_of(root.path()), blocks);
    NodeProcess::start_in(root, args)
}

impl Network {
    /// Starts the seed and `n` nodes on `blocks`; returns when every node
    /// knows the others (up to its peer cap).
    pub fn start(n: usize, blocks: &[Block]) -> Network {
        let seed = SeedProcess::start(&["-u", "1"]);
        let seed_addr = seed.addr();
        let max_peers = (n - 1).max(1).to_string();
        let args = [
            "--dns",
            seed_addr.as_str(),
            "--update-interval",
            "1",
            "--sync-interval",
            "30",
            "--max-peers",
            max_peers.as_str(),
        ];
        let nodes: Vec<NodeProcess> = (0..n).map(|_| node_with_chain(blocks, &args)).collect();
        let want = (n - 1) as u64;
        for node in &nodes {
            wait_for("every node knows the others", PATIENCE, || {
                let peers = get(&node.url, "/health/").1["peers"].as_u64().unwrap_or(0);
                (peers >= want).then_some(())
            });
        }
        Network { seed, nodes }
    }
}

/// Median and largest of some durations.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub median: Duration,
    pub max: Duration,
}

fn spread_of(mut times: Vec<Duration>) -> Spread {
    times.sort();
    Spread {
        median: times.get(times.len() / 2).copied().unwrap_or_default(),
        max: times.last().copied().unwrap_or_default(),
    }
}

/// Waits until `seen` is true on every node but the first (each watched by
/// a thread of its own); the time it took for the last one.
fn until_everywhere(
    net: &Network,
    start: Instant,
    seen: impl Fn(&str) -> bool + Send + Sync,
) -> Duration {
    let seen = &seen;
    std::thread::scope(|s| {
        let watchers: Vec<_> = net.nodes[1..]
            .iter()
            .map(|n| {
                let url = n.url.clone();
                s.spawn(move || {
                    loop {
                        if seen(&url) {
                            return start.elapsed();
                        }
                        assert!(start.elapsed() < PATIENCE, "{url} never saw it");
                        std::thread::sleep(POLL);
                    }
                })
            })
            .collect();
        watchers
            .into_iter()
            .map(|w| w.join().expect("watcher"))
            .max()
            .unwrap_or_default()
    })
}

/// Each transaction posted to the first node: the time until it is in
/// every other node's mempool.
pub fn transaction_spread(net: &Network, txs: &[Transaction]) -> Spread {
    let mut times = Vec::with_capacity(txs.len());
    for tx in txs {
        let body = serde_json::to_string(tx).expect("JSON");
        let path = format!("/transactions/{}/", tx.hash);
        let start = Instant::now();
        let (status, answer) = post(&net.nodes[0].url, "/transactions/", &body);
        assert_eq!(status, 200, "transaction refused: {answer}");
        times.push(until_everywhere(net, start, |url| get(url, &path).0 == 200));
    }
    spread_of(times)
}

/// A block posted to the first node: the time until it is every node's tip.
pub fn block_spread(net: &Network, block: &Block) -> Duration {
    let body = serde_json::to_string(block).expect("JSON");
    let hash = Value::String(block.hash.to_string());
    let start = Instant::now();
    let (status, answer) = post(&net.nodes[0].url, "/blocks/", &body);
    assert_eq!(status, 200, "block refused: {answer}");
    until_everywhere(net, start, |url| {
        get(url, "/blocks/last/").1["hash"] == hash
    })
}

/// What a fresh node's sync showed.
#[derive(Clone, Debug)]
pub struct SyncFigures {
    pub blocks: u64,
    pub transactions: u64,
    /// From introducing the peer to being on its best hash.
    pub sync_time: Duration,
    /// The same blocks connected in-process into a fresh directory.
    pub local_time: Duration,
    /// The syncing node's peak resident memory, KiB.
    pub peak_rss_kib: u64,
}

/// Peak resident memory of process `pid` (VmHWM), KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Connects `blocks` into a fresh directory in this process: the local
/// connect time the sync rate is held against.
pub fn local_connect_time(blocks: &[Block]) -> Duration {
    let dir = tempfile::tempdir().expect("temporary directory");
    let start = Instant::now();
    chain::write_into(dir.path(), blocks);
    start.elapsed()
}

/// Node A holds `blocks`; a fresh node B is introduced to it and syncs.
pub fn sync_figures(blocks: &[Block]) -> SyncFigures {
    let local_time = local_connect_time(blocks);
    let alone = ALONE;
    let a = node_with_chain(blocks, &alone);
    let b = NodeProcess::start(&alone);
    let target = Value::String(blocks.last().expect("a tip").hash.to_string());
    let start = Instant::now();
    introduce(&b, a.port().parse().expect("a port"));
    wait_for("B on A's best hash", PATIENCE, || {
        std::thread::sleep(Duration::from_millis(20));
        (get(&b.url, "/blockchain/").1["best_hash"] == target).then_some(())
    });
    let sync_time = start.elapsed();
    SyncFigures {
        blocks: blocks.len() as u64 - 1,
        transactions: blocks.iter().map(|b| b.transactions.len() as u64 - 1).sum(),
        sync_time,
        local_time,
        peak_rss_kib: peak_rss_kib(b.pid()),
    }
}

/// A peer that answers `GET /blockchain/` with `claim` and then never
/// answers anything else (it holds the connection open).
pub struct SilentPeer {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl SilentPeer {
    pub fn start(claim: Value) -> SilentPeer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let body = claim.to_string();
        std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut reader = BufReader::new(match stream.try_clone() {
                            Ok(s) => s,
                            Err(_) => continue,
                        });
                        let mut line = String::new();
                        if reader.read_line(&mut line).is_err() {
                            continue;
                        }
                        // Skip the headers.
                        let mut header = String::new();
                        while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                            header.clear();
                        }
                        if line.contains(" /blockchain") {
                            let mut s = stream;
                            let _ = write!(
                                s,
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                                body.len(),
                                body
                            );
                        } else {
                            held.push(stream);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        SilentPeer { port, stop }
    }

    pub fn node_json(&self) -> String {
        format!(r#"{{"ip_address":"127.0.0.1","port":{}}}"#, self.port)
    }
}

impl Drop for SilentPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A fresh node knows a silent peer claiming more work and the honest node
/// A holding `blocks`: the time from introducing both until its first block
/// arrives (the silent one is asked first, stalls, and is left).
pub fn stall_resume_time(blocks: &[Block]) -> Duration {
    let alone = ALONE;
    let a = node_with_chain(blocks, &alone);
    let mut claim = get(&a.url, "/blockchain/").1;
    claim["total_work"] = Value::String("1000000000000000000000000".into());
    let silent = SilentPeer::start(claim);
    let b = NodeProcess::start(&alone);
    let start = Instant::now();
    let (status, answer) = post(&b.url, "/", &silent.node_json());
    assert_eq!(status, 200, "introduction refused: {answer}");
    introduce(&b, a.port().parse().expect("a port"));
    wait_for("blocks flowing from the honest peer", PATIENCE, || {
        std::thread::sleep(Duration::from_millis(20));
        (get(&b.url, "/blockchain/").1["height"]
            .as_u64()
            .unwrap_or(0)
            > 0)
        .then_some(())
    });
    start.elapsed()
}
