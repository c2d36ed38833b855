//! The peer book (API.md §1, §8 "Peers" and "Strangers"): which nodes are
//! known and in which slot, which are banned, which checks are in flight,
//! and what to do next. No I/O, no clock and no randomness of its own:
//! every method takes `now`, the dice are seeded by the config, and each
//! returns what happened or what to do; the driver
//! ([`super::peers_driver`]) carries it out (nakamoto's `fsm` style). The
//! full node and the seed run the same book with different
//! [`BookConfig`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::wire::NodeAddr;

pub use super::misbehaviour::Misbehaviour;
use super::net::{AddrPolicy, BanKey, Group, group_of};
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
/// Most bans kept (API.md §8 "Bans"); the oldest goes first.
pub const MAX_BANS: usize = 10_000;
/// Longest note kept with a ban, in bytes (this node's own words).
pub const BAN_NOTE_LIMIT: usize = 160;
/// Failed checks in a row after which a full node drops a peer (§8).
pub const NODE_MAX_FAILURES: u32 = 3;
/// Default `--max-peers` of a full node (§1).
pub const DEFAULT_MAX_PEERS: usize = 10;
/// Most nodes the seed keeps (§1).
pub const SEED_MAX_NODES: usize = 1000;
/// A full node keeps nodes that announce themselves in this many times
/// `--max-peers` slots of their own (API.md §8 "Groups"), beyond the ones
/// it chose. Without that room, a node that starts after the others filled
/// their books is known by nobody and never relayed to; Bitcoin Core
/// likewise takes inbound peers beyond its outbound ones.
pub const ANNOUNCED_PER_PEER: usize = 3;
/// Most chosen peers of one group while other groups are on offer (§8).
pub const CHOSEN_PER_GROUP: usize = 2;

/// `note` cut to [`BAN_NOTE_LIMIT`] bytes on a character boundary.
fn short_note(note: &str) -> String {
    if note.len() <= BAN_NOTE_LIMIT {
        return note.to_string();
    }
    let mut end = BAN_NOTE_LIMIT;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    note[..end].to_string()
}

/// What kind of server keeps the book, and its bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookConfig {
    /// This server's own node: never known, never checked.
    pub me: NodeAddr,
    /// Peers this server looks for itself (`--max-peers`; the seed: 0).
    pub max_chosen: usize,
    /// Slots for nodes that announced themselves (3 × `--max-peers`; the
    /// seed: 1000). An announced node never takes a chosen slot.
    pub max_announced: usize,
    /// Most announced slots one group holds (API.md §8 "Groups": 1/4 of a
    /// node's, 1/8 of the seed's).
    pub announced_per_group: usize,
    /// Failed checks in a row that drop a known node (3 for a full node,
    /// 1 for the seed).
    pub max_failures: u32,
    /// How long a check may stay unanswered before it counts as failed
    /// (the driver's own timeout is shorter; this catches a stalled one).
    pub stall_after: Duration,
    /// Whether to look for more nodes while below `max_chosen` (full nodes;
    /// the seed only waits for registrations).
    pub discover: bool,
    /// Which addresses may be known at all (API.md §1).
    pub policy: AddrPolicy,
    /// Seeds the book's dice (evictions, samples): a test or a simulator
    /// passes its own.
    pub seed: u64,
    /// Whether the rules of API.md §8 "Groups" apply (always, in a node or
    /// the seed; the simulator turns them off to measure what they buy).
    /// Off, every IP is a group of its own.
    pub groups: bool,
}

impl BookConfig {
    /// A full node's book (API.md §8 "Peers").
    pub fn full_node(me: NodeAddr, max_peers: usize) -> BookConfig {
        let max_announced = max_peers.saturating_mul(ANNOUNCED_PER_PEER);
        BookConfig {
            me,
            max_chosen: max_peers,
            max_announced,
            announced_per_group: (max_announced / 4).max(1),
            max_failures: NODE_MAX_FAILURES,
            stall_after: Duration::from_secs(10),
            discover: true,
            policy: AddrPolicy::ALLOW_LOCAL,
            seed: 0,
            groups: true,
        }
    }

