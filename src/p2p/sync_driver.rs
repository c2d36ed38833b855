//! The thin driver of [`super::sync_run`]: it carries out what a run
//! decides — asks over the peer interface ([`SyncPeers`]: the typed HTTP
//! client in production, in-memory peers in tests), connects blocks
//! through the node's normal intake on a blocking thread, bans, logs and
//! counts — and feeds the answers, verdicts and the clock back. When runs
//! happen is [`Schedule`]'s decision. The mempool merge runs as a task of
//! its own ([`run_merges`]), never inside a run.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::misbehaviour::Leave;
use super::relay_driver::PeerSource;
use super::sync::{Claim, MERGE_FETCH_TIMEOUT, Merge, MergeEnd, PROGRESS_EVERY};
use super::sync_run::{
    Action, Answer, AnswerError, Request, Schedule, SyncRun, Verdict, merge_peer,
};
use crate::client::{Client, ClientError};
use crate::node::{Node, Origin};
use crate::state::StoreError;
use crate::types::{Block, Hash};
use crate::wire::NodeAddr;

/// The one interface sync asks peers through: the HTTP client in the
/// node, in-memory peers in tests and the simulator.
pub trait SyncPeers: Send + Sync + 'static {
    /// Sends `request` to `peer`; the answer, or why there is none.
    fn ask(&self, peer: NodeAddr, request: Request, timeout: Duration) -> PeerFuture;
}

/// An answer a peer owes.
pub type PeerFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Answer, AnswerError>> + Send>>;

impl SyncPeers for Client {
    fn ask(&self, peer: NodeAddr, request: Request, timeout: Duration) -> PeerFuture {
        let client = self.to(peer).with_timeout(timeout);
        Box::pin(async move {
            match request {
                Request::Claim => client
                    .blockchain()
                    .await
                    .map(|info| Answer::Claim(Claim::of(peer, &info))),
                Request::Headers { locator, limit } => {
                    client.headers(&locator, limit).await.map(Answer::Headers)
                }
                Request::Blocks { hashes } => {
                    client.blocks_by_hash(&hashes).await.map(Answer::Blocks)
                }
            }
            .map_err(answer_error)
        })
    }
}

/// A client's failure as sync judges it: a peer speaking outside the API
/// misbehaves; everything else is silence an honest peer can show.
fn answer_error(e: ClientError) -> AnswerError {
    if e.is_misbehaviour() {
        AnswerError::Misbehaved(e.own_summary())
    } else {
        AnswerError::Silent(e.to_string())
    }
}

/// Bans a peer for a reason, with this node's own note (the address book
/// carries it out).
pub type BanSink = Arc<dyn Fn(NodeAddr, super::Misbehaviour, &str) + Send + Sync>;

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

/// Runs sync until the request channel closes, when [`Schedule`] says: at
/// start, every `interval`, when asked, and for a peer new to the book.
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
    let mut schedule = Schedule::new(interval, Instant::now());
    let mut watch = tokio::time::interval(Duration::from_secs(1));
    let client: Arc<dyn SyncPeers> = Arc::new(client);
    loop {
        if let Some(targets) = schedule.due(&peers(), Instant::now()) {
            let (run, actions) = SyncRun::start(targets, Instant::now());
            let ends = Ends {
                ban: &ban,
                may_contact: &may_contact,
                control: Some(&control),
            };
            if let Err(e) = drive(&node, run, actions, client.clone(), ends).await {
                tracing::error!("sync: {e}");
            }
            schedule.run_ended(Instant::now());
            continue;
        }
        let wake = tokio::time::Instant::from_std(schedule.next_wake());
        tokio::select! {
            request = requests.recv() => match request {
                Some(peer) => schedule.requested(peer),
                None => return,
            },
            _ = tokio::time::sleep_until(wake) => {}
            _ = watch.tick() => schedule.peers_now(&peers()),
        }
        // Whatever was asked meanwhile is served by one run.
        while let Ok(request) = requests.try_recv() {
            schedule.requested(request);
        }
    }
}

/// What a run's actions reach beyond the node: the address book and the
/// node's sync handle (none in a test's run from one peer).
struct Ends<'a> {
    ban: &'a BanSink,
    may_contact: &'a ContactCheck,
    control: Option<&'a SyncControl>,
}

/// How each peer of a run came out: blocks connected from it, or why it
/// was left.
type Served = Vec<(NodeAddr, Result<u64, Leave>)>;

