//! The peer book (API.md §1, §8 "Peers"): which nodes are known, which are
//! banned, which checks are in flight, and what to do next. No I/O and no
//! clock of its own: every method takes `now` and returns what happened or
//! what to do, and the driver ([`super::peers_driver`]) carries it out
//! (nakamoto's `fsm` style). The full node and the seed run the same book
//! with different [`BookConfig`]s.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::wire::NodeAddr;

use super::store::{SavedBan, SavedPeers};

/// A moment, in milliseconds since the Unix epoch: what bans are kept in
/// across restarts, and what the driver's clock gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(u64);

impl Time {
    pub const fn from_millis(millis: u64) -> Time {
        Time(millis)
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + span`, saturating (a far-away deadline, never a wrap).
    pub fn after(self, span: Duration) -> Time {
        let span = u64::try_from(span.as_millis()).unwrap_or(u64::MAX);
        Time(self.0.saturating_add(span))
    }
}

/// How long a ban lasts (API.md §8 "Bad peers").
pub const BAN_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// Failed checks in a row after which a full node drops a peer (§8).
pub const NODE_MAX_FAILURES: u32 = 3;
/// Default `--max-peers` of a full node (§1).
pub const DEFAULT_MAX_PEERS: usize = 10;
/// Most nodes the seed keeps (§1).
pub const SEED_MAX_NODES: usize = 1000;
/// A full node keeps nodes that announce themselves up to this many times
/// `--max-peers` (the nodes it looks for itself). Without that room, a node
/// that starts after the others filled their books is known by nobody: no
/// transaction is ever relayed to it (the 8-node lab with `--max-peers 3`
/// showed a transaction in 4 of 8 mempools). Bitcoin Core likewise takes
/// inbound peers beyond its 8 outbound ones.
pub const ANNOUNCED_PER_PEER: usize = 4;

/// What kind of server keeps the book, and its bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookConfig {
    /// This server's own node: never known, never checked.
    pub me: NodeAddr,
    /// Most known nodes looked for (`--max-peers`, or 1000 for the seed).
    pub max_known: usize,
    /// Most known nodes once nodes that announced themselves count
    /// ([`ANNOUNCED_PER_PEER`] × `--max-peers`; the seed: 1000).
    pub max_announced: usize,
    /// Failed checks in a row that drop a known node (3 for a full node,
    /// 1 for the seed).
    pub max_failures: u32,
    /// How long a check may stay unanswered before it counts as failed
    /// (the driver's own timeout is shorter; this catches a stalled one).
    pub stall_after: Duration,
    /// Whether to look for more nodes while below `max_known` (full nodes;
    /// the seed only waits for registrations).
    pub discover: bool,
}

impl BookConfig {
    /// A full node's book (API.md §8 "Peers").
    pub fn full_node(me: NodeAddr, max_peers: usize) -> BookConfig {
        BookConfig {
            me,
            max_known: max_peers,
            max_announced: max_peers.saturating_mul(ANNOUNCED_PER_PEER),
            max_failures: NODE_MAX_FAILURES,
            stall_after: Duration::from_secs(10),
            discover: true,
        }
    }

    /// The seed's book (API.md §1, `dns-server`).
    pub fn seed(me: NodeAddr) -> BookConfig {
        BookConfig {
            me,
            max_known: SEED_MAX_NODES,
            max_announced: SEED_MAX_NODES,
            max_failures: 1,
            stall_after: Duration::from_secs(10),
            discover: false,
        }
    }
}

/// A ban in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ban {
    pub until: Time,
    pub reason: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct KnownNode {
    /// Failed checks in a row.
    failures: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CheckKind {
    /// Re-check of a known node.
    Known,
    /// A node heard of from a peer list, not known yet.
    Candidate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InFlight {
    kind: CheckKind,
    deadline: Time,
}

/// What a finished check changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A known node answered.
    Alive,
    /// A known node failed, and is kept for now.
    Failed { failures: u32, reason: String },
    /// A known node failed `max_failures` times in a row and is dropped.
    Dropped { reason: String },
    /// A candidate passed and is now known: announce ourselves to it.
    Added,
    /// A candidate passed but the book is full: not kept.
    Full,
    /// A candidate failed the check: not added.
    Refused { reason: String },
    /// Nothing to do: a result nobody waits for any more (stalled and
    /// counted already, banned meanwhile, removed meanwhile).
    Stale,
}

/// Why an announced node is refused before any check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The server's own address.
    Me,
    /// Banned until `until`.
    Banned(Ban),
}

/// What became of a node that passed the check on its own announcement
/// (`POST /`, `POST /nodes/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    Added,
    AlreadyKnown,
    /// A full book is not an error (API.md §1): checked, not kept.
    Full,
    Refused(Refusal),
}

/// Whether the seed's state changed in a way worth one log line (API.md §8:
/// an unreachable seed is logged once, not at every interval).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedNews {
    Down,
    Back,
}

