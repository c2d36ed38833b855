//! The simulated network: nodes, a seed, links and virtual time. Each node
//! runs the node's own decision code — its [`PeerBook`], its [`Relay`],
//! a sync [`Schedule`] and [`SyncRun`] — and this module is their driver:
//! it carries their actions out as messages in virtual time, the way
//! `peers_driver.rs`, `relay_driver.rs` and `sync_driver.rs` carry them out
//! over HTTP. A request either gets its answer back (after the link's
//! transmission and latency each way, and the intake's time for posts) or,
//! when the peer is gone, cut off or too slow, fails at its timeout.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use cinder::client::{CHECK_TIMEOUT, DEFAULT_TIMEOUT};
use cinder::consensus::ChainParams;
use cinder::p2p::peers::{Admission, BookConfig, Outcome, PeerBook, Time};
use cinder::p2p::peers_driver::{MAX_CHECKS_IN_FLIGHT, MAX_HEARD_PER_SOURCE};
use cinder::p2p::relay::{self, Item, Relay};
use cinder::p2p::sync::{
    Claim, MERGE_FETCH_TIMEOUT, Merge, sync_for_checked_peer, sync_for_posted_block,
};
use cinder::p2p::sync_run::{
    Action, Answer, AnswerError, Request as SyncRequest, Schedule, SyncRun, Verdict, merge_peer,
};
use cinder::p2p::{AddrPolicy, MAX_ANNOUNCED_CHECKS, SEED_LISTING_LIMIT};
use cinder::types::{Address, Hash};
use cinder::wire::NodeAddr;
use primitive_types::U256;
use sha2::{Digest, Sha256};

use super::chain::{Arena, BlockId, Connect, NodeChain, NodeView, TxId};
use super::link::{Links, Profile, Uplink};
use super::queue::{EventQueue, SimTime};
use crate::rng::Rng;

/// A node's index in the world; the seed is node 0.
pub type NodeId = u32;
/// The seed's index.
pub const SEED: NodeId = 0;
/// The virtual clock's Unix time at the start of a run: well after the
/// regtest genesis, so blocks mined now are in order with it.
pub const START_UNIX: u64 = 1_763_769_600 + 1_000_000;

/// Requests waiting for a merge, at most (as the driver's channel).
const MAX_MERGES_QUEUED: usize = 64;

/// Bytes of what travels, for the links (JSON over HTTP, a head of about
/// 200 bytes each way).
mod size {
    pub const HEAD: usize = 200;
    pub const INFO: usize = 1_200;
    pub const NODE: usize = 40;
    pub const HEADER: usize = 350;
    pub const HASH: usize = 65;
    pub const TX_HEADER: usize = 150;
}

/// What a run's nodes do and how fast (API.md §8 defaults unless a
/// scenario says otherwise).
#[derive(Clone, Debug)]
pub struct Settings {
    pub profile: Profile,
    /// `--max-peers`.
    pub max_peers: usize,
    /// Nodes' `--update-interval`: peer rounds and interval merges.
    pub update_interval: Duration,
    /// The seed's `-u`: its re-checks.
    pub seed_interval: Duration,
    /// `--sync-interval`.
    pub sync_interval: Duration,
    /// API.md §8 "Groups". Off: every book (nodes' and the seed's) is
    /// `BookConfig::without_groups`.
    pub groups: bool,
    /// The intake's time for a transaction (signature, pool policy).
    pub tx_intake: Duration,
    /// The intake's time for a block: a base and a share per transaction.
    pub block_intake_base: Duration,
    pub block_intake_per_tx: Duration,
    /// Cores of one machine every node's intake shares (the lab: 16
    /// processes on 2 cores); 0: a machine per node.
    pub shared_cores: usize,
    /// The intake times above are those of a machine recovering
    /// [`REFERENCE_RECOVERIES_PER_SEC`] signatures a second on one thread;
    /// every CPU time is multiplied by this (2: a machine half as fast).
    pub cpu_scale: f64,
}

/// One-thread signature recoveries a second of the machine the intake
/// times were calibrated on (the README's bench run). The bench measures
/// its own machine's and scales the simulated CPU times by the ratio.
pub const REFERENCE_RECOVERIES_PER_SEC: f64 = 17_226.0;

impl Settings {
    /// Intake times calibrated on the README's lab run (16 node processes
    /// sharing 2 cores): 3 ms per transaction, 2 ms + 0.15 ms per
    /// transaction for a block, on one core. The lab profile shares 2
    /// cores among all nodes; the geo profile gives each node its own.
    pub fn new(profile: Profile) -> Settings {
        Settings {
            profile,
            max_peers: cinder::p2p::peers::DEFAULT_MAX_PEERS,
            update_interval: Duration::from_secs(60),
            seed_interval: Duration::from_secs(60),
            sync_interval: Duration::from_secs(30),
            groups: true,
            tx_intake: Duration::from_millis(3),
            block_intake_base: Duration::from_millis(2),
            block_intake_per_tx: Duration::from_micros(150),
            shared_cores: match profile {
                Profile::Lab => 2,
                Profile::Geo => 0,
            },
            cpu_scale: 1.0,
        }
    }

    fn block_intake(&self, transactions: u32) -> Duration {
        self.block_intake_base + self.block_intake_per_tx * transactions
    }
}

/// What part a node plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Seed,
    Honest,
    /// Floods the seed and honest nodes with its own kind (API.md §8
    /// "Groups"): registers, announces itself, lists only attackers,
    /// relays nothing.
    Attacker,
}

/// The address of honest node number `i`: a /16 of its own, global.
pub fn honest_addr(i: u32) -> NodeAddr {
    // First octets of global unicast space without special ranges.
    const FIRST: [std::ops::RangeInclusive<u8>; 2] = [11..=99, 101..=126];
    let group = i;
    let mut block = group / 256;
    let mut first = None;
    for range in FIRST {
        let len = u32::from(*range.end() - *range.start()) + 1;
        if block < len {
            first = Some(*range.start() + block as u8);
            break;
        }
        block -= len;
    }
    let a = first.expect("at most 29,440 honest nodes");
    NodeAddr::new(
        IpAddr::V4(Ipv4Addr::new(a, (group % 256) as u8, 7, 1)),
        50_000,
    )
}

/// The address of attacker number `j` of `groups` /16 groups (185.10/16,
/// 185.11/16, …).
pub fn attacker_addr(j: u32, groups: u32) -> NodeAddr {
    let groups = groups.max(1);
    let (k, n) = (j % groups, j / groups);
    NodeAddr::new(
        IpAddr::V4(Ipv4Addr::new(
            185,
            10 + k as u8,
            (n >> 8) as u8,
            (n & 0xff) as u8,
        )),
        8333,
    )
}

/// The seed's address.
pub fn seed_addr() -> NodeAddr {
    NodeAddr::new(IpAddr::V4(Ipv4Addr::new(9, 9, 9, 9)), 42_020)
}

/// A request on the wire.
#[derive(Debug)]
enum Body {
    /// `GET /blockchain/` as the §1 check.
    Check,
    /// `POST /nodes/` to the seed with the sender's node.
    Register,
    /// `POST /` with the sender's node.
    Announce,
    /// `GET /nodes/`.
    Nodes,
    /// `POST /blocks/` with `X-Cinder-Node`.
    PostBlock(BlockId),
    /// `POST /transactions/` with `X-Cinder-Node`.
    PostTx(TxId),
    Sync(SyncRequest),
    /// `GET /transactions/`.
    Mempool,
    /// `GET /transactions/{hash}/`.
    FetchTx(Hash),
}

impl Body {
    fn tag(&self) -> &'static str {
        match self {
            Body::Check => "check",
            Body::Register => "register",
            Body::Announce => "announce",
            Body::Nodes => "nodes",
            Body::PostBlock(_) => "block",
            Body::PostTx(_) => "tx",
            Body::Sync(SyncRequest::Claim) => "claim",
            Body::Sync(SyncRequest::Headers { .. }) => "headers",
            Body::Sync(SyncRequest::Blocks { .. }) => "blocks",
            Body::Mempool => "mempool",
            Body::FetchTx(_) => "fetch",
        }
    }

    fn bytes(&self, arena: &Arena) -> usize {
        size::HEAD
            + match self {
                Body::Check | Body::Nodes | Body::Mempool | Body::FetchTx(_) => 0,
                Body::Register | Body::Announce => 50,
                Body::PostBlock(id) => arena.block(*id).wire_bytes,
                Body::PostTx(id) => arena.tx(*id).wire_bytes,
                Body::Sync(SyncRequest::Claim) => 0,
                Body::Sync(SyncRequest::Headers { locator, .. }) => locator.len() * size::HASH,
                Body::Sync(SyncRequest::Blocks { hashes }) => hashes.len() * size::HASH,
            }
    }
}

