//! Figures of the real `full-node` binary over HTTP. Its chain is built
//! in-process in its data directory first (coins for the posted
//! transactions, then many addresses holding one output each); then the
//! binary is started on that directory with `-p 0`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cinder::node::MempoolLimits;
use cinder::types::{Address, Block, Hash, Signature};

use super::chain::{ChainBuilder, address};
use super::limits::{Limit2, recoveries_per_second};
use super::process::{CpuMeter, Served, peak_rss_mib};
use super::report::{Figure, Goal, Report, percentile};
use super::{Sizes, progress, wrk};
use crate::NodeProcess;

/// Namespace of the addresses that hold the state (see [`address`]).
const FILLED: u8 = 2;

/// wrk's shape for the throughput figures: 2 threads, 32 keep-alive connections.
const WRK_THREADS: usize = 2;
const WRK_CONNECTIONS: usize = 32;

/// Read latency goal (issue 23): p99 ≤ 2 ms.
const P99_GOAL_MS: f64 = 2.0;

pub fn figures(
    report: &mut Report,
    sizes: &Sizes,
    tmp: &Path,
    samples: &[(Hash, Signature, Address)],
    wrk: Option<&Path>,
) -> anyhow::Result<()> {
    let root = tempfile::tempdir_in(tmp).context("a directory for the node")?;
    let data = NodeProcess::data_dir_of(root.path());
    progress(&format!(
        "http: preparing the node's chain: {} coins, {} addresses",
        sizes.post_txs, sizes.addresses
    ));
    let start = Instant::now();
    let mut chain = ChainBuilder::open(&data, MempoolLimits::default())?;
    let coins = chain.fund(sizes.post_txs, 100_000)?;
    chain.fill_addresses(FILLED, sizes.addresses)?;
    let bodies: Vec<String> = chain
        .small_spends(1, &coins)
        .iter()
        .map(|t| serde_json::to_string(t).expect("a transaction serialises"))
        .collect();
    let height = chain.tip.height;
    drop(chain);
    progress(&format!(
        "http: chain of {height} blocks ready in {:.1} s; starting full-node",
        start.elapsed().as_secs_f64()
    ));
    let node = NodeProcess::try_start_in(root, &["--log", "warn"])
        .map_err(|failed| anyhow::anyhow!("full-node did not start: {failed}"))?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("an HTTP client")?;

    match wrk {
        Some(wrk) => {
            for (path, name) in [
                ("/blocks/last/", "GET /blocks/last/"),
                ("/blockchain/", "GET /blockchain/"),
            ] {
                report.push(get_throughput(&client, &node, wrk, tmp, sizes, path, name)?);
            }
        }
        None => {
            for name in ["GET /blocks/last/", "GET /blockchain/"] {
                report.push(Figure::not_measured(
                    format!("{name} throughput, wrk -t2 -c32"),
                    "req/s",
                    Goal::RatioAtLeast(0.8),
                    wrk::INSTALL_HINT,
                ));
            }
        }
    }

    progress("http: read latencies");
    let (mut utxo_rng, mut address_rng) = (Lcg(0x5eed), Lcg(0x5eed + 1));
    let n = sizes.latency_requests;
    let count = sizes.addresses;
    let reads: [(&str, PathPicker); 3] = [
        (
            "rich list GET /blockchain/",
            Box::new(|| "/blockchain/".into()),
        ),
        (
            "GET /utxo/{address}/",
            Box::new(move || format!("/utxo/{}/", address(FILLED, utxo_rng.below(count)))),
        ),
        (
            "GET /addresses/{address}/",
            Box::new(move || format!("/addresses/{}/", address(FILLED, address_rng.below(count)))),
        ),
    ];
    // The floor: the same client against the minimal server (the node's
    // rich-list answer), measured right before each endpoint. On a loaded
    // machine the p99 is mostly the scheduler's; this shows how much.
    let rich = fetch(&client, &format!("{}/blockchain/", node.url))?;
    let file = tmp.join("static-latency.json");
    std::fs::write(&file, &rich).with_context(|| format!("writing {}", file.display()))?;
    let minimal = Served::static_file(&file)?;
    for (name, mut path) in reads {
        let floor = latencies(&client, &minimal.url, n, &mut || "/blockchain/".into())?;
        let ms = latencies(&client, &node.url, n, &mut path)?;
        push_latency(report, name, &ms, &floor, sizes.addresses);
    }
    drop(minimal);
    let idle = latencies(&client, &node.url, n, &mut || "/blocks/last/".into())?;
    let idle_p99 = percentile(&idle, 99.0).unwrap_or(f64::NAN);

    match wrk {
        Some(wrk) => report.push(post_throughput(&bodies, &node, wrk, tmp, sizes, samples)?),
        None => report.push(Figure::not_measured(
            "POST /transactions/ accepted, wrk -t2 -c32",
            "tx/s",
            Goal::RatioAtLeast(0.5),
            wrk::INSTALL_HINT,
        )),
    }

    progress("http: /blocks/last/ latency while templates are built and blocks connected");
    loaded_latency(report, &client, &node.url, sizes, idle_p99)?;

    if let Some(rss) = peak_rss_mib(node.pid()) {
        report.push(
            Figure::new("full-node peak RSS over the HTTP figures", rss, "MiB").note(format!(
                "{} addresses, up to {} pool txs",
                sizes.addresses, sizes.post_txs
            )),
        );
    }
    drop(node);
    Ok(())
}