/// Known nodes, bans and checks in flight of one server.
#[derive(Debug)]
pub struct PeerBook {
    config: BookConfig,
    known: BTreeMap<NodeAddr, KnownNode>,
    banned: BTreeMap<NodeAddr, Ban>,
    in_flight: BTreeMap<NodeAddr, InFlight>,
    seed_down: bool,
    /// Known nodes or bans changed since [`PeerBook::take_changed`].
    changed: bool,
}

impl PeerBook {
    pub fn new(config: BookConfig) -> PeerBook {
        PeerBook {
            config,
            known: BTreeMap::new(),
            banned: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            seed_down: false,
            changed: false,
        }
    }

    /// A book holding what was saved: bans still in force, and known nodes
    /// up to the cap (never this server, never a banned one). They are
    /// checked again at the first round.
    pub fn restored(config: BookConfig, saved: &SavedPeers, now: Time) -> PeerBook {
        let mut book = PeerBook::new(config);
        for ban in &saved.banned {
            let until = Time::from_millis(ban.until);
            if until > now {
                book.banned.insert(
                    ban.node,
                    Ban {
                        until,
                        reason: ban.reason.clone(),
                    },
                );
            }
        }
        for node in &saved.known {
            if book.known.len() >= book.config.max_announced {
                break;
            }
            if *node != book.config.me && !book.banned.contains_key(node) {
                book.known.insert(*node, KnownNode::default());
            }
        }
        book
    }

    pub fn config(&self) -> &BookConfig {
        &self.config
    }

    /// What to save: known nodes and bans.
    pub fn saved(&self) -> SavedPeers {
        SavedPeers {
            known: self.known(),
            banned: self
                .banned
                .iter()
                .map(|(node, ban)| SavedBan {
                    node: *node,
                    until: ban.until.as_millis(),
                    reason: ban.reason.clone(),
                })
                .collect(),
        }
    }

    /// Whether known nodes or bans changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Known nodes, in address order.
    pub fn known(&self) -> Vec<NodeAddr> {
        self.known.keys().copied().collect()
    }

    pub fn count(&self) -> usize {
        self.known.len()
    }

    /// The `n`-th known node (from 0, address order).
    pub fn nth(&self, n: usize) -> Option<NodeAddr> {
        self.known.keys().nth(n).copied()
    }

    pub fn is_known(&self, node: &NodeAddr) -> bool {
        self.known.contains_key(node)
    }

    /// The ban on `node`, if one is in force at `now`.
    pub fn ban_of(&self, node: &NodeAddr, now: Time) -> Option<&Ban> {
        self.banned.get(node).filter(|ban| ban.until > now)
    }

    pub fn is_banned(&self, node: &NodeAddr, now: Time) -> bool {
        self.ban_of(node, now).is_some()
    }

    /// Bans `node` for [`BAN_DURATION`] from `now` (API.md §8 "Bad peers"):
    /// it is dropped and not added again from the seed, a peer list or an
    /// announcement. Returns whether it was known.
    pub fn ban(&mut self, node: NodeAddr, reason: &str, now: Time) -> bool {
        let was_known = self.known.remove(&node).is_some();
        self.in_flight.remove(&node);
        self.banned.insert(
            node,
            Ban {
                until: now.after(BAN_DURATION),
                reason: reason.to_string(),
            },
        );
        self.changed = true;
        was_known
    }