/// An answer on the wire (any status: the asker only tells an answer from
/// silence, except where it reads the body).
#[derive(Debug)]
enum Reply {
    Info {
        work: U256,
    },
    /// A 200, or a refusal an honest peer gives (409, 400, 403, 503).
    Status {
        ok: bool,
    },
    Nodes(Vec<NodeAddr>),
    Sync(Answer),
    Mempool(Vec<Hash>),
    Tx(Option<TxId>),
}

impl Reply {
    fn bytes(&self, arena: &Arena) -> usize {
        size::HEAD
            + match self {
                Reply::Info { .. } => size::INFO,
                Reply::Status { .. } => 0,
                Reply::Nodes(nodes) => nodes.len() * size::NODE,
                Reply::Sync(Answer::Claim(_)) => size::INFO,
                Reply::Sync(Answer::Headers(h)) => h.len() * size::HEADER,
                Reply::Sync(Answer::Blocks(blocks)) => blocks
                    .iter()
                    .map(|b| {
                        arena
                            .id_of(&b.hash)
                            .map_or(0, |id| arena.block(id).wire_bytes)
                    })
                    .sum(),
                Reply::Mempool(hashes) => hashes.len() * size::TX_HEADER,
                Reply::Tx(Some(id)) => arena.tx(*id).wire_bytes,
                Reply::Tx(None) => 0,
            }
    }
}

/// What the asker does with an answer.
#[derive(Clone, Copy, Debug)]
enum Purpose {
    /// A step of the node's peer round (its phase says which), about `peer`.
    Round(NodeAddr),
    /// The seed's periodic re-check of `peer`.
    SeedRound(NodeAddr),
    /// The check of a node that announced itself (or registered with the
    /// seed); `reply_to` is its announcement, answered once checked.
    AnnounceCheck {
        reply_to: u64,
        node: NodeAddr,
    },
    Relay(NodeAddr),
    Sync(u64),
    MergeList,
    MergeFetch,
    /// An attacker's announcement or registration: nothing to do.
    Ignore,
}

#[derive(Debug)]
struct Pending {
    from: NodeId,
    to: NodeId,
    purpose: Purpose,
    deadline: SimTime,
}

/// Something the intake takes time over.
#[derive(Clone, Copy, Debug)]
enum Intake {
    Block(BlockId),
    Tx(TxId),
}

#[derive(Debug)]
enum Event {
    Start(NodeId),
    Round(NodeId),
    SeedRound,
    MergeTick(NodeId),
    AttackRound(NodeId),
    Deliver {
        req: u64,
        body: Body,
    },
    Reply {
        req: u64,
        reply: Reply,
    },
    Fail {
        req: u64,
    },
    /// An intake finished: `req` is answered, the item relayed on.
    Intake {
        node: NodeId,
        req: Option<u64>,
        item: Intake,
        from: Option<NodeId>,
    },
    /// Blocks a sync run handed out are connected.
    SyncConnect {
        node: NodeId,
        /// The run's id of the `Connect`.
        connect: u64,
        blocks: Vec<BlockId>,
    },
    SyncTick(NodeId),
    SyncWake(NodeId),
    /// The sync driver's once-a-second look at the known peers.
    Watch(NodeId),
    RelayWake(NodeId),
    Mine(NodeId),
}

/// Where a node's peer round is (the order of `peers_driver::round`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Register,
    Checks,
    Announce,
    Ask,
    Candidates,
    AnnounceAdded,
}

#[derive(Debug)]
struct Round {
    phase: Phase,
    todo: VecDeque<NodeAddr>,
    in_flight: usize,
    heard: BTreeSet<NodeAddr>,
    added: Vec<NodeAddr>,
}

/// The seed's re-checks in progress.
#[derive(Debug, Default)]
struct SeedRound {
    todo: VecDeque<NodeAddr>,
    in_flight: usize,
}

#[derive(Debug)]
struct MergeState {
    peer: NodeId,
    merge: Option<Merge>,
}

/// One simulated server.
pub struct SimNode {
    pub addr: NodeAddr,
    pub role: Role,
    pub online: bool,
    pub started: SimTime,
    pub book: PeerBook,
    pub chain: NodeChain,
    relay: Relay,
    /// The pool, in arrival order, and its members.
    pool: Vec<TxId>,
    in_pool: BTreeSet<TxId>,
    /// Items in the intake (a second copy meanwhile is `already_known`).
    intake: BTreeSet<(bool, u32)>,
    cpu_free: SimTime,
    uplink: Uplink,
    schedule: Schedule,
    run: Option<SyncRun>,
    sync_tick_at: Option<SimTime>,
    sync_wake_at: Option<SimTime>,
    watch_at: Option<SimTime>,
    relay_wake_at: Option<SimTime>,
    round: Option<Round>,
    round_missed: bool,
    seed_round: Option<SeedRound>,
    merge: Option<MergeState>,
    merges_queued: VecDeque<NodeId>,
    announced_checks: usize,
    /// Whether it mines (a miner's next block is always scheduled).
    pub mining: bool,
    /// Transactions counted in each block it mines (sizes, intake time).
    pub virtual_txs: u32,
    /// A joining node's goal: the best work when it joined; when it got
    /// there.
    pub catch_up: Option<(U256, SimTime, Option<SimTime>)>,
}

impl SimNode {
    pub fn pool_len(&self) -> usize {
        self.pool.len()
    }

    pub fn has_tx(&self, tx: TxId) -> bool {
        self.in_pool.contains(&tx)
    }

    pub fn is_syncing(&self) -> bool {
        self.run.as_ref().is_some_and(SyncRun::is_syncing)
    }
}

/// Counters of a run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub events: u64,
    pub messages: u64,
    pub failed: u64,
    pub bytes: u64,
    pub bans: u64,
    pub sync_runs: u64,
    pub sync_started: u64,
    pub blocks_reorganised: u64,
    pub reorganisations: u64,
}

/// When each node first had a watched block on its active chain, or a
/// watched transaction in its pool.
#[derive(Clone, Debug)]
pub struct Watch {
    pub item: WatchItem,
    pub origin: NodeId,
    pub since: SimTime,
    pub reached: Vec<Option<SimTime>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchItem {
    Block(BlockId),
    Tx(TxId),
}

/// The whole simulation.
pub struct World {
    pub settings: Settings,
    pub now: SimTime,
    queue: EventQueue<Event>,
    pub rng: Rng,
    links: Links,
    pub nodes: Vec<SimNode>,
    by_addr: HashMap<NodeAddr, NodeId>,
    pub arena: Arena,
    base: Instant,
    pending: HashMap<u64, Pending>,
    next_req: u64,
    /// When each core of the one machine all nodes share is free (empty:
    /// each node has a CPU of its own).
    shared_cores: Vec<SimTime>,
    /// The side of each node while a partition holds (0: reaches every
    /// side, as the seed).
    sides: Vec<u8>,
    partitioned: bool,
    honest_count: u32,
    attackers: Vec<NodeId>,
    pub stats: Stats,
    pub watches: Vec<Watch>,
    digest: Sha256,
    line: String,
    /// A progress line on stderr about every second of wall time.
    pub progress: bool,
    /// Honest nodes starting from now note the best work at their start
    /// and when they reach it ([`SimNode::catch_up`]).
    pub track_catch_up: bool,
    last_progress: Instant,
    wall_start: Instant,
}

impl World {
    /// A world of the seed alone, seeded by `seed`.
    pub fn new(settings: Settings, seed: u64) -> World {
        let mut rng = Rng::new(seed);
        let links = Links::new(settings.profile, rng.next_u64());
        let mut world = World {
            settings,
            now: SimTime::ZERO,
            queue: EventQueue::new(),
            rng,
            links,
            nodes: Vec::new(),
            by_addr: HashMap::new(),
            arena: Arena::new(ChainParams::regtest()),
            base: Instant::now(),
            pending: HashMap::new(),
            next_req: 0,
            shared_cores: Vec::new(),
            sides: Vec::new(),
            partitioned: false,
            honest_count: 0,
            attackers: Vec::new(),
            stats: Stats::default(),
            watches: Vec::new(),
            digest: Sha256::new(),
            line: String::new(),
            progress: false,
            track_catch_up: false,
            last_progress: Instant::now(),
            wall_start: Instant::now(),
        };
        world.shared_cores = vec![SimTime::ZERO; world.settings.shared_cores];
        let id = world.add(seed_addr(), Role::Seed);
        world.queue.push(SimTime::ZERO, Event::Start(id));
        world
    }

