//! Sync decisions (API.md §8 "Sync" and "Bad peers"), without sockets or a
//! real clock: which peers to sync from, the locator, the checks headers
//! pass before any body is fetched, and the download window that says
//! which bodies to ask next and which arrived blocks are ready to connect,
//! in order. The driver ([`super::sync_driver`]) carries it out.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use primitive_types::U256;

use crate::consensus::ChainParams;
use crate::consensus::block::{check_header_fields, context_depth, next_context};
use crate::types::{Block, BlockHeader, Hash, Target};
use crate::wire::{BlockchainInfo, NodeAddr};

use super::misbehaviour::{Leave, Misbehaviour};

/// Headers asked per request (API.md §8 step 2).
pub const HEADERS_PER_ASK: usize = 2000;
/// Bodies asked per request (§8 step 4).
pub const BLOCKS_PER_ASK: usize = 100;
/// Body requests in flight at once.
pub const REQUESTS_IN_FLIGHT: usize = 4;
/// Blocks arrived and not connected yet, at most: memory stays bounded by
/// a window of blocks, not the whole chain.
pub const MAX_WAITING_BLOCKS: usize = 2 * BLOCKS_PER_ASK;
/// Mempool transactions fetched from a peer in one merge, at most.
pub const MEMPOOL_MERGE_LIMIT: usize = 5000;
/// The whole time one mempool merge may take (API.md §8 "The mempool
/// merge").
pub const MERGE_BUDGET: Duration = Duration::from_secs(30);
/// The time one fetch of a merge may take.
pub const MERGE_FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// A merge is given up after this many fetches in a row go unanswered.
pub const MERGE_SILENT_IN_A_ROW: u32 = 3;
/// How long one sync request may take before the peer counts as stalled.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Progress is logged at least this often.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// At most this many hashes in a locator.
pub const MAX_LOCATOR: usize = 64;

/// A peer worth syncing from: its claim from `GET /blockchain/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub peer: NodeAddr,
    pub work: U256,
    pub height: u64,
}

/// What a run keeps of a peer's `GET /blockchain/` (API.md §8 "Named
/// syncs"): its work, height and genesis, never the whole answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub peer: NodeAddr,
    pub work: U256,
    pub height: u64,
    pub genesis: Hash,
}

impl Claim {
    pub fn of(peer: NodeAddr, info: &BlockchainInfo) -> Claim {
        Claim {
            peer,
            work: info.total_work.0,
            height: info.height,
            genesis: info.genesis_hash,
        }
    }
}

/// A stored block, as checking headers after it starts from.
#[derive(Clone, Debug)]
pub struct BranchContext {
    pub target: Target,
    /// The work of the chain ending with the block.
    pub work: U256,
    /// The tail of its branch, oldest first, as (height, timestamp).
    pub tail: Vec<(u64, u64)>,
}

/// What a node knows of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnownBlock {
    Unknown,
    Stored,
    Invalid,
}

/// Peers whose `/blockchain/` a run asks at once, at most.
pub const CLAIMS_IN_FLIGHT: usize = 8;
/// Headers a sync holds from one peer, at most, before their work shows
/// more than this node's active chain (§8 "Work before bodies").
pub const MAX_HEADERS_HELD: usize = 100_000;

/// The inbound decision on a block refused as `unknown_parent` (API.md §8
/// "Named syncs"): sync from the node its `X-Cinder-Node` names only when
/// that node is a known, unbanned peer (`known`) and the header's IP is
/// the caller's; otherwise nothing but the usual answer.
pub fn sync_from_named(named: NodeAddr, caller: Option<std::net::IpAddr>, known: bool) -> bool {
    known && caller.is_some_and(|ip| ip.to_canonical() == named.ip())
}

/// What a posted block asks of sync (API.md §8 "Named syncs"): a block
/// refused because its parent is unknown, posted by the node `named`
/// (its `X-Cinder-Node`) from `caller`, asks a run from that node when
/// [`sync_from_named`] allows it; nothing else asks anything.
pub fn sync_for_posted_block(
    unknown_parent: bool,
    named: Option<NodeAddr>,
    caller: Option<std::net::IpAddr>,
    known: impl FnOnce(&NodeAddr) -> bool,
) -> Option<NodeAddr> {
    let named = named.filter(|_| unknown_parent)?;
    sync_from_named(named, caller, known(&named)).then_some(named)
}