    /// Forgets `node` (`DELETE /nodes/`). Returns whether it was known.
    pub fn remove(&mut self, node: &NodeAddr) -> bool {
        self.in_flight.remove(node);
        let removed = self.known.remove(node).is_some();
        self.changed |= removed;
        removed
    }

    /// Ends what time ended: bans past their term are lifted (returned),
    /// and checks unanswered past [`BookConfig::stall_after`] count as
    /// failed (their outcomes returned).
    pub fn expire(&mut self, now: Time) -> (Vec<NodeAddr>, Vec<(NodeAddr, Outcome)>) {
        let lifted: Vec<NodeAddr> = self
            .banned
            .iter()
            .filter(|(_, ban)| ban.until <= now)
            .map(|(node, _)| *node)
            .collect();
        for node in &lifted {
            self.banned.remove(node);
            self.changed = true;
        }
        let stalled: Vec<NodeAddr> = self
            .in_flight
            .iter()
            .filter(|(_, check)| check.deadline <= now)
            .map(|(node, _)| *node)
            .collect();
        let outcomes = stalled
            .into_iter()
            .map(|node| {
                let outcome = self.check_done(node, Err("no answer (the check stalled)".into()));
                (node, outcome)
            })
            .collect();
        (lifted, outcomes)
    }

    /// The known nodes to check now (those without a check in flight); each
    /// is marked in flight until its result or its stall.
    pub fn checks_due(&mut self, now: Time) -> Vec<NodeAddr> {
        let deadline = now.after(self.config.stall_after);
        let due: Vec<NodeAddr> = self
            .known
            .keys()
            .filter(|node| !self.in_flight.contains_key(node))
            .copied()
            .collect();
        for node in &due {
            self.in_flight.insert(
                *node,
                InFlight {
                    kind: CheckKind::Known,
                    deadline,
                },
            );
        }
        due
    }

    /// Room left for new nodes, counting candidates being checked.
    fn room(&self) -> usize {
        let candidates = self
            .in_flight
            .values()
            .filter(|c| c.kind == CheckKind::Candidate)
            .count();
        self.config
            .max_known
            .saturating_sub(self.known.len() + candidates)
    }

    /// Whether to ask for more nodes (a full node below `--max-peers`).
    pub fn wants_more(&self) -> bool {
        self.config.discover && self.room() > 0
    }

    /// The known nodes to ask for theirs (`GET /nodes/`), when more are
    /// wanted.
    pub fn sources(&self) -> Vec<NodeAddr> {
        if self.wants_more() {
            self.known()
        } else {
            Vec::new()
        }
    }

    /// From nodes heard of (peer lists, the seed's list), the new ones to
    /// check now, up to the room left: never this server, a known or
    /// banned node, or one already being checked. Each is marked in flight.
    pub fn candidates(
        &mut self,
        heard: impl IntoIterator<Item = NodeAddr>,
        now: Time,
    ) -> Vec<NodeAddr> {
        let deadline = now.after(self.config.stall_after);
        let mut room = if self.config.discover { self.room() } else { 0 };
        let mut picked = Vec::new();
        for node in heard {
            if room == 0 {
                break;
            }
            if node == self.config.me
                || self.known.contains_key(&node)
                || self.in_flight.contains_key(&node)
                || self.is_banned(&node, now)
            {
                continue;
            }
            self.in_flight.insert(
                node,
                InFlight {
                    kind: CheckKind::Candidate,
                    deadline,
                },
            );
            picked.push(node);
            room -= 1;
        }
        picked
    }