/// The path of each next request of a latency figure.
type PathPicker = Box<dyn FnMut() -> String>;

/// A tiny deterministic generator for picking addresses (no `rand` needed).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// `GET path` req/s of the node under wrk, against the minimal actix-web
/// server returning the node's own answer, under the same load.
fn get_throughput(
    client: &reqwest::blocking::Client,
    node: &NodeProcess,
    wrk: &Path,
    tmp: &Path,
    sizes: &Sizes,
    path: &str,
    name: &str,
) -> anyhow::Result<Figure> {
    progress(&format!("http: {name} throughput"));
    let body = fetch(client, &format!("{}{path}", node.url))?;
    let file = tmp.join(format!("static-{}.json", path.replace('/', "_")));
    std::fs::write(&file, &body).with_context(|| format!("writing {}", file.display()))?;
    let script = wrk::get_script();
    let minimal = Served::static_file(&file)?;
    // Node, minimal, minimal, node: each gets half its time early and half
    // late, so a change in the machine's other load (shared cores) weighs
    // on both alike.
    let half = (sizes.wrk_time / 2).max(Duration::from_secs(1));
    let mut on_node = Vec::new();
    let mut on_minimal = Vec::new();
    let mut node_cpu = Vec::new();
    for turn in ["node", "minimal", "minimal", "node"] {
        let url = match turn {
            "node" => format!("{}{path}", node.url),
            _ => format!("{}{path}", minimal.url),
        };
        let cpu = CpuMeter::start(node.pid());
        let run = wrk::run(
            wrk,
            &url,
            WRK_THREADS,
            WRK_CONNECTIONS,
            half,
            &script,
            false,
            tmp,
        )?;
        match turn {
            "node" => {
                node_cpu.push(cpu.cores().unwrap_or(f64::NAN));
                on_node.push(run);
            }
            _ => on_minimal.push(run),
        }
    }
    let node_cpu = node_cpu.iter().sum::<f64>() / node_cpu.len() as f64;
    let on_node = wrk::WrkResult::combined(&on_node);
    let on_minimal = wrk::WrkResult::combined(&on_minimal);
    if on_node.status_errors > 0.0 {
        bail!("{name}: {} answers were errors", on_node.status_errors);
    }
    Ok(Figure::new(
        format!("{name} throughput, wrk -t2 -c32"),
        on_node.ok_per_second(),
        "req/s",
    )
    .limit(on_minimal.ok_per_second(), "minimal actix-web, same bytes")
    .goal(Goal::RatioAtLeast(0.8))
    .note(format!(
        "{} B; {}; node CPU {node_cpu:.2} core; on minimal: {}",
        body.len(),
        on_node.cpu_note(),
        on_minimal.cpu_note()
    )))
}

/// Distinct pre-signed one-input transactions posted once each through
/// wrk, against two-thread recoveries measured just before.
fn post_throughput(
    bodies: &[String],
    node: &NodeProcess,
    wrk: &Path,
    tmp: &Path,
    sizes: &Sizes,
    samples: &[(Hash, Signature, Address)],
) -> anyhow::Result<Figure> {
    progress(&format!(
        "http: POST /transactions/ of {} distinct transactions",
        bodies.len()
    ));
    let file = tmp.join("transactions.jsonl");
    std::fs::write(&file, bodies.join("\n") + "\n")
        .with_context(|| format!("writing {}", file.display()))?;
    let script = wrk::post_once_script(&file, "/transactions/", WRK_THREADS);
    let before = recoveries_per_second(samples, 2, sizes.limit_time);
    let cpu = CpuMeter::start(node.pid());
    let run = wrk::run(
        wrk,
        &node.url,
        WRK_THREADS,
        WRK_CONNECTIONS,
        Duration::from_secs(300),
        &script,
        true,
        tmp,
    )?;
    let node_cpu = cpu.cores().unwrap_or(f64::NAN);
    let limit = Limit2::after(before, samples, sizes);
    let mut note = format!(
        "{} accepted in {:.2} s; {}; node CPU {node_cpu:.2} core; {}",
        run.accepted,
        run.seconds(),
        run.cpu_note(),
        limit.note()
    );
    if run.refused > 0.0 || run.accepted < bodies.len() as f64 {
        note.push_str(&format!("; {} REFUSED of {}", run.refused, bodies.len()));
    }
    Ok(Figure::new(
        format!(
            "POST /transactions/ accepted, wrk -t2 -c32, {} distinct txs",
            bodies.len()
        ),
        run.accepted / run.seconds(),
        "tx/s",
    )
    .limit(limit.mean(), Limit2::WHAT)
    .goal(Goal::RatioAtLeast(0.5))
    .note(note))
}