    /// The seed's book (API.md §1, `dns-server`).
    pub fn seed(me: NodeAddr) -> BookConfig {
        BookConfig {
            me,
            max_chosen: 0,
            max_announced: SEED_MAX_NODES,
            announced_per_group: SEED_MAX_NODES / 8,
            max_failures: 1,
            stall_after: Duration::from_secs(10),
            discover: false,
            policy: AddrPolicy::ALLOW_LOCAL,
            seed: 0,
            groups: true,
        }
    }

    pub fn with_policy(mut self, policy: AddrPolicy) -> BookConfig {
        self.policy = policy;
        self
    }

    /// The same book without the rules of API.md §8 "Groups": every IP a
    /// group of its own (so at most one chosen peer per IP, uniform draws
    /// and a random eviction when full), and no cap on a group's share of
    /// the announced slots.
    pub fn without_groups(mut self) -> BookConfig {
        self.groups = false;
        self.announced_per_group = self.max_announced;
        self
    }

    pub fn with_seed(mut self, seed: u64) -> BookConfig {
        self.seed = seed;
        self
    }

    /// Most known nodes in all.
    pub fn max_known(&self) -> usize {
        self.max_chosen + self.max_announced
    }
}

/// A ban in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ban {
    /// The node whose misbehaviour set it (a ban covers its whole key).
    pub node: NodeAddr,
    pub until: Time,
    pub reason: Misbehaviour,
    /// This node's own short text (a hash, a height, a rule's code).
    pub note: String,
}

/// Which slots a known node takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// A peer this server looked for (`--max-peers`).
    Chosen,
    /// A node that announced itself.
    Announced,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KnownNode {
    /// Failed checks in a row.
    failures: u32,
    slot: Slot,
    /// Whether this server's announcement to it got through.
    announced: bool,
}

impl KnownNode {
    fn new(slot: Slot) -> KnownNode {
        KnownNode {
            failures: 0,
            slot,
            announced: false,
        }
    }
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
    /// An address this server may not contact (API.md §1: only global
    /// unicast unless local peers are allowed).
    NotContactable,
}

/// What became of a node that passed the check on its own announcement
/// (`POST /`, `POST /nodes/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Kept; `evicted` made room for it (of the most crowded group).
    Added {
        evicted: Option<NodeAddr>,
    },
    AlreadyKnown,
    /// A full slot set of one group is not an error (API.md §1, §8):
    /// checked, not kept.
    Full,
    /// Its group holds its share already: checked, not kept.
    GroupFull,
    Refused(Refusal),
}

/// Whether the seed's state changed in a way worth one log line (API.md §8:
/// an unreachable seed is logged once, not at every interval).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedNews {
    Down,
    Back,
}

/// SplitMix64: the book's dice, seeded by its config (deterministic in
/// tests and in a simulator).
#[derive(Clone, Debug)]
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Known nodes, bans and checks in flight of one server.
#[derive(Debug)]
pub struct PeerBook {
    config: BookConfig,
    known: BTreeMap<NodeAddr, KnownNode>,
    banned: BTreeMap<BanKey, Ban>,
    /// Bans by end (= by age: every ban lasts as long), to drop the oldest.
    ban_order: BTreeSet<(Time, BanKey)>,
    in_flight: BTreeMap<NodeAddr, InFlight>,
    seed_down: bool,
    dice: Dice,
    /// Known nodes or bans changed since [`PeerBook::take_changed`].
    changed: bool,
}

impl PeerBook {
    pub fn new(config: BookConfig) -> PeerBook {
        let dice = Dice(config.seed);
        PeerBook {
            config,
            known: BTreeMap::new(),
            banned: BTreeMap::new(),
            ban_order: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            seed_down: false,
            dice,
            changed: false,
        }
    }

