//! The peer book of `src/p2p/peers.rs` (API.md §1, §8 "Peers", "Groups",
//! "Bans"), without sockets, on a fake clock, fed arbitrary nodes heard
//! of, check results, announcements, bans, removals, expiries, samples,
//! seed answers and restarts (saved, then restored). After each step its
//! documented bounds: chosen and announced slots within their caps, no
//! group above its share of announced slots, never this server, only
//! addresses the policy admits, no known node banned, at most `MAX_BANS`
//! bans with notes of at most `BAN_NOTE_LIMIT` bytes; samples are known
//! and distinct; what a step returns agrees with the book after it; a
//! saved book restores with the same bans and within the same bounds.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cinder::p2p::peers::{BAN_DURATION, BAN_NOTE_LIMIT, MAX_BANS, SeedNews};
use cinder::p2p::{
    AddrPolicy, Admission, BanKey, BookConfig, Misbehaviour, Outcome, PeerBook, Refusal,
    SavedPeers, Slot, Time, group_of,
};
use cinder::wire::NodeAddr;
use cinder_fuzz::{Unstructured, between, byte, index};
use libfuzzer_sys::fuzz_target;

fn node(u: &mut Unstructured, me: NodeAddr) -> NodeAddr {
    let port = match between(u, 0, 9) {
        0 => 0,
        1 => u.arbitrary().unwrap_or(1),
        p => 8000 + p as u16,
    };
    let b = byte(u);
    let ip: IpAddr = match between(u, 0, 8) {
        0 | 1 => Ipv4Addr::new(
            [1, 2, 5, 8, 23, 45][usize::from(b % 6)],
            b / 6 % 3,
            byte(u) % 4,
            byte(u),
        )
        .into(),
        2 => Ipv6Addr::new(
            0x2a00,
            u16::from(b % 3),
            0,
            u16::from(byte(u) % 2),
            0,
            0,
            0,
            u16::from(byte(u)),
        )
        .into(),
        3 => Ipv4Addr::new(127, 0, 0, 1 + b % 4).into(),
        4 => Ipv4Addr::new(10, 0, b % 3, byte(u)).into(),
        5 => Ipv4Addr::new(1, 2, 3, b % 4).to_ipv6_mapped().into(),
        6 => return me,
        7 => Ipv4Addr::UNSPECIFIED.into(),
        _ => Ipv4Addr::new(203, 0, 113, b).into(),
    };
    NodeAddr::new(ip, port)
}

fn reason(u: &mut Unstructured) -> Misbehaviour {
    Misbehaviour::ALL[index(u, Misbehaviour::ALL.len())]
}

fn note(u: &mut Unstructured) -> String {
    let len = between(u, 0, 300) as usize;
    let bytes = u.bytes(len).unwrap_or_default();
    String::from_utf8_lossy(bytes).into_owned()
}

/// The bounds every step must keep.
fn check_bounds(book: &PeerBook, now: Time) {
    let config = book.config();
    let known = book.known();
    assert_eq!(known.len(), book.count());
    assert!(
        known.windows(2).all(|w| w[0] < w[1]),
        "known nodes not in address order"
    );
    let chosen = book.count_in(Slot::Chosen);
    let announced = book.count_in(Slot::Announced);
    assert_eq!(chosen + announced, known.len());
    assert!(
        chosen <= config.max_chosen,
        "{chosen} chosen, cap {}",
        config.max_chosen
    );
    assert!(
        announced <= config.max_announced,
        "{announced} announced, cap {}",
        config.max_announced
    );
    let mut per_group = BTreeMap::new();
    for (i, n) in known.iter().enumerate() {
        assert_eq!(book.nth(i), Some(*n));
        assert_ne!(*n, config.me, "the book knows this server");
        assert!(config.policy.admits(n), "{n} is not admitted by the policy");
        assert!(!book.is_banned(n, now), "known node {n} is banned");
        if book.slot_of(n) == Some(Slot::Announced) {
            *per_group.entry(group_of(n.ip())).or_insert(0usize) += 1;
        }
    }
    for (group, count) in per_group {
        assert!(
            count <= config.announced_per_group,
            "{group:?} holds {count} announced slots"
        );
    }
    assert_eq!(book.nth(known.len()), None);
    assert!(book.ban_count() <= MAX_BANS, "{} bans", book.ban_count());
}

