//! Relay decisions (API.md §8 "Relay"), without sockets or a real clock:
//! what goes to which peer, in which order, what is dropped when a peer is
//! slow, and when a silent peer is left alone. The driver
//! ([`super::relay_driver`]) carries the decisions out over HTTP.
//!
//! - Every accepted transaction and every block that moved the tip goes to
//!   every known peer except the one it came from, at most once per peer.
//! - Per peer: at most [`MAX_IN_FLIGHT`] posts at once, blocks before
//!   transactions, a bounded queue that drops the oldest transactions first.
//! - A peer that stays silent [`SILENCE_LIMIT`] times in a row is paused for
//!   [`PAUSE`] and its queued transactions are dropped: no retry loop.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::types::{Block, Hash, Transaction};
use crate::wire::NodeAddr;

/// Posts in flight to one peer at most.
pub const MAX_IN_FLIGHT: usize = 4;
/// Items queued for one peer at most; past it the oldest transaction goes.
pub const MAX_QUEUE: usize = 20_000;
/// Hashes remembered per peer as sent (or known to it).
pub const MAX_REMEMBERED: usize = 100_000;
/// Timeouts of one post (API.md §8).
pub const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(5);
pub const BLOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// Silent posts in a row after which a peer is paused.
pub const SILENCE_LIMIT: u32 = 3;
/// How long a silent peer is left alone.
pub const PAUSE: Duration = Duration::from_secs(30);

/// What is relayed.
#[derive(Clone, Debug)]
pub enum Item {
    Block(Arc<Block>),
    Transaction(Arc<Transaction>),
}

impl Item {
    pub fn hash(&self) -> Hash {
        match self {
            Item::Block(b) => b.hash,
            Item::Transaction(t) => t.hash,
        }
    }

    pub fn is_block(&self) -> bool {
        matches!(self, Item::Block(_))
    }

    /// The time a post of this item has (API.md §8).
    pub fn timeout(&self) -> Duration {
        if self.is_block() {
            BLOCK_TIMEOUT
        } else {
            TRANSACTION_TIMEOUT
        }
    }
}

/// How one post ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Any answer: accepted, `409`, or a refusal (the peer is alive; a
    /// refused transaction is never held against it).
    Answered,
    /// No answer in time, or no connection.
    Silent,
}

/// One post to carry out.
#[derive(Clone, Debug)]
pub struct Post {
    pub peer: NodeAddr,
    pub item: Item,
}

/// A set of hashes that forgets the oldest past its bound.
#[derive(Debug, Default)]
struct Remembered {
    set: HashSet<Hash>,
    order: VecDeque<Hash>,
}

impl Remembered {
    /// Adds `hash`; false when it was there already.
    fn insert(&mut self, hash: Hash) -> bool {
        if !self.set.insert(hash) {
            return false;
        }
        self.order.push_back(hash);
        if self.order.len() > MAX_REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

#[derive(Debug, Default)]
struct PeerQueue {
    blocks: VecDeque<Item>,
    transactions: VecDeque<Item>,
    in_flight: usize,
    /// Hashes sent to, queued for, or received from this peer.
    known: Remembered,
    silent_in_a_row: u32,
    paused_until: Option<Instant>,
    dropped: u64,
}

impl PeerQueue {
    fn queued(&self) -> usize {
        self.blocks.len() + self.transactions.len()
    }

    fn paused(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|t| now < t)
    }
}

/// The relay's state: a queue per peer.
#[derive(Debug, Default)]
pub struct Relay {
    peers: HashMap<NodeAddr, PeerQueue>,
}

impl Relay {
    pub fn new() -> Relay {
        Relay::default()
    }

