//! `bench --soak MINUTES` (issue 31): the lab's nodes under a steady mix
//! for the whole time — payments posted to random nodes, `testing` runs,
//! reads, two miners, one node restarted every few minutes, one node
//! partitioned and healed — then the checks: every transaction answered
//! 200 was mined or is in every mempool, every node on one tip with equal
//! state digests (`full-node verify`), no 5xx, memory and open descriptors
//! flat (sampled each minute).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use cinder::types::Hash;

use super::progress;
use super::report::{Figure, Goal, Report};
use crate::chain::{self, Coin, owner, payee};
use crate::lab::{ChainTemplate, LINK_DELAY, Lab};
use crate::rng::Rng;
use crate::{NodeProcess, get, open_fds, rss_kib};

/// Payments posted per second, each to a random node.
const PAYMENTS_PER_SECOND: u64 = 2;
/// Time between two restarts of a (non-mining) node.
const RESTART_EVERY: Duration = Duration::from_secs(180);
/// Time between two `testing` runs.
const TESTING_EVERY: Duration = Duration::from_secs(300);
/// How long the end waits for the nodes to agree.
const SETTLE: Duration = Duration::from_secs(180);

/// What the load threads saw.
#[derive(Default)]
struct Seen {
    /// Payments answered 200, by hash.
    accepted: Mutex<Vec<Hash>>,
    refused: AtomicU64,
    unreachable: AtomicU64,
    reads: AtomicU64,
    server_errors: AtomicU64,
    testing_runs: AtomicU64,
    testing_failures: Mutex<Vec<String>>,
}

/// Samples of one node: (minute, RSS KiB, open descriptors).
type Samples = Vec<(u64, u64, usize)>;

/// The arguments of lab node `i`: the first two mine.
fn node_args(seed: &str, i: usize, mining: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "--dns",
        seed,
        "--update-interval",
        "1",
        "--sync-interval",
        "10",
        "--max-peers",
        "4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if mining && i < 2 {
        args.extend([
            "--mine".to_string(),
            "--reward-address".to_string(),
            crate::stranger(10 + i as u8).to_string(),
            "--mine-interval".to_string(),
            "10".to_string(),
        ]);
    }
    args
}

