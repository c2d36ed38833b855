//! Carries out the peer book's decisions ([`super::peers`]) over
//! [`Client`]: a round at start and every update interval (register with
//! the seed, check the known nodes, look for more while below the cap,
//! announce ourselves to those added), and a saver that writes the book
//! to its [`PeerStore`] whenever it changed. Thin on purpose: every choice
//! is the book's.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;
use tokio::task::{JoinHandle, JoinSet};

use super::peers::{Misbehaviour, Outcome, SeedNews};
use super::store::PeerStore;
use super::{CheckFailure, Peers, check_node};
use crate::client::Client;
use crate::wire::NodeAddr;

/// Default `--update-interval` / `-u` (API.md §1, §8).
pub const DEFAULT_UPDATE_INTERVAL: Duration = Duration::from_secs(60);
/// Nodes taken from one peer list, at most (a random share beyond).
pub const MAX_HEARD_PER_SOURCE: usize = 1000;
/// Checks (and peer-list requests) in flight at once in a round.
pub const MAX_CHECKS_IN_FLIGHT: usize = 32;

/// How the rounds run.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// The seed to register with and ask (`--dns`); `None` for the seed
    /// itself, and for tests that run without one.
    pub seed: Option<NodeAddr>,
    pub interval: Duration,
    pub max_in_flight: usize,
}

impl DriverConfig {
    pub fn new(seed: Option<NodeAddr>, interval: Duration) -> DriverConfig {
        DriverConfig {
            seed,
            interval,
            max_in_flight: MAX_CHECKS_IN_FLIGHT,
        }
    }
}

/// The running rounds and saver of one server; [`PeerTasks::stop`] ends
/// them and saves the book a last time.
pub struct PeerTasks {
    rounds: JoinHandle<()>,
    saver: JoinHandle<()>,
    peers: Arc<Peers>,
    store: Arc<dyn PeerStore>,
}

impl PeerTasks {
    /// Starts the rounds and the saver on the current tokio runtime (the
    /// server's actix `System`).
    pub fn spawn(peers: Arc<Peers>, store: Arc<dyn PeerStore>, config: DriverConfig) -> PeerTasks {
        let rounds = tokio::spawn(run_rounds(peers.clone(), config));
        let saver = tokio::spawn(run_saver(peers.clone(), store.clone()));
        PeerTasks {
            rounds,
            saver,
            peers,
            store,
        }
    }

    /// Stops both tasks (a round in flight is dropped) and saves.
    pub async fn stop(self) {
        self.rounds.abort();
        self.saver.abort();
        let _ = self.rounds.await;
        let _ = self.saver.await;
        save(&self.peers, &self.store).await;
    }
}

async fn run_rounds(peers: Arc<Peers>, config: DriverConfig) {
    // Checks bound themselves to 2 s; registering waits for the seed's
    // check of us, so it has the default time.
    let client = peers.client("127.0.0.1");
    let mut ticks = tokio::time::interval(config.interval.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        round(&peers, &client, &config).await;
    }
}

/// Least time between two saves: a burst of changes (bans a stranger
/// provokes by the thousand) is one write, not one per change.
pub const SAVE_EVERY: Duration = Duration::from_secs(1);

async fn run_saver(peers: Arc<Peers>, store: Arc<dyn PeerStore>) {
    loop {
        peers.changed().await;
        save(&peers, &store).await;
        tokio::time::sleep(SAVE_EVERY).await;
    }
}

/// Writes the book on a blocking thread.
async fn save(peers: &Peers, store: &Arc<dyn PeerStore>) {
    let saved = peers.with_book(|book| book.saved());
    let store = store.clone();
    match tokio::task::spawn_blocking(move || store.save(&saved)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("saving the known nodes: {e}"),
        Err(e) => tracing::warn!("saving the known nodes: {e}"),
    }
}

