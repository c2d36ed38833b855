//! The thin driver of [`super::sync`]: one sync run at a time, at start,
//! every sync interval and when asked (a known peer showing more work, a
//! block with an unknown parent relayed by a known peer); headers first,
//! bodies only once the headers show more work than this node's chain,
//! in a window with several requests in flight while earlier blocks are
//! connected through the node's normal intake. The mempool merge runs as
//! a task of its own ([`run_merges`]), never inside a run.

use std::collections::HashSet;

use futures_util::StreamExt;
use primitive_types::U256;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::peers::Misbehaviour;
use super::relay_driver::PeerSource;
use super::sync::{
    CLAIMS_IN_FLIGHT, Candidate, Claim, Download, Fault, HEADERS_PER_ASK, HeaderChain,
    MAX_HEADERS_HELD, MERGE_FETCH_TIMEOUT, Merge, MergeEnd, PROGRESS_EVERY, REQUEST_TIMEOUT,
    candidates,
};
use crate::client::{CHECK_TIMEOUT, Client, ClientError};
use crate::consensus::block_work;
use crate::node::{KnownBlock, Node, Origin, Rejected};
use crate::state::StoreError;
use crate::types::{Block, BlockHeader, Hash};
use crate::wire::NodeAddr;

/// What sync asks of the peer it syncs from: the HTTP client in the node,
/// in-memory peers in tests (stalls, bans and partitions in milliseconds).
pub trait SyncPeer: Send + Sync + 'static {
    /// `GET /headers/?locator=…&limit=…`.
    fn headers(&self, locator: Vec<Hash>, limit: usize) -> PeerFuture<Vec<BlockHeader>>;
    /// `GET /blocks/?hashes=…`.
    fn blocks(&self, hashes: Vec<Hash>) -> PeerFuture<Vec<Block>>;
}

/// An answer a peer owes.
pub type PeerFuture<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ClientError>> + Send>>;

impl SyncPeer for Client {
    fn headers(&self, locator: Vec<Hash>, limit: usize) -> PeerFuture<Vec<BlockHeader>> {
        let client = self.clone();
        Box::pin(async move { client.headers(&locator, limit).await })
    }

    fn blocks(&self, hashes: Vec<Hash>) -> PeerFuture<Vec<Block>> {
        let client = self.clone();
        Box::pin(async move { client.blocks_by_hash(&hashes).await })
    }
}

/// Bans a peer for a reason, with this node's own note (the address book
/// carries it out).
pub type BanSink = Arc<dyn Fn(NodeAddr, Misbehaviour, &str) + Send + Sync>;

/// Whether a peer may still be contacted (not banned meanwhile): asked
/// before each candidate of a run and before a merge.
pub type ContactCheck = Arc<dyn Fn(&NodeAddr) -> bool + Send + Sync>;

/// Sync requests waiting for the next run, at most: a run is coming
/// anyway, and a request beyond is dropped, never queued without bound.
pub const MAX_PENDING_REQUESTS: usize = 64;

/// The handle the rest of the node uses: ask for a run, see if one runs,
/// ask for a mempool merge.
#[derive(Clone, Debug)]
pub struct SyncControl {
    requests: mpsc::Sender<Option<NodeAddr>>,
    merges: mpsc::Sender<NodeAddr>,
    syncing: Arc<AtomicBool>,
}

/// The receiving ends of [`SyncControl::request`] and
/// [`SyncControl::merge`].
pub struct SyncRequests {
    pub runs: mpsc::Receiver<Option<NodeAddr>>,
    pub merges: mpsc::Receiver<NodeAddr>,
}

impl SyncControl {
    pub fn new() -> (SyncControl, SyncRequests) {
        let (tx, rx) = mpsc::channel(MAX_PENDING_REQUESTS);
        let (merge_tx, merge_rx) = mpsc::channel(MAX_PENDING_REQUESTS);
        (
            SyncControl {
                requests: tx,
                merges: merge_tx,
                syncing: Arc::new(AtomicBool::new(false)),
            },
            SyncRequests {
                runs: rx,
                merges: merge_rx,
            },
        )
    }

    /// Asks for a sync run (from `peer` alone when named: it must be a
    /// known peer, or the run skips it). Requests made during a run
    /// coalesce into the next one.
    pub fn request(&self, peer: Option<NodeAddr>) {
        let _ = self.requests.try_send(peer);
    }

