//! The `bench` binary's figures (issue 23): each measured beside the limit
//! it is compared with, in the same run, and printed as one table.
//!
//! - [`limits`]: signature recoveries, miner hashing vs raw SHA-256;
//! - [`inprocess`]: block connect, transaction intake, templates on a full pool;
//! - [`http`]: the real `full-node` under `wrk`, read latencies, latency
//!   under template and block load;
//! - [`network`]: a fresh node's sync, and the network lab's figures (a
//!   seed and N nodes behind 20 ms links: relay, a stalled sync peer, a
//!   split network healing);
//! - [`attacks`]: issue 27's attacks from outside, with what each costs
//!   the victim (descriptors, memory, `/health/` latency);
//! - [`explorer`]: issue 28's explorer on an address with 20,000
//!   transactions: a history page's latency, the CSV's first byte and the
//!   node's memory over it.

pub mod attacks;
pub mod chain;
pub mod explorer;
pub mod http;
pub mod inprocess;
pub mod limits;
pub mod network;
pub mod process;
pub mod report;
pub mod sim;
pub mod soak;
pub mod wrk;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use report::{Figure, Goal, Report};

/// How much each figure does: `--quick` (under 2 minutes) or the full
/// run (under 15).
#[derive(Clone, Debug)]
pub struct Sizes {
    /// How long each raw limit is measured.
    pub limit_time: Duration,
    pub connect_blocks: usize,
    /// Transactions in the pool the template is built from.
    pub pool: usize,
    /// Of which chains of 1 + 25 unconfirmed spends.
    pub pool_chains: usize,
    pub post_txs: usize,
    /// Addresses holding one output each in the HTTP node's state.
    pub addresses: u64,
    pub wrk_time: Duration,
    pub latency_requests: usize,
    pub loaded_time: Duration,
    /// The chain a fresh node syncs: blocks, and payments in each.
    pub sync_blocks: u64,
    pub sync_per_block: usize,
    /// Nodes in the network lab (a seed and these, 20 ms links).
    pub lab_nodes: usize,
    /// Transactions and blocks of 100 transactions timed in the lab.
    pub lab_transactions: usize,
    pub lab_blocks: usize,
    /// Posts of the orphan flood, and registrations of the seed's crowd
    /// (issue 27's attacks).
    pub attack_posts: usize,
    pub attack_crowd: usize,
    /// Lighter side blocks of 1 MiB posted.
    pub attack_side_blocks: usize,
    /// Nodes of the simulator's runs at scale (`testing sim`).
    pub sim_nodes: &'static [usize],
}

impl Sizes {
    pub fn quick() -> Sizes {
        Sizes {
            limit_time: Duration::from_millis(700),
            connect_blocks: 3,
            pool: 10_000,
            pool_chains: 80,
            post_txs: 4_000,
            addresses: 100_000,
            wrk_time: Duration::from_secs(3),
            latency_requests: 500,
            loaded_time: Duration::from_secs(4),
            sync_blocks: 60,
            sync_per_block: 100,
            lab_nodes: 4,
            lab_transactions: 5,
            lab_blocks: 1,
            attack_posts: 1_000,
            attack_crowd: 200,
            attack_side_blocks: 20,
            sim_nodes: &[1_000],
        }
    }

    pub fn full() -> Sizes {
        Sizes {
            limit_time: Duration::from_secs(2),
            connect_blocks: 10,
            pool: 50_000,
            pool_chains: 400,
            post_txs: 20_000,
            addresses: 1_000_000,
            wrk_time: Duration::from_secs(8),
            latency_requests: 2_000,
            loaded_time: Duration::from_secs(10),
            sync_blocks: 301,
            sync_per_block: 170,
            lab_nodes: 16,
            lab_transactions: 20,
            lab_blocks: 3,
            attack_posts: 10_000,
            attack_crowd: 1_000,
            attack_side_blocks: 100,
            sim_nodes: &[1_000, 10_000],
        }
    }
}

/// A line on stderr saying what the bench is doing, with the time since start.
pub fn progress(what: &str) {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    eprintln!("[{:>6.1} s] {what}", start.elapsed().as_secs_f64());
}

/// The groups of figures `--only` picks from.
pub const GROUPS: [&str; 7] = [
    "limits",
    "inprocess",
    "http",
    "explorer",
    "network",
    "sim",
    "attacks",
];

/// Runs every figure (or those of the groups in `only`); scratch files and
/// chains go under `tmp` (a fresh temporary directory inside it).
pub fn run(sizes: &Sizes, tmp: Option<PathBuf>, only: &[String]) -> anyhow::Result<Report> {
    progress("starting");
    let wanted = |group: &str| only.is_empty() || only.iter().any(|g| g == group);
    let tmp = match tmp {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let wrk = wrk::find();
    if wrk.is_none() && wanted("http") {
        eprintln!("bench: {}", wrk::INSTALL_HINT);
    }
    let mut report = Report::default();

    // Every group compares with the recoveries: always measured.
    progress("signature recoveries (the limit)");
    let samples = limits::signature_samples(2_000);
    let one = limits::recoveries_per_second(&samples, 1, sizes.limit_time);
    let two = limits::recoveries_per_second(&samples, 2, sizes.limit_time);
    report.push(Figure::new("signature recoveries, 1 thread", one, "/s").note("the limit"));
    report.push(
        Figure::new("signature recoveries, 2 threads", two, "/s")
            .note("the limit; cinder::crypto::verify on real signatures"),
    );

    if wanted("limits") {
        progress("mining hashes vs raw SHA-256");
        let raw = limits::raw_sha256_per_second(sizes.limit_time);
        let miner = limits::miner_hashes_per_second(sizes.limit_time);
        report.push(
            Figure::new("mining hashes, 1 thread (HeaderHasher)", miner, "H/s")
                .limit(
                    raw,
                    format!("SHA-256 of the {}-byte header", limits::tagged_header_len()),
                )
                .goal(Goal::RatioAtLeast(0.9))
                .note("the miner's loop: hash(nonce) + target check"),
        );
    }
    if wanted("inprocess") {
        inprocess::connect(&mut report, sizes, &tmp.path().join("connect"), &samples)?;
        inprocess::template(&mut report, sizes, &tmp.path().join("template"), &samples)?;
    }
    if wanted("http") {
        http::figures(&mut report, sizes, tmp.path(), &samples, wrk.as_deref())?;
    }
    if wanted("explorer") {
        explorer::figures(&mut report, sizes, tmp.path())?;
    }
    if wanted("network") {
        network::sync(&mut report, sizes);
        network::lab(&mut report, sizes, one);
    }
    if wanted("sim") {
        sim::scale(&mut report, sizes.sim_nodes, tmp.path());
    }
    if wanted("attacks") {
        attacks::orphan_flood(&mut report, sizes.attack_posts);
        attacks::slow_body_attack(&mut report);
        attacks::crowd_at_the_seed(&mut report, sizes.attack_crowd);
        attacks::side_branch_flood(&mut report, sizes.attack_side_blocks, 1024 * 1024);
        attacks::ban_table(&mut report, tmp.path());
        attacks::silent_mempool(&mut report);
        attacks::check_as_scanner(&mut report);
    }
    progress("done");
    Ok(report)
}