/// Runs the soak for `minutes` on `nodes` nodes and adds its figures.
pub fn soak(report: &mut Report, minutes: f64, nodes: usize) {
    let nodes = nodes.max(4);
    let length = Duration::from_secs_f64(minutes * 60.0);
    let seed_value = cinder::node::unix_now();
    progress(&format!(
        "soak: {nodes} nodes for {minutes} min (two mining), dice seed {seed_value}"
    ));
    let payments = (length.as_secs() * PAYMENTS_PER_SECOND + 50) as usize;
    // Coinbases, fan-outs into the payments' coins, and no more.
    let (blocks, coins) = chain::blocks_with_coins(payments.div_ceil(250) as u64 + 3, payments);
    let template = ChainTemplate::new(&blocks);
    let mut lab = Lab::with_seed(LINK_DELAY);
    let seed = lab.seed.as_ref().map(|s| s.addr()).unwrap_or_default();
    for i in 0..nodes {
        let args = node_args(&seed, i, true);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lab.add_node(Some(&template), &args);
    }
    lab.wait_until_all_know(2);
    let urls = Arc::new(RwLock::new(
        lab.nodes.iter().map(|n| n.url.clone()).collect::<Vec<_>>(),
    ));
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();

    let payer = {
        let (urls, seen, stop) = (urls.clone(), seen.clone(), stop.clone());
        std::thread::spawn(move || pay(&urls, &seen, &stop, coins, seed_value))
    };
    let reader = {
        let (urls, seen, stop) = (urls.clone(), seen.clone(), stop.clone());
        std::thread::spawn(move || read(&urls, &seen, &stop, seed_value ^ 1))
    };
    let tester = {
        let (urls, seen, stop) = (urls.clone(), seen.clone(), stop.clone());
        std::thread::spawn(move || run_testing(&urls, &seen, &stop))
    };

    // The main thread: samples each minute, restarts, the partition.
    let mut samples: Vec<Samples> = vec![Vec::new(); nodes];
    let mut server_errors_before_restarts = 0u64;
    let mut next_sample = Duration::ZERO;
    let mut next_restart = RESTART_EVERY.min(length / 2);
    let mut restarted = 0usize;
    let partition_at = length / 3;
    let partition_for = (length / 10).clamp(Duration::from_secs(10), Duration::from_secs(120));
    let isolated = nodes - 1;
    let mut partitioned = false;
    let mut healed = false;
    while started.elapsed() < length {
        let now = started.elapsed();
        if now >= next_sample {
            let minute = now.as_secs() / 60;
            for (i, node) in lab.nodes.iter().enumerate() {
                samples[i].push((minute, rss_kib(node.pid()), open_fds(node.pid())));
            }
            next_sample += Duration::from_secs(60);
        }
        if now >= next_restart {
            let i = 2 + restarted % (nodes - 2);
            server_errors_before_restarts += server_errors_of(&lab.nodes[i].url);
            progress(&format!("soak: restarting node {i}"));
            let args = node_args(&seed, i, true);
            restart(&mut lab, i, &args);
            restarted += 1;
            next_restart += RESTART_EVERY;
        }
        if !partitioned && now >= partition_at {
            progress(&format!(
                "soak: node {isolated} cut off for {partition_for:?}"
            ));
            let groups: Vec<usize> = (0..nodes).map(|i| usize::from(i == isolated)).collect();
            lab.proxy.partition(&groups);
            partitioned = true;
        }
        if partitioned && !healed && now >= partition_at + partition_for {
            progress(&format!("soak: node {isolated} healed"));
            lab.proxy.heal();
            healed = true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if !healed {
        lab.proxy.heal();
    }
    stop.store(true, Ordering::Release);
    for thread in [payer, reader, tester] {
        let _ = thread.join();
    }
    for (i, node) in lab.nodes.iter().enumerate() {
        samples[i].push((
            started.elapsed().as_secs() / 60,
            rss_kib(node.pid()),
            open_fds(node.pid()),
        ));
    }
    progress("soak: load stopped; the miners stop mining, the nodes settle");
    for i in 0..2 {
        server_errors_before_restarts += server_errors_of(&lab.nodes[i].url);
        restart(&mut lab, i, &node_args(&seed, i, false));
    }
    let accepted = seen.accepted.lock().map(|a| a.clone()).unwrap_or_default();
    let settled = settle(&lab, &accepted);
    let server_errors = server_errors_before_restarts
        + lab
            .nodes
            .iter()
            .map(|n| server_errors_of(&n.url))
            .sum::<u64>()
        + seen.server_errors.load(Ordering::Acquire);
    let height = get(&lab.nodes[0].url, "/blockchain/").1["height"]
        .as_u64()
        .unwrap_or(0);

    // Digests of every node's stopped directory.
    let mut digests = BTreeMap::<String, Vec<usize>>::new();
    let mut verify_failures = Vec::new();
    let nodes_out: Vec<NodeProcess> = lab.nodes.drain(..).collect();
    for (i, node) in nodes_out.into_iter().enumerate() {
        let data_dir = node.data_dir.clone();
        let (root, _) = node.stop();
        match verify(&data_dir) {
            Ok(digest) => digests.entry(digest).or_default().push(i),
            Err(e) => verify_failures.push(format!("node {i}: {e}")),
        }
        drop(root);
    }

    print_samples(&samples);
    let testing_failures = seen
        .testing_failures
        .lock()
        .map(|f| f.clone())
        .unwrap_or_default();
    for failure in &testing_failures {
        progress(&format!("soak: testing failed: {failure}"));
    }
    for failure in &verify_failures {
        progress(&format!("soak: verify: {failure}"));
    }
    let sent = accepted.len() as u64
        + seen.refused.load(Ordering::Acquire)
        + seen.unreachable.load(Ordering::Acquire);
    let run = format!(
        "{minutes} min, {nodes} nodes, 2 mining; {restarted} restart(s), node {isolated} cut off {partition_for:?}; chain height {height}"
    );
    report.push(
        Figure::new("soak: payments answered 200", accepted.len() as f64, "txs").note(format!(
            "{sent} sent: {} refused (4xx), {} while the node was restarting; {run}",
            seen.refused.load(Ordering::Acquire),
            seen.unreachable.load(Ordering::Acquire)
        )),
    );
    report.push(
        Figure::new("soak: of those, mined", settled.mined as f64, "txs")
            .note(format!("{} still in every mempool", settled.pooled)),
    );
    report.push(
        Figure::new("soak: of those, lost", settled.lost.len() as f64, "txs")
            .goal(Goal::AtMost(0.0))
            .note(if settled.lost.is_empty() {
                "none".to_string()
            } else {
                format!("e.g. {}", settled.lost[0])
            }),
    );
    report.push(
        Figure::new(
            "soak: nodes off the common tip after settling",
            settled.off_tip as f64,
            "nodes",
        )
        .goal(Goal::AtMost(0.0))
        .note(format!("waited {:.1} s", settled.took.as_secs_f64())),
    );
    let distinct = digests.len() + verify_failures.len();
    report.push(
        Figure::new(
            "soak: distinct state digests (full-node verify)",
            distinct as f64,
            "digests",
        )
        .goal(Goal::AtMost(1.0))
        .note(match digests.iter().next() {
            Some((digest, on)) if distinct == 1 => {
                format!(
                    "all {} nodes: digest {}…",
                    on.len(),
                    &digest[..16.min(digest.len())]
                )
            }
            _ => format!("{digests:?}; {verify_failures:?}"),
        }),
    );
    report.push(
        Figure::new("soak: 5xx answers", server_errors as f64, "answers")
            .goal(Goal::AtMost(0.0))
            .note(format!(
                "every node's cinder_http_requests_total, and {} reads of the load",
                seen.reads.load(Ordering::Acquire)
            )),
    );
    report.push(
        Figure::new(
            "soak: testing runs that failed",
            testing_failures.len() as f64,
            "runs",
        )
        .goal(Goal::AtMost(0.0))
        .note(format!(
            "{} runs of `testing --transactions 5` against random nodes",
            seen.testing_runs.load(Ordering::Acquire)
        )),
    );
    let (rss_growth, fd_growth) = growth(&samples);
    report.push(
        Figure::new(
            "soak: RSS growth after the first minute, worst node",
            rss_growth,
            "MiB",
        )
        .goal(Goal::AtMost(64.0))
        .note("each node sampled every minute; start and end per node on stderr"),
    );
    report.push(
        Figure::new(
            "soak: open descriptors growth after the first minute, worst node",
            fd_growth as f64,
            "fds",
        )
        .goal(Goal::AtMost(32.0)),
    );
}

/// Restarts lab node `i` on its directory and port with `args` (and its
/// front, as the lab started it).
fn restart(lab: &mut Lab, i: usize, args: &[String]) {
    let node = lab.nodes.remove(i);
    let port = node.port();
    let (root, _) = node.stop();
    let front = lab.fronts[i].to_string();
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--advertise", front.as_str()]);
    let node = NodeProcess::start_on(root, &port, &args);
    lab.nodes.insert(i, node);
}

/// 5xx answers a node counted (its `/metrics`).
fn server_errors_of(url: &str) -> u64 {
    let Ok(text) = reqwest::blocking::get(format!("{url}/metrics")).and_then(|r| r.text()) else {
        return 0;
    };
    text.lines()
        .filter(|l| l.starts_with("cinder_http_requests_total{") && l.contains("status=\"5"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn random_url(urls: &RwLock<Vec<String>>, dice: &mut Rng) -> String {
    let urls = urls.read().map(|u| u.clone()).unwrap_or_default();
    urls.get(dice.index(urls.len().max(1)))
        .cloned()
        .unwrap_or_default()
}

/// Posts payments at a steady rate, each to a random node.
fn pay(urls: &RwLock<Vec<String>>, seen: &Seen, stop: &AtomicBool, coins: Vec<Coin>, seed: u64) {
    let mut dice = Rng::new(seed);
    let every = Duration::from_millis(1000 / PAYMENTS_PER_SECOND);
    let mut next = Instant::now();
    for (n, coin) in coins.into_iter().enumerate() {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let tx = chain::spend(
            coin,
            &[(payee(n), 1_000), (owner().address(), coin.value - 2_000)],
            cinder::node::unix_now(),
        );
        let body = serde_json::to_string(&tx).unwrap_or_default();
        let url = random_url(urls, &mut dice);
        let answer = reqwest::blocking::Client::new()
            .post(format!("{url}/transactions/"))
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(10))
            .body(body)
            .send();
        match answer.map(|a| a.status().as_u16()) {
            Ok(200) => {
                if let Ok(mut accepted) = seen.accepted.lock() {
                    accepted.push(tx.hash);
                }
            }
            Ok(status) if status >= 500 => {
                seen.server_errors.fetch_add(1, Ordering::AcqRel);
            }
            Ok(_) => {
                seen.refused.fetch_add(1, Ordering::AcqRel);
            }
            Err(_) => {
                seen.unreachable.fetch_add(1, Ordering::AcqRel);
            }
        }
        next += every;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
}

/// Reads what a wallet and an explorer read, from random nodes.
fn read(urls: &RwLock<Vec<String>>, seen: &Seen, stop: &AtomicBool, seed: u64) {
    let mut dice = Rng::new(seed);
    let client = reqwest::blocking::Client::new();
    let owner = owner().address();
    let paths = [
        "/blockchain/".to_string(),
        "/blocks/last/".to_string(),
        format!("/addresses/{owner}/"),
        format!("/utxo/{}/?mempool=true", payee(3)),
        "/transactions/".to_string(),
        "/health/".to_string(),
    ];
    while !stop.load(Ordering::Acquire) {
        let url = random_url(urls, &mut dice);
        let path = &paths[dice.index(paths.len().max(1))];
        let answer = client
            .get(format!("{url}{path}"))
            .timeout(Duration::from_secs(10))
            .send();
        if let Ok(answer) = answer {
            seen.reads.fetch_add(1, Ordering::AcqRel);
            if answer.status().is_server_error() {
                seen.server_errors.fetch_add(1, Ordering::AcqRel);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `testing` (5 payments) against a random node every few minutes.
fn run_testing(urls: &RwLock<Vec<String>>, seen: &Seen, stop: &AtomicBool) {
    let mut dice = Rng::new(7);
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            if let Ok(mut f) = seen.testing_failures.lock() {
                f.push(format!("no temporary directory: {e}"));
            }
            return;
        }
    };
    let wallet_dir = dir.path().to_string_lossy().to_string();
    let mut next = Instant::now() + Duration::from_secs(5);
    while !stop.load(Ordering::Acquire) {
        if Instant::now() >= next {
            let url = random_url(urls, &mut dice);
            let finished =
                crate::run_testing(&["--node", &url, "-d", &wallet_dir, "--transactions", "5"]);
            seen.testing_runs.fetch_add(1, Ordering::AcqRel);
            if finished.code() != Some(0) {
                // A node restarting under it is not a failure of the node.
                let text = finished
                    .stderr
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .to_string();
                if let Ok(mut f) = seen.testing_failures.lock() {
                    f.push(format!("{url}: {text}"));
                }
            }
            next = Instant::now() + TESTING_EVERY;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How the accepted payments ended.
struct Settled {
    mined: usize,
    pooled: usize,
    lost: Vec<Hash>,
    off_tip: usize,
    took: Duration,
}

/// Waits until every node is on one tip and every accepted payment is
/// confirmed on every node or in every node's mempool.
fn settle(lab: &Lab, accepted: &[Hash]) -> Settled {
    let start = Instant::now();
    let mut next_block = Duration::from_secs(5);
    loop {
        let tips = lab.tips();
        let off_tip = tips.iter().filter(|t| **t != tips[0]).count();
        let (mut mined, mut pooled, mut lost) = (0, 0, Vec::new());
        for hash in accepted {
            let path = format!("/transactions/{hash}/status/");
            let first = get(&lab.nodes[0].url, &path).1["status"].clone();
            // On one tip, confirmed on one node is confirmed on all.
            if first == "confirmed" && off_tip == 0 {
                mined += 1;
            } else if first == "mempool"
                && lab.nodes[1..]
                    .iter()
                    .all(|n| get(&n.url, &path).1["status"] == "mempool")
            {
                pooled += 1;
            } else {
                lost.push(*hash);
            }
        }
        // Two miners leave tips of equal work behind (each node keeps the
        // one it saw first): one more block breaks the tie, as the next
        // block of a live network does.
        if off_tip > 0 && start.elapsed() >= next_block {
            crate::mine_block(&lab.nodes[0].url, &crate::stranger(12));
            next_block = start.elapsed() + Duration::from_secs(20);
        }
        let done = off_tip == 0 && lost.is_empty();
        if done || start.elapsed() > SETTLE {
            return Settled {
                mined,
                pooled,
                lost,
                off_tip,
                took: start.elapsed(),
            };
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// `full-node verify -d DIR`'s digest.
fn verify(data_dir: &std::path::Path) -> Result<String, String> {
    let mut command = std::process::Command::new(crate::full_node_bin());
    command.arg("verify").arg("-d").arg(data_dir);
    let finished = crate::run_to_end(command, None, Duration::from_secs(300));
    let last = finished
        .stdout
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    match (finished.code(), last.strip_prefix("digest ")) {
        (Some(0), Some(digest)) => Ok(digest.to_string()),
        _ => Err(format!(
            "exit {:?}: {}{}",
            finished.code(),
            finished.stdout.lines().last().unwrap_or_default(),
            finished.stderr.lines().last().unwrap_or_default()
        )),
    }
}

/// The worst growth of RSS (MiB) and descriptors from each node's sample
/// at minute 1 (after warm-up) to its last.
fn growth(samples: &[Samples]) -> (f64, i64) {
    let mut rss = 0.0f64;
    let mut fds = 0i64;
    for node in samples {
        let first = node.iter().find(|s| s.0 >= 1).or(node.first());
        if let (Some(first), Some(last)) = (first, node.last()) {
            rss = rss.max((last.1 as f64 - first.1 as f64) / 1024.0);
            fds = fds.max(last.2 as i64 - first.2 as i64);
        }
    }
    (rss, fds)
}

fn print_samples(samples: &[Samples]) {
    progress("soak: per node, RSS MiB and open descriptors at each minute");
    for (i, node) in samples.iter().enumerate() {
        let line: Vec<String> = node
            .iter()
            .map(|(m, rss, fds)| format!("{m}m {:.1}/{fds}", *rss as f64 / 1024.0))
            .collect();
        eprintln!("    node {i}: {}", line.join("  "));
    }
}
