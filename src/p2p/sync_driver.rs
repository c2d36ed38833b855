//! The thin driver of [`super::sync`]: one sync run at a time, at start,
//! every sync interval and when asked (a peer showing more work, a relayed
//! block with an unknown parent); headers first, bodies in a window with
//! several requests in flight while earlier blocks are connected through
//! the node's normal intake; then the peer's mempool.

use std::collections::HashSet;

use primitive_types::U256;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::relay_driver::PeerSource;
use super::sync::{
    Candidate, Download, Fault, HEADERS_PER_ASK, HeaderChain, MEMPOOL_MERGE_LIMIT, PROGRESS_EVERY,
    REQUEST_TIMEOUT, candidates,
};
use crate::client::{CHECK_TIMEOUT, Client, ClientError};
use crate::consensus::block_work;
use crate::node::{KnownBlock, Node, Origin, Rejected};
use crate::state::StoreError;
use crate::types::{Block, BlockHeader, Hash};
use crate::wire::{BlockchainInfo, NodeAddr};

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

/// Bans a peer for the reason given (the address book carries it out).
pub type BanSink = Arc<dyn Fn(NodeAddr, &str) + Send + Sync>;

/// The handle the rest of the node uses: ask for a run, see if one runs.
#[derive(Clone, Debug)]
pub struct SyncControl {
    requests: mpsc::UnboundedSender<Option<NodeAddr>>,
    syncing: Arc<AtomicBool>,
}

/// The receiving end of [`SyncControl::request`].
pub type SyncRequests = mpsc::UnboundedReceiver<Option<NodeAddr>>;

impl SyncControl {
    pub fn new() -> (SyncControl, SyncRequests) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            SyncControl {
                requests: tx,
                syncing: Arc::new(AtomicBool::new(false)),
            },
            rx,
        )
    }

    /// Asks for a sync run (from `peer` first, when named). Requests made
    /// during a run coalesce into the next one.
    pub fn request(&self, peer: Option<NodeAddr>) {
        let _ = self.requests.send(peer);
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
    Ban(String),
    /// The peer did not answer in time: go on with another.
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
        Stop::Ban(f.0)
    }
}

fn classify(e: ClientError) -> Stop {
    if e.is_misbehaviour() {
        Stop::Ban(e.to_string())
    } else {
        Stop::Silent(e.to_string())
    }
}

/// Runs sync until the request channel closes: one run at start, then at
/// each request or every `interval`.
pub async fn run(
    node: Arc<Node>,
    client: Client,
    peers: PeerSource,
    ban: BanSink,
    control: SyncControl,
    mut requests: SyncRequests,
    interval: Duration,
) {
    let mut next_run = tokio::time::Instant::now();
    // New peers are looked at within a second: one may have more work.
    let mut seen: HashSet<NodeAddr> = HashSet::new();
    let mut watch = tokio::time::interval(Duration::from_secs(1));
    loop {
        let mut named = Vec::new();
        tokio::select! {
            request = requests.recv() => match request {
                Some(peer) => named.extend(peer),
                None => return,
            },
            _ = tokio::time::sleep_until(next_run) => {}
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
        while let Ok(peer) = requests.try_recv() {
            named.extend(peer);
        }
        run_once(&node, &client, &peers, &ban, &control, named).await;
        next_run = tokio::time::Instant::now() + interval;
    }
}

/// One sync run: the claims of the known (and named) peers, then the
/// heaviest candidates in turn until this node has caught up.
async fn run_once(
    node: &Arc<Node>,
    client: &Client,
    peers: &PeerSource,
    ban: &BanSink,
    control: &SyncControl,
    named: Vec<NodeAddr>,
) {
    let mut targets = peers();
    for p in named {
        if !targets.contains(&p) {
            targets.push(p);
        }
    }
    if targets.is_empty() {
        return;
    }
    let asks: Vec<_> = targets
        .iter()
        .map(|p| {
            let c = client.to(*p).with_timeout(CHECK_TIMEOUT);
            let p = *p;
            tokio::spawn(async move { (p, c.blockchain().await) })
        })
        .collect();
    let mut claims: Vec<(NodeAddr, BlockchainInfo)> = Vec::new();
    for ask in asks {
        match ask.await {
            Ok((p, Ok(info))) => claims.push((p, info)),
            Ok((p, Err(e))) if e.is_misbehaviour() => ban(p, &e.to_string()),
            _ => {}
        }
    }
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
            Err(Stop::Ban(reason)) => {
                tracing::warn!(peer = %candidate.peer, "sync: banning: {reason}");
                ban(candidate.peer, &reason);
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
        merge_mempool(node, &client.to(peer)).await;
    }
}

/// Headers first, then the bodies this node lacks, until the peer has no
/// more; returns the blocks connected.
async fn sync_from(
    node: &Arc<Node>,
    peer: Arc<dyn SyncPeer>,
    candidate: &Candidate,
    timeout: Duration,
) -> Result<u64, Stop> {
    let mut progress = Progress::new(candidate);
    // The work of the peer's chain as its headers showed it. Judged on
    // what the peer sent, never on this node's tip: a block relayed to us
    // meanwhile may be stored before our tip shows it.
    let mut shown = U256::zero();
    loop {
        let locator = blocking(node, |n| n.locator()).await?;
        let our_tip = locator.first().copied();
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
            return Err(Stop::Ban(format!(
                "{} headers for a limit of {HEADERS_PER_ASK}",
                headers.len()
            )));
        }
        let Some(first) = headers.first() else {
            // Nothing after our locator: the peer's tip is on our chain, at
            // most our tip.
            if let Some(tip) = our_tip
                && let Some(ours) = blocking(node, move |n| n.branch_context(&tip)).await?
            {
                shown = shown.max(ours.work);
            }
            break;
        };
        let start = first.prev_hash;
        let Some(context) = blocking(node, move |n| n.branch_context(&start)).await? else {
            return Err(Stop::Ban(format!(
                "headers start after {start}, a block this node does not store"
            )));
        };
        shown = headers
            .iter()
            .fold(context.work, |work, h| work + block_work(&h.target));
        let mut chain = HeaderChain::after(node.params(), start, context.target, context.tail);
        chain.extend(&headers, node.now())?;
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
        .map_err(|h| Stop::Ban(format!("its chain holds block {h}, known invalid")))?;
        download(node, &peer, missing, &mut progress, timeout).await?;
        if headers.len() < HEADERS_PER_ASK {
            break;
        }
    }
    if shown < candidate.work {
        return Err(Stop::Ban(format!(
            "it claimed work {} and its headers showed a chain of {shown}",
            candidate.work
        )));
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
/// rule bans the peer; `already_known` and side branches are normal.
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
            Err(e) => {
                return Err(Stop::Ban(format!(
                    "block {} at height {}: {}: {e}",
                    block.hash,
                    block.height,
                    e.code()
                )));
            }
        }
    }
    Ok(())
}