    /// The result of a check the book asked for ([`PeerBook::checks_due`],
    /// [`PeerBook::candidates`]): `Err` names why it failed.
    pub fn check_done(&mut self, node: NodeAddr, result: Result<(), String>) -> Outcome {
        let Some(check) = self.in_flight.remove(&node) else {
            return Outcome::Stale;
        };
        match (check.kind, result) {
            (CheckKind::Known, result) => {
                let Some(entry) = self.known.get_mut(&node) else {
                    return Outcome::Stale;
                };
                match result {
                    Ok(()) => {
                        entry.failures = 0;
                        Outcome::Alive
                    }
                    Err(reason) => {
                        entry.failures += 1;
                        if entry.failures >= self.config.max_failures {
                            self.known.remove(&node);
                            self.changed = true;
                            Outcome::Dropped { reason }
                        } else {
                            Outcome::Failed {
                                failures: entry.failures,
                                reason,
                            }
                        }
                    }
                }
            }
            (CheckKind::Candidate, Err(reason)) => Outcome::Refused { reason },
            (CheckKind::Candidate, Ok(())) => {
                if self.known.contains_key(&node) {
                    Outcome::Stale // added meanwhile by its own announcement
                } else if self.known.len() >= self.config.max_known {
                    Outcome::Full
                } else {
                    self.known.insert(node, KnownNode::default());
                    self.changed = true;
                    Outcome::Added
                }
            }
        }
    }

    /// Whether an announced node may be checked at all: never this server,
    /// never a banned node. `Ok(true)` when it is already known (no check
    /// needed).
    pub fn screen(&self, node: &NodeAddr, now: Time) -> Result<bool, Refusal> {
        if *node == self.config.me {
            return Err(Refusal::Me);
        }
        if let Some(ban) = self.ban_of(node, now) {
            return Err(Refusal::Banned(ban.clone()));
        }
        Ok(self.known.contains_key(node))
    }

    /// An announced node passed the check: added when there is room (up to
    /// `max_announced`, beyond the nodes looked for).
    pub fn admit(&mut self, node: NodeAddr, now: Time) -> Admission {
        if let Err(refusal) = self.screen(&node, now) {
            return Admission::Refused(refusal);
        }
        if let Some(entry) = self.known.get_mut(&node) {
            entry.failures = 0;
            return Admission::AlreadyKnown;
        }
        if self.known.len() >= self.config.max_announced {
            return Admission::Full;
        }
        self.known.insert(node, KnownNode::default());
        self.changed = true;
        Admission::Added
    }