    /// Asks for a merge of `peer`'s mempool.
    pub fn merge(&self, peer: NodeAddr) {
        let _ = self.merges.try_send(peer);
    }

    /// Whether a run is going on (`/health/` `syncing`).
    pub fn is_syncing(&self) -> bool {
        self.syncing.load(Ordering::Acquire)
    }
}

/// Why a run from one peer ended early.
#[derive(Debug)]
enum Stop {
    /// The peer broke a rule or the API: ban it.
    Ban(Misbehaviour, String),
    /// Refused only because of this node's clock (API.md §8 "Clocks"):
    /// no ban, tried again at the next interval.
    NotYet(String),
    /// The peer did not answer in time, or its headers did not show more
    /// work within what a run holds: go on with another.
    Silent(String),
    /// This node's own store failed.
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

impl From<Fault> for Stop {
    fn from(f: Fault) -> Self {
        match f {
            Fault::Ban(reason, note) => Stop::Ban(reason, note),
            Fault::NotYet(note) => Stop::NotYet(note),
        }
    }
}

fn classify(e: ClientError) -> Stop {
    if e.is_misbehaviour() {
        Stop::Ban(Misbehaviour::MalformedAnswer, e.own_summary())
    } else {
        Stop::Silent(e.to_string())
    }
}

/// Runs sync until the request channel closes: one run at start, then at
/// each request or every `interval`. A run at the interval (or for a new
/// peer) asks every known peer; a named request only that peer, and only
/// while it is known.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    node: Arc<Node>,
    client: Client,
    peers: PeerSource,
    ban: BanSink,
    may_contact: ContactCheck,
    control: SyncControl,
    mut requests: mpsc::Receiver<Option<NodeAddr>>,
    interval: Duration,
) {
    let mut next_run = tokio::time::Instant::now();
    // New peers are looked at within a second: one may have more work.
    let mut seen: HashSet<NodeAddr> = HashSet::new();
    let mut watch = tokio::time::interval(Duration::from_secs(1));
    loop {
        let mut named = Vec::new();
        let mut everyone = false;
        tokio::select! {
            request = requests.recv() => match request {
                Some(Some(peer)) => named.push(peer),
                Some(None) => everyone = true,
                None => return,
            },
            _ = tokio::time::sleep_until(next_run) => everyone = true,
            _ = watch.tick() => {
                let now: HashSet<NodeAddr> = peers().into_iter().collect();
                named.extend(now.difference(&seen).copied());
                seen = now;
                if named.is_empty() {
                    continue;
                }
            }
        }
        // Whatever was asked meanwhile is served by this one run.
        while let Ok(request) = requests.try_recv() {
            match request {
                Some(peer) => named.push(peer),
                None => everyone = true,
            }
        }
        let known = peers();
        let targets: Vec<NodeAddr> = if everyone {
            known
        } else {
            known.into_iter().filter(|p| named.contains(p)).collect()
        };
        run_once(&node, &client, &ban, &may_contact, &control, targets).await;
        if everyone {
            next_run = tokio::time::Instant::now() + interval;
        }
    }
}