    fn book_config(&self, addr: NodeAddr, role: Role) -> BookConfig {
        let mut config = match role {
            Role::Seed => BookConfig::seed(addr),
            Role::Honest | Role::Attacker => BookConfig::full_node(addr, self.settings.max_peers),
        };
        if !self.settings.groups {
            config = config.without_groups();
        }
        config.with_policy(AddrPolicy::GLOBAL_ONLY)
    }

    fn add(&mut self, addr: NodeAddr, role: Role) -> NodeId {
        let id = self.nodes.len() as NodeId;
        let mut dice = self.rng.next_u64();
        if dice == 0 {
            dice = 1; // 0 asks `Peers` for random dice; the book takes any
        }
        let book = PeerBook::new(self.book_config(addr, role).with_seed(dice));
        self.links.place(&mut self.rng);
        let instant = self.instant();
        self.nodes.push(SimNode {
            addr,
            role,
            online: false,
            started: self.now,
            book,
            chain: NodeChain::genesis(),
            relay: Relay::new(),
            pool: Vec::new(),
            in_pool: BTreeSet::new(),
            intake: BTreeSet::new(),
            cpu_free: SimTime::ZERO,
            uplink: Uplink::default(),
            schedule: Schedule::new(self.settings.sync_interval, instant),
            run: None,
            sync_tick_at: None,
            sync_wake_at: None,
            watch_at: None,
            relay_wake_at: None,
            round: None,
            round_missed: false,
            seed_round: None,
            merge: None,
            merges_queued: VecDeque::new(),
            announced_checks: 0,
            mining: false,
            virtual_txs: 0,
            catch_up: None,
        });
        self.by_addr.insert(addr, id);
        self.sides.push(0);
        for w in &mut self.watches {
            w.reached.push(None);
        }
        id
    }

    /// Adds an honest node that starts at `at` (only genesis stored).
    pub fn add_honest(&mut self, at: SimTime) -> NodeId {
        let addr = honest_addr(self.honest_count);
        self.honest_count += 1;
        let id = self.add(addr, Role::Honest);
        self.queue.push(at, Event::Start(id));
        id
    }

    /// Adds attacker number `j` of `groups` groups, starting at `at`.
    pub fn add_attacker(&mut self, j: u32, groups: u32, at: SimTime) -> NodeId {
        let id = self.add(attacker_addr(j, groups), Role::Attacker);
        self.attackers.push(id);
        self.queue.push(at, Event::Start(id));
        id
    }

    pub fn node(&self, id: NodeId) -> &SimNode {
        &self.nodes[id as usize]
    }

    pub fn id_of(&self, addr: &NodeAddr) -> Option<NodeId> {
        self.by_addr.get(addr).copied()
    }

    /// Honest nodes, online or not.
    pub fn honest(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len() as NodeId).filter(|n| self.node(*n).role == Role::Honest)
    }

    /// Honest nodes online.
    pub fn online_honest(&self) -> Vec<NodeId> {
        self.honest().filter(|n| self.node(*n).online).collect()
    }

    fn instant_at(&self, t: SimTime) -> Instant {
        self.base + t.as_duration()
    }

    fn instant(&self) -> Instant {
        self.instant_at(self.now)
    }

    fn sim_time(&self, instant: Instant) -> SimTime {
        SimTime(
            u64::try_from(instant.saturating_duration_since(self.base).as_micros())
                .unwrap_or(u64::MAX),
        )
    }

    /// The peer book's clock (Unix milliseconds).
    fn book_time(&self) -> Time {
        Time::from_millis(START_UNIX * 1_000 + self.now.as_micros() / 1_000)
    }

    pub fn now_unix(&self) -> u64 {
        START_UNIX + self.now.as_micros() / 1_000_000
    }

    /// The heaviest tip among online honest nodes, and how many are on it.
    pub fn best_tip(&self) -> (BlockId, usize) {
        let mut best: Option<BlockId> = None;
        for n in self.online_honest() {
            let tip = self.node(n).chain.tip();
            if best.is_none_or(|b| self.arena.block(tip).work > self.arena.block(b).work) {
                best = Some(tip);
            }
        }
        let best = best.unwrap_or(0);
        let on = self
            .online_honest()
            .into_iter()
            .filter(|n| self.node(*n).chain.tip() == best)
            .count();
        (best, on)
    }

    /// The digest of every event delivered so far (hex SHA-256).
    pub fn digest(&self) -> String {
        hex_of(&self.digest.clone().finalize())
    }

    // -----------------------------------------------------------------
    // Scenario controls

    /// Splits the honest nodes into sides (`side_of(node)`, 1 or 2); the
    /// seed reaches both. Messages across are dropped.
    pub fn partition(&mut self, side_of: impl Fn(NodeId) -> u8) {
        for n in 0..self.nodes.len() as NodeId {
            self.sides[n as usize] = if n == SEED { 0 } else { side_of(n) };
        }
        self.partitioned = true;
    }

    pub fn heal(&mut self) {
        self.partitioned = false;
    }

    fn cut(&self, a: NodeId, b: NodeId) -> bool {
        if !self.partitioned {
            return false;
        }
        let (sa, sb) = (self.sides[a as usize], self.sides[b as usize]);
        sa != 0 && sb != 0 && sa != sb
    }

    /// Takes `node` off the network for good: nothing reaches it, its
    /// timers stop, what was asked of it fails at its timeout.
    pub fn leave(&mut self, node: NodeId) {
        // What it was asked fails at its timeout: on delivery, or when an
        // intake or a check it waited for ends ([`World::fail_deferred`]).
        self.nodes[node as usize].online = false;
    }

    /// Makes `node` a miner from `at`: a block of `virtual_txs`
    /// transactions on its tip at exponential intervals of regtest's block
    /// time (10 s on average).
    pub fn start_mining(&mut self, node: NodeId, at: SimTime, virtual_txs: u32) {
        let n = &mut self.nodes[node as usize];
        n.mining = true;
        n.virtual_txs = virtual_txs;
        self.queue.push(at, Event::Mine(node));
    }

    pub fn stop_mining(&mut self, node: NodeId) {
        self.nodes[node as usize].mining = false;
    }

    /// A block of `virtual_txs` transactions mined now by `node` on its
    /// tip, through its intake; watched.
    pub fn mine_now(&mut self, node: NodeId, virtual_txs: u32) -> BlockId {
        let id = self.mine_block(node, virtual_txs);
        self.watch(WatchItem::Block(id), node);
        self.start_intake(node, None, Intake::Block(id), None);
        id
    }

    /// A new transaction posted to `node` now; watched.
    pub fn post_transaction(&mut self, node: NodeId) -> TxId {
        let id = self.arena.new_transaction();
        self.watch(WatchItem::Tx(id), node);
        self.start_intake(node, None, Intake::Tx(id), None);
        id
    }

    fn watch(&mut self, item: WatchItem, origin: NodeId) {
        self.watches.push(Watch {
            item,
            origin,
            since: self.now,
            reached: vec![None; self.nodes.len()],
        });
    }

    fn mine_block(&mut self, node: NodeId, virtual_txs: u32) -> BlockId {
        let tip = self.node(node).chain.tip();
        let mut creator = [0u8; 20];
        creator[..4].copy_from_slice(&node.to_be_bytes());
        creator[19] = 0xc1;
        let now_unix = self.now_unix();
        self.arena
            .mine(tip, Address(creator), now_unix, virtual_txs)
    }

    // -----------------------------------------------------------------
    // The loop

    /// Runs events until virtual time `until` (events due then included).
    pub fn run_until(&mut self, until: SimTime) {
        while let Some(t) = self.queue.peek_time() {
            if t > until {
                break;
            }
            let Some((t, event)) = self.queue.pop() else {
                break;
            };
            self.now = t;
            self.stats.events += 1;
            self.trace(&event);
            self.dispatch(event);
            if self.progress && self.stats.events.is_multiple_of(4096) {
                self.print_progress(false);
            }
        }
        self.now = self.now.max(until);
    }