    /// The seed answered (`true`) or not: `Some` when that is news worth
    /// one log line (down after up, or back after down).
    pub fn seed_answered(&mut self, answered: bool) -> Option<SeedNews> {
        match (answered, self.seed_down) {
            (false, false) => {
                self.seed_down = true;
                Some(SeedNews::Down)
            }
            (true, true) => {
                self.seed_down = false;
                Some(SeedNews::Back)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(port: u16) -> NodeAddr {
        NodeAddr::new([127, 0, 0, 1].into(), port)
    }

    const ME: u16 = 50_000;

    fn t(seconds: u64) -> Time {
        Time::from_millis(seconds * 1000)
    }

    fn full_book(max: usize) -> PeerBook {
        PeerBook::new(BookConfig::full_node(node(ME), max))
    }

    /// Adds `nodes` through discovery: candidates that pass their check.
    fn add(book: &mut PeerBook, nodes: &[u16], now: Time) {
        let picked = book.candidates(nodes.iter().map(|p| node(*p)), now);
        for n in picked {
            assert_eq!(book.check_done(n, Ok(())), Outcome::Added);
        }
    }

    #[test]
    fn never_itself_nor_twice() {
        let mut book = full_book(10);
        let picked = book.candidates([node(ME), node(1), node(1), node(2)], t(0));
        assert_eq!(picked, vec![node(1), node(2)]);
        // Being checked: not picked again.
        assert!(book.candidates([node(1)], t(0)).is_empty());
        assert_eq!(book.screen(&node(ME), t(0)), Err(Refusal::Me));
        assert_eq!(book.admit(node(ME), t(0)), Admission::Refused(Refusal::Me));
        assert_eq!(book.count(), 0);
    }

    #[test]
    fn a_known_node_is_dropped_after_three_failures_in_a_row() {
        let mut book = full_book(10);
        add(&mut book, &[1, 2], t(0));
        assert_eq!(book.count(), 2);
        book.take_changed();
        for round in 1..=2u32 {
            assert_eq!(
                book.checks_due(t(60 * u64::from(round))),
                vec![node(1), node(2)]
            );
            assert_eq!(book.check_done(node(2), Ok(())), Outcome::Alive);
            assert_eq!(
                book.check_done(node(1), Err("down".into())),
                Outcome::Failed {
                    failures: round,
                    reason: "down".into()
                }
            );
        }
        assert!(!book.take_changed(), "failures alone change nothing saved");
        // A success in between resets the count.
        book.checks_due(t(180));
        assert_eq!(book.check_done(node(1), Ok(())), Outcome::Alive);
        assert_eq!(book.check_done(node(2), Ok(())), Outcome::Alive);
        for round in 1..=3u32 {
            book.checks_due(t(180 + 60 * u64::from(round)));
            book.check_done(node(2), Ok(()));
            let outcome = book.check_done(node(1), Err("down".into()));
            if round < 3 {
                assert!(matches!(outcome, Outcome::Failed { .. }), "{outcome:?}");
            } else {
                assert_eq!(
                    outcome,
                    Outcome::Dropped {
                        reason: "down".into()
                    }
                );
            }
        }
        assert_eq!(book.known(), vec![node(2)]);
        assert!(book.take_changed());
    }

    #[test]
    fn the_seed_drops_at_the_first_failure() {
        let mut book = PeerBook::new(BookConfig::seed(node(42_020)));
        assert_eq!(book.admit(node(1), t(0)), Admission::Added);
        assert_eq!(book.admit(node(1), t(0)), Admission::AlreadyKnown);
        assert!(!book.wants_more(), "the seed does not look for nodes");
        assert!(book.candidates([node(2)], t(0)).is_empty());
        assert_eq!(book.checks_due(t(60)), vec![node(1)]);
        assert_eq!(
            book.check_done(node(1), Err("gone".into())),
            Outcome::Dropped {
                reason: "gone".into()
            }
        );
        assert_eq!(book.count(), 0);
    }

    #[test]
    fn a_stalled_check_counts_as_failed_and_its_late_answer_is_stale() {
        let mut book = full_book(10);
        add(&mut book, &[1], t(0));
        book.checks_due(t(60));
        // Not due again while in flight.
        assert!(book.checks_due(t(61)).is_empty());
        let (_, stalled) = book.expire(t(65));
        assert!(stalled.is_empty(), "not stalled yet");
        let (_, stalled) = book.expire(t(70));
        assert_eq!(stalled.len(), 1);
        assert!(matches!(
            stalled[0],
            (n, Outcome::Failed { failures: 1, .. }) if n == node(1)
        ));
        assert_eq!(book.check_done(node(1), Ok(())), Outcome::Stale);
        // A stalled candidate frees its room.
        let mut book = full_book(1);
        assert_eq!(book.candidates([node(5)], t(0)), vec![node(5)]);
        assert!(!book.wants_more(), "the candidate takes the only room");
        let (_, stalled) = book.expire(t(10));
        assert!(matches!(stalled[0].1, Outcome::Refused { .. }));
        assert!(book.wants_more());
    }

    #[test]
    fn the_cap_holds_against_candidates_and_announcements() {
        let mut book = full_book(2);
        let picked = book.candidates((1..=50).map(node), t(0));
        assert_eq!(picked.len(), 2, "no more checks than room");
        // An announcement fills the book while the candidates are checked.
        assert_eq!(book.admit(node(99), t(0)), Admission::Added);
        assert_eq!(book.check_done(picked[0], Ok(())), Outcome::Added);
        assert_eq!(book.check_done(picked[1], Ok(())), Outcome::Full);
        assert_eq!(book.count(), 2);
        assert!(!book.wants_more());
        assert!(book.sources().is_empty(), "a full book asks nobody");
    }

    #[test]
    fn announced_nodes_are_kept_beyond_the_nodes_looked_for_up_to_their_cap() {
        let mut book = full_book(2);
        add(&mut book, &[1, 2], t(0));
        assert!(!book.wants_more(), "2 looked for, 2 known");
        let cap = 2 * ANNOUNCED_PER_PEER;
        for n in 3..=cap as u16 {
            assert_eq!(book.admit(node(n), t(0)), Admission::Added, "node {n}");
        }
        assert_eq!(book.admit(node(99), t(0)), Admission::Full);
        assert_eq!(book.count(), cap);
        // Discovery still stops at the nodes looked for.
        assert!(book.candidates((100..110).map(node), t(0)).is_empty());
        // A restart keeps them all.
        let restored = PeerBook::restored(book.config().clone(), &book.saved(), t(1));
        assert_eq!(restored.count(), cap);
    }

    #[test]
    fn bans_remove_refuse_and_expire_after_a_day() {
        let mut book = full_book(10);
        add(&mut book, &[1, 2], t(0));
        book.checks_due(t(1));
        assert!(book.ban(node(1), "sent a block with bad proof of work", t(1)));
        assert_eq!(book.known(), vec![node(2)]);
        assert_eq!(book.check_done(node(1), Ok(())), Outcome::Stale);
        // Not from peer lists, not from announcements.
        assert!(book.candidates([node(1)], t(2)).is_empty());
        assert!(matches!(
            book.screen(&node(1), t(2)),
            Err(Refusal::Banned(Ban { ref reason, .. })) if reason.contains("proof of work")
        ));
        assert!(matches!(
            book.admit(node(1), t(2)),
            Admission::Refused(Refusal::Banned(_))
        ));
        let day = BAN_DURATION.as_secs();
        assert!(book.is_banned(&node(1), t(day)));
        assert!(!book.is_banned(&node(1), t(day + 1)));
        let (lifted, _) = book.expire(t(day + 1));
        assert_eq!(lifted, vec![node(1)]);
        assert_eq!(book.candidates([node(1)], t(day + 1)), vec![node(1)]);
    }

    #[test]
    fn restoring_keeps_live_bans_and_never_self_or_banned() {
        let saved = SavedPeers {
            known: vec![node(1), node(ME), node(3), node(4), node(5)],
            banned: vec![
                SavedBan {
                    node: node(3),
                    until: t(100).as_millis(),
                    reason: "bad".into(),
                },
                SavedBan {
                    node: node(7),
                    until: t(10).as_millis(),
                    reason: "old".into(),
                },
            ],
        };
        // The cap of a restored book is the announced one.
        let config = BookConfig {
            max_announced: 2,
            ..BookConfig::full_node(node(ME), 1)
        };
        let book = PeerBook::restored(config.clone(), &saved, t(50));
        assert_eq!(book.known(), vec![node(1), node(4)]);
        assert!(book.is_banned(&node(3), t(50)));
        assert!(!book.is_banned(&node(7), t(50)));
        let again = PeerBook::restored(config, &book.saved(), t(50));
        assert_eq!(again.saved(), book.saved());
    }

    #[test]
    fn discovery_asks_known_nodes_only_below_the_cap() {
        let mut book = full_book(3);
        assert!(book.wants_more());
        assert!(book.sources().is_empty(), "nobody known yet: the seed only");
        add(&mut book, &[1, 2], t(0));
        assert_eq!(book.sources(), vec![node(1), node(2)]);
        add(&mut book, &[3], t(0));
        assert!(book.sources().is_empty());
        // Dropping one makes room again.
        book.remove(&node(3));
        assert!(book.wants_more());
    }

    #[test]
    fn an_unreachable_seed_is_news_once() {
        let mut book = full_book(10);
        assert_eq!(book.seed_answered(true), None);
        assert_eq!(book.seed_answered(false), Some(SeedNews::Down));
        for _ in 0..10 {
            assert_eq!(book.seed_answered(false), None);
        }
        assert_eq!(book.seed_answered(true), Some(SeedNews::Back));
        assert_eq!(book.seed_answered(true), None);
        assert_eq!(book.seed_answered(false), Some(SeedNews::Down));
    }
}