/// One sync run: the claims of `targets` (at most [`CLAIMS_IN_FLIGHT`]
/// asked at once, only their work, height and genesis kept), then the
/// heaviest candidates in turn until this node has caught up; then a merge
/// of the mempool of the peer it synced from.
async fn run_once(
    node: &Arc<Node>,
    client: &Client,
    ban: &BanSink,
    may_contact: &ContactCheck,
    control: &SyncControl,
    targets: Vec<NodeAddr>,
) {
    if targets.is_empty() {
        return;
    }
    let mut asks = futures_util::stream::iter(targets.into_iter().map(|p| {
        let c = client.to(p).with_timeout(CHECK_TIMEOUT);
        async move { (p, c.blockchain().await) }
    }))
    .buffer_unordered(CLAIMS_IN_FLIGHT);
    let mut claims: Vec<Claim> = Vec::new();
    while let Some((p, answer)) = asks.next().await {
        match answer {
            Ok(info) => claims.push(Claim::of(p, &info)),
            Err(e) if e.is_misbehaviour() => {
                ban(p, Misbehaviour::MalformedAnswer, &e.own_summary())
            }
            Err(_) => {}
        }
    }
    drop(asks);
    let genesis = node.params().genesis_hash;
    let ours = node.snapshot().info.total_work;
    let mut synced_from = None;
    let candidates = candidates(&genesis, ours, &claims);
    // `/health/` says `syncing` while blocks are fetched from a candidate.
    let _syncing = Syncing::start(control, !candidates.is_empty());
    for candidate in candidates {
        if node.snapshot().info.total_work >= candidate.work {
            continue; // caught up through an earlier candidate
        }
        if !may_contact(&candidate.peer) {
            continue; // banned during this run (another port of its IP, say)
        }
        tracing::info!(
            peer = %candidate.peer,
            height = candidate.height,
            "sync: starting from a peer with more work"
        );
        let peer = Arc::new(client.to(candidate.peer).with_timeout(REQUEST_TIMEOUT));
        match sync_from(node, peer, &candidate, REQUEST_TIMEOUT).await {
            Ok(connected) => {
                if connected > 0 {
                    synced_from = Some(candidate.peer);
                }
            }
            Err(Stop::Ban(reason, note)) => {
                tracing::warn!(peer = %candidate.peer, %reason, "sync: banning: {note}");
                ban(candidate.peer, reason, &note);
            }
            Err(Stop::NotYet(note)) => {
                tracing::info!(peer = %candidate.peer, "sync: not yet, by this node's clock: {note}");
            }
            Err(Stop::Silent(reason)) => {
                tracing::info!(peer = %candidate.peer, "sync: peer left for another: {reason}");
            }
            Err(Stop::Store(e)) => {
                tracing::error!("sync: {e}");
                return;
            }
        }
    }
    if let Some(peer) = synced_from {
        let tip = node.snapshot().info.clone();
        tracing::info!(height = tip.height, best = %tip.best_hash, from = %peer, "sync: caught up");
        if let Err(e) = node.sync_finished(Some(peer)) {
            tracing::error!("sync: {e}");
        }
        if may_contact(&peer) {
            control.merge(peer);
        }
    }
}

/// Headers first; bodies only once the headers held show more work than
/// this node's active chain (API.md §8 "Work before bodies"), then until
/// the peer has no more; returns the blocks connected.
async fn sync_from(
    node: &Arc<Node>,
    peer: Arc<dyn SyncPeer>,
    candidate: &Candidate,
    timeout: Duration,
) -> Result<u64, Stop> {
    let mut progress = Progress::new(candidate);
    node.metrics()
        .sync_target_height
        .set(i64::try_from(candidate.height).unwrap_or(i64::MAX));
    // The work of the peer's chain as its headers showed it. Judged on
    // what the peer sent, never on this node's tip: a block relayed to us
    // meanwhile may be stored before our tip shows it.
    let mut shown = U256::zero();
    // The peer's headers since the last body fetched, checked and linked,
    // and the bodies among them this node lacks (chain order).
    let mut chain: Option<HeaderChain> = None;
    let mut held: Vec<Hash> = Vec::new();
    // Headers taken since the last body fetched, across fresh starts too:
    // a peer answering with headers that never show more work (our own
    // chain again and again, say) is left after MAX_HEADERS_HELD.
    let mut held_count = 0usize;
    loop {
        let mut locator = blocking(node, |n| n.locator()).await?;
        let our_tip = locator.first().copied();
        if let Some(c) = &chain {
            // Go on after the last header held (its body may not be here).
            locator.insert(0, c.tip());
            locator.truncate(super::sync::MAX_LOCATOR);
        }
        let headers =
            match tokio::time::timeout(timeout, peer.headers(locator, HEADERS_PER_ASK)).await {
                Ok(answer) => answer.map_err(classify)?,
                Err(_) => {
                    return Err(Stop::Silent(format!(
                        "no headers within {} ms",
                        timeout.as_millis()
                    )));
                }
            };
        if headers.len() > HEADERS_PER_ASK {
            return Err(Stop::Ban(
                Misbehaviour::Unrequested,
                format!("{} headers for a limit of {HEADERS_PER_ASK}", headers.len()),
            ));
        }
        let Some(first) = headers.first() else {
            // Nothing after our locator: the peer's tip is on our chain, at
            // most our tip.
            if chain.is_none()
                && let Some(tip) = our_tip
                && let Some(ours) = blocking(node, move |n| n.branch_context(&tip)).await?
            {
                shown = shown.max(ours.work);
            }
            break;
        };
        let start = first.prev_hash;
        if chain.as_ref().is_none_or(|c| c.tip() != start) {
            // A fresh start (or the peer moved to another branch): from a
            // block this node stores.
            let Some(context) = blocking(node, move |n| n.branch_context(&start)).await? else {
                return Err(Stop::Ban(
                    Misbehaviour::InvalidHeaders,
                    format!("headers start after {start}, a block this node does not store"),
                ));
            };
            chain = Some(HeaderChain::after(
                node.params(),
                start,
                context.target,
                context.tail,
            ));
            shown = context.work;
            held.clear();
        }
        let Some(c) = chain.as_mut() else {
            break;
        };
        c.extend(&headers, node.now())?;
        shown = headers
            .iter()
            .fold(shown, |work, h| work + block_work(&h.target));
        held_count += headers.len();
        let hashes: Vec<Hash> = headers.iter().map(|h| h.hash).collect();
        let missing = blocking(node, move |n| {
            let mut missing = Vec::new();
            for h in hashes {
                match n.block_status(&h)? {
                    KnownBlock::Unknown => missing.push(h),
                    KnownBlock::Stored => {}
                    KnownBlock::Invalid => return Ok(Err(h)),
                }
            }
            Ok(Ok(missing))
        })
        .await?
        .map_err(|h| {
            Stop::Ban(
                Misbehaviour::KnownInvalid,
                format!("its chain holds block {h}, known invalid"),
            )
        })?;
        held.extend(missing);
        if shown > node.snapshot().info.total_work && !held.is_empty() {
            download(
                node,
                &peer,
                std::mem::take(&mut held),
                &mut progress,
                timeout,
            )
            .await?;
            held_count = 0;
        } else if held_count >= MAX_HEADERS_HELD {
            return Err(Stop::Silent(format!(
                "{held_count} headers held without more work than this node's chain"
            )));
        }
        if headers.len() < HEADERS_PER_ASK {
            break;
        }
    }
    if shown < candidate.work {
        return Err(Stop::Ban(
            Misbehaviour::WorkNotShown,
            format!(
                "it claimed work {} and its headers showed a chain of {shown}",
                candidate.work
            ),
        ));
    }
    Ok(progress.connected)
}