/// What a peer's answered check asks of sync (API.md §8 "Sync": a peer
/// showing more work is synced from at once, not at the next interval):
/// a run from it when its chain has more work than `our_work`.
pub fn sync_for_checked_peer(our_work: U256, its_work: U256) -> bool {
    its_work > our_work
}

/// The peers with this node's genesis and more work than `our_work`,
/// heaviest first (§8 step 1).
pub fn candidates(genesis: &Hash, our_work: U256, claims: &[Claim]) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = claims
        .iter()
        .filter(|c| c.genesis == *genesis && c.work > our_work)
        .map(|c| Candidate {
            peer: c.peer,
            work: c.work,
            height: c.height,
        })
        .collect();
    out.sort_by(|a, b| b.work.cmp(&a.work).then(a.peer.cmp(&b.peer)));
    out
}

/// The heights of the locator of an active chain whose tip is at
/// `tip_height` (§8 step 2): the tip and the 9 blocks below it, then steps
/// back that double each time, then genesis; newest first, at most 64.
pub fn locator_heights(tip_height: u64) -> Vec<u64> {
    let mut heights = Vec::new();
    let mut height = tip_height;
    let mut step = 1u64;
    loop {
        heights.push(height);
        if height == 0 || heights.len() == MAX_LOCATOR - 1 {
            break;
        }
        if heights.len() >= 10 {
            step = step.saturating_mul(2);
        }
        height = height.saturating_sub(step);
    }
    if heights.last() != Some(&0) {
        heights.push(0);
    }
    heights
}

/// The headers a peer sends, checked as they arrive (§8 step 3): each
/// links to the previous one (the first to a block this node stores), has
/// its own hash, meets its target, and passes §6 steps 6–8 with the headers
/// before it.
#[derive(Clone, Debug)]
pub struct HeaderChain {
    params: ChainParams,
    /// The last blocks of the branch, oldest first: (height, timestamp).
    tail: VecDeque<(u64, u64)>,
    tip_hash: Hash,
    tip_target: Target,
}

impl HeaderChain {
    /// Starting after the stored block `hash` of the given `target`, whose
    /// branch ends with `tail` (oldest first, ending at that block).
    pub fn after(params: &ChainParams, hash: Hash, target: Target, tail: Vec<(u64, u64)>) -> Self {
        HeaderChain {
            params: params.clone(),
            tail: tail.into(),
            tip_hash: hash,
            tip_target: target,
        }
    }

    /// The hash the next header must name as its parent.
    pub fn tip(&self) -> Hash {
        self.tip_hash
    }

    pub fn height(&self) -> u64 {
        self.tail.back().map_or(0, |t| t.0)
    }

    /// Checks `headers` in order and extends the chain with them; the first
    /// bad one is a [`Leave`] naming it.
    pub fn extend(&mut self, headers: &[BlockHeader], now: u64) -> Result<(), Leave> {
        for h in headers {
            if h.prev_hash != self.tip_hash {
                return Err(Leave::Ban(
                    Misbehaviour::InvalidHeaders,
                    format!(
                        "header {} at height {} does not link to {}",
                        h.hash, h.height, self.tip_hash
                    ),
                ));
            }
            let computed = h.compute_hash();
            if computed != h.hash {
                return Err(Leave::Ban(
                    Misbehaviour::InvalidHeaders,
                    format!("header {}: bad_hash (is {computed})", h.hash),
                ));
            }
            if !h.hash.meets(&h.target) {
                return Err(Leave::Ban(
                    Misbehaviour::InvalidHeaders,
                    format!("header {}: bad_pow", h.hash),
                ));
            }
            let tail: Vec<(u64, u64)> = self.tail.iter().copied().collect();
            let context = next_context(&self.params, &tail, &self.tip_target);
            check_header_fields(h.height, &h.target, h.timestamp, &context, now).map_err(|e| {
                let note = format!("header {}: {}: {e}", h.hash, e.code());
                if e.code() == "timestamp_in_future" {
                    Leave::NotYet(note)
                } else {
                    Leave::Ban(Misbehaviour::InvalidHeaders, note)
                }
            })?;
            self.tail.push_back((h.height, h.timestamp));
            while self.tail.len() > context_depth(&self.params) {
                self.tail.pop_front();
            }
            self.tip_hash = h.hash;
            self.tip_target = h.target;
        }
        Ok(())
    }
}

