//! A network lab on one machine: a seed and N real `full-node` processes on
//! loopback, each node's peer traffic through a delay proxy ([`proxy`]:
//! 20 ms one way, partitions and silence on command), and the network's
//! figures measured on them (API.md §8): how fast a transaction and a block
//! spread, how fast a fresh node syncs next to the same blocks connected
//! locally, its peak memory, how soon blocks flow again after a peer goes
//! silent mid-sync, and how fast a split network heals.

pub mod proxy;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use cinder::types::{Address, Block, Transaction};
use serde_json::Value;

pub use self::proxy::DelayProxy;
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

/// A node whose data directory holds `blocks` before it starts.
pub fn node_with_chain(blocks: &[Block], args: &[&str]) -> NodeProcess {
    let root = tempfile::tempdir().expect("temporary directory");
    chain::write_into(&NodeProcess::data_dir_of(root.path()), blocks);
    NodeProcess::start_in(root, args)
}

/// Time between two looks at a node while timing something.
const POLL: Duration = Duration::from_millis(10);
/// The lab's one-way link delay (issue 23: 20 ms).
pub const LINK_DELAY: Duration = Duration::from_millis(20);

/// A node's chain written once, copied into each node's directory.
pub struct ChainTemplate {
    dir: tempfile::TempDir,
}

impl ChainTemplate {
    /// `blocks` connected into a fresh data directory.
    pub fn new(blocks: &[Block]) -> ChainTemplate {
        let dir = tempfile::tempdir().expect("temporary directory");
        chain::write_into(dir.path(), blocks);
        ChainTemplate { dir }
    }

    /// Copies the chain into `data_dir` (created).
    fn copy_into(&self, data_dir: &Path) {
        std::fs::create_dir_all(data_dir).expect("data directory");
        for entry in std::fs::read_dir(self.dir.path()).expect("the template's files") {
            let entry = entry.expect("a template file");
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                std::fs::copy(entry.path(), data_dir.join(entry.file_name()))
                    .expect("copying the template");
            }
        }
    }
}

/// Real nodes on loopback whose peer traffic passes through a
/// [`DelayProxy`]: each node advertises its front, so its peers reach it
/// only through the proxy (delayed, and cut on command). The lab itself
/// talks to the nodes directly.
pub struct Lab {
    // Fields drop in order: the nodes stop before the seed and the proxy.
    pub nodes: Vec<NodeProcess>,
    pub seed: Option<SeedProcess>,
    /// Node i's address as its peers know it (its front).
    pub fronts: Vec<SocketAddr>,
    pub proxy: DelayProxy,
}

impl Lab {
    /// A lab of no node yet, with links of `delay` one way.
    pub fn new(delay: Duration) -> Lab {
        Lab {
            nodes: Vec::new(),
            seed: None,
            fronts: Vec::new(),
            proxy: DelayProxy::start(delay),
        }
    }

    /// Starts a node holding `chain` (or only genesis) with `args` and
    /// `--advertise` its front; its index.
    /// An empty lab with its seed running (health checks every second).
    pub fn with_seed(delay: Duration) -> Lab {
        let mut lab = Lab::new(delay);
        lab.seed = Some(SeedProcess::start(&["-u", "1"]));
        lab
    }

    /// [`Lab::add_node`] on `chain`, finding peers through the lab's seed
    /// (peer rounds every second, sync every 30 s), looking for `max_peers`.
    ///
    /// # Panics
    /// When the lab has no seed ([`Lab::with_seed`]).
    pub fn add_peer_node(&mut self, chain: &ChainTemplate, max_peers: usize) -> usize {
        let seed = self
            .seed
            .as_ref()
            .expect("a lab with a seed (Lab::with_seed)")
            .addr();
        let max_peers = max_peers.to_string();
        let args = [
            "--dns",
            seed.as_str(),
            "--update-interval",
            "1",
            "--sync-interval",
            "30",
            "--max-peers",
            max_peers.as_str(),
        ];
        self.add_node(Some(chain), &args)
    }