/// Carries `run` out from its first `actions` until it finishes; a store
/// failure ends it.
async fn drive(
    node: &Arc<Node>,
    mut run: SyncRun,
    first: Vec<Action>,
    peers: Arc<dyn SyncPeers>,
    ends: Ends<'_>,
) -> Result<Served, StoreError> {
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<(u64, Result<Answer, AnswerError>)>();
    let mut queue: VecDeque<Action> = first.into();
    let mut served: Served = Vec::new();
    let mut progress: Option<Progress> = None;
    // `/health/` says `syncing` while blocks are fetched from a candidate.
    let _syncing = Syncing(ends.control);
    // Side blocks are not pruned while a branch's bodies come in. Only
    // then: a peer holding a run open (headers that do not show more work
    // yet) must not suspend the bound on posted side blocks.
    let mut incoming = None;
    loop {
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Ask {
                    id,
                    peer,
                    request,
                    timeout,
                } => {
                    let answer = peers.ask(peer, request, timeout);
                    let tx = answers_tx.clone();
                    tokio::spawn(async move {
                        let _ = tx.send((id, answer.await));
                    });
                }
                Action::Connect { id, blocks } => {
                    // Connecting runs on a blocking thread while the
                    // requests in flight go on.
                    let (verdicts, connected) =
                        blocking(node, move |n| connect_in_order(n, blocks)).await?;
                    if let Some(p) = progress.as_mut() {
                        p.connected(connected, node);
                    }
                    let more;
                    (run, more) = step(node, run, ends.may_contact, move |run, n, may| {
                        run.connected(id, verdicts, n, may, Instant::now())
                    })
                    .await?;
                    queue.extend(more);
                }
                Action::Ban { peer, reason, note } => {
                    tracing::warn!(%peer, %reason, "sync: banning: {note}");
                    (ends.ban)(peer, reason, &note);
                }
                Action::Started { peer, height } => {
                    tracing::info!(%peer, height, "sync: starting from a peer with more work");
                    node.metrics()
                        .sync_target_height
                        .set(i64::try_from(height).unwrap_or(i64::MAX));
                    progress = Some(Progress::new(peer, height));
                }
                Action::Left { peer, leave } => {
                    match &leave {
                        Leave::Ban(..) => {}
                        Leave::NotYet(note) => {
                            tracing::info!(%peer, "sync: not yet, by this node's clock: {note}")
                        }
                        Leave::Silent(note) => {
                            tracing::info!(%peer, "sync: peer left for another: {note}")
                        }
                    }
                    served.push((peer, Err(leave)));
                }
                Action::Served { peer, connected } => served.push((peer, Ok(connected))),
                Action::Merge { peer } => {
                    if let Some(control) = ends.control {
                        control.merge(peer);
                    }
                }
                Action::Finished { synced_from } => {
                    if let (Some(peer), Some(_)) = (synced_from, ends.control) {
                        let tip = node.snapshot().info.clone();
                        tracing::info!(height = tip.height, best = %tip.best_hash, from = %peer, "sync: caught up");
                        node.sync_finished(Some(peer))?;
                    }
                }
            }
        }
        if let Some(control) = ends.control {
            control.syncing.store(run.is_syncing(), Ordering::Release);
        }
        if run.is_fetching_bodies() {
            incoming.get_or_insert_with(|| node.sync_bodies_begin());
        } else {
            incoming = None;
        }
        if run.is_finished() {
            return Ok(served);
        }
        let deadline = run
            .next_deadline()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let more;
        tokio::select! {
            Some((id, answer)) = answers.recv() => {
                (run, more) = step(node, run, ends.may_contact, move |run, n, may| {
                    run.answer(id, answer, n, may, Instant::now())
                })
                .await?;
            }
            _ = tokio::time::sleep_until(deadline) => {
                (run, more) = step(node, run, ends.may_contact, |run, n, may| {
                    run.tick(n, may, Instant::now())
                })
                .await?;
            }
        }
        queue.extend(more);
    }
}

/// Feeds one event to the run on a blocking thread (its chain reads are
/// the store's).
async fn step(
    node: &Arc<Node>,
    mut run: SyncRun,
    may_contact: &ContactCheck,
    event: impl FnOnce(
        &mut SyncRun,
        &Node,
        &dyn Fn(&NodeAddr) -> bool,
    ) -> Result<Vec<Action>, StoreError>
    + Send
    + 'static,
) -> Result<(SyncRun, Vec<Action>), StoreError> {
    let may = may_contact.clone();
    blocking(node, move |n| {
        let actions = event(&mut run, n, &|p| may(p))?;
        Ok((run, actions))
    })
    .await
}