/// One mempool merge (API.md §8 "The mempool merge"): which transactions
/// to fetch next, in the peer's order, within its bounds — the room the
/// pool has, [`MERGE_BUDGET`] in all, and no more after
/// [`MERGE_SILENT_IN_A_ROW`] unanswered fetches in a row.
#[derive(Debug)]
pub struct Merge {
    wanted: VecDeque<Hash>,
    deadline: Instant,
    silent_in_a_row: u32,
    /// Bytes of transactions the pool still has room for.
    bytes_left: usize,
}

/// Why a merge ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeEnd {
    Done,
    OutOfTime,
    PeerSilent,
    /// The pool's room (its bytes) is taken.
    NoRoom,
}

impl Merge {
    /// A merge of the `missing` transactions a peer lists (those this node
    /// lacks, in the peer's order), at most `room` of them and
    /// `room_bytes` of their bytes.
    pub fn new(
        missing: impl IntoIterator<Item = Hash>,
        room: usize,
        room_bytes: usize,
        now: Instant,
    ) -> Merge {
        Merge {
            wanted: missing
                .into_iter()
                .take(room.min(MEMPOOL_MERGE_LIMIT))
                .collect(),
            deadline: now + MERGE_BUDGET,
            silent_in_a_row: 0,
            bytes_left: room_bytes,
        }
    }

    /// A fetched transaction of `bytes` was admitted: it takes its room.
    pub fn admitted(&mut self, bytes: usize) {
        self.bytes_left = self.bytes_left.saturating_sub(bytes);
    }

    /// The next transaction to fetch, or why the merge is over.
    pub fn next(&mut self, now: Instant) -> Result<Hash, MergeEnd> {
        if self.silent_in_a_row >= MERGE_SILENT_IN_A_ROW {
            return Err(MergeEnd::PeerSilent);
        }
        if now >= self.deadline {
            return Err(MergeEnd::OutOfTime);
        }
        if self.bytes_left == 0 {
            return Err(MergeEnd::NoRoom);
        }
        self.wanted.pop_front().ok_or(MergeEnd::Done)
    }

    /// How long the next fetch may take: [`MERGE_FETCH_TIMEOUT`], or less
    /// when the budget ends sooner.
    pub fn fetch_timeout(&self, now: Instant) -> Duration {
        self.deadline
            .saturating_duration_since(now)
            .min(MERGE_FETCH_TIMEOUT)
    }

    /// The last fetch was answered (a transaction, or "not in my pool") or
    /// not (silence).
    pub fn fetched(&mut self, answered: bool) {
        if answered {
            self.silent_in_a_row = 0;
        } else {
            self.silent_in_a_row += 1;
        }
    }
}

/// One body request to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyRequest {
    pub id: u64,
    pub hashes: Vec<Hash>,
}

/// The download window (§8 step 4): bodies asked in batches of at most
/// [`BLOCKS_PER_ASK`], at most [`REQUESTS_IN_FLIGHT`] at once, no more
/// asked while [`MAX_WAITING_BLOCKS`] wait to be connected; arrived blocks
/// come out in chain order.
#[derive(Debug, Default)]
pub struct Download {
    /// Hashes to connect, in order; the front is next.
    order: VecDeque<Hash>,
    /// Hashes not asked yet, in order.
    to_ask: VecDeque<Hash>,
    in_flight: HashMap<u64, Vec<Hash>>,
    arrived: HashMap<Hash, Block>,
    next_id: u64,
}

impl Download {
    /// Bodies of `hashes` (chain order) to fetch and connect.
    pub fn new(hashes: Vec<Hash>) -> Download {
        Download {
            order: hashes.iter().copied().collect(),
            to_ask: hashes.into(),
            ..Download::default()
        }
    }

    /// Requests to send now.
    pub fn next_requests(&mut self) -> Vec<BodyRequest> {
        let mut out = Vec::new();
        while self.in_flight.len() < REQUESTS_IN_FLIGHT
            && self.arrived.len() + self.asked() < MAX_WAITING_BLOCKS + BLOCKS_PER_ASK
            && !self.to_ask.is_empty()
        {
            let n = self.to_ask.len().min(BLOCKS_PER_ASK);
            let hashes: Vec<Hash> = self.to_ask.drain(..n).collect();
            let id = self.next_id;
            self.next_id += 1;
            self.in_flight.insert(id, hashes.clone());
            out.push(BodyRequest { id, hashes });
        }
        out
    }

    fn asked(&self) -> usize {
        self.in_flight.values().map(Vec::len).sum()
    }