/// One round (API.md §8 "Peers"; for the seed, §1: re-check every node).
pub async fn round(peers: &Peers, client: &Client, config: &DriverConfig) {
    let me = peers.me();
    let now = peers.now();
    let (lifted, stalled) = peers.with_book(|book| book.expire(now));
    for node in lifted {
        tracing::info!(%node, "ban lifted");
    }
    for (node, outcome) in stalled {
        log_outcome(node, &outcome);
    }

    let seed = config.seed.filter(|seed| *seed != me);
    if let Some(seed) = seed {
        let registered = client.to(seed).register(me).await;
        let news = peers.with_book(|book| book.seed_answered(registered.is_ok()));
        match (news, &registered) {
            (Some(SeedNews::Down), Err(e)) => tracing::warn!(
                %seed,
                "no registration with the seed ({e}); running with the nodes known, trying again every {:?}",
                config.interval
            ),
            (Some(SeedNews::Back), _) => tracing::info!(%seed, "registered with the seed again"),
            (_, Ok(_)) => tracing::debug!(%seed, "registered with the seed"),
            _ => {}
        }
    }

    let due = peers.with_book(|book| book.checks_due(now));
    for (node, result) in check_all(peers, client, due, peers.genesis(), config.max_in_flight).await
    {
        // A known peer answering its check with something that is not the
        // API's (over 64 KiB, say) is banned (API.md §8 "Named syncs").
        if let Err(CheckFailure::Malformed { source, .. }) = &result {
            peers.ban(node, Misbehaviour::MalformedAnswer, &source.own_summary());
            continue;
        }
        let outcome =
            peers.with_book(|book| book.check_done(node, result.map_err(|e| e.to_string())));
        log_outcome(node, &outcome);
    }

    // Announced to every chosen peer until one announcement got through
    // (API.md §8 "Delivery": a failed one is tried again next round, so
    // no node stays unknown to the peers it relays to).
    let due = peers.with_book(|book| book.announcements_due());
    announce_all(peers, client, due, me).await;

    if !peers.with_book(|book| book.wants_more()) {
        return;
    }
    let sources: Vec<NodeAddr> = seed
        .into_iter()
        .chain(peers.with_book(|book| book.sources()))
        .collect();
    let mut heard: Vec<NodeAddr> = ask_all(peers, client, sources, seed, config.max_in_flight)
        .await
        .into_iter()
        .collect();
    heard.shuffle(&mut rand::rng());
    let now = peers.now();
    let candidates = peers.with_book(|book| book.candidates(heard, now));
    let mut added = Vec::new();
    for (node, result) in check_all(
        peers,
        client,
        candidates,
        peers.genesis(),
        config.max_in_flight,
    )
    .await
    {
        let outcome =
            peers.with_book(|book| book.check_done(node, result.map_err(|e| e.to_string())));
        log_outcome(node, &outcome);
        if outcome == Outcome::Added {
            added.push(node);
        }
    }
    announce_all(peers, client, added, me).await;
}

fn log_outcome(node: NodeAddr, outcome: &Outcome) {
    match outcome {
        Outcome::Alive => tracing::debug!(%node, "peer answered its check"),
        Outcome::Failed { failures, reason } => {
            tracing::info!(%node, failures, "peer failed its check: {reason}")
        }
        Outcome::Dropped { reason } => tracing::info!(%node, "dropped: {reason}"),
        Outcome::Added => tracing::info!(%node, "added a peer"),
        Outcome::Full => tracing::debug!(%node, "peer passed its check; the list is full"),
        Outcome::Refused { reason } => tracing::info!(%node, "not added: {reason}"),
        Outcome::Stale => {}
    }
}

/// Checks `nodes`, at most `limit` at once.
async fn check_all(
    peers: &Peers,
    client: &Client,
    nodes: Vec<NodeAddr>,
    genesis: crate::types::Hash,
    limit: usize,
) -> Vec<(NodeAddr, Result<(), CheckFailure>)> {
    let permits = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let mut set = JoinSet::new();
    for node in nodes {
        let client = client.clone();
        let permits = permits.clone();
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (node, check_node(&client, node, genesis).await)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok((node, result)) = joined {
            if let Ok(info) = &result {
                peers.checked(node, info);
            }
            results.push((node, result.map(|_| ())));
        }
    }
    results
}

/// `GET /nodes/` of every source, at most `limit` at once: every node
/// heard of. A known node answering a malformed list is banned (API.md §8
/// "Bad peers"); silence is only silence.
async fn ask_all(
    peers: &Peers,
    client: &Client,
    sources: Vec<NodeAddr>,
    seed: Option<NodeAddr>,
    limit: usize,
) -> BTreeSet<NodeAddr> {
    let permits = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let mut set = JoinSet::new();
    for source in sources {
        let client = client.to(source);
        let permits = permits.clone();
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (source, client.nodes().await)
        });
    }
    let mut heard = BTreeSet::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((_, Ok(mut nodes))) => {
                // A stranger's list may hold tens of thousands: a random
                // share of it is plenty to find peers.
                if nodes.len() > MAX_HEARD_PER_SOURCE {
                    nodes.shuffle(&mut rand::rng());
                    nodes.truncate(MAX_HEARD_PER_SOURCE);
                }
                heard.extend(nodes)
            }
            Ok((source, Err(e))) if e.is_misbehaviour() && Some(source) != seed => {
                peers.ban(source, Misbehaviour::MalformedAnswer, &e.own_summary());
            }
            Ok((source, Err(e))) => tracing::debug!(%source, "no peer list: {e}"),
            Err(_) => {}
        }
    }
    heard
}

/// `POST /` with our node to each of `nodes`, concurrently; the book
/// notes which got through.
async fn announce_all(peers: &Peers, client: &Client, nodes: Vec<NodeAddr>, me: NodeAddr) {
    let mut set = JoinSet::new();
    for node in nodes {
        let client = client.to(node);
        set.spawn(async move { (node, client.announce(me).await) });
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((node, Ok(_))) => {
                peers.with_book(|book| book.announced_to(&node));
                tracing::debug!(%node, "announced this node")
            }
            Ok((node, Err(e))) => tracing::info!(%node, "announcing this node failed: {e}"),
            Err(_) => {}
        }
    }
}