    /// A book holding what was saved: bans still in force (the newest
    /// [`MAX_BANS`]), and known nodes by the rules of a live book (chosen
    /// slots first, then announced ones; never this server, a banned node
    /// or an address the policy refuses). They are checked again at the
    /// first round.
    pub fn restored(config: BookConfig, saved: &SavedPeers, now: Time) -> PeerBook {
        let mut book = PeerBook::new(config);
        for ban in &saved.banned {
            let until = Time::from_millis(ban.until);
            if until > now {
                let (reason, note) = match ban.reason.split_once(": ") {
                    Some((code, note)) if Misbehaviour::from_code(code).is_some() => {
                        (Misbehaviour::from_code(code), note)
                    }
                    _ => (None, ban.reason.as_str()),
                };
                book.insert_ban(
                    ban.node,
                    until,
                    reason.unwrap_or(Misbehaviour::Unspecified),
                    note,
                );
            }
        }
        for node in &saved.known {
            if book.screen(node, now).is_err() || book.known.contains_key(node) {
                continue;
            }
            if book.chosen_room() > 0 && book.chosen_in(book.group(node.ip())) < CHOSEN_PER_GROUP {
                book.known.insert(*node, KnownNode::new(Slot::Chosen));
            } else {
                if let Admission::Added { .. } = book.admit_announced(*node, false) {
                    // Restored: it may have dropped this server meanwhile.
                    if let Some(k) = book.known.get_mut(node) {
                        k.announced = false;
                    }
                }
            }
        }
        book.changed = false;
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
                .values()
                .map(|ban| SavedBan {
                    node: ban.node,
                    until: ban.until.as_millis(),
                    reason: format!("{}: {}", ban.reason.code(), ban.note),
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

    /// Known nodes in `slot`.
    pub fn count_in(&self, slot: Slot) -> usize {
        self.known.values().filter(|k| k.slot == slot).count()
    }

    /// Bans in force or not yet expired by [`PeerBook::expire`].
    pub fn ban_count(&self) -> usize {
        self.banned.len()
    }

    /// The `n`-th known node (from 0, address order).
    pub fn nth(&self, n: usize) -> Option<NodeAddr> {
        self.known.keys().nth(n).copied()
    }

    pub fn is_known(&self, node: &NodeAddr) -> bool {
        self.known.contains_key(node)
    }

    /// The slot of a known node.
    pub fn slot_of(&self, node: &NodeAddr) -> Option<Slot> {
        self.known.get(node).map(|k| k.slot)
    }

    /// The ban on `node` (by its key: its IP, IPv6 /64, or a local
    /// `ip:port`), if one is in force at `now`.
    pub fn ban_of(&self, node: &NodeAddr, now: Time) -> Option<&Ban> {
        self.banned
            .get(&BanKey::of(node))
            .filter(|ban| ban.until > now)
    }

    pub fn is_banned(&self, node: &NodeAddr, now: Time) -> bool {
        self.ban_of(node, now).is_some()
    }

    /// Whether this server may contact `node` at all: not itself, allowed
    /// by the policy, not banned.
    pub fn may_contact(&self, node: &NodeAddr, now: Time) -> bool {
        self.screen(node, now).is_ok()
    }

    fn insert_ban(&mut self, node: NodeAddr, until: Time, reason: Misbehaviour, note: &str) {
        let key = BanKey::of(&node);
        if let Some(old) = self.banned.remove(&key) {
            self.ban_order.remove(&(old.until, key));
        }
        self.banned.insert(
            key,
            Ban {
                node,
                until,
                reason,
                note: short_note(note),
            },
        );
        self.ban_order.insert((until, key));
        while self.banned.len() > MAX_BANS {
            let Some(oldest) = self.ban_order.pop_first() else {
                break;
            };
            self.banned.remove(&oldest.1);
        }
    }

    /// Bans `node` for [`BAN_DURATION`] from `now` (API.md §8 "Bans"): the
    /// ban covers its key (every port of a global IP, an IPv6 /64), every
    /// known node under that key is dropped, and none is added again from
    /// the seed, a peer list or an announcement. `note` is this server's
    /// own words, cut to [`BAN_NOTE_LIMIT`]. Returns whether a known node
    /// was dropped.
    pub fn ban(&mut self, node: NodeAddr, reason: Misbehaviour, note: &str, now: Time) -> bool {
        // No node listens on port 0, and a saved ban of it could not be
        // loaded back (API.md §1: a port is 1–65535).
        if node.port() == 0 {
            return false;
        }
        let key = BanKey::of(&node);
        let dropped: Vec<NodeAddr> = self
            .known
            .keys()
            .filter(|n| BanKey::of(n) == key)
            .copied()
            .collect();
        for n in &dropped {
            self.known.remove(n);
        }
        self.in_flight.retain(|n, _| BanKey::of(n) != key);
        self.insert_ban(node, now.after(BAN_DURATION), reason, note);
        self.changed = true;
        !dropped.is_empty()
    }

    /// Forgets `node` (`DELETE /nodes/`). Returns whether it was known.
    pub fn remove(&mut self, node: &NodeAddr) -> bool {
        self.in_flight.remove(node);
        let removed = self.known.remove(node).is_some();
        self.changed |= removed;
        removed
    }

    /// Ends what time ended: bans past their term are lifted (the nodes
    /// that set them returned), and checks unanswered past
    /// [`BookConfig::stall_after`] count as failed (their outcomes
    /// returned).
    pub fn expire(&mut self, now: Time) -> (Vec<NodeAddr>, Vec<(NodeAddr, Outcome)>) {
        let mut lifted = Vec::new();
        while let Some(&(until, key)) = self.ban_order.first() {
            if until > now {
                break;
            }
            self.ban_order.pop_first();
            if let Some(ban) = self.banned.remove(&key) {
                lifted.push(ban.node);
            }
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

    fn candidates_in_flight(&self) -> impl Iterator<Item = &NodeAddr> {
        self.in_flight
            .iter()
            .filter(|(_, c)| c.kind == CheckKind::Candidate)
            .map(|(n, _)| n)
    }

    /// Chosen slots left, counting candidates being checked.
    fn chosen_room(&self) -> usize {
        let chosen = self.count_in(Slot::Chosen);
        self.config
            .max_chosen
            .saturating_sub(chosen + self.candidates_in_flight().count())
    }

    /// The group of `ip` in this book: [`group_of`], or the IP itself
    /// when the rules of groups are off.
    fn group(&self, ip: std::net::IpAddr) -> Group {
        if self.config.groups {
            group_of(ip)
        } else {
            Group::Local(super::net::canonical_ip(ip))
        }
    }

    /// Chosen peers (and candidates being checked) in `group`.
    fn chosen_in(&self, group: Group) -> usize {
        let chosen = self
            .known
            .iter()
            .filter(|(n, k)| k.slot == Slot::Chosen && self.group(n.ip()) == group)
            .count();
        chosen
            + self
                .candidates_in_flight()
                .filter(|n| self.group(n.ip()) == group)
                .count()
    }

    /// Whether to ask for more nodes (a full node below `--max-peers`).
    pub fn wants_more(&self) -> bool {
        self.config.discover && self.chosen_room() > 0
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
    /// check now, up to the chosen slots left: never this server, a known,
    /// banned or refused address, or one already being checked; no more
    /// than [`CHOSEN_PER_GROUP`] of one group while nodes of other groups
    /// are on offer. Each is marked in flight.
    pub fn candidates(
        &mut self,
        heard: impl IntoIterator<Item = NodeAddr>,
        now: Time,
    ) -> Vec<NodeAddr> {
        if !self.config.discover {
            return Vec::new();
        }
        let mut offered: Vec<NodeAddr> = Vec::new();
        let mut seen: std::collections::HashSet<NodeAddr> = std::collections::HashSet::new();
        for node in heard {
            if seen.insert(node)
                && self.screen(&node, now).is_ok()
                && !self.known.contains_key(&node)
                && !self.in_flight.contains_key(&node)
            {
                offered.push(node);
            }
        }
        // In group-first order (API.md §8 "Groups"): a crowd of one group
        // heard of gets no better odds than a single node of another.
        let offered = self.group_first(offered);
        let deadline = now.after(self.config.stall_after);
        let mut picked = Vec::new();
        // First the nodes whose group is under its share, then (only when
        // no other group is on offer) the rest.
        for crowded_too in [false, true] {
            if crowded_too && !picked.is_empty() {
                break;
            }
            for node in &offered {
                if self.chosen_room() == 0 {
                    return picked;
                }
                if picked.contains(node)
                    || (!crowded_too && self.chosen_in(self.group(node.ip())) >= CHOSEN_PER_GROUP)
                {
                    continue;
                }
                self.in_flight.insert(
                    *node,
                    InFlight {
                        kind: CheckKind::Candidate,
                        deadline,
                    },
                );
                picked.push(*node);
            }
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
                } else if self.count_in(Slot::Chosen) >= self.config.max_chosen {
                    Outcome::Full
                } else {
                    self.known.insert(node, KnownNode::new(Slot::Chosen));
                    self.changed = true;
                    Outcome::Added
                }
            }
        }
    }

    /// Whether an announced node may be checked at all: never this server,
    /// an address the policy refuses, or a banned node. `Ok(true)` when it
    /// is already known (no check needed).
    pub fn screen(&self, node: &NodeAddr, now: Time) -> Result<bool, Refusal> {
        if *node == self.config.me {
            return Err(Refusal::Me);
        }
        if !self.config.policy.admits(node) {
            return Err(Refusal::NotContactable);
        }
        if let Some(ban) = self.ban_of(node, now) {
            return Err(Refusal::Banned(ban.clone()));
        }
        Ok(self.known.contains_key(node))
    }

    /// Announced nodes in `group`.
    fn announced_in(&self, group: Group) -> usize {
        self.known
            .iter()
            .filter(|(n, k)| k.slot == Slot::Announced && self.group(n.ip()) == group)
            .count()
    }

    /// An announced node passed the check: kept in an announced slot when
    /// its group is under its share (API.md §8 "Groups"); when the slots
    /// are full, it takes the place of a random node of the most crowded
    /// group, if that group is not its own.
    pub fn admit(&mut self, node: NodeAddr, now: Time) -> Admission {
        if let Err(refusal) = self.screen(&node, now) {
            return Admission::Refused(refusal);
        }
        if let Some(entry) = self.known.get_mut(&node) {
            entry.failures = 0;
            return Admission::AlreadyKnown;
        }
        self.admit_announced(node, true)
    }

    fn admit_announced(&mut self, node: NodeAddr, evict: bool) -> Admission {
        let group = self.group(node.ip());
        let mine = self.announced_in(group);
        if mine >= self.config.announced_per_group {
            return Admission::GroupFull;
        }
        let mut evicted = None;
        if self.count_in(Slot::Announced) >= self.config.max_announced {
            if !evict {
                return Admission::Full;
            }
            let mut by_group: BTreeMap<Group, Vec<NodeAddr>> = BTreeMap::new();
            for (n, k) in &self.known {
                if k.slot == Slot::Announced {
                    by_group.entry(self.group(n.ip())).or_default().push(*n);
                }
            }
            // The most crowded group (a random one of those tied), if it
            // is more crowded than the newcomer's.
            let most = by_group.values().map(Vec::len).max().unwrap_or(0);
            if most <= mine {
                return Admission::Full;
            }
            let tied: Vec<&Vec<NodeAddr>> = by_group
                .values()
                .filter(|nodes| nodes.len() == most)
                .collect();
            let crowded = tied[self.dice.below(tied.len())];
            let victim = crowded[self.dice.below(crowded.len())];
            self.known.remove(&victim);
            self.in_flight.remove(&victim);
            evicted = Some(victim);
        }
        // It announced itself: it knows this server already.
        self.known.insert(
            node,
            KnownNode {
                announced: true,
                ..KnownNode::new(Slot::Announced)
            },
        );
        self.changed = true;
        Admission::Added { evicted }
    }

    /// Up to `n` known nodes drawn group by group (API.md §8 "Groups"): a
    /// group uniformly among those with nodes not yet drawn, then a node
    /// of it, so no group's size buys it a larger share of the answer.
    pub fn sample(&mut self, n: usize) -> Vec<NodeAddr> {
        let known: Vec<NodeAddr> = self.known.keys().copied().collect();
        self.draw_group_first(known, n)
    }

    /// All of `nodes`, in the order of draws group by group.
    fn group_first(&mut self, nodes: Vec<NodeAddr>) -> Vec<NodeAddr> {
        let n = nodes.len();
        self.draw_group_first(nodes, n)
    }

    /// Up to `n` of `nodes`: each draw a group uniformly among those with
    /// nodes left, then a node of it.
    fn draw_group_first(&mut self, nodes: Vec<NodeAddr>, n: usize) -> Vec<NodeAddr> {
        let mut groups: BTreeMap<Group, Vec<NodeAddr>> = BTreeMap::new();
        for node in nodes {
            groups.entry(self.group(node.ip())).or_default().push(node);
        }
        let mut groups: Vec<Vec<NodeAddr>> = groups.into_values().collect();
        let mut drawn = Vec::with_capacity(n.min(groups.iter().map(Vec::len).sum()));
        while drawn.len() < n && !groups.is_empty() {
            let g = self.dice.below(groups.len());
            let nodes = &mut groups[g];
            let i = self.dice.below(nodes.len());
            drawn.push(nodes.swap_remove(i));
            if nodes.is_empty() {
                groups.swap_remove(g);
            }
        }
        drawn
    }

    /// Known nodes this server has not announced itself to yet (or whose
    /// announcement failed): the driver announces to them each round.
    pub fn announcements_due(&self) -> Vec<NodeAddr> {
        self.known
            .iter()
            .filter(|(_, k)| !k.announced)
            .map(|(n, _)| *n)
            .collect()
    }

    /// An announcement to `node` got through.
    pub fn announced_to(&mut self, node: &NodeAddr) {
        if let Some(k) = self.known.get_mut(node) {
            k.announced = true;
        }
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

    /// Node `n`: a loopback IP of its own (a group of its own), port `n`.
    fn node(n: u16) -> NodeAddr {
        NodeAddr::new([127, 1, (n >> 8) as u8, n as u8].into(), n)
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
        let mut picked = book.candidates([node(ME), node(1), node(1), node(2)], t(0));
        picked.sort();
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
        assert_eq!(
            book.admit(node(1), t(0)),
            Admission::Added { evicted: None }
        );
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
        // An announcement never takes a chosen slot.
        assert_eq!(
            book.admit(node(99), t(0)),
            Admission::Added { evicted: None }
        );
        assert_eq!(book.slot_of(&node(99)), Some(Slot::Announced));
        assert_eq!(book.check_done(picked[0], Ok(())), Outcome::Added);
        assert_eq!(book.check_done(picked[1], Ok(())), Outcome::Added);
        assert_eq!(book.count_in(Slot::Chosen), 2);
        assert!(!book.wants_more());
        assert!(book.sources().is_empty(), "a full book asks nobody");
    }

    #[test]
    fn announced_nodes_are_kept_beyond_the_nodes_looked_for_up_to_their_cap() {
        let mut book = full_book(2);
        add(&mut book, &[1, 2], t(0));
        assert!(!book.wants_more(), "2 looked for, 2 known");
        let cap = 2 * ANNOUNCED_PER_PEER;
        for n in 3..3 + cap as u16 {
            assert!(
                matches!(
                    book.admit(node(n), t(0)),
                    Admission::Added { evicted: None }
                ),
                "node {n}"
            );
        }
        assert_eq!(book.count(), 2 + cap);
        // Full: a newcomer of another group evicts one of the most crowded
        // (every group holds one here), so the count stays.
        assert!(matches!(
            book.admit(node(99), t(0)),
            Admission::Added { evicted: Some(_) }
        ));
        assert_eq!(book.count(), 2 + cap);
        assert_eq!(
            book.count_in(Slot::Chosen),
            2,
            "chosen peers are never evicted"
        );
        // Discovery still stops at the nodes looked for.
        assert!(book.candidates((100..110).map(node), t(0)).is_empty());
        // A restart keeps them all.
        let restored = PeerBook::restored(book.config().clone(), &book.saved(), t(1));
        assert_eq!(restored.count(), 2 + cap);
    }

    /// `n` global nodes of the /16 `a.b`.
    fn crowd(a: u8, b: u8, n: u16) -> Vec<NodeAddr> {
        (0..n)
            .map(|i| NodeAddr::new([a, b, (i >> 8) as u8, i as u8].into(), 8000))
            .collect()
    }

    #[test]
    fn one_group_never_takes_more_than_its_share_of_the_seed() {
        let mut book =
            PeerBook::new(BookConfig::seed(node(42_020)).with_policy(AddrPolicy::GLOBAL_ONLY));
        // 1,000 registrations from one /16: 125 kept, the rest answered
        // and not kept.
        let mut kept = 0;
        for n in crowd(45, 1, 1000) {
            match book.admit(n, t(0)) {
                Admission::Added { .. } => kept += 1,
                Admission::GroupFull => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(kept, 125);
        // Eight crowded groups fill the list.
        for b in 2..=8 {
            for n in crowd(45, b, 200) {
                book.admit(n, t(0));
            }
        }
        assert_eq!(book.count(), 1000);
        // An honest node of another group still gets in, in place of one
        // of a crowded group.
        let honest = NodeAddr::new([81, 2, 3, 4].into(), 50_000);
        assert!(matches!(
            book.admit(honest, t(0)),
            Admission::Added { evicted: Some(_) }
        ));
        assert!(book.is_known(&honest));
        assert_eq!(book.count(), 1000);
        // A sample draws groups uniformly: the honest node's group is one
        // of 9, so it is in nearly every sample of 50 (1 - (8/9)^50 =
        // 99.7 %), where a draw over nodes would list it in 5 %.
        let listed = (0..200)
            .filter(|_| book.sample(50).contains(&honest))
            .count();
        assert!(listed >= 180, "listed in {listed} of 200 samples");
    }

    /// What the rules of groups buy, as the simulator measures it: off,
    /// one /16 fills the announced slots and the first chosen ones.
    #[test]
    fn without_groups_a_crowd_of_one_group_takes_what_it_can() {
        let me = NodeAddr::new([81, 0, 0, 1].into(), 50_000);
        let config = BookConfig::full_node(me, 10)
            .with_policy(AddrPolicy::GLOBAL_ONLY)
            .without_groups();
        assert_eq!(config.announced_per_group, config.max_announced);
        let mut book = PeerBook::new(config);
        for n in crowd(45, 1, 40) {
            book.admit(n, t(0));
        }
        assert_eq!(
            book.count_in(Slot::Announced),
            30,
            "every announced slot, where groups allow 7"
        );
        let mut heard = crowd(46, 1, 10);
        heard.extend([
            NodeAddr::new([82, 1, 0, 1].into(), 1),
            NodeAddr::new([83, 1, 0, 1].into(), 1),
        ]);
        let picked = book.candidates(heard, t(0));
        assert_eq!(picked.len(), 10, "{picked:?}");
        assert!(
            picked
                .iter()
                .filter(|n| n.ip().to_string().starts_with("46.1."))
                .count()
                > 2,
            "no cap of 2 per group: {picked:?}"
        );
    }

    #[test]
    fn announced_slots_hold_a_quarter_per_group_and_chosen_ones_two() {
        let me = NodeAddr::new([81, 0, 0, 1].into(), 50_000);
        let mut book =
            PeerBook::new(BookConfig::full_node(me, 10).with_policy(AddrPolicy::GLOBAL_ONLY));
        // 40 fake announcements from one /16: 7 of 30 slots.
        let taken = crowd(45, 1, 40)
            .into_iter()
            .filter(|n| matches!(book.admit(*n, t(0)), Admission::Added { .. }))
            .count();
        assert_eq!(taken, 7);
        // Discovery offered ten attacker nodes of one group and three
        // honest ones: at most 2 of the group while others are on offer.
        let mut heard = crowd(46, 1, 10);
        heard.extend([
            NodeAddr::new([82, 1, 0, 1].into(), 1),
            NodeAddr::new([83, 1, 0, 1].into(), 1),
            NodeAddr::new([84, 1, 0, 1].into(), 1),
        ]);
        let picked = book.candidates(heard, t(0));
        assert_eq!(picked.len(), 5, "{picked:?}");
        assert_eq!(
            picked
                .iter()
                .filter(|n| n.ip().to_string().starts_with("46.1."))
                .count(),
            2
        );
        // With no other group on offer, the group may fill the rest.
        let more = book.candidates(crowd(47, 1, 10), t(0));
        assert_eq!(
            more.len(),
            2,
            "2 of the group (none other on offer yet) ..."
        );
        let rest = book.candidates(crowd(47, 1, 10), t(0));
        assert_eq!(
            rest.len(),
            3,
            "... then the rest, nothing else being offered"
        );
    }

    #[test]
    fn a_ban_holds_for_every_port_and_spelling_of_a_global_ip() {
        let me = NodeAddr::new([81, 0, 0, 1].into(), 50_000);
        let mut book =
            PeerBook::new(BookConfig::full_node(me, 10).with_policy(AddrPolicy::GLOBAL_ONLY));
        let bad: NodeAddr = "45.1.2.3:8000".parse().expect("node");
        assert_eq!(
            book.admit("45.1.2.3:9000".parse().expect("node"), t(0)),
            Admission::Added { evicted: None }
        );
        assert!(book.ban(
            bad,
            Misbehaviour::InvalidBlock,
            "block 00ab at height 5",
            t(1)
        ));
        assert_eq!(book.count(), 0, "every node of the banned IP is dropped");
        for again in ["45.1.2.3:1", "[::ffff:45.1.2.3]:8000", "45.1.2.3:8000"] {
            let again: NodeAddr = again.parse().expect("node");
            assert!(book.is_banned(&again, t(2)), "{again}");
            assert!(matches!(
                book.admit(again, t(2)),
                Admission::Refused(Refusal::Banned(_))
            ));
        }
        assert!(!book.is_banned(&"45.1.2.4:8000".parse().expect("node"), t(2)));
        // Local addresses are refused unless allowed, and never checked.
        assert_eq!(
            book.screen(&"127.0.0.1:5".parse().expect("node"), t(2)),
            Err(Refusal::NotContactable)
        );
        assert!(
            book.candidates(["10.0.0.1:5".parse().expect("node")], t(2))
                .is_empty()
        );
    }

    /// Found by the `peer_book` fuzz target: a ban of a node with port 0
    /// was kept and saved, and both stores refuse port 0 when loading, so
    /// the whole book would fail to load after a restart.
    #[test]
    fn a_node_on_port_zero_is_never_banned_and_the_saved_book_loads_back() {
        let mut book = full_book(10);
        let zero = NodeAddr::new([127, 3, 0, 1].into(), 0);
        book.ban(zero, Misbehaviour::MalformedAnswer, "port zero", t(1));
        assert_eq!(book.ban_count(), 0);
        let json = serde_json::to_string(&book.saved()).expect("saved book JSON");
        let loaded: SavedPeers = serde_json::from_str(&json).expect("the saved book loads back");
        assert!(loaded.banned.is_empty());
    }

    #[test]
    fn bans_are_bounded_and_keep_only_this_nodes_short_words() {
        let mut book = full_book(10);
        let long = "x".repeat(5000);
        for i in 0..(MAX_BANS as u64 + 500) {
            let n = NodeAddr::new(
                [127, 2, (i >> 8) as u8, i as u8].into(),
                1 + (i >> 16) as u16,
            );
            book.ban(n, Misbehaviour::MalformedAnswer, &long, t(i));
        }
        assert_eq!(book.ban_count(), MAX_BANS);
        // The oldest went first.
        assert!(!book.is_banned(&NodeAddr::new([127, 2, 0, 0].into(), 1), t(20_000)));
        let newest = MAX_BANS as u64 + 499;
        let n = NodeAddr::new([127, 2, (newest >> 8) as u8, newest as u8].into(), 1);
        let ban = book.ban_of(&n, t(20_000)).expect("the newest is kept");
        assert_eq!(ban.note.len(), BAN_NOTE_LIMIT);
        assert_eq!(ban.reason, Misbehaviour::MalformedAnswer);
        // Saved and restored with its code.
        let restored = PeerBook::restored(book.config().clone(), &book.saved(), t(20_000));
        assert_eq!(restored.ban_count(), MAX_BANS);
        assert_eq!(
            restored.ban_of(&n, t(20_000)).map(|b| b.reason),
            Some(Misbehaviour::MalformedAnswer)
        );
    }

    #[test]
    fn samples_are_deterministic_for_a_seed() {
        let fill = |seed| {
            let mut book = PeerBook::new(BookConfig::seed(node(42_020)).with_seed(seed));
            for n in 1..=60 {
                book.admit(node(n), t(0));
            }
            book.sample(10)
        };
        assert_eq!(fill(7), fill(7));
        assert_ne!(fill(7), fill(8));
    }

    #[test]
    fn bans_remove_refuse_and_expire_after_a_day() {
        let mut book = full_book(10);
        add(&mut book, &[1, 2], t(0));
        book.checks_due(t(1));
        assert!(book.ban(
            node(1),
            Misbehaviour::InvalidBlock,
            "a block with bad proof of work",
            t(1)
        ));
        assert_eq!(book.known(), vec![node(2)]);
        assert_eq!(book.check_done(node(1), Ok(())), Outcome::Stale);
        // Not from peer lists, not from announcements.
        assert!(book.candidates([node(1)], t(2)).is_empty());
        assert!(matches!(
            book.screen(&node(1), t(2)),
            Err(Refusal::Banned(Ban { reason: Misbehaviour::InvalidBlock, ref note, .. })) if note.contains("proof of work")
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
            max_announced: 1,
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