    /// The answer to request `id`: the blocks asked, in order, possibly cut
    /// short by the answer's size bound (the rest is asked again first). A
    /// block not asked, out of order, or whose hash is not its own is a
    /// [`Leave`]; an empty answer to a non-empty request too.
    pub fn answered(&mut self, id: u64, blocks: Vec<Block>) -> Result<(), Leave> {
        let Some(asked) = self.in_flight.remove(&id) else {
            return Ok(()); // abandoned meanwhile
        };
        if blocks.is_empty() {
            return Err(Leave::Ban(
                Misbehaviour::MalformedAnswer,
                format!("no block in the answer to {} hashes", asked.len()),
            ));
        }
        if blocks.len() > asked.len() {
            return Err(Leave::Ban(
                Misbehaviour::Unrequested,
                format!(
                    "{} blocks in the answer to {} hashes",
                    blocks.len(),
                    asked.len()
                ),
            ));
        }
        for (block, hash) in blocks.iter().zip(&asked) {
            if block.hash != *hash {
                return Err(Leave::Ban(
                    Misbehaviour::Unrequested,
                    format!("block {} sent for {hash}", block.hash),
                ));
            }
            let computed = block.compute_hash();
            if computed != block.hash {
                return Err(Leave::Ban(
                    Misbehaviour::InvalidBlock,
                    format!("block {}: bad_hash (is {computed})", block.hash),
                ));
            }
        }
        let got = blocks.len();
        for block in blocks {
            self.arrived.insert(block.hash, block);
        }
        for hash in asked[got..].iter().rev() {
            self.to_ask.push_front(*hash);
        }
        Ok(())
    }

    /// Arrived blocks that are next in chain order, ready to connect.
    pub fn ready(&mut self) -> Vec<Block> {
        let mut out = Vec::new();
        while let Some(hash) = self.order.front() {
            let Some(block) = self.arrived.remove(hash) else {
                break;
            };
            self.order.pop_front();
            out.push(block);
        }
        out
    }

    /// Every block came out of [`Download::ready`].
    pub fn is_done(&self) -> bool {
        self.order.is_empty()
    }

