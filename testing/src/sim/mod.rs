//! A deterministic network simulator (issue 30): N nodes in one process on
//! virtual time, each running the node's real decision code — the peer
//! book (`cinder::p2p::peers`), relay (`cinder::p2p::relay`) and the sync
//! run and schedule (`cinder::p2p::sync_run`) — and a seed running the
//! seed's book, over links with latency and bandwidth ([`link`]). This
//! module is their driver, as nakamoto's `net/src/simulator.rs`: actions
//! become messages in virtual time instead of HTTP requests.
//!
//! - Virtual time: one queue of events ordered by (time, sequence number)
//!   ([`queue`]); one random generator seeded by `--seed` ([`rng`]); no
//!   hash map's order reaches a decision (the relay's posts are sorted,
//!   then shuffled by the run's generator).
//! - Blocks and transactions are validated once: real regtest blocks mined
//!   in the run live in one arena; each node keeps only which it stores,
//!   its active chain and its pool ([`chain`]).
//! - Deterministic: a running SHA-256 over one line per event is the run's
//!   digest; the same seed gives the same digest.
//! - Scenarios ([`scenarios`]), each a set of figures: `propagation`,
//!   `partition`, `churn`, `eclipse`, `lab`.
//!
//! `testing sim --nodes N --seed S --scenario NAME --json FILE` runs one
//! ([`cli`]).

pub mod chain;
pub mod cli;
pub mod link;
pub mod queue;
pub mod scenarios;
pub mod world;

use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use link::Profile;
pub use world::{Settings, Stats, World};

/// One figure of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

impl Figure {
    pub fn new(name: impl Into<String>, value: f64, unit: &str) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit: unit.to_string(),
        }
    }
}

/// What a run simulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// A block of 100 txs and a transaction, 5 of each: time to 50/90/100 % of nodes.
    Propagation,
    /// Two halves mine apart for 2 (then, in another run, 5) update intervals, then heal: time until one tip.
    Partition,
    /// 10 % of nodes leave and fresh ones join every minute: share on the best tip, catch-up time.
    Churn,
    /// As many attackers as honest nodes, from 2 /16 groups, flood the seed and announcements: honest share of peers, with and without groups.
    Eclipse,
    /// The lab's network (16 nodes, 20 ms links, 8 peers): its propagation figures.
    Lab,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Propagation => "propagation",
            Scenario::Partition => "partition",
            Scenario::Churn => "churn",
            Scenario::Eclipse => "eclipse",
            Scenario::Lab => "lab",
        }
    }
}

/// A run to make.
#[derive(Clone, Debug)]
pub struct Config {
    /// Honest nodes (besides the seed, and attackers of `eclipse`).
    pub nodes: usize,
    pub seed: u64,
    pub scenario: Scenario,
    /// The link model; `None`: `lab` for the lab scenario, `geo` otherwise.
    pub profile: Option<Profile>,
    /// A progress line on stderr while it runs.
    pub progress: bool,
    /// Multiplies every simulated CPU time ([`world::Settings::cpu_scale`]):
    /// 1 is the machine the intake times were calibrated on.
    pub cpu_scale: f64,
}

/// What a run gave.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub digest: String,
    pub figures: Vec<Figure>,
    /// Events delivered, virtual seconds simulated, wall seconds taken.
    pub events: u64,
    pub virtual_secs: f64,
    pub wall_secs: f64,
}

impl Outcome {
    pub fn figure(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value)
    }
}

/// Runs `config`'s scenario.
pub fn run(config: &Config) -> Outcome {
    let started = Instant::now();
    let ran = scenarios::run(config);
    // One world: its digest; two (eclipse, partition): the digest of both.
    let digest = match &ran.digests[..] {
        [one] => one.clone(),
        all => hex(&Sha256::digest(all.concat().as_bytes())),
    };
    Outcome {
        digest,
        figures: ran.figures,
        events: ran.events,
        virtual_secs: ran.virtual_secs,
        wall_secs: started.elapsed().as_secs_f64(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
