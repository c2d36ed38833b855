//! `testing sim`: one simulated run, its figures on stdout and, with
//! `--json FILE`, `{"nodes", "seed", "scenario", "digest", "wall_s",
//! "peak_rss_mib", "figures": [{"name", "value", "unit"}]}`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use serde::Serialize;

use super::{Config, Figure, Profile, Scenario};

#[derive(Parser, Debug)]
#[command(
    name = "testing sim",
    about = "Simulates a Cinder network in one process on virtual time: the nodes run the node's own \
        peer book, relay and sync decisions over links with latency and bandwidth.",
    long_about = "Simulates a Cinder network in one process on virtual time: a seed and N nodes, \
        each running the node's own peer book, relay and sync decisions (cinder::p2p), over links \
        with latency and bandwidth. Blocks are real regtest blocks, validated once and shared. \
        The same --seed gives the same run: the digest printed is a SHA-256 of every event.\n\n\
        Scenarios:\n  \
        propagation  a block of 100 txs and a transaction (5 of each): time to 50/90/100 % of nodes\n  \
        partition    two halves mine apart for 2 update intervals (they still know each other),\n               \
        and in another run for 5 (they forgot each other), then heal: time until one tip\n  \
        churn        10 % of nodes leave and fresh ones join every minute for 10 minutes\n  \
        eclipse      as many attackers as honest nodes, from 2 /16 groups: honest share of peers,\n               \
        with and without the rules of API.md §8 \"Groups\"\n  \
        lab          the lab's network (16 nodes, 20 ms links, 8 peers): its propagation figures\n\n\
        Links: --profile lab (20 ms one way, 1 Gbit/s) or geo (6 regions, SimBlock's 2019 latencies \
        and bandwidths); the lab scenario defaults to lab, the others to geo."
)]
pub struct SimCli {
    /// Honest nodes (the lab scenario: 16 unless given).
    #[arg(long = "nodes", value_name = "N")]
    pub nodes: Option<usize>,
    /// Seeds the run's one random generator.
    #[arg(long = "seed", value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// What to simulate.
    #[arg(
        long = "scenario",
        value_name = "NAME",
        value_enum,
        default_value = "propagation"
    )]
    pub scenario: Scenario,
    /// The link model (default: lab for the lab scenario, geo otherwise).
    #[arg(long = "profile", value_name = "lab|geo", value_parser = parse_profile)]
    pub profile: Option<Profile>,
    /// Multiplies every simulated CPU time: 1 is the machine the intake
    /// times were calibrated on (17,226 signature recoveries a second on
    /// one thread), 2 a machine half as fast.
    #[arg(long = "cpu-scale", value_name = "X", default_value_t = 1.0)]
    pub cpu_scale: f64,
    /// Writes the run's figures there as JSON.
    #[arg(long = "json", value_name = "FILE")]
    pub json: Option<PathBuf>,
}

fn parse_profile(text: &str) -> Result<Profile, String> {
    match text {
        "lab" => Ok(Profile::Lab),
        "geo" => Ok(Profile::Geo),
        other => Err(format!("no link profile {other:?}: lab or geo")),
    }
}

/// Nodes of the lab (`bench`'s `lab_nodes`).
const LAB_NODES: usize = 16;
/// Nodes of the other scenarios unless given.
const DEFAULT_NODES: usize = 1_000;

#[derive(Serialize)]
struct Report<'a> {
    nodes: usize,
    seed: u64,
    scenario: &'a str,
    digest: &'a str,
    wall_s: f64,
    peak_rss_mib: f64,
    figures: &'a [Figure],
}

/// Runs `testing sim` with `args` (the first is the command's name).
pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> anyhow::Result<()> {
    let cli = SimCli::parse_from(args);
    let nodes = cli.nodes.unwrap_or(match cli.scenario {
        Scenario::Lab => LAB_NODES,
        _ => DEFAULT_NODES,
    });
    anyhow::ensure!(nodes >= 2, "--nodes must be at least 2");
    anyhow::ensure!(nodes <= 20_000, "--nodes must be at most 20000");
    let config = Config {
        nodes,
        seed: cli.seed,
        scenario: cli.scenario,
        profile: cli.profile,
        progress: true,
        cpu_scale: cli.cpu_scale,
    };
    eprintln!(
        "sim: {} nodes, seed {}, scenario {}",
        nodes,
        cli.seed,
        cli.scenario.name()
    );
    let outcome = super::run(&config);
    let peak_rss_mib = peak_rss_kib().map_or(f64::NAN, |k| k as f64 / 1024.0);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "scenario {} · {} nodes · seed {}",
        cli.scenario.name(),
        nodes,
        cli.seed
    )?;
    for f in &outcome.figures {
        writeln!(out, "  {:<70} {:>12.1} {}", f.name, f.value, f.unit)?;
    }
    writeln!(
        out,
        "digest {}\nwall {:.2} s · {} events · {:.0} s virtual · peak RSS {:.1} MiB",
        outcome.digest, outcome.wall_secs, outcome.events, outcome.virtual_secs, peak_rss_mib
    )?;
    if let Some(path) = &cli.json {
        let report = Report {
            nodes,
            seed: cli.seed,
            scenario: cli.scenario.name(),
            digest: &outcome.digest,
            wall_s: outcome.wall_secs,
            peak_rss_mib,
            figures: &outcome.figures,
        };
        let text = serde_json::to_string_pretty(&report).context("the report as JSON")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// This process's peak resident memory (VmHWM), KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