/// Fetches `missing` (chain order) in the window and connects each block
/// as soon as the ones before it are in.
async fn download(
    node: &Arc<Node>,
    peer: &Arc<dyn SyncPeer>,
    missing: Vec<Hash>,
    progress: &mut Progress,
    timeout: Duration,
) -> Result<(), Stop> {
    // Side blocks are not pruned while this branch's bodies come in. Only
    // then: a peer holding a run open (headers that do not show more work
    // yet) must not suspend the bound on posted side blocks. A stored side
    // block pruned between the headers and the bodies makes the run stop
    // silently, and the next run fetches it.
    let _incoming = node.sync_bodies_begin();
    let mut window = Download::new(missing);
    let (answers_tx, mut answers) =
        mpsc::unbounded_channel::<(u64, Result<Vec<Block>, ClientError>)>();
    loop {
        for request in window.next_requests(Instant::now()) {
            let answer = peer.blocks(request.hashes);
            let tx = answers_tx.clone();
            tokio::spawn(async move {
                let _ = tx.send((request.id, answer.await));
            });
        }
        let ready = window.ready();
        if !ready.is_empty() {
            // Connecting runs on a blocking thread while the requests in
            // flight go on.
            let count = ready.len() as u64;
            blocking(node, move |n| Ok(connect_in_order(n, ready))).await??;
            progress.connected(count, node);
            continue;
        }
        if window.is_done() {
            return Ok(());
        }
        match tokio::time::timeout(timeout, answers.recv()).await {
            Ok(Some((id, Ok(blocks)))) => window.answered(id, blocks)?,
            Ok(Some((_, Err(e)))) => return Err(classify(e)),
            Ok(None) | Err(_) => {
                return Err(Stop::Silent(format!(
                    "no block within {} ms",
                    timeout.as_millis()
                )));
            }
        }
    }
}