fn check_restore(book: &PeerBook, now: Time) {
    let saved = book.saved();
    // Through the seed's file (JSON) while it is small: after a flood of
    // bans that is the slow part, and `node_addr` fuzzes the file's form.
    let read: SavedPeers = if saved.banned.len() <= 256 {
        let text = cinder_fuzz::json_round_trip(&saved);
        serde_json::from_str(&text).expect("its own file")
    } else {
        saved.clone()
    };
    let restored = PeerBook::restored(book.config().clone(), &read, now);
    check_bounds(&restored, now);
    let in_force: Vec<_> = saved
        .banned
        .iter()
        .filter(|b| b.until > now.as_millis())
        .collect();
    assert_eq!(restored.ban_count(), in_force.len());
    for ban in in_force {
        assert_eq!(
            restored.ban_of(&ban.node, now),
            book.ban_of(&ban.node, now),
            "a ban changed across a restart"
        );
    }
    let was: BTreeSet<NodeAddr> = saved.known.iter().copied().collect();
    for n in restored.known() {
        assert!(was.contains(&n), "a restart made up {n}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let me = NodeAddr::new([127, 0, 0, 1].into(), 8001);
    let config = match between(&mut u, 0, 2) {
        0 => BookConfig::seed(me),
        _ => BookConfig::full_node(me, between(&mut u, 0, 12) as usize),
    };
    let policy = if between(&mut u, 0, 1) == 0 {
        AddrPolicy::ALLOW_LOCAL
    } else {
        AddrPolicy::GLOBAL_ONLY
    };
    let config = config
        .with_policy(policy)
        .with_seed(u.arbitrary().unwrap_or(0));
    let mut book = PeerBook::new(config.clone());
    let mut now = Time::from_millis(1_763_800_000_000);
    let mut seed_down = false;
    let mut flooded = false;
    for _ in 0..64 {
        if u.is_empty() {
            break;
        }
        match between(&mut u, 0, 13) {
            0 => {
                let heard: Vec<NodeAddr> = (0..between(&mut u, 0, 12))
                    .map(|_| node(&mut u, me))
                    .collect();
                let room = config
                    .max_chosen
                    .saturating_sub(book.count_in(Slot::Chosen));
                let before: BTreeSet<NodeAddr> = book.known().into_iter().collect();
                let picked = book.candidates(heard.iter().copied(), now);
                let distinct: BTreeSet<NodeAddr> = picked.iter().copied().collect();
                assert_eq!(distinct.len(), picked.len(), "a candidate twice");
                assert!(picked.len() <= room, "more candidates than chosen slots");
                assert!(config.discover || picked.is_empty());
                for n in &picked {
                    assert!(heard.contains(n) && !before.contains(n) && book.may_contact(n, now));
                }
            }
            1 => {
                let n = node(&mut u, me);
                let ok = between(&mut u, 0, 2) != 0;
                let known = book.is_known(&n);
                let outcome = book.check_done(n, if ok { Ok(()) } else { Err("no answer".into()) });
                match outcome {
                    Outcome::Added => assert_eq!(book.slot_of(&n), Some(Slot::Chosen)),
                    Outcome::Alive | Outcome::Failed { .. } => assert!(book.is_known(&n)),
                    Outcome::Dropped { .. } => assert!(!book.is_known(&n)),
                    Outcome::Full | Outcome::Refused { .. } | Outcome::Stale => {
                        assert_eq!(book.is_known(&n), known)
                    }
                }
            }
            2 => {
                let due = book.checks_due(now);
                let distinct: BTreeSet<NodeAddr> = due.iter().copied().collect();
                assert_eq!(distinct.len(), due.len());
                assert!(due.iter().all(|n| book.is_known(n)));
            }
            3 => {
                let n = node(&mut u, me);
                let before = book.known();
                match book.admit(n, now) {
                    Admission::Added { evicted } => {
                        assert_eq!(book.slot_of(&n), Some(Slot::Announced));
                        assert!(!before.contains(&n));
                        if let Some(v) = evicted {
                            assert!(v != n && before.contains(&v) && !book.is_known(&v));
                        }
                    }
                    Admission::AlreadyKnown => assert!(before.contains(&n)),
                    Admission::Full | Admission::GroupFull => assert!(!book.is_known(&n)),
                    Admission::Refused(Refusal::Me) => assert_eq!(n, me),
                    Admission::Refused(Refusal::Banned(ban)) => {
                        assert!(ban.until > now && book.is_banned(&n, now))
                    }
                    Admission::Refused(Refusal::NotContactable) => {
                        assert!(!config.policy.admits(&n))
                    }
                }
            }
            4 => {
                // A peer this server talked to: never port 0 (no peer has
                // it, and the stores refuse to read such a node back).
                let n = node(&mut u, me);
                let n = NodeAddr::new(n.ip(), n.port().max(1));
                let why = reason(&mut u);
                let text = note(&mut u);
                book.ban(n, why, &text, now);
                let ban = book.ban_of(&n, now).expect("banned");
                assert_eq!(ban.reason, why);
                assert_eq!(ban.until, now.after(BAN_DURATION));
                assert!(ban.note.len() <= BAN_NOTE_LIMIT && text.starts_with(&ban.note));
                assert!(ban.note.len() == text.len() || ban.note.len() + 4 > BAN_NOTE_LIMIT);
                let key = BanKey::of(&n);
                assert!(
                    book.known().iter().all(|k| BanKey::of(k) != key),
                    "a banned key is known"
                );
            }
            5 => {
                let n = node(&mut u, me);
                book.remove(&n);
                assert!(!book.is_known(&n));
            }
            6 => {
                let (lifted, stalled) = book.expire(now);
                for n in lifted {
                    assert!(!book.is_banned(&n, now), "{n} still banned after its lift");
                }
                for (n, outcome) in stalled {
                    if let Outcome::Dropped { .. } = outcome {
                        assert!(!book.is_known(&n));
                    }
                }
                for ban in book.saved().banned {
                    assert!(ban.until > now.as_millis(), "an expired ban kept");
                }
            }
            7 => {
                let step = match between(&mut u, 0, 3) {
                    0 => between(&mut u, 0, 200_000),
                    1 => 24 * 3_600_000 + between(&mut u, 0, 1_000),
                    _ => between(&mut u, 0, 3 * 24 * 3_600_000),
                };
                now = Time::from_millis(now.as_millis() + step);
            }
            8 => {
                let n = between(&mut u, 0, 40) as usize;
                let sample = book.sample(n);
                let distinct: BTreeSet<NodeAddr> = sample.iter().copied().collect();
                assert_eq!(distinct.len(), sample.len(), "a node twice in a sample");
                assert_eq!(sample.len(), n.min(book.count()));
                assert!(sample.iter().all(|s| book.is_known(s)));
            }
            9 => {
                let due = book.announcements_due();
                assert!(due.iter().all(|n| book.is_known(n)));
                if !due.is_empty() {
                    let n = due[index(&mut u, due.len())];
                    book.announced_to(&n);
                    assert!(!book.announcements_due().contains(&n));
                }
            }
            10 => {
                let answered = between(&mut u, 0, 1) == 0;
                let news = book.seed_answered(answered);
                let expected = match (answered, seed_down) {
                    (false, false) => Some(SeedNews::Down),
                    (true, true) => Some(SeedNews::Back),
                    _ => None,
                };
                assert_eq!(news, expected);
                seed_down = !answered;
            }
            // After a big flood, once at the end: restoring 10,000 bans is slow.
            11 if !flooded => check_restore(&book, now),
            12 if !flooded => {
                // Many misbehaving global addresses: past MAX_BANS the
                // oldest bans go. (A big flood once an input: it is slow.)
                let count = if between(&mut u, 0, 1) == 0 {
                    between(&mut u, 0, 200)
                } else {
                    MAX_BANS as u64 + between(&mut u, 0, 100)
                } as u32;
                flooded = count > 256;
                let first = u32::from(Ipv4Addr::new(11, 0, 0, 0));
                for i in 0..count {
                    let n = NodeAddr::new(Ipv4Addr::from(first + i).into(), 8000);
                    book.ban(n, Misbehaviour::InvalidBlock, "flood", now);
                }
                assert!(book.ban_count() <= MAX_BANS);
                now = Time::from_millis(now.as_millis() + 1);
            }
            _ => {
                let _ = book.wants_more();
                let sources = book.sources();
                assert!(sources.iter().all(|n| book.is_known(n)));
                book.take_changed();
            }
        }
        check_bounds(&book, now);
    }
    check_restore(&book, now);
});