    /// `item` arrived (from `from`, when a peer sent it): queue it for every
    /// peer in `peers` but that one, unless a peer has it already.
    pub fn announce(
        &mut self,
        item: Item,
        from: Option<NodeAddr>,
        peers: &[NodeAddr],
        now: Instant,
    ) {
        let hash = item.hash();
        if let Some(from) = from {
            self.peers.entry(from).or_default().known.insert(hash);
        }
        for peer in peers {
            if Some(*peer) == from {
                continue;
            }
            let q = self.peers.entry(*peer).or_default();
            if q.paused(now) && !item.is_block() {
                continue; // a silent peer gets no new transactions meanwhile
            }
            if !q.known.insert(hash) {
                continue;
            }
            if item.is_block() {
                q.blocks.push_back(item.clone());
            } else {
                q.transactions.push_back(item.clone());
            }
            while q.queued() > MAX_QUEUE {
                // Transactions go first, the oldest first; blocks last.
                if q.transactions.pop_front().is_none() {
                    q.blocks.pop_front();
                }
                q.dropped += 1;
            }
        }
    }

    /// The posts to start now: per peer, while fewer than
    /// [`MAX_IN_FLIGHT`] are in flight and it is not paused, blocks first.
    pub fn next_posts(&mut self, now: Instant) -> Vec<Post> {
        let mut posts = Vec::new();
        for (peer, q) in self.peers.iter_mut() {
            if q.paused(now) {
                continue;
            }
            q.paused_until = None;
            while q.in_flight < MAX_IN_FLIGHT {
                let Some(item) = q.blocks.pop_front().or_else(|| q.transactions.pop_front()) else {
                    break;
                };
                q.in_flight += 1;
                posts.push(Post { peer: *peer, item });
            }
        }
        posts
    }

    /// A post to `peer` ended with `outcome`.
    pub fn finished(&mut self, peer: NodeAddr, outcome: Outcome, now: Instant) {
        let Some(q) = self.peers.get_mut(&peer) else {
            return;
        };
        q.in_flight = q.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Answered => q.silent_in_a_row = 0,
            Outcome::Silent => {
                q.silent_in_a_row += 1;
                if q.silent_in_a_row >= SILENCE_LIMIT {
                    q.paused_until = Some(now + PAUSE);
                    q.silent_in_a_row = 0;
                    q.dropped += q.transactions.len() as u64;
                    q.transactions.clear();
                }
            }
        }
    }

    /// Forgets peers no longer known (dropped or banned).
    pub fn retain_peers(&mut self, peers: &[NodeAddr]) {
        let keep: HashSet<&NodeAddr> = peers.iter().collect();
        self.peers
            .retain(|p, q| keep.contains(p) || q.in_flight > 0);
    }

    /// Items waiting for `peer`.
    pub fn queued(&self, peer: &NodeAddr) -> usize {
        self.peers.get(peer).map_or(0, PeerQueue::queued)
    }

    /// Items dropped for `peer` (queue full, or paused).
    pub fn dropped(&self, peer: &NodeAddr) -> u64 {
        self.peers.get(peer).map_or(0, |q| q.dropped)
    }