/// Connects blocks through the normal intake, in order, stopping at the
/// first that is neither stored nor already known; the verdicts given,
/// and how many blocks were stored.
fn connect_in_order(node: &Node, blocks: Vec<Block>) -> Result<(Vec<Verdict>, u64), StoreError> {
    let mut verdicts = Vec::with_capacity(blocks.len());
    let mut connected = 0;
    for block in blocks {
        let verdict = match node.submit_block_from(&block, Origin::Sync) {
            Ok(_) => {
                connected += 1;
                Verdict::Connected
            }
            Err(e) => match e.sync_verdict() {
                Some(v) => v,
                None => {
                    return Err(match e {
                        crate::node::Rejected::Store(e) => e,
                        other => StoreError::Io(other.to_string()),
                    });
                }
            },
        };
        let stop = !matches!(verdict, Verdict::Connected | Verdict::AlreadyKnown);
        verdicts.push(verdict);
        if stop {
            break;
        }
    }
    Ok((verdicts, connected))
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
            _ = ticks.tick() => merge_peer(&peers(), rand::random()),
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
) -> Result<T, StoreError> {
    let node = node.clone();
    match tokio::task::spawn_blocking(move || f(&node)).await {
        Ok(result) => result,
        Err(e) => Err(StoreError::Io(format!("a blocking task failed: {e}"))),
    }
}

/// Clears `syncing` when a run ends, however it ends.
struct Syncing<'a>(Option<&'a SyncControl>);

impl Drop for Syncing<'_> {
    fn drop(&mut self) {
        if let Some(control) = self.0 {
            control.syncing.store(false, Ordering::Release);
        }
    }
}

/// The info line of a long run, at least every [`PROGRESS_EVERY`].
struct Progress {
    peer: NodeAddr,
    target: u64,
    since_log: u64,
    last_log: Instant,
}

impl Progress {
    fn new(peer: NodeAddr, target: u64) -> Progress {
        Progress {
            peer,
            target,
            since_log: 0,
            last_log: Instant::now(),
        }
    }

    fn connected(&mut self, count: u64, node: &Node) {
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

/// A run from the one peer of `candidate`, each request allowed
/// `timeout`: the blocks connected from it, or why it was left.
#[cfg(test)]
async fn sync_from(
    node: &Arc<Node>,
    peer: Arc<dyn SyncPeers>,
    candidate: &super::sync::Candidate,
    timeout: Duration,
) -> Result<u64, Leave> {
    let n = node.clone();
    let c = candidate.clone();
    let (run, actions) = tokio::task::spawn_blocking(move || {
        SyncRun::from_candidate(c, timeout, &*n, Instant::now())
    })
    .await
    .expect("a blocking task")
    .expect("the store reads");
    let ban: BanSink = Arc::new(|_, _, _| {});
    let may: ContactCheck = Arc::new(|_| true);
    let ends = Ends {
        ban: &ban,
        may_contact: &may,
        control: None,
    };
    let mut served = drive(node, run, actions, peer, ends)
        .await
        .expect("the store works");
    served
        .pop()
        .map(|(_, outcome)| outcome)
        .expect("the peer was served")
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
    use crate::p2p::Misbehaviour;
    use crate::p2p::sync::Candidate;
    use crate::types::BlockHeader;
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

    impl MemoryPeer {
        fn headers(&self, locator: &[Hash], limit: usize) -> Vec<BlockHeader> {
            let after = if self.behaviour == Behaviour::RepeatFromGenesis {
                0
            } else {
                locator
                    .iter()
                    .find_map(|h| self.chain.iter().position(|b| b.hash == *h))
                    .unwrap_or(0)
            };
            self.chain[after + 1..]
                .iter()
                .take(limit)
                .map(Block::header)
                .collect()
        }
    }

    impl SyncPeers for MemoryPeer {
        fn ask(&self, _peer: NodeAddr, request: Request, _timeout: Duration) -> PeerFuture {
            match request {
                Request::Claim => Box::pin(async { Err(AnswerError::Silent("no claims".into())) }),
                Request::Headers { locator, limit } => {
                    let headers = self.headers(&locator, limit);
                    Box::pin(async move { Ok(Answer::Headers(headers)) })
                }
                Request::Blocks { hashes } => {
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
                    Box::pin(async move { Ok(Answer::Blocks(blocks)) })
                }
            }
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

    fn peer(chain: &[Block], behaviour: Behaviour) -> Arc<dyn SyncPeers> {
        counted_peer(chain, behaviour).0
    }

    /// A peer, and the count of bodies asked of it.
    fn counted_peer(
        chain: &[Block],
        behaviour: Behaviour,
    ) -> (Arc<dyn SyncPeers>, Arc<std::sync::atomic::AtomicUsize>) {
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
            matches!(&result, Err(Leave::Ban(Misbehaviour::WorkNotShown, _))),
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
        assert!(matches!(&result, Err(Leave::Silent(_))), "{result:?}");
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
        assert!(matches!(&result, Err(Leave::NotYet(_))), "{result:?}");
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
        assert!(matches!(stalled, Err(Leave::Silent(_))), "{stalled:?}");
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
            matches!(&result, Err(Leave::Ban(Misbehaviour::InvalidBlock, note)) if note.contains("height 5")),
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
            matches!(&result, Err(Leave::Ban(Misbehaviour::WorkNotShown, note)) if note.contains("claimed")),
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