    /// Blocks held in memory (arrived, not connected).
    pub fn waiting(&self) -> usize {
        self.arrived.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Address;
    use crate::wire::Work;

    fn peer(n: u16) -> NodeAddr {
        NodeAddr::new([127, 0, 0, 1].into(), 40_000 + n)
    }

    fn info(genesis: Hash, work: u64, height: u64) -> BlockchainInfo {
        let params = ChainParams::regtest();
        BlockchainInfo {
            name: "regtest".into(),
            height,
            total_transactions: 1,
            total_addresses: 0,
            block_time: 10,
            block_reward: params.subsidy(1),
            rich_list: Vec::new(),
            best_hash: Hash([9; 32]),
            target: params.pow_limit,
            total_work: Work(U256::from(work)),
            genesis_hash: genesis,
            mempool_size: 0,
        }
    }

    /// A solved chain of `n` empty blocks after genesis.
    fn chain(n: u64) -> Vec<Block> {
        let params = ChainParams::regtest();
        let mut blocks = vec![params.genesis()];
        for _ in 0..n {
            let parent = blocks.last().expect("genesis").clone();
            let height = parent.height + 1;
            let mut b = Block::assemble(
                parent.hash,
                height,
                parent.timestamp + 10,
                params.pow_limit,
                Address([7; 20]),
                params.subsidy(height),
                Vec::new(),
            )
            .expect("no overflow");
            assert!(b.solve(1_000_000));
            blocks.push(b);
        }
        blocks
    }

    fn genesis_chain() -> HeaderChain {
        let params = ChainParams::regtest();
        let g = params.genesis();
        HeaderChain::after(&params, g.hash, g.target, vec![(0, g.timestamp)])
    }

    #[test]
    fn candidates_have_our_genesis_and_more_work_heaviest_first() {
        let g = Hash([1; 32]);
        let claims = [
            Claim::of(peer(1), &info(g, 10, 5)),
            Claim::of(peer(2), &info(g, 30, 7)),
            Claim::of(peer(3), &info(Hash([2; 32]), 99, 9)),
            Claim::of(peer(4), &info(g, 5, 3)),
        ];
        let c = candidates(&g, U256::from(5u64), &claims);
        let peers: Vec<NodeAddr> = c.iter().map(|c| c.peer).collect();
        assert_eq!(peers, [peer(2), peer(1)]);
    }

    #[test]
    fn a_merge_keeps_to_the_room_the_time_and_gives_up_on_silence() {
        let hashes: Vec<Hash> = (0..10u8).map(|i| Hash([i; 32])).collect();
        let start = Instant::now();
        // Room for 4: never more.
        let mut m = Merge::new(hashes.clone(), 4, usize::MAX, start);
        for h in &hashes[..4] {
            assert_eq!(m.next(start), Ok(*h));
            m.fetched(true);
        }
        assert_eq!(m.next(start), Err(MergeEnd::Done));
        // Room for 1,000 bytes: three transactions of 400 and it is over.
        let mut m = Merge::new(hashes.clone(), 100, 1_000, start);
        for _ in 0..3 {
            m.next(start).expect("room left");
            m.fetched(true);
            m.admitted(400);
        }
        assert_eq!(m.next(start), Err(MergeEnd::NoRoom));
        // Three silent fetches in a row end it; an answer in between resets.
        let mut m = Merge::new(hashes.clone(), 100, usize::MAX, start);
        for answered in [false, false, true, false, false] {
            m.next(start).expect("more");
            m.fetched(answered);
        }
        m.next(start).expect("two in a row only");
        m.fetched(false);
        assert_eq!(m.next(start), Err(MergeEnd::PeerSilent));
        // 30 s in all, each fetch at most 2 s and never past the budget.
        let mut m = Merge::new(hashes, 100, usize::MAX, start);
        assert_eq!(m.fetch_timeout(start), MERGE_FETCH_TIMEOUT);
        let late = start + MERGE_BUDGET - Duration::from_millis(500);
        assert_eq!(m.fetch_timeout(late), Duration::from_millis(500));
        assert_eq!(m.next(start + MERGE_BUDGET), Err(MergeEnd::OutOfTime));
    }

    #[test]
    fn a_named_sync_needs_a_known_peer_at_the_callers_ip() {
        let named: NodeAddr = "10.1.2.3:8000".parse().expect("node");
        let caller = Some("10.1.2.3".parse().expect("ip"));
        assert!(sync_from_named(named, caller, true));
        let mapped = Some("::ffff:10.1.2.3".parse().expect("ip"));
        assert!(
            sync_from_named(named, mapped, true),
            "one IP, two spellings"
        );
        assert!(!sync_from_named(named, caller, false), "unknown or banned");
        assert!(
            !sync_from_named(named, Some("10.1.2.4".parse().expect("ip")), true),
            "a header naming another node"
        );
        assert!(!sync_from_named(named, None, true));
    }

    #[test]
    fn a_posted_block_asks_sync_only_for_an_unknown_parent_from_a_known_named_peer() {
        let named: NodeAddr = "10.1.2.3:8000".parse().expect("node");
        let caller = Some("10.1.2.3".parse().expect("ip"));
        let known = |_: &NodeAddr| true;
        assert_eq!(
            sync_for_posted_block(true, Some(named), caller, known),
            Some(named)
        );
        assert_eq!(
            sync_for_posted_block(false, Some(named), caller, known),
            None
        );
        assert_eq!(sync_for_posted_block(true, None, caller, known), None);
        assert_eq!(
            sync_for_posted_block(true, Some(named), caller, |_| false),
            None
        );
        let elsewhere = Some("10.9.9.9".parse().expect("ip"));
        assert_eq!(
            sync_for_posted_block(true, Some(named), elsewhere, known),
            None
        );
    }

    #[test]
    fn a_checked_peer_is_synced_from_only_with_more_work() {
        assert!(sync_for_checked_peer(U256::from(5u64), U256::from(6u64)));
        assert!(!sync_for_checked_peer(U256::from(5u64), U256::from(5u64)));
        assert!(!sync_for_checked_peer(U256::from(5u64), U256::from(4u64)));
    }

    #[test]
    fn locator_is_dense_then_doubles_then_genesis() {
        assert_eq!(locator_heights(0), [0]);
        assert_eq!(locator_heights(3), [3, 2, 1, 0]);
        let l = locator_heights(1000);
        assert_eq!(
            &l[..10],
            &[1000, 999, 998, 997, 996, 995, 994, 993, 992, 991]
        );
        assert_eq!(l[10], 989);
        assert_eq!(l[11], 985);
        assert_eq!(*l.last().expect("genesis"), 0);
        assert!(l.windows(2).all(|w| w[0] > w[1]));
        assert!(locator_heights(u64::MAX).len() <= MAX_LOCATOR);
    }

    #[test]
    fn headers_must_link_hash_work_and_keep_the_rules() {
        let blocks = chain(5);
        let headers: Vec<BlockHeader> = blocks[1..].iter().map(Block::header).collect();
        let now = blocks[5].timestamp;
        let mut ok = genesis_chain();
        ok.extend(&headers, now).expect("an honest chain passes");
        assert_eq!(ok.tip(), blocks[5].hash);

        let mut unlinked = headers.clone();
        unlinked.remove(1);
        assert!(genesis_chain().extend(&unlinked, now).is_err());

        let mut bad_hash = headers.clone();
        bad_hash[2].nonce += 1;
        let e = genesis_chain()
            .extend(&bad_hash, now)
            .expect_err("bad hash");
        assert!(e.note().contains("bad_hash"), "{e}");

        // Re-solved so that only the broken rule fails.
        let resolved = |mut b: Block| {
            b.seal();
            assert!(b.solve(1_000_000));
            b.header()
        };
        let mut too_old = headers.clone();
        too_old[0] = resolved(Block {
            timestamp: blocks[0].timestamp,
            ..blocks[1].clone()
        });
        let e = genesis_chain()
            .extend(&too_old, now)
            .expect_err("timestamp");
        assert!(e.note().contains("timestamp_too_old"), "{e}");

        let mut wrong_height = headers.clone();
        wrong_height[0] = resolved(Block {
            height: 7,
            ..blocks[1].clone()
        });
        let e = genesis_chain()
            .extend(&wrong_height, now)
            .expect_err("height");
        assert!(e.note().contains("bad_height"), "{e}");

        let mut wrong_target = headers.clone();
        let mut easier = blocks[1].clone();
        easier.target = Target([0xff; 32]);
        wrong_target[0] = resolved(easier);
        let e = genesis_chain()
            .extend(&wrong_target, now)
            .expect_err("target");
        assert!(e.note().contains("bad_target"), "{e}");

        let e = genesis_chain()
            .extend(&headers, blocks[5].timestamp - 7201)
            .expect_err("from the future");
        assert!(
            matches!(&e, Leave::NotYet(note) if note.contains("timestamp_in_future")),
            "a header from this node's future is not a ban: {e}"
        );
    }

    #[test]
    fn the_window_asks_in_batches_and_hands_out_blocks_in_order() {
        let blocks = chain(250);
        let hashes: Vec<Hash> = blocks[1..].iter().map(|b| b.hash).collect();
        let mut d = Download::new(hashes.clone());
        let reqs = d.next_requests();
        assert_eq!(reqs.len(), 3, "250 bodies: 100 + 100 + 50");
        assert!(reqs.iter().all(|r| r.hashes.len() <= BLOCKS_PER_ASK));
        // The second answer comes first: nothing is ready until the first.
        let by_hash: HashMap<Hash, Block> = blocks.iter().map(|b| (b.hash, b.clone())).collect();
        let answer = |r: &BodyRequest, n: usize| -> Vec<Block> {
            r.hashes
                .iter()
                .take(n)
                .map(|h| by_hash[h].clone())
                .collect()
        };
        d.answered(reqs[1].id, answer(&reqs[1], 100))
            .expect("valid");
        assert!(d.ready().is_empty());
        // The first answer is cut short at 60: the rest is asked again.
        d.answered(reqs[0].id, answer(&reqs[0], 60)).expect("valid");
        let ready = d.ready();
        assert_eq!(ready.len(), 60);
        assert_eq!(ready[0].hash, hashes[0]);
        let again = d.next_requests();
        assert_eq!(again[0].hashes, hashes[60..100].to_vec());
        // A block that was not asked for is a fault.
        let wrong = vec![by_hash[&hashes[0]].clone()];
        assert!(d.answered(again[0].id, wrong).is_err());
    }

    #[test]
    fn memory_is_a_window_not_the_chain() {
        let hashes: Vec<Hash> = (0..5000u32)
            .map(|n| {
                let mut h = Hash([0; 32]);
                h.0[..4].copy_from_slice(&n.to_be_bytes());
                h
            })
            .collect();
        let mut d = Download::new(hashes);
        let asked: usize = d.next_requests().iter().map(|r| r.hashes.len()).sum();
        assert!(asked <= REQUESTS_IN_FLIGHT * BLOCKS_PER_ASK);
        assert!(asked <= MAX_WAITING_BLOCKS + BLOCKS_PER_ASK);
    }
}