fn fetch(client: &reqwest::blocking::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let response = client
        .get(url)
        .send()
        .with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        bail!("GET {url}: {}", response.status());
    }
    Ok(response
        .bytes()
        .with_context(|| format!("reading {url}"))?
        .to_vec())
}

/// Milliseconds of `n` sequential requests on one keep-alive connection
/// (after a short warm-up), sorted.
fn latencies(
    client: &reqwest::blocking::Client,
    base: &str,
    n: usize,
    path: &mut dyn FnMut() -> String,
) -> anyhow::Result<Vec<f64>> {
    for _ in 0..20 {
        fetch(client, &format!("{base}{}", path()))?;
    }
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let url = format!("{base}{}", path());
        let start = Instant::now();
        fetch(client, &url)?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms)
}

fn push_latency(
    report: &mut Report,
    name: &str,
    sorted_ms: &[f64],
    floor_ms: &[f64],
    addresses: u64,
) {
    let p50 = percentile(sorted_ms, 50.0).unwrap_or(f64::NAN);
    let p99 = percentile(sorted_ms, 99.0).unwrap_or(f64::NAN);
    let floor = |p| percentile(floor_ms, p).unwrap_or(f64::NAN);
    report.push(
        Figure::new(format!("{name} latency p50"), p50, "ms")
            .limit(floor(50.0), "minimal server p50")
            .note(format!(
                "{} sequential requests, {addresses} addresses",
                sorted_ms.len()
            )),
    );
    report.push(
        Figure::new(format!("{name} latency p99"), p99, "ms")
            .limit(floor(99.0), "minimal server p99")
            .goal(Goal::AtMost(P99_GOAL_MS))
            .note(format!(
                "max {:.2} ms",
                sorted_ms.last().unwrap_or(&f64::NAN)
            )),
    );
}

/// `GET /blocks/last/` latency from one sequential client while one
/// thread asks `GET /mining/template/` in a loop and another mines on
/// templates and posts the blocks (issue 18's note). The limit is the
/// same client's p99 on the idle node, measured just before.
fn loaded_latency(
    report: &mut Report,
    client: &reqwest::blocking::Client,
    base: &str,
    sizes: &Sizes,
    idle_p99: f64,
) -> anyhow::Result<()> {
    let stop = AtomicBool::new(false);
    let templates = AtomicUsize::new(0);
    let blocks = AtomicUsize::new(0);
    let miner_address = address(4, 0);
    let template_url = format!("{base}/mining/template/?address={miner_address}");
    let ms = std::thread::scope(|s| -> anyhow::Result<Vec<f64>> {
        let builder = s.spawn(|| -> anyhow::Result<()> {
            let client = reqwest::blocking::Client::new();
            while !stop.load(Ordering::Relaxed) {
                fetch(&client, &template_url)?;
                templates.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
        let miner = s.spawn(|| -> anyhow::Result<()> {
            let client = reqwest::blocking::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let body = fetch(&client, &template_url)?;
                templates.fetch_add(1, Ordering::Relaxed);
                let mut block: Block =
                    serde_json::from_slice(&body).context("a template is a block")?;
                if !block.solve(10_000_000) {
                    continue;
                }
                let response = client
                    .post(format!("{base}/blocks/"))
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&block).expect("a block serialises"))
                    .send()
                    .context("POST /blocks/")?;
                if response.status().is_success() {
                    blocks.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        });
        std::thread::sleep(Duration::from_millis(300));
        let deadline = Instant::now() + sizes.loaded_time;
        let mut ms = Vec::new();
        let url = format!("{base}/blocks/last/");
        let result = (|| -> anyhow::Result<()> {
            while Instant::now() < deadline {
                let start = Instant::now();
                fetch(client, &url)?;
                ms.push(start.elapsed().as_secs_f64() * 1e3);
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        builder.join().expect("the template thread panicked")?;
        miner.join().expect("the miner thread panicked")?;
        result?;
        ms.sort_by(f64::total_cmp);
        Ok(ms)
    })?;
    let p50 = percentile(&ms, 50.0).unwrap_or(f64::NAN);
    let p99 = percentile(&ms, 99.0).unwrap_or(f64::NAN);
    let load = format!(
        "{} templates, {} blocks connected in {:.0} s",
        templates.load(Ordering::Relaxed),
        blocks.load(Ordering::Relaxed),
        sizes.loaded_time.as_secs_f64()
    );
    report.push(
        Figure::new(
            "GET /blocks/last/ latency p50 under template+block load",
            p50,
            "ms",
        )
        .note(format!("{} sequential requests; {load}", ms.len())),
    );
    report.push(
        Figure::new(
            "GET /blocks/last/ latency p99 under template+block load",
            p99,
            "ms",
        )
        .limit(idle_p99, "p99 on the idle node")
        .note(format!("max {:.2} ms", ms.last().unwrap_or(&f64::NAN))),
    );
    Ok(())
}