    /// The progress line (at most once a second unless `force`).
    pub fn print_progress(&mut self, force: bool) {
        let wall = Instant::now();
        if !force && wall.duration_since(self.last_progress) < Duration::from_secs(1) {
            return;
        }
        self.last_progress = wall;
        let (_, on) = self.best_tip();
        eprintln!(
            "sim: virtual {:.1} s, {} events, {}/{} nodes on the best tip, wall {:.1} s",
            self.now.as_secs_f64(),
            self.stats.events,
            on,
            self.online_honest().len(),
            self.wall_start.elapsed().as_secs_f64()
        );
    }

    /// One compact line per event into the digest.
    fn trace(&mut self, event: &Event) {
        self.line.clear();
        let t = self.now.as_micros();
        let _ = match event {
            Event::Start(n) => write!(self.line, "{t} start {n}"),
            Event::Round(n) => write!(self.line, "{t} round {n}"),
            Event::SeedRound => write!(self.line, "{t} seed-round"),
            Event::MergeTick(n) => write!(self.line, "{t} merge-tick {n}"),
            Event::AttackRound(n) => write!(self.line, "{t} attack {n}"),
            Event::Deliver { req, body } => {
                let (from, to) = self.ends(*req);
                write!(self.line, "{t} > {req} {from}-{to} {}", body.tag())
            }
            Event::Reply { req, .. } => {
                let (from, to) = self.ends(*req);
                write!(self.line, "{t} < {req} {to}-{from}")
            }
            Event::Fail { req } => {
                let (from, to) = self.ends(*req);
                write!(self.line, "{t} x {req} {from}-{to}")
            }
            Event::Intake { node, item, .. } => write!(self.line, "{t} intake {node} {item:?}"),
            Event::SyncConnect { node, blocks, .. } => {
                write!(self.line, "{t} connect {node} {}", blocks.len())
            }
            Event::SyncTick(n) => write!(self.line, "{t} sync-tick {n}"),
            Event::SyncWake(n) => write!(self.line, "{t} sync-wake {n}"),
            Event::Watch(n) => write!(self.line, "{t} watch {n}"),
            Event::RelayWake(n) => write!(self.line, "{t} relay-wake {n}"),
            Event::Mine(n) => write!(self.line, "{t} mine {n}"),
        };
        self.line.push('\n');
        self.digest.update(self.line.as_bytes());
    }