    pub fn add_node(&mut self, chain: Option<&ChainTemplate>, args: &[&str]) -> usize {
        let front = self.proxy.open_front();
        let root = tempfile::tempdir().expect("temporary directory");
        if let Some(chain) = chain {
            chain.copy_into(&NodeProcess::data_dir_of(root.path()));
        }
        let advertise = front.to_string();
        let mut all = args.to_vec();
        all.extend(["--advertise", advertise.as_str()]);
        let node = NodeProcess::start_in(root, &all);
        let index = self.nodes.len();
        let addr: SocketAddr = node.addr().parse().expect("a node's address");
        self.proxy.route(index, addr);
        self.nodes.push(node);
        self.fronts.push(front);
        index
    }

    /// A seed and `n` nodes on `blocks`, each looking for `peers` peers
    /// (`--max-peers`; `n - 1`: everyone knows everyone), peer rounds every
    /// second; returns when each knows at least that many.
    pub fn network(n: usize, peers: usize, blocks: &[Block], delay: Duration) -> Lab {
        let mut lab = Lab::with_seed(delay);
        let chain = ChainTemplate::new(blocks);
        let peers = peers.clamp(1, (n - 1).max(1));
        for _ in 0..n {
            lab.add_peer_node(&chain, peers);
        }
        lab.wait_until_all_know(peers as u64);
        lab
    }

    /// Waits until every node knows at least `peers` nodes.
    pub fn wait_until_all_know(&self, peers: u64) {
        for node in &self.nodes {
            wait_for("every node knows the others", PATIENCE, || {
                let known = get(&node.url, "/health/").1["peers"].as_u64().unwrap_or(0);
                (known >= peers).then_some(())
            });
        }
    }

    /// Introduces node `to` to node `who` by its front (`POST /`).
    pub fn introduce(&self, to: usize, who: usize) {
        let body = format!(
            r#"{{"ip_address":"127.0.0.1","port":{}}}"#,
            self.fronts[who].port()
        );
        let (status, answer) = post(&self.nodes[to].url, "/", &body);
        assert_eq!(status, 200, "introduction refused: {answer}");
    }

    /// The nodes' best hashes.
    pub fn tips(&self) -> Vec<Value> {
        self.nodes
            .iter()
            .map(|n| get(&n.url, "/blockchain/").1["best_hash"].clone())
            .collect()
    }