/// After a run: the peer's mempool transactions this node lacks, each
/// admitted as if posted (at most [`MEMPOOL_MERGE_LIMIT`]; nothing of this
/// node's pool is removed; a refusal is never held against the peer).
async fn merge_mempool(node: &Arc<Node>, client: &Client) {
    let list = match client.mempool().await {
        Ok(list) => list,
        Err(e) => {
            tracing::debug!("sync: mempool of {}: {e}", client.base());
            return;
        }
    };
    let wanted: Vec<Hash> = list
        .transaction_headers
        .iter()
        .map(|h| h.hash)
        .filter(|h| node.mempool_transaction(h).is_none())
        .take(MEMPOOL_MERGE_LIMIT)
        .collect();
    let mut admitted = 0usize;
    // A few at a time, admitted in the peer's arrival order (parents first).
    for chunk in wanted.chunks(8) {
        let fetches: Vec<_> = chunk
            .iter()
            .map(|h| {
                let c = client.clone();
                let h = *h;
                tokio::spawn(async move { c.mempool_transaction(&h).await })
            })
            .collect();
        for fetch in fetches {
            let Ok(Ok(Some(tx))) = fetch.await else {
                continue;
            };
            let n = node.clone();
            if let Ok(Ok(_)) =
                tokio::task::spawn_blocking(move || n.submit_transaction_from(tx, Origin::Sync))
                    .await
            {
                admitted += 1;
            }
        }
    }
    if admitted > 0 {
        tracing::info!(admitted, from = client.base(), "sync: mempool merged");
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
    }

    struct MemoryPeer {
        chain: Vec<Block>,
        behaviour: Behaviour,
    }

    impl SyncPeer for MemoryPeer {
        fn headers(&self, locator: Vec<Hash>, limit: usize) -> PeerFuture<Vec<BlockHeader>> {
            let after = locator
                .iter()
                .find_map(|h| self.chain.iter().position(|b| b.hash == *h))
                .unwrap_or(0);
            let headers: Vec<BlockHeader> = self.chain[after + 1..]
                .iter()
                .take(limit)
                .map(Block::header)
                .collect();
            Box::pin(async move { Ok(headers) })
        }

        fn blocks(&self, hashes: Vec<Hash>) -> PeerFuture<Vec<Block>> {
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
        let base = crate::node::unix_now() - 10_000;
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
        Arc::new(MemoryPeer {
            chain: chain.to_vec(),
            behaviour,
        })
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
            matches!(&result, Err(Stop::Ban(reason)) if reason.contains("height 5")),
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
            matches!(&result, Err(Stop::Ban(reason)) if reason.contains("claimed")),
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