    fn ends(&self, req: u64) -> (i64, i64) {
        self.pending
            .get(&req)
            .map_or((-1, -1), |p| (i64::from(p.from), i64::from(p.to)))
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Start(n) => self.start(n),
            Event::Round(n) => {
                if self.node(n).online {
                    let interval = self.settings.update_interval;
                    self.queue.push(self.now.after(interval), Event::Round(n));
                    if self.node(n).round.is_some() {
                        self.nodes[n as usize].round_missed = true;
                    } else {
                        self.round_start(n);
                    }
                }
            }
            Event::SeedRound => {
                let interval = self.settings.seed_interval;
                self.queue.push(self.now.after(interval), Event::SeedRound);
                if self.node(SEED).seed_round.is_none() {
                    self.seed_round_start();
                }
            }
            Event::MergeTick(n) => {
                if self.node(n).online {
                    let interval = self.settings.update_interval;
                    self.queue
                        .push(self.now.after(interval), Event::MergeTick(n));
                    let known = self.node(n).book.known();
                    let dice = self.rng.next_u64();
                    if let Some(peer) = merge_peer(&known, dice).and_then(|p| self.id_of(&p)) {
                        self.merge_request(n, peer);
                    }
                }
            }
            Event::AttackRound(n) => {
                if self.node(n).online {
                    let interval = self.settings.update_interval;
                    self.queue
                        .push(self.now.after(interval), Event::AttackRound(n));
                    self.attack(n);
                }
            }
            Event::Deliver { req, body } => self.deliver(req, body),
            Event::Reply { req, reply } => self.result(req, Some(reply)),
            Event::Fail { req } => {
                self.stats.failed += 1;
                self.result(req, None);
            }
            Event::Intake {
                node,
                req,
                item,
                from,
            } => self.intake_done(node, req, item, from),
            Event::SyncConnect {
                node,
                connect,
                blocks,
            } => self.sync_connect(node, connect, blocks),
            Event::SyncTick(n) => {
                if self.node(n).sync_tick_at == Some(self.now) {
                    self.nodes[n as usize].sync_tick_at = None;
                    self.with_run(n, |run, view, may, now| run.tick(view, may, now));
                }
            }
            Event::SyncWake(n) => {
                if self.node(n).sync_wake_at == Some(self.now) {
                    self.nodes[n as usize].sync_wake_at = None;
                    self.try_start_sync(n);
                }
            }
            Event::Watch(n) => {
                if self.node(n).watch_at == Some(self.now) {
                    self.nodes[n as usize].watch_at = None;
                    let known = self.node(n).book.known();
                    let node = &mut self.nodes[n as usize];
                    node.relay.retain_peers(&known);
                    node.schedule.peers_now(&known);
                    self.try_start_sync(n);
                }
            }
            Event::RelayWake(n) => {
                if self.node(n).relay_wake_at == Some(self.now) {
                    self.nodes[n as usize].relay_wake_at = None;
                    self.pump_relay(n);
                }
            }
            Event::Mine(n) => {
                if self.node(n).online && self.node(n).mining {
                    let txs = self.node(n).virtual_txs;
                    let id = self.mine_block(n, txs);
                    self.start_intake(n, None, Intake::Block(id), None);
                    let mean = self.arena.params().block_time as f64;
                    let wait = self.rng.exponential(mean);
                    let next = self.now.after(Duration::from_secs_f64(wait));
                    self.queue.push(next, Event::Mine(n));
                }
            }
        }
    }

    fn start(&mut self, n: NodeId) {
        let node = &mut self.nodes[n as usize];
        node.online = true;
        node.started = self.now;
        match node.role {
            Role::Seed => self.queue.push(self.now, Event::SeedRound),
            Role::Attacker => self.queue.push(self.now, Event::AttackRound(n)),
            Role::Honest => {
                if self.track_catch_up {
                    let goal = self.arena.block(self.best_tip().0).work;
                    let reached =
                        (self.node(n).chain.work(&self.arena) >= goal).then_some(self.now);
                    self.nodes[n as usize].catch_up = Some((goal, self.now, reached));
                }
                let instant = self.instant();
                let node = &mut self.nodes[n as usize];
                node.schedule = Schedule::new(self.settings.sync_interval, instant);
                let interval = self.settings.update_interval;
                self.queue.push(self.now, Event::Round(n));
                self.queue
                    .push(self.now.after(interval), Event::MergeTick(n));
                self.try_start_sync(n);
            }
        }
    }

    // -----------------------------------------------------------------
    // Messages

    fn request(
        &mut self,
        from: NodeId,
        to: Option<NodeId>,
        body: Body,
        purpose: Purpose,
        timeout: Duration,
    ) {
        let req = self.next_req;
        self.next_req += 1;
        let deadline = self.now.after(timeout);
        self.stats.messages += 1;
        let Some(to) = to else {
            // An address nobody listens on.
            self.pending.insert(
                req,
                Pending {
                    from,
                    to: from,
                    purpose,
                    deadline,
                },
            );
            self.queue.push(deadline, Event::Fail { req });
            return;
        };
        self.pending.insert(
            req,
            Pending {
                from,
                to,
                purpose,
                deadline,
            },
        );
        if !self.node(to).online || self.cut(from, to) {
            self.queue.push(deadline, Event::Fail { req });
            return;
        }
        let bytes = body.bytes(&self.arena);
        let arrives = self.transmit(from, to, bytes);
        self.queue.push(arrives, Event::Deliver { req, body });
    }

    /// When `bytes` sent now by `from` reach `to`.
    fn transmit(&mut self, from: NodeId, to: NodeId, bytes: usize) -> SimTime {
        self.stats.bytes += bytes as u64;
        let hold = self.links.transmit_micros(from as usize, bytes);
        let left = self.nodes[from as usize]
            .uplink
            .send(self.now.as_micros(), hold);
        SimTime(left + self.links.latency_micros(from as usize, to as usize))
    }

    /// Answers request `req` now.
    fn reply(&mut self, req: u64, reply: Reply) {
        let Some(p) = self.pending.get(&req) else {
            return;
        };
        let (responder, asker, deadline) = (p.to, p.from, p.deadline);
        if !self.node(asker).online || self.cut(responder, asker) {
            self.queue.push(deadline.max(self.now), Event::Fail { req });
            return;
        }
        let bytes = reply.bytes(&self.arena);
        let arrives = self.transmit(responder, asker, bytes);
        if arrives > deadline {
            self.queue.push(deadline.max(self.now), Event::Fail { req });
        } else {
            self.queue.push(arrives, Event::Reply { req, reply });
        }
    }

    fn deliver(&mut self, req: u64, body: Body) {
        let Some(p) = self.pending.get(&req) else {
            return;
        };
        let (from, to, deadline) = (p.from, p.to, p.deadline);
        if !self.node(to).online || self.cut(from, to) {
            self.queue.push(deadline.max(self.now), Event::Fail { req });
            return;
        }
        match self.node(to).role {
            Role::Seed => self.serve_seed(req, from, body),
            Role::Attacker => self.serve_attacker(req, to, body),
            Role::Honest => self.serve_honest(req, from, to, body),
        }
    }

    fn info(&self, n: NodeId) -> Reply {
        let chain = &self.node(n).chain;
        Reply::Info {
            work: chain.work(&self.arena),
        }
    }

    fn serve_seed(&mut self, req: u64, from: NodeId, body: Body) {
        match body {
            Body::Register | Body::Announce => self.announced(SEED, req, from),
            Body::Nodes => {
                let book = &mut self.nodes[SEED as usize].book;
                let list = if book.count() > SEED_LISTING_LIMIT {
                    let mut sample = book.sample(SEED_LISTING_LIMIT);
                    sample.sort();
                    sample
                } else {
                    book.known()
                };
                self.reply(req, Reply::Nodes(list));
            }
            _ => self.reply(req, Reply::Status { ok: false }),
        }
    }

    fn serve_attacker(&mut self, req: u64, n: NodeId, body: Body) {
        let reply = match body {
            Body::Check => self.info(n),
            Body::Nodes => {
                // Only its own kind, as many as a list may carry.
                let mut list: Vec<NodeAddr> = Vec::new();
                let count = self.attackers.len();
                for _ in 0..count.min(MAX_HEARD_PER_SOURCE) {
                    let a = self.attackers[self.rng.index(count)];
                    list.push(self.node(a).addr);
                }
                list.sort();
                list.dedup();
                Reply::Nodes(list)
            }
            Body::Sync(SyncRequest::Claim) => Reply::Sync(Answer::Claim(self.claim(n))),
            Body::Sync(SyncRequest::Headers { .. }) => Reply::Sync(Answer::Headers(Vec::new())),
            Body::Sync(SyncRequest::Blocks { .. }) => Reply::Sync(Answer::Blocks(Vec::new())),
            Body::Mempool => Reply::Mempool(Vec::new()),
            Body::FetchTx(_) => Reply::Tx(None),
            _ => Reply::Status { ok: true },
        };
        self.reply(req, reply);
    }

    fn claim(&self, n: NodeId) -> Claim {
        let node = self.node(n);
        Claim {
            peer: node.addr,
            work: node.chain.work(&self.arena),
            height: node.chain.tip_height(),
            genesis: self.arena.params().genesis_hash,
        }
    }

    fn serve_honest(&mut self, req: u64, from: NodeId, n: NodeId, body: Body) {
        match body {
            Body::Check => {
                let info = self.info(n);
                self.reply(req, info);
            }
            Body::Register => self.reply(req, Reply::Status { ok: false }),
            Body::Announce => self.announced(n, req, from),
            Body::Nodes => {
                let list = self.node(n).book.known();
                self.reply(req, Reply::Nodes(list));
            }
            Body::PostBlock(id) => self.posted_block(n, req, from, id),
            Body::PostTx(id) => {
                let node = self.node(n);
                if node.in_pool.contains(&id) || node.intake.contains(&(false, id)) {
                    self.reply(req, Reply::Status { ok: false });
                } else {
                    self.start_intake(n, Some(req), Intake::Tx(id), Some(from));
                }
            }
            Body::Sync(request) => {
                let chain = &self.node(n).chain;
                let answer = match request {
                    SyncRequest::Claim => Answer::Claim(self.claim(n)),
                    SyncRequest::Headers { locator, limit } => {
                        Answer::Headers(chain.headers_after(&self.arena, &locator, limit))
                    }
                    SyncRequest::Blocks { hashes } => {
                        Answer::Blocks(chain.blocks(&self.arena, &hashes))
                    }
                };
                self.reply(req, Reply::Sync(answer));
            }
            Body::Mempool => {
                let hashes = self
                    .node(n)
                    .pool
                    .iter()
                    .map(|t| self.arena.tx(*t).tx.hash)
                    .collect();
                self.reply(req, Reply::Mempool(hashes));
            }
            Body::FetchTx(hash) => {
                let tx = self
                    .arena
                    .tx_id_of(&hash)
                    .filter(|t| self.node(n).has_tx(*t));
                self.reply(req, Reply::Tx(tx));
            }
        }
    }

    /// `POST /` (or `POST /nodes/` at the seed) from `from` naming itself
    /// (`Peers::announced`): refused, known, or checked and admitted.
    fn announced(&mut self, n: NodeId, req: u64, from: NodeId) {
        let node_addr = self.node(from).addr;
        let now = self.book_time();
        match self.node(n).book.screen(&node_addr, now) {
            Err(_) => self.reply(req, Reply::Status { ok: false }),
            Ok(true) => self.reply(req, Reply::Status { ok: true }),
            Ok(false) => {
                if self.node(n).announced_checks >= MAX_ANNOUNCED_CHECKS {
                    self.reply(req, Reply::Status { ok: false });
                    return;
                }
                self.nodes[n as usize].announced_checks += 1;
                self.request(
                    n,
                    Some(from),
                    Body::Check,
                    Purpose::AnnounceCheck {
                        reply_to: req,
                        node: node_addr,
                    },
                    CHECK_TIMEOUT,
                );
            }
        }
    }

    fn posted_block(&mut self, n: NodeId, req: u64, from: NodeId, id: BlockId) {
        let node = self.node(n);
        if node.chain.has(id) || node.intake.contains(&(true, id)) {
            self.reply(req, Reply::Status { ok: false });
            return;
        }
        // A parent still in the intake is connected first (one intake at
        // a time).
        let parent_known = self
            .arena
            .block(id)
            .parent
            .is_some_and(|p| node.chain.has(p) || node.intake.contains(&(true, p)));
        if parent_known {
            self.start_intake(n, Some(req), Intake::Block(id), Some(from));
            return;
        }
        // API.md §8 "Named syncs": the decision is the node's own.
        let named = self.node(from).addr;
        let now = self.book_time();
        let book = &self.node(n).book;
        let asked = sync_for_posted_block(true, Some(named), Some(named.ip()), |p| {
            book.is_known(p) && book.may_contact(p, now)
        });
        self.reply(req, Reply::Status { ok: false });
        if let Some(peer) = asked {
            self.nodes[n as usize].schedule.requested(Some(peer));
            self.try_start_sync(n);
        }
    }

    /// An item enters `n`'s intake: done after its time on the node's CPU
    /// (one intake at a time).
    fn start_intake(&mut self, n: NodeId, req: Option<u64>, item: Intake, from: Option<NodeId>) {
        let cost = match item {
            Intake::Block(id) => self
                .settings
                .block_intake(self.arena.block(id).transactions),
            Intake::Tx(_) => self.settings.tx_intake,
        };
        let key = match item {
            Intake::Block(id) => (true, id),
            Intake::Tx(id) => (false, id),
        };
        self.nodes[n as usize].intake.insert(key);
        let done = self.compute(n, cost);
        self.queue.push(
            done,
            Event::Intake {
                node: n,
                req,
                item,
                from,
            },
        );
    }

    /// A request a node that left was to answer later (after an intake,
    /// or a check of the announced node) fails at its timeout.
    fn fail_deferred(&mut self, req: Option<u64>) {
        if let Some(req) = req
            && let Some(p) = self.pending.get(&req)
        {
            let at = p.deadline.max(self.now);
            self.queue.push(at, Event::Fail { req });
        }
    }

    /// `cost` of `n`'s CPU from now, after what it has to do already
    /// (with shared cores: on the first core free); when it is done.
    fn compute(&mut self, n: NodeId, cost: Duration) -> SimTime {
        // One intake at a time per node (the node's lock), on its own
        // machine or on the first free core of the shared one.
        let cost = cost.mul_f64(self.settings.cpu_scale.max(0.0));
        let mut start = self.nodes[n as usize].cpu_free.max(self.now);
        if let Some(core) = self.shared_cores.iter_mut().min_by_key(|f| **f) {
            start = start.max(*core);
            *core = start.after(cost);
        }
        let done = start.after(cost);
        self.nodes[n as usize].cpu_free = done;
        done
    }

    fn intake_done(&mut self, n: NodeId, req: Option<u64>, item: Intake, from: Option<NodeId>) {
        if !self.node(n).online {
            self.fail_deferred(req);
            return;
        }
        let from_addr = from.map(|f| self.node(f).addr);
        match item {
            Intake::Block(id) => {
                self.nodes[n as usize].intake.remove(&(true, id));
                let outcome = self.connect(n, id);
                if outcome.moved_tip() {
                    let block = self.arena.block(id).block.clone();
                    self.relay_item(n, Item::Block(block), from_addr);
                }
                if let Some(req) = req {
                    self.reply(
                        req,
                        Reply::Status {
                            ok: outcome.moved_tip() || outcome == Connect::SideChain,
                        },
                    );
                }
            }
            Intake::Tx(id) => {
                let node = &mut self.nodes[n as usize];
                node.intake.remove(&(false, id));
                let admitted = node.in_pool.insert(id);
                if admitted {
                    node.pool.push(id);
                    self.tx_admitted(n, id);
                    let tx = self.arena.tx(id).tx.clone();
                    self.relay_item(n, Item::Transaction(tx), from_addr);
                }
                if let Some(req) = req {
                    self.reply(req, Reply::Status { ok: admitted });
                }
            }
        }
    }

    /// Offers block `id` to `n`'s chain; notes what moved.
    fn connect(&mut self, n: NodeId, id: BlockId) -> Connect {
        let now_unix = self.now_unix();
        let outcome = self.nodes[n as usize]
            .chain
            .connect(&self.arena, id, now_unix);
        if let Connect::Reorganized { removed } = outcome {
            self.stats.reorganisations += 1;
            self.stats.blocks_reorganised += removed;
        }
        if outcome.moved_tip() {
            self.tip_moved(n);
        }
        outcome
    }

    fn tip_moved(&mut self, n: NodeId) {
        let now = self.now;
        let node = &mut self.nodes[n as usize];
        for w in &mut self.watches {
            if let WatchItem::Block(b) = w.item
                && w.reached[n as usize].is_none()
                && node.chain.at(self.arena.block(b).height) == Some(b)
            {
                w.reached[n as usize] = Some(now);
            }
        }
        let work = node.chain.work(&self.arena);
        if let Some((goal, _, reached)) = &mut node.catch_up
            && reached.is_none()
            && work >= *goal
        {
            *reached = Some(now);
        }
    }

    fn tx_admitted(&mut self, n: NodeId, id: TxId) {
        let now = self.now;
        for w in &mut self.watches {
            if w.item == WatchItem::Tx(id) && w.reached[n as usize].is_none() {
                w.reached[n as usize] = Some(now);
            }
        }
    }

    /// The answer to `req` arrived (`Some`) or it failed (`None`).
    fn result(&mut self, req: u64, reply: Option<Reply>) {
        let Some(p) = self.pending.remove(&req) else {
            return;
        };
        let n = p.from;
        if !self.node(n).online {
            if let Purpose::AnnounceCheck { reply_to, .. } = p.purpose {
                self.fail_deferred(Some(reply_to));
            }
            return;
        }
        match p.purpose {
            Purpose::Ignore => {}
            Purpose::Round(peer) => self.round_result(n, peer, reply),
            Purpose::SeedRound(peer) => {
                let ok = matches!(reply, Some(Reply::Info { .. }));
                let result = if ok { Ok(()) } else { Err("no answer".into()) };
                let _ = self.nodes[n as usize].book.check_done(peer, result);
                if let Some(round) = &mut self.nodes[n as usize].seed_round {
                    round.in_flight -= 1;
                }
                self.seed_round_pump();
            }
            Purpose::AnnounceCheck { reply_to, node } => {
                self.nodes[n as usize].announced_checks -= 1;
                let ok = matches!(reply, Some(Reply::Info { .. }));
                self.observe(n, node, &reply);
                let admitted = ok && {
                    let now = self.book_time();
                    let admission = self.nodes[n as usize].book.admit(node, now);
                    self.book_changed(n);
                    !matches!(admission, Admission::Refused(_))
                };
                self.reply(reply_to, Reply::Status { ok: admitted });
            }
            Purpose::Relay(peer) => {
                let outcome = if reply.is_some() {
                    relay::Outcome::Answered
                } else {
                    relay::Outcome::Silent
                };
                let now = self.instant();
                let node = &mut self.nodes[n as usize];
                node.relay.finished(peer, outcome, now);
                if node.relay.is_paused(&peer, now) {
                    let wake = self.now.after(relay::PAUSE + Duration::from_millis(1));
                    if node.relay_wake_at.is_none_or(|w| w > wake || w < self.now) {
                        node.relay_wake_at = Some(wake);
                        self.queue.push(wake, Event::RelayWake(n));
                    }
                }
                self.pump_relay(n);
            }
            Purpose::Sync(id) => {
                let answer = match reply {
                    Some(Reply::Sync(answer)) => Ok(answer),
                    Some(_) => Err(AnswerError::Misbehaved("not the API's answer".into())),
                    None => Err(AnswerError::Silent("no answer in time".into())),
                };
                self.with_run(n, move |run, view, may, now| {
                    run.answer(id, answer, view, may, now)
                });
            }
            Purpose::MergeList => self.merge_listed(n, reply),
            Purpose::MergeFetch => self.merge_fetched(n, reply),
        }
    }

    /// A check `n` made of `peer` answered: a peer showing more work is
    /// synced from now (the check observer of `app.rs`).
    fn observe(&mut self, n: NodeId, peer: NodeAddr, reply: &Option<Reply>) {
        if self.node(n).role != Role::Honest {
            return;
        }
        if let Some(Reply::Info { work, .. }) = reply
            && sync_for_checked_peer(self.node(n).chain.work(&self.arena), *work)
        {
            self.nodes[n as usize].schedule.requested(Some(peer));
            self.try_start_sync(n);
        }
    }

    /// Known nodes or bans changed: the driver's watch looks within a
    /// second (new peers are synced from, the relay forgets the gone).
    fn book_changed(&mut self, n: NodeId) {
        let node = &mut self.nodes[n as usize];
        if !node.book.take_changed() || node.role != Role::Honest {
            return;
        }
        // The watch ticks every second from the node's start.
        let phase = node.started.as_micros() % 1_000_000;
        let now = self.now.as_micros();
        let mut at = now - now % 1_000_000 + phase;
        if at <= now {
            at += 1_000_000;
        }
        let at = SimTime(at);
        if node.watch_at.is_none() {
            node.watch_at = Some(at);
            self.queue.push(at, Event::Watch(n));
        }
    }

    // -----------------------------------------------------------------
    // Peer rounds (peers_driver::round)

    fn round_start(&mut self, n: NodeId) {
        let now = self.book_time();
        let node = &mut self.nodes[n as usize];
        let _ = node.book.expire(now);
        node.round = Some(Round {
            phase: Phase::Register,
            todo: VecDeque::new(),
            in_flight: 0,
            heard: BTreeSet::new(),
            added: Vec::new(),
        });
        self.book_changed(n);
        self.round_send(n, Phase::Register, seed_addr());
    }

    fn round_send(&mut self, n: NodeId, phase: Phase, peer: NodeAddr) {
        let (body, timeout) = match phase {
            Phase::Register => (Body::Register, DEFAULT_TIMEOUT),
            Phase::Checks | Phase::Candidates => (Body::Check, CHECK_TIMEOUT),
            Phase::Announce | Phase::AnnounceAdded => (Body::Announce, DEFAULT_TIMEOUT),
            Phase::Ask => (Body::Nodes, DEFAULT_TIMEOUT),
        };
        if let Some(round) = &mut self.nodes[n as usize].round {
            round.in_flight += 1;
        }
        let to = self.id_of(&peer);
        self.request(n, to, body, Purpose::Round(peer), timeout);
    }

    /// Starts queued requests of the phase, at most
    /// [`MAX_CHECKS_IN_FLIGHT`] at once; the next phase when all are done.
    fn round_pump(&mut self, n: NodeId) {
        loop {
            let Some(round) = &mut self.nodes[n as usize].round else {
                return;
            };
            let limited = matches!(round.phase, Phase::Checks | Phase::Candidates | Phase::Ask);
            if limited && round.in_flight >= MAX_CHECKS_IN_FLIGHT {
                return;
            }
            let phase = round.phase;
            match round.todo.pop_front() {
                Some(peer) => self.round_send(n, phase, peer),
                None => {
                    if round.in_flight == 0 {
                        self.round_next_phase(n);
                    }
                    return;
                }
            }
        }
    }

    fn round_result(&mut self, n: NodeId, peer: NodeAddr, reply: Option<Reply>) {
        let Some(phase) = self.node(n).round.as_ref().map(|r| r.phase) else {
            return;
        };
        if let Some(round) = &mut self.nodes[n as usize].round {
            round.in_flight -= 1;
        }
        match phase {
            Phase::Register => {
                let ok = matches!(reply, Some(Reply::Status { ok: true }));
                let _ = self.nodes[n as usize].book.seed_answered(ok);
            }
            Phase::Checks | Phase::Candidates => {
                let ok = matches!(reply, Some(Reply::Info { .. }));
                self.observe(n, peer, &reply);
                let result = if ok {
                    Ok(())
                } else {
                    Err("no answer".to_string())
                };
                let outcome = self.nodes[n as usize].book.check_done(peer, result);
                self.book_changed(n);
                if outcome == Outcome::Added
                    && let Some(round) = &mut self.nodes[n as usize].round
                {
                    round.added.push(peer);
                }
            }
            Phase::Announce | Phase::AnnounceAdded => {
                if matches!(reply, Some(Reply::Status { ok: true })) {
                    self.nodes[n as usize].book.announced_to(&peer);
                }
            }
            Phase::Ask => {
                if let Some(Reply::Nodes(mut nodes)) = reply {
                    if nodes.len() > MAX_HEARD_PER_SOURCE {
                        self.rng.shuffle(&mut nodes);
                        nodes.truncate(MAX_HEARD_PER_SOURCE);
                    }
                    if let Some(round) = &mut self.nodes[n as usize].round {
                        round.heard.extend(nodes);
                    }
                }
            }
        }
        self.round_pump(n);
    }

    fn round_next_phase(&mut self, n: NodeId) {
        let now = self.book_time();
        let Some(phase) = self.node(n).round.as_ref().map(|r| r.phase) else {
            return;
        };
        let (next, todo): (Option<Phase>, Vec<NodeAddr>) = match phase {
            Phase::Register => (
                Some(Phase::Checks),
                self.nodes[n as usize].book.checks_due(now),
            ),
            Phase::Checks => (Some(Phase::Announce), self.node(n).book.announcements_due()),
            Phase::Announce => {
                let book = &self.node(n).book;
                if book.wants_more() {
                    let mut sources = vec![seed_addr()];
                    sources.extend(book.sources());
                    (Some(Phase::Ask), sources)
                } else {
                    (None, Vec::new())
                }
            }
            Phase::Ask => {
                let heard = self.nodes[n as usize]
                    .round
                    .as_mut()
                    .map(|r| std::mem::take(&mut r.heard))
                    .unwrap_or_default();
                let mut heard: Vec<NodeAddr> = heard.into_iter().collect();
                self.rng.shuffle(&mut heard);
                let picked = self.nodes[n as usize].book.candidates(heard, now);
                (Some(Phase::Candidates), picked)
            }
            Phase::Candidates => {
                let added = self.nodes[n as usize]
                    .round
                    .as_mut()
                    .map(|r| std::mem::take(&mut r.added))
                    .unwrap_or_default();
                (Some(Phase::AnnounceAdded), added)
            }
            Phase::AnnounceAdded => (None, Vec::new()),
        };
        match next {
            Some(next) => {
                if let Some(round) = &mut self.nodes[n as usize].round {
                    round.phase = next;
                    round.todo = todo.into();
                }
                self.round_pump(n);
            }
            None => {
                let node = &mut self.nodes[n as usize];
                node.round = None;
                self.book_changed(n);
                if std::mem::take(&mut self.nodes[n as usize].round_missed) {
                    self.round_start(n);
                }
            }
        }
    }

    // -----------------------------------------------------------------
    // The seed's re-checks (API.md §1: every -u seconds, dropped at the
    // first failure)

    fn seed_round_start(&mut self) {
        let now = self.book_time();
        let book = &mut self.nodes[SEED as usize].book;
        let _ = book.expire(now);
        let due = book.checks_due(now);
        self.nodes[SEED as usize].seed_round = Some(SeedRound {
            todo: due.into(),
            in_flight: 0,
        });
        self.seed_round_pump();
    }

    fn seed_round_pump(&mut self) {
        loop {
            let Some(round) = &mut self.nodes[SEED as usize].seed_round else {
                return;
            };
            if round.in_flight >= MAX_CHECKS_IN_FLIGHT {
                return;
            }
            let Some(peer) = round.todo.pop_front() else {
                if round.in_flight == 0 {
                    self.nodes[SEED as usize].seed_round = None;
                }
                return;
            };
            round.in_flight += 1;
            let to = self.id_of(&peer);
            self.request(
                SEED,
                to,
                Body::Check,
                Purpose::SeedRound(peer),
                CHECK_TIMEOUT,
            );
        }
    }

    // -----------------------------------------------------------------
    // Attackers

    /// An attacker's round: register with the seed, announce itself to
    /// honest nodes drawn at random (as many as three times the peers a
    /// node looks for: all its announced slots).
    fn attack(&mut self, n: NodeId) {
        self.request(
            n,
            Some(SEED),
            Body::Register,
            Purpose::Ignore,
            DEFAULT_TIMEOUT,
        );
        let fanout = 3 * self.settings.max_peers;
        for _ in 0..fanout {
            // An online honest node drawn at random (a few draws at most).
            let count = self.nodes.len();
            let Some(target) = (0..64).find_map(|_| {
                let t = self.rng.index(count) as NodeId;
                let node = self.node(t);
                (node.role == Role::Honest && node.online).then_some(t)
            }) else {
                return;
            };
            self.request(
                n,
                Some(target),
                Body::Announce,
                Purpose::Ignore,
                DEFAULT_TIMEOUT,
            );
        }
    }

    // -----------------------------------------------------------------
    // Relay (relay_driver)

    fn relay_item(&mut self, n: NodeId, item: Item, from: Option<NodeAddr>) {
        let now = self.instant();
        let node = &mut self.nodes[n as usize];
        if node.role != Role::Honest {
            return;
        }
        let peers = node.book.known();
        node.relay.announce(item, from, &peers, now);
        self.pump_relay(n);
    }

    fn pump_relay(&mut self, n: NodeId) {
        let now = self.instant();
        let mut posts = self.nodes[n as usize].relay.next_posts(now);
        if posts.is_empty() {
            return;
        }
        // The relay's map has no order of its own: fix one, then draw it.
        posts.sort_by(|a, b| {
            (a.peer, a.item.hash().0, a.item.is_block()).cmp(&(
                b.peer,
                b.item.hash().0,
                b.item.is_block(),
            ))
        });
        self.rng.shuffle(&mut posts);
        posts.sort_by_key(|p| !p.item.is_block());
        for post in posts {
            let body = match &post.item {
                Item::Block(b) => self.arena.id_of(&b.hash).map(Body::PostBlock),
                Item::Transaction(t) => self.arena.tx_id_of(&t.hash).map(Body::PostTx),
            };
            let Some(body) = body else {
                continue;
            };
            let to = self.id_of(&post.peer);
            let timeout = post.item.timeout();
            self.request(n, to, body, Purpose::Relay(post.peer), timeout);
        }
    }

    // -----------------------------------------------------------------
    // Sync (sync_driver): the schedule says when, the run says what

    fn try_start_sync(&mut self, n: NodeId) {
        let instant = self.instant();
        let node = &mut self.nodes[n as usize];
        if node.role != Role::Honest || !node.online {
            return;
        }
        if node.run.is_none() {
            let known = node.book.known();
            if let Some(targets) = node.schedule.due(&known, instant) {
                self.stats.sync_runs += 1;
                let (run, actions) = SyncRun::start(targets, instant);
                self.nodes[n as usize].run = Some(run);
                self.sync_actions(n, actions);
            }
        }
        let wake = self.sim_time(self.node(n).schedule.next_wake());
        let node = &mut self.nodes[n as usize];
        if wake > self.now && node.sync_wake_at != Some(wake) {
            node.sync_wake_at = Some(wake);
            self.queue.push(wake, Event::SyncWake(n));
        }
    }

    /// Calls `f` on `n`'s run with its chain, book and clock, and carries
    /// out the actions it returns.
    fn with_run<F>(&mut self, n: NodeId, f: F)
    where
        F: FnOnce(
            &mut SyncRun,
            &NodeView<'_>,
            &dyn Fn(&NodeAddr) -> bool,
            Instant,
        ) -> Result<Vec<Action>, std::convert::Infallible>,
    {
        let instant = self.instant();
        let time = self.book_time();
        let now_unix = self.now_unix();
        let node = &mut self.nodes[n as usize];
        let Some(run) = node.run.as_mut() else {
            return;
        };
        let view = NodeView {
            chain: &node.chain,
            arena: &self.arena,
            now_unix,
        };
        let book = &node.book;
        let may_contact = |peer: &NodeAddr| book.may_contact(peer, time);
        let actions = match f(run, &view, &may_contact, instant) {
            Ok(actions) => actions,
            Err(never) => match never {},
        };
        self.sync_actions(n, actions);
    }

    fn sync_actions(&mut self, n: NodeId, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Ask {
                    id,
                    peer,
                    request,
                    timeout,
                } => {
                    let to = self.id_of(&peer);
                    self.request(n, to, Body::Sync(request), Purpose::Sync(id), timeout);
                }
                Action::Connect {
                    id: connect,
                    blocks,
                } => {
                    let ids: Vec<BlockId> = blocks
                        .iter()
                        .filter_map(|b| self.arena.id_of(&b.hash))
                        .collect();
                    let cost: Duration = ids
                        .iter()
                        .map(|id| {
                            self.settings
                                .block_intake(self.arena.block(*id).transactions)
                        })
                        .sum();
                    let done = self.compute(n, cost);
                    self.queue.push(
                        done,
                        Event::SyncConnect {
                            node: n,
                            connect,
                            blocks: ids,
                        },
                    );
                }
                Action::Ban { peer, reason, note } => {
                    let now = self.book_time();
                    self.stats.bans += 1;
                    self.nodes[n as usize].book.ban(peer, reason, &note, now);
                    self.book_changed(n);
                }
                Action::Started { .. } => self.stats.sync_started += 1,
                Action::Left { .. } | Action::Served { .. } => {}
                Action::Merge { peer } => {
                    // The peer's mempool merged (the run checked it is not
                    // banned).
                    if let Some(p) = self.id_of(&peer) {
                        self.merge_request(n, p);
                    }
                }
                Action::Finished { synced_from } => {
                    let instant = self.instant();
                    self.nodes[n as usize].schedule.run_ended(instant);
                    self.nodes[n as usize].run = None;
                    self.nodes[n as usize].sync_tick_at = None;
                    if let Some(peer) = synced_from {
                        // The new tip is relayed once (NodeEvent::SyncFinished).
                        let tip = self.node(n).chain.tip();
                        let block = self.arena.block(tip).block.clone();
                        self.relay_item(n, Item::Block(block), Some(peer));
                    }
                    self.try_start_sync(n);
                }
            }
        }
        // The run's next deadline, once (a deadline passed already: the
        // next microsecond, so a tick never repeats at one moment).
        if let Some(deadline) = self.node(n).run.as_ref().and_then(SyncRun::next_deadline) {
            let at = self.sim_time(deadline).max(self.now.plus_micros(1));
            let node = &mut self.nodes[n as usize];
            // A later deadline is looked at when the earlier tick comes.
            if node.sync_tick_at.is_none_or(|t| at < t) {
                node.sync_tick_at = Some(at);
                self.queue.push(at, Event::SyncTick(n));
            }
        }
    }

    fn sync_connect(&mut self, n: NodeId, connect: u64, blocks: Vec<BlockId>) {
        if !self.node(n).online {
            return;
        }
        let mut verdicts = Vec::with_capacity(blocks.len());
        for id in blocks {
            let verdict = match self.connect(n, id) {
                Connect::AlreadyKnown => Verdict::AlreadyKnown,
                Connect::UnknownParent => Verdict::UnknownParent,
                Connect::NotYet => Verdict::NotYet,
                Connect::SideChain | Connect::Extended | Connect::Reorganized { .. } => {
                    Verdict::Connected
                }
            };
            let stop = !matches!(verdict, Verdict::Connected | Verdict::AlreadyKnown);
            verdicts.push(verdict);
            if stop {
                break;
            }
        }
        self.with_run(n, move |run, view, may, now| {
            run.connected(connect, verdicts, view, may, now)
        });
    }

    // -----------------------------------------------------------------
    // Mempool merges (API.md §8 "The mempool merge", "Delivery")

    fn merge_request(&mut self, n: NodeId, peer: NodeId) {
        let node = &mut self.nodes[n as usize];
        if node.merges_queued.len() < MAX_MERGES_QUEUED {
            node.merges_queued.push_back(peer);
        }
        self.merge_pump(n);
    }

    fn merge_pump(&mut self, n: NodeId) {
        if self.node(n).merge.is_some() {
            return;
        }
        let Some(peer) = self.nodes[n as usize].merges_queued.pop_front() else {
            return;
        };
        self.nodes[n as usize].merge = Some(MergeState { peer, merge: None });
        self.request(
            n,
            Some(peer),
            Body::Mempool,
            Purpose::MergeList,
            MERGE_FETCH_TIMEOUT,
        );
    }

    fn merge_listed(&mut self, n: NodeId, reply: Option<Reply>) {
        let Some(Reply::Mempool(hashes)) = reply else {
            self.merge_end(n);
            return;
        };
        let node = self.node(n);
        let missing: Vec<Hash> = hashes
            .into_iter()
            .filter(|h| {
                self.arena
                    .tx_id_of(h)
                    .is_none_or(|t| !node.in_pool.contains(&t))
            })
            .collect();
        let instant = self.instant();
        let merge = Merge::new(missing, usize::MAX, usize::MAX, instant);
        if let Some(state) = &mut self.nodes[n as usize].merge {
            state.merge = Some(merge);
        }
        self.merge_next(n);
    }

    fn merge_next(&mut self, n: NodeId) {
        let instant = self.instant();
        let Some(state) = &mut self.nodes[n as usize].merge else {
            return;
        };
        let peer = state.peer;
        let Some(merge) = &mut state.merge else {
            return;
        };
        match merge.next(instant) {
            Ok(hash) => {
                let timeout = merge.fetch_timeout(instant);
                self.request(
                    n,
                    Some(peer),
                    Body::FetchTx(hash),
                    Purpose::MergeFetch,
                    timeout,
                );
            }
            Err(_) => self.merge_end(n),
        }
    }

    fn merge_fetched(&mut self, n: NodeId, reply: Option<Reply>) {
        let answered = reply.is_some();
        let fetched = match reply {
            Some(Reply::Tx(Some(id))) => Some(id),
            _ => None,
        };
        if let Some(MergeState {
            merge: Some(merge), ..
        }) = &mut self.nodes[n as usize].merge
        {
            merge.fetched(answered);
            if let Some(id) = fetched {
                merge.admitted(self.arena.tx(id).wire_bytes);
            }
        }
        if let Some(id) = fetched {
            let node = self.node(n);
            if !node.in_pool.contains(&id) && !node.intake.contains(&(false, id)) {
                // Admitted as if posted (origin: sync, relayed to all).
                self.start_intake(n, None, Intake::Tx(id), None);
            }
        }
        self.merge_next(n);
    }

    fn merge_end(&mut self, n: NodeId) {
        self.nodes[n as usize].merge = None;
        self.merge_pump(n);
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cinder::p2p::group_of;

    #[test]
    fn addresses_are_global_and_spread_or_crowded_as_meant() {
        let policy = AddrPolicy::GLOBAL_ONLY;
        let honest: Vec<NodeAddr> = (0..29_400).step_by(97).map(honest_addr).collect();
        assert!(honest.iter().all(|a| policy.admits(a)), "global unicast");
        let groups: BTreeSet<_> = (0..2_000).map(|i| group_of(honest_addr(i).ip())).collect();
        assert_eq!(groups.len(), 2_000, "one /16 per honest node");
        let attackers: BTreeSet<_> = (0..500)
            .map(|j| group_of(attacker_addr(j, 4).ip()))
            .collect();
        assert_eq!(attackers.len(), 4, "attackers crowd 4 groups");
        assert!(policy.admits(&attacker_addr(499, 4)));
        assert!(policy.admits(&seed_addr()));
    }
}