    /// Each node's log lines saying it banned a peer.
    pub fn bans(&self) -> Vec<String> {
        self.nodes
            .iter()
            .flat_map(|n| {
                n.stderr()
                    .lines()
                    .filter(|l| l.contains("banned for"))
                    .map(|l| format!("{}: {l}", n.url))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// With `CINDER_LAB_LOGS=DIR`, each node's log is copied to
/// `DIR/node-<index>-<front port>.log` when the lab ends.
impl Drop for Lab {
    fn drop(&mut self) {
        let Some(dir) = std::env::var_os("CINDER_LAB_LOGS") else {
            return;
        };
        let dir = Path::new(&dir);
        let _ = std::fs::create_dir_all(dir);
        for (i, node) in self.nodes.iter().enumerate() {
            let name = format!("node-{i}-{}.log", self.fronts[i].port());
            let _ = std::fs::write(dir.join(name), node.stderr());
        }
    }
}

impl Lab {
    /// For each node but `from`, the time from `start` until `seen` holds
    /// on it (each watched by a thread of its own), in increasing order.
    fn reach_times(
        &self,
        from: usize,
        start: Instant,
        seen: impl Fn(&str) -> bool + Send + Sync,
    ) -> Vec<Duration> {
        let seen = &seen;
        let mut times: Vec<Duration> = std::thread::scope(|s| {
            let watchers: Vec<_> = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != from)
                .map(|(_, n)| {
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
                .collect()
        });
        times.sort();
        times
    }

    /// A transaction posted to node `from`: when the other nodes had it in
    /// their mempools.
    pub fn transaction_reach(&self, from: usize, tx: &Transaction) -> Reach {
        let body = serde_json::to_string(tx).expect("JSON");
        let path = format!("/transactions/{}/", tx.hash);
        let start = Instant::now();
        let (status, answer) = post(&self.nodes[from].url, "/transactions/", &body);
        assert_eq!(status, 200, "transaction refused: {answer}");
        Reach(self.reach_times(from, start, |url| get(url, &path).0 == 200))
    }

    /// A block posted to node `from`: when it was the other nodes' tip.
    pub fn block_reach(&self, from: usize, block: &Block) -> Reach {
        let body = serde_json::to_string(block).expect("JSON");
        let hash = Value::String(block.hash.to_string());
        let start = Instant::now();
        let (status, answer) = post(&self.nodes[from].url, "/blocks/", &body);
        assert_eq!(status, 200, "block refused: {answer}");
        Reach(self.reach_times(from, start, |url| {
            get(url, "/blocks/last/").1["hash"] == hash
        }))
    }
}

/// When each of the other nodes saw something, in increasing order.
#[derive(Clone, Debug)]
pub struct Reach(pub Vec<Duration>);

impl Reach {
    /// The time by which a `fraction` of the other nodes had it.
    pub fn by(&self, fraction: f64) -> Duration {
        let n = self.0.len();
        let k = ((fraction * n as f64).ceil() as usize).clamp(1, n.max(1));
        self.0.get(k - 1).copied().unwrap_or_default()
    }
}

/// The median of some durations.
pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// `count` solved blocks on `parent`, each holding only its coinbase to
/// `creator`, 10 s apart.
pub fn branch(parent: &Block, creator: &Address, count: u64) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let tip = blocks.last().unwrap_or(parent);
        let block = chain::block_on(tip, creator, Vec::new(), tip.timestamp + 10);
        blocks.push(block);
    }
    blocks
}

/// What healing a split network showed.
#[derive(Clone, Debug)]
pub struct Healing {
    /// From the end of the partition until every node was on the heavier
    /// branch's tip.
    pub took: Duration,
    /// How long the halves were apart.
    pub apart: Duration,
    /// Bytes the partition dropped.
    pub dropped: u64,
    /// The fewest peers a node knew right before the healing (below the
    /// other half's size: the halves had forgotten each other).
    pub fewest_peers_apart: u64,
    /// Log lines of bans (an honest network has none).
    pub bans: Vec<String>,
}

/// Splits the lab into two halves (first half, second half) for at least
/// `apart`; the first half mines `lighter` blocks on `tip`, the second
/// `heavier` (posted to one node of each half, block by block, as a miner
/// would); then heals and waits until every node is on the heavier tip.
pub fn split_and_heal(
    lab: &Lab,
    tip: &Block,
    lighter: u64,
    heavier: u64,
    apart: Duration,
) -> Healing {
    let n = lab.nodes.len();
    let half = n / 2;
    let groups: Vec<usize> = (0..n).map(|i| usize::from(i >= half)).collect();
    let left = branch(tip, &crate::stranger(1), lighter);
    let right = branch(tip, &crate::stranger(2), heavier);
    let split = Instant::now();
    lab.proxy.partition(&groups);
    let pace = apart / (lighter.max(heavier) as u32 + 1);
    for i in 0..lighter.max(heavier) as usize {
        for (miner, blocks) in [(0, &left), (half, &right)] {
            if let Some(block) = blocks.get(i) {
                crate::post_block(&lab.nodes[miner].url, block);
            }
        }
        std::thread::sleep(pace);
    }
    let tip_of =
        |blocks: &[Block]| Value::String(blocks.last().expect("a branch").hash.to_string());
    let (left_tip, right_tip) = (tip_of(&left), tip_of(&right));
    wait_for("each half on its own branch", PATIENCE, || {
        let tips = lab.tips();
        let each = tips[..half].iter().all(|t| *t == left_tip)
            && tips[half..].iter().all(|t| *t == right_tip);
        each.then_some(())
    });
    while split.elapsed() < apart {
        std::thread::sleep(POLL);
    }
    let tips = lab.tips();
    assert!(
        tips[..half].iter().all(|t| *t == left_tip),
        "the partition leaked: {tips:?}"
    );
    let dropped = lab.proxy.traffic().dropped;
    let fewest_peers_apart = lab
        .nodes
        .iter()
        .map(|node| get(&node.url, "/health/").1["peers"].as_u64().unwrap_or(0))
        .min()
        .unwrap_or(0);
    let apart = split.elapsed();
    let healed = Instant::now();
    lab.proxy.heal();
    loop {
        if lab.tips().iter().all(|t| *t == right_tip) {
            break;
        }
        assert!(
            healed.elapsed() < PATIENCE,
            "never healed: {:?}",
            lab.tips()
        );
        std::thread::sleep(POLL);
    }
    Healing {
        took: healed.elapsed(),
        apart,
        dropped,
        fewest_peers_apart,
        bans: lab.bans(),
    }
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

/// What a peer going silent in the middle of a sync showed.
#[derive(Clone, Debug)]
pub struct Stall {
    /// From the silence until blocks flowed again: the first rise of the
    /// syncing node's height after its longest flat stretch.
    pub resumed_after: Duration,
    /// The longest stretch without a new block.
    pub longest_flat: Duration,
    /// The syncing node's height when its peer went silent, and the tip's.
    pub height_at_silence: u64,
    pub tip_height: u64,
    /// From the silence until the node was on the tip.
    pub finished_after: Duration,
}

/// Nodes A and C hold `blocks`; a fresh node B is introduced to both, and
/// once its first blocks arrive, the peer it syncs from (the one whose
/// front carried more bytes) goes silent: every byte to it is dropped.
pub fn stall_mid_sync(blocks: &[Block], delay: Duration) -> Stall {
    let mut lab = Lab::new(delay);
    let chain = ChainTemplate::new(blocks);
    let a = lab.add_node(Some(&chain), &ALONE);
    let c = lab.add_node(Some(&chain), &ALONE);
    let b = lab.add_node(None, &ALONE);
    let tip_height = blocks.len() as u64 - 1;
    let height = |lab: &Lab| {
        get(&lab.nodes[b].url, "/blockchain/").1["height"]
            .as_u64()
            .unwrap_or(0)
    };
    lab.introduce(b, a);
    lab.introduce(b, c);
    wait_for("B's first blocks", PATIENCE, || {
        (height(&lab) > 0).then_some(())
    });
    let source = if lab.proxy.through(a) >= lab.proxy.through(c) {
        a
    } else {
        c
    };
    lab.proxy.silence(source);
    let silenced = Instant::now();
    let height_at_silence = height(&lab);
    assert!(
        height_at_silence < tip_height,
        "B synced everything before its peer went silent; give it a longer chain"
    );
    let mut samples = vec![(Duration::ZERO, height_at_silence)];
    while samples.last().is_some_and(|s| s.1 < tip_height) {
        assert!(silenced.elapsed() < PATIENCE, "B never finished its sync");
        std::thread::sleep(POLL);
        samples.push((silenced.elapsed(), height(&lab)));
    }
    // The longest stretch without a new block, and the rise ending it.
    let mut flat_since = Duration::ZERO;
    let (mut longest_flat, mut resumed_after) = (Duration::ZERO, Duration::ZERO);
    for pair in samples.windows(2) {
        let ((_, before), (at, now)) = (pair[0], pair[1]);
        if now > before {
            if at - flat_since > longest_flat {
                longest_flat = at - flat_since;
                resumed_after = at;
            }
            flat_since = at;
        }
    }
    Stall {
        resumed_after,
        longest_flat,
        height_at_silence,
        tip_height,
        finished_after: samples.last().map(|s| s.0).unwrap_or_default(),
    }
}