/// Connects blocks through the normal intake, in order. A block breaking a
/// rule bans the peer; `already_known` and side branches are normal, and a
/// block from this node's future is "not yet" (API.md §8 "Clocks").
fn connect_in_order(node: &Node, blocks: Vec<Block>) -> Result<(), Stop> {
    for block in blocks {
        match node.submit_block_from(&block, Origin::Sync) {
            Ok(_) => {}
            Err(Rejected::Store(e)) => return Err(Stop::Store(e)),
            Err(e) if e.code() == "already_known" => {}
            Err(e) if e.code() == "unknown_parent" => {
                return Err(Stop::Silent(format!(
                    "block {} arrived before its parent",
                    block.hash
                )));
            }
            Err(e) if e.code() == "timestamp_in_future" => {
                return Err(Stop::NotYet(format!(
                    "block {} at height {}: timestamp_in_future",
                    block.hash, block.height
                )));
            }
            Err(e) => {
                return Err(Stop::Ban(
                    Misbehaviour::InvalidBlock,
                    format!(
                        "block {} at height {}: {}",
                        block.hash,
                        block.height,
                        e.code()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The mempool merges (API.md §8 "The mempool merge" and "Delivery"): a
/// task of its own, never inside a sync run. It merges the mempool of a
/// peer a run synced from, and every `interval` that of one random known
/// peer, so a transaction whose relay was lost still arrives.
pub async fn run_merges(
    node: Arc<Node>,
    client: Client,
    peers: PeerSource,
    mut requests: mpsc::Receiver<NodeAddr>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is now: the start's sync merges
    loop {
        let peer = tokio::select! {
            request = requests.recv() => match request {
                Some(peer) => Some(peer),
                None => return,
            },
            _ = ticks.tick() => {
                use rand::seq::IndexedRandom;
                peers().choose(&mut rand::rng()).copied()
            }
        };
        if let Some(peer) = peer {
            merge_mempool(&node, &client.to(peer)).await;
        }
    }
}

/// The peer's mempool transactions this node lacks, each admitted as if
/// posted, within the bounds of [`Merge`]; nothing of this node's pool is
/// removed, and a refusal is never held against the peer.
async fn merge_mempool(node: &Arc<Node>, client: &Client) {
    let list = match client
        .clone()
        .with_timeout(MERGE_FETCH_TIMEOUT)
        .mempool()
        .await
    {
        Ok(list) => list,
        Err(e) => {
            tracing::debug!("merge: mempool of {}: {e}", client.base());
            return;
        }
    };
    let missing: Vec<Hash> = list
        .transaction_headers
        .iter()
        .map(|h| h.hash)
        .filter(|h| node.mempool_transaction(h).is_none())
        .collect();
    drop(list);
    let mut merge = Merge::new(
        missing,
        node.mempool_room(),
        node.mempool_room_bytes(),
        Instant::now(),
    );
    let mut admitted = 0usize;
    // In the peer's arrival order (parents first).
    let end = loop {
        let now = Instant::now();
        let hash = match merge.next(now) {
            Ok(hash) => hash,
            Err(end) => break end,
        };
        let fetch = client
            .clone()
            .with_timeout(merge.fetch_timeout(now))
            .mempool_transaction(&hash)
            .await;
        merge.fetched(!matches!(&fetch, Err(e) if e.is_silence()));
        let Ok(Some(tx)) = fetch else {
            continue;
        };
        let n = node.clone();
        let bytes = tx.size();
        if let Ok(Ok(_)) =
            tokio::task::spawn_blocking(move || n.submit_transaction_from(tx, Origin::Sync)).await
        {
            merge.admitted(bytes);
            admitted += 1;
        }
    };
    if admitted > 0 || end != MergeEnd::Done {
        tracing::info!(admitted, from = client.base(), ?end, "mempool merged");
    }
}

/// Runs `f` on a blocking thread (database work off the async workers).
async fn blocking<T: Send + 'static>(
    node: &Arc<Node>,
    f: impl FnOnce(&Node) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Stop> {
    let node = node.clone();
    match tokio::task::spawn_blocking(move || f(&node)).await {
        Ok(result) => result.map_err(Stop::Store),
        Err(e) => Err(Stop::Store(StoreError::Io(format!(
            "a blocking task failed: {e}"
        )))),
    }
}

/// Sets `syncing` for as long as it lives.
struct Syncing<'a>(&'a SyncControl);

impl<'a> Syncing<'a> {
    fn start(control: &'a SyncControl, on: bool) -> Syncing<'a> {
        control.syncing.store(on, Ordering::Release);
        Syncing(control)
    }
}

impl Drop for Syncing<'_> {
    fn drop(&mut self) {
        self.0.syncing.store(false, Ordering::Release);
    }
}

/// The info line of a long run, at least every [`PROGRESS_EVERY`].
struct Progress {
    peer: NodeAddr,
    target: u64,
    connected: u64,
    since_log: u64,
    last_log: Instant,
}

impl Progress {
    fn new(candidate: &Candidate) -> Progress {
        Progress {
            peer: candidate.peer,
            target: candidate.height,
            connected: 0,
            since_log: 0,
            last_log: Instant::now(),
        }
    }

    fn connected(&mut self, count: u64, node: &Node) {
        self.connected += count;
        self.since_log += count;
        let elapsed = self.last_log.elapsed();
        if elapsed >= PROGRESS_EVERY {
            let height = node.snapshot().info.height;
            let rate = self.since_log as f64 / elapsed.as_secs_f64();
            tracing::info!(
                "sync: height {height} / {} from {}, {rate:.0} blocks/s",
                self.target,
                self.peer
            );
            self.since_log = 0;
            self.last_log = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    //! Sync runs against in-memory peers and a real node in a temporary
    //! directory: an honest peer, one that stalls mid-run, one serving a
    //! block that breaks a rule, one claiming work it does not have, and a
    //! partition healing onto the heavier branch, each in milliseconds.

    use super::*;
    use crate::consensus::ChainParams;
    use crate::node::MempoolLimits;
    use crate::types::{Address, Amount};
    use primitive_types::U256;

    /// How an in-memory peer behaves.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Behaviour {
        Honest,
        /// Answers headers, and bodies only up to this height; then silence.
        StallAfter(u64),
        /// Answers every headers request with the first headers after
        /// genesis, whatever the locator.
        RepeatFromGenesis,
    }

    struct MemoryPeer {
        chain: Vec<Block>,
        behaviour: Behaviour,
        /// Bodies asked of it so far.
        bodies_asked: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl SyncPeer for MemoryPeer {
        fn headers(&self, locator: Vec<Hash>, limit: usize) -> PeerFuture<Vec<BlockHeader>> {
            let after = if self.behaviour == Behaviour::RepeatFromGenesis {
                0
            } else {
                locator
                    .iter()
                    .find_map(|h| self.chain.iter().position(|b| b.hash == *h))
                    .unwrap_or(0)
            };
            let headers: Vec<BlockHeader> = self.chain[after + 1..]
                .iter()
                .take(limit)
                .map(Block::header)
                .collect();
            Box::pin(async move { Ok(headers) })
        }

        fn blocks(&self, hashes: Vec<Hash>) -> PeerFuture<Vec<Block>> {
            self.bodies_asked
                .fetch_add(hashes.len(), std::sync::atomic::Ordering::Relaxed);
            let blocks: Vec<Block> = hashes
                .iter()
                .filter_map(|h| self.chain.iter().find(|b| b.hash == *h).cloned())
                .collect();
            if let Behaviour::StallAfter(height) = self.behaviour
                && blocks.iter().any(|b| b.height > height)
            {
                return Box::pin(std::future::pending());
            }
            Box::pin(async move { Ok(blocks) })
        }
    }

    const TIMEOUT: Duration = Duration::from_millis(300);

    fn block_on(parent: &Block, creator: u8, timestamp: u64) -> Block {
        let params = ChainParams::regtest();
        let height = parent.height + 1;
        let mut b = Block::assemble(
            parent.hash,
            height,
            timestamp,
            params.pow_limit,
            Address([creator; 20]),
            params.subsidy(height),
            Vec::new(),
        )
        .expect("no overflow");
        assert!(b.solve(10_000_000));
        b
    }

    /// `chain` extended by `n` blocks of `creator`.
    fn extend(chain: &[Block], n: u64, creator: u8) -> Vec<Block> {
        let mut out = chain.to_vec();
        let base = crate::node::unix_now() - 50_000;
        for _ in 0..n {
            let parent = out.last().expect("genesis").clone();
            let b = block_on(
                &parent,
                creator,
                base + parent.height * 10 + u64::from(creator),
            );
            out.push(b);
        }
        out
    }

    fn genesis() -> Vec<Block> {
        vec![ChainParams::regtest().genesis()]
    }

    fn node() -> (tempfile::TempDir, Arc<Node>) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let node = Node::open(dir.path(), ChainParams::regtest(), MempoolLimits::default())
            .expect("node opens");
        (dir, Arc::new(node))
    }

    fn candidate(work: U256) -> Candidate {
        Candidate {
            peer: "127.0.0.1:1".parse().expect("an address"),
            work,
            height: 0,
        }
    }

    fn peer(chain: &[Block], behaviour: Behaviour) -> Arc<dyn SyncPeer> {
        counted_peer(chain, behaviour).0
    }

    /// A peer, and the count of bodies asked of it.
    fn counted_peer(
        chain: &[Block],
        behaviour: Behaviour,
    ) -> (Arc<dyn SyncPeer>, Arc<std::sync::atomic::AtomicUsize>) {
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peer = Arc::new(MemoryPeer {
            chain: chain.to_vec(),
            behaviour,
            bodies_asked: asked.clone(),
        });
        (peer, asked)
    }

    #[tokio::test]
    async fn a_lighter_branch_fetches_no_body_whatever_work_its_peer_claims() {
        let (_dir, node) = node();
        let prefix = extend(&genesis(), 5, 1);
        let ours = extend(&prefix, 20, 2);
        for b in &ours[1..] {
            node.submit_block(b).expect("our chain");
        }
        let db = node_database_bytes(&_dir);
        // The peer's branch forks at 5 and is 10 blocks long: lighter.
        let theirs = extend(&prefix, 10, 3);
        let (peer, asked) = counted_peer(&theirs, Behaviour::Honest);
        let result = sync_from(&node, peer, &candidate(U256::MAX), TIMEOUT).await;
        assert!(
            matches!(&result, Err(Stop::Ban(Misbehaviour::WorkNotShown, _))),
            "{result:?}"
        );
        assert_eq!(
            asked.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "no body fetched before the headers showed more work"
        );
        assert_eq!(node.snapshot().info.best_hash, ours[25].hash);
        assert_eq!(node_database_bytes(&_dir), db, "nothing stored");
    }

    #[tokio::test]
    async fn bodies_come_once_the_headers_show_more_work_across_several_asks() {
        let (_dir, node) = node();
        // Our chain of 2,100 blocks; the peer's forks at 5 and is heavier
        // only after its 2,100th block: two header asks before any body.
        let prefix = extend(&genesis(), 5, 1);
        let ours = extend(&prefix, 2_095, 2);
        let bodies: Vec<Block> = ours[1..].to_vec();
        let n = node.clone();
        tokio::task::spawn_blocking(move || {
            for b in &bodies {
                n.submit_block(b).expect("our chain");
            }
        })
        .await
        .expect("connected");
        let theirs = extend(&prefix, 2_100, 3);
        let (peer, asked) = counted_peer(&theirs, Behaviour::Honest);
        sync_from(
            &node,
            peer,
            &candidate(U256::zero()),
            Duration::from_secs(5),
        )
        .await
        .expect("synced");
        assert_eq!(node.snapshot().info.best_hash, theirs[2_105].hash);
        assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 2_100);
    }

    #[tokio::test]
    async fn a_peer_repeating_headers_that_show_no_more_work_is_left() {
        let (_dir, node) = node();
        let ours = extend(&genesis(), 2_100, 1);
        let bodies: Vec<Block> = ours[1..].to_vec();
        let n = node.clone();
        tokio::task::spawn_blocking(move || {
            for b in &bodies {
                n.submit_block(b).expect("our chain");
            }
        })
        .await
        .expect("connected");
        // It claims all the work there is and sends our own chain's first
        // 2,000 headers at every ask.
        let (peer, asked) = counted_peer(&ours, Behaviour::RepeatFromGenesis);
        let started = std::time::Instant::now();
        let result = sync_from(&node, peer, &candidate(U256::MAX), TIMEOUT).await;
        assert!(matches!(&result, Err(Stop::Silent(_))), "{result:?}");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "left within the bound: {:?}",
            started.elapsed()
        );
        assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_block_from_this_nodes_future_is_not_yet_and_no_ban() {
        let dir = tempfile::tempdir().expect("temporary directory");
        // This node's clock runs 3 hours behind the chain's.
        let node = Node::open(dir.path(), ChainParams::regtest(), MempoolLimits::default())
            .expect("node opens")
            .with_clock(|| crate::node::unix_now() - 3 * 3600);
        let node = Arc::new(node);
        let chain = extend(&genesis(), 5, 1);
        let mut late = chain.clone();
        let last = late.last().expect("tip").clone();
        late.push(block_on(&last, 1, crate::node::unix_now()));
        let result = sync_from(
            &node,
            peer(&late, Behaviour::Honest),
            &candidate(U256::zero()),
            TIMEOUT,
        )
        .await;
        assert!(matches!(&result, Err(Stop::NotYet(_))), "{result:?}");
    }

    fn node_database_bytes(dir: &tempfile::TempDir) -> u64 {
        std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum()
    }

    #[tokio::test]
    async fn an_honest_peer_brings_the_node_to_its_tip() {
        let (_dir, node) = node();
        let chain = extend(&genesis(), 250, 1);
        let connected = sync_from(
            &node,
            peer(&chain, Behaviour::Honest),
            &candidate(U256::zero()),
            TIMEOUT,
        )
        .await
        .expect("synced");
        assert_eq!(connected, 250);
        assert_eq!(node.snapshot().info.best_hash, chain[250].hash);
    }

    #[tokio::test]
    async fn a_peer_stalling_mid_run_is_left_and_the_connected_blocks_stay() {
        let (_dir, node) = node();
        let chain = extend(&genesis(), 250, 1);
        let started = std::time::Instant::now();
        let stalled = sync_from(
            &node,
            peer(&chain, Behaviour::StallAfter(100)),
            &candidate(U256::zero()),
            TIMEOUT,
        )
        .await;
        assert!(matches!(stalled, Err(Stop::Silent(_))), "{stalled:?}");
        assert!(
            started.elapsed() < TIMEOUT * 4,
            "left within the bound: {:?}",
            started.elapsed()
        );
        assert_eq!(
            node.snapshot().info.height,
            100,
            "the blocks already connected stay"
        );
        // The run goes on from another candidate.
        sync_from(
            &node,
            peer(&chain, Behaviour::Honest),
            &candidate(U256::zero()),
            TIMEOUT,
        )
        .await
        .expect("synced from the next peer");
        assert_eq!(node.snapshot().info.best_hash, chain[250].hash);
    }

    #[tokio::test]
    async fn a_block_breaking_a_rule_bans_its_peer() {
        let (_dir, node) = node();
        let mut chain = extend(&genesis(), 10, 1);
        // Block 5 pays its creator one unit too many.
        let mut bad = chain[5].clone();
        let cb = &mut bad.transactions[0];
        cb.outputs[0].value = Amount::from_units(cb.outputs[0].value.units() + 1);
        cb.outputs[0].hash = cb.outputs[0].compute_hash();
        cb.hash = cb.compute_hash();
        bad.seal();
        assert!(bad.solve(10_000_000));
        chain.truncate(5);
        chain.push(bad);
        let result = sync_from(
            &node,
            peer(&chain, Behaviour::Honest),
            &candidate(U256::zero()),
            TIMEOUT,
        )
        .await;
        assert!(
            matches!(&result, Err(Stop::Ban(Misbehaviour::InvalidBlock, note)) if note.contains("height 5")),
            "{result:?}"
        );
        assert_eq!(node.snapshot().info.height, 4);
    }

    #[tokio::test]
    async fn claimed_work_not_delivered_bans_its_peer() {
        let (_dir, node) = node();
        let chain = extend(&genesis(), 5, 1);
        let result = sync_from(
            &node,
            peer(&chain, Behaviour::Honest),
            &candidate(U256::MAX),
            TIMEOUT,
        )
        .await;
        assert!(
            matches!(&result, Err(Stop::Ban(Misbehaviour::WorkNotShown, note)) if note.contains("claimed")),
            "{result:?}"
        );
        assert_eq!(node.snapshot().info.height, 5, "what it did deliver stays");
    }

    #[tokio::test]
    async fn a_partition_heals_onto_the_heavier_branch() {
        let (_dir, node) = node();
        let prefix = extend(&genesis(), 5, 1);
        let ours = extend(&prefix, 2, 2);
        for b in &ours[1..] {
            node.submit_block(b).expect("our branch");
        }
        let theirs = extend(&prefix, 4, 3);
        sync_from(
            &node,
            peer(&theirs, Behaviour::Honest),
            &candidate(U256::zero()),
            TIMEOUT,
        )
        .await
        .expect("synced");
        assert_eq!(node.snapshot().info.best_hash, theirs[9].hash);
        assert_eq!(node.snapshot().info.height, 9);
    }
}