    /// Whether `peer` is paused for silence at `now`.
    pub fn is_paused(&self, peer: &NodeAddr, now: Instant) -> bool {
        self.peers.get(peer).is_some_and(|q| q.paused(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Address, Amount, Input};

    fn peer(n: u16) -> NodeAddr {
        NodeAddr::new([127, 0, 0, 1].into(), 50_000 + n)
    }

    fn tx(n: u32) -> Item {
        let input = Input::spending(
            Hash([1; 32]),
            n,
            Address([2; 20]),
            Amount::from_units(10_000),
        );
        let mut t = Transaction::unsigned(
            n as u64,
            vec![input],
            &[(Address([3; 20]), Amount::from_units(9_000))],
        )
        .expect("fee within value");
        t.hash = Hash([0; 32]);
        t.hash.0[..4].copy_from_slice(&n.to_be_bytes());
        t.hash.0[31] = 1;
        Item::Transaction(Arc::new(t))
    }

    fn block(n: u8) -> Item {
        let mut b = crate::consensus::ChainParams::regtest().genesis();
        b.hash = Hash([n; 32]);
        Item::Block(Arc::new(b))
    }

    fn hashes(posts: &[Post], to: NodeAddr) -> Vec<Hash> {
        posts
            .iter()
            .filter(|p| p.peer == to)
            .map(|p| p.item.hash())
            .collect()
    }

    #[test]
    fn everyone_but_the_sender_gets_it_once() {
        let now = Instant::now();
        let mut relay = Relay::new();
        let peers = [peer(1), peer(2), peer(3)];
        let t = tx(1);
        relay.announce(t.clone(), Some(peer(1)), &peers, now);
        relay.announce(t.clone(), None, &peers, now); // arrives again
        let posts = relay.next_posts(now);
        assert_eq!(
            hashes(&posts, peer(1)),
            Vec::<Hash>::new(),
            "never back to the sender"
        );
        assert_eq!(hashes(&posts, peer(2)), [t.hash()]);
        assert_eq!(hashes(&posts, peer(3)), [t.hash()]);
        for p in &posts {
            relay.finished(p.peer, Outcome::Answered, now);
        }
        relay.announce(t, Some(peer(2)), &peers, now);
        assert!(relay.next_posts(now).is_empty(), "each hash once per peer");
        // A later transaction from peer 1 goes to the others; one from
        // elsewhere goes to peer 1 too.
        relay.announce(tx(2), None, &peers, now);
        assert_eq!(relay.next_posts(now).len(), 3);
    }

    #[test]
    fn at_most_four_in_flight_blocks_first() {
        let now = Instant::now();
        let mut relay = Relay::new();
        let peers = [peer(1)];
        for n in 0..6 {
            relay.announce(tx(n), None, &peers, now);
        }
        relay.announce(block(9), None, &peers, now);
        let posts = relay.next_posts(now);
        assert_eq!(posts.len(), MAX_IN_FLIGHT);
        assert!(posts[0].item.is_block(), "the block jumps the queue");
        assert!(
            relay.next_posts(now).is_empty(),
            "nothing more while four are in flight"
        );
        relay.finished(peer(1), Outcome::Answered, now);
        assert_eq!(relay.next_posts(now).len(), 1);
        assert_eq!(relay.queued(&peer(1)), 2);
    }

    #[test]
    fn a_full_queue_drops_the_oldest_transactions_before_any_block() {
        let now = Instant::now();
        let mut relay = Relay::new();
        let peers = [peer(1)];
        relay.announce(block(1), None, &peers, now);
        for n in 0..MAX_QUEUE as u32 + 10 {
            relay.announce(tx(n), None, &peers, now);
        }
        assert_eq!(relay.queued(&peer(1)), MAX_QUEUE);
        assert_eq!(relay.dropped(&peer(1)), 11);
        let posts = relay.next_posts(now);
        assert!(posts[0].item.is_block(), "the block survived");
        assert_eq!(
            posts[1].item.hash(),
            tx(11).hash(),
            "the oldest transactions went"
        );
    }

    #[test]
    fn a_silent_peer_is_paused_not_retried_in_a_loop() {
        let start = Instant::now();
        let mut relay = Relay::new();
        let peers = [peer(1), peer(2)];
        for n in 0..10 {
            relay.announce(tx(n), None, &peers, start);
        }
        let posts = relay.next_posts(start);
        for p in &posts {
            let outcome = if p.peer == peer(1) {
                Outcome::Silent
            } else {
                Outcome::Answered
            };
            relay.finished(p.peer, outcome, start);
        }
        assert!(relay.is_paused(&peer(1), start));
        assert_eq!(
            relay.queued(&peer(1)),
            0,
            "its queued transactions are dropped"
        );
        let posts = relay.next_posts(start);
        assert!(hashes(&posts, peer(1)).is_empty());
        assert_eq!(hashes(&posts, peer(2)).len(), 4, "the others go on");
        // New transactions skip it while paused; blocks still queue.
        relay.announce(tx(50), None, &peers, start);
        relay.announce(block(7), None, &peers, start);
        assert_eq!(relay.queued(&peer(1)), 1);
        let later = start + PAUSE + Duration::from_millis(1);
        let posts = relay.next_posts(later);
        assert_eq!(hashes(&posts, peer(1)), [block(7).hash()]);
    }
}
