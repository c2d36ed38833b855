//! The sync decisions of `src/p2p/sync.rs` (API.md §8), without sockets or
//! a real clock, fed arbitrary peer answers: header lists (honest, cut,
//! reordered, mutated and re-solved, forged, from this node's future),
//! block bodies (honest, cut short, empty, unasked, extra, tampered),
//! `/blockchain/` claims, silences and timeouts. Checked against the
//! documented behaviour: headers checked one batch at a time agree with
//! one by one, and accept exactly a linked, hashed, worked chain keeping
//! the rules (an honest chain always passes; "not yet" only for a
//! timestamp in the future); the download window asks at most
//! `BLOCKS_PER_ASK` a request and `REQUESTS_IN_FLIGHT` at once, holds a
//! bounded number of blocks, hands them out in chain order, refuses bad
//! answers and, answered
//! honestly, always finishes; a mempool merge keeps to its room, its
//! budget and its silences; candidates are the heavier peers of our
//! genesis, heaviest first; locators are dense, then sparse, then genesis.
#![no_main]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cinder::consensus::block::context_depth;
use cinder::p2p::memory_chain::MemoryChain;
use cinder::p2p::sync::CLAIMS_IN_FLIGHT;
use cinder::p2p::sync::{
    BLOCKS_PER_ASK, Claim, Download, HeaderChain, MAX_LOCATOR, MAX_WAITING_BLOCKS,
    MEMPOOL_MERGE_LIMIT, MERGE_BUDGET, MERGE_FETCH_TIMEOUT, MERGE_SILENT_IN_A_ROW, Merge, MergeEnd,
    REQUESTS_IN_FLIGHT, candidates, locator_heights, sync_from_named,
};
use cinder::p2p::sync_run::{Action, Answer, AnswerError, ChainView, Request, SyncRun, Verdict};
use cinder::types::{Address, Amount, Block, BlockHeader, Hash, Target};
use cinder::wire::{BlockchainInfo, NodeAddr};
use cinder_fuzz::{Unstructured, between, byte, index, params, solved_chain};
use libfuzzer_sys::fuzz_target;
use primitive_types::U256;

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn resolve(h: &mut BlockHeader) {
    for nonce in 0..256 {
        h.nonce = nonce;
        h.hash = h.compute_hash();
        if h.hash.meets(&h.target) {
            return;
        }
    }
}

fn headers_case(u: &mut Unstructured) {
    let params = params();
    let chain = solved_chain();
    let start = index(u, 200);
    let depth = context_depth(&params);
    let tail: Vec<(u64, u64)> = chain[(start + 1).saturating_sub(depth)..=start]
        .iter()
        .map(|b| (b.height, b.timestamp))
        .collect();
    let base_chain = HeaderChain::after(&params, chain[start].hash, chain[start].target, tail);
    let mut headers: Vec<BlockHeader> = Vec::new();
    let mut next = start + 1;
    let mut honest = true;
    for _ in 0..between(u, 0, 40) {
        let from = chain[next.min(chain.len() - 1)].header();
        let h = match between(u, 0, 11) {
            0..=6 => {
                next += 1;
                from
            }
            7 => {
                honest = false;
                next += 2;
                chain[next.min(chain.len() - 1)].header()
            }
            8 | 9 => {
                honest = false;
                next += 1;
                let mut h = from;
                match between(u, 0, 8) {
                    0 => h.height = u.arbitrary().unwrap_or(0),
                    1 => h.timestamp = u.arbitrary().unwrap_or(0),
                    2 => h.timestamp = h.timestamp.saturating_sub(between(u, 1, 200)),
                    3 => h.target = Target([byte(u); 32]),
                    4 => h.prev_hash = Hash([byte(u); 32]),
                    5 => h.merkle_root = Hash([byte(u); 32]),
                    6 => h.creator = Address([byte(u); 20]),
                    7 => h.reward = Amount::from_units(u.arbitrary().unwrap_or(0)),
                    _ => h.transaction_count = u.arbitrary().unwrap_or(0),
                }
                if between(u, 0, 3) != 0 {
                    resolve(&mut h);
                }
                h
            }
            10 => {
                honest = false;
                headers.last().cloned().unwrap_or(from)
            }
            _ => {
                honest = false;
                let mut h = from;
                h.nonce = u.arbitrary().unwrap_or(0);
                h.hash = Hash([byte(u); 32]);
                h
            }
        };
        headers.push(h);
    }
    let last_ts = headers
        .last()
        .map_or(chain[start].timestamp, |h| h.timestamp);
    let now = match between(u, 0, 4) {
        0 => u.arbitrary().unwrap_or(0),
        1 => last_ts.saturating_sub(7200 + between(u, 1, 100)),
        _ => last_ts.saturating_add(between(u, 0, 10_000)),
    };
    let mut batch = base_chain.clone();
    let batched = batch.extend(&headers, now);
    let mut single = base_chain.clone();
    let mut one_by_one = Ok(());
    let mut accepted = 0;
    for h in &headers {
        match single.extend(std::slice::from_ref(h), now) {
            Ok(()) => accepted += 1,
            Err(e) => {
                one_by_one = Err(e);
                break;
            }
        }
    }
    assert_eq!(batched, one_by_one, "a batch and one by one disagree");
    assert_eq!(
        (batch.tip(), batch.height()),
        (single.tip(), single.height())
    );
    let mut prev = chain[start].header();
    for h in &headers[..accepted] {
        assert_eq!(h.prev_hash, prev.hash, "an unlinked header passed");
        assert_eq!(h.compute_hash(), h.hash, "a wrong hash passed");
        assert!(h.hash.meets(&h.target), "a header without its work passed");
        assert_eq!(h.height, prev.height + 1, "a wrong height passed");
        assert_eq!(
            h.target, params.pow_limit,
            "a wrong target passed (regtest)"
        );
        assert!(
            h.timestamp <= now.saturating_add(7200),
            "a header from the future passed"
        );
        prev = h.clone();
    }
    assert_eq!((batch.tip(), batch.height()), (prev.hash, prev.height));
    if let Err(cinder::p2p::Leave::NotYet(note)) = &batched {
        assert!(note.contains("timestamp_in_future"), "not yet: {note}");
    }
    if honest && next < chain.len() && now >= last_ts {
        assert_eq!(batched, Ok(()), "an honest chain refused");
    }
}

fn download_case(u: &mut Unstructured) {
    let chain = solved_chain();
    let n = between(u, 0, 300) as usize;
    let hashes: Vec<Hash> = chain[1..=n].iter().map(|b| b.hash).collect();
    let block_of = |h: &Hash| chain.iter().find(|b| b.hash == *h).expect("ours").clone();
    let mut now = base();
    let mut d = Download::new(hashes.clone());
    let mut outstanding: BTreeMap<u64, (Vec<Hash>, Instant)> = BTreeMap::new();
    let mut delivered = 0usize;
    let mut faulted = false;
    let take_ready = |d: &mut Download, delivered: &mut usize| {
        for b in d.ready() {
            assert_eq!(b.hash, hashes[*delivered], "a block out of chain order");
            *delivered += 1;
        }
    };
    for _ in 0..between(u, 0, 64) {
        match between(u, 0, 8) {
            0 | 1 => {
                for r in d.next_requests() {
                    assert!(!r.hashes.is_empty() && r.hashes.len() <= BLOCKS_PER_ASK);
                    assert!(
                        outstanding.insert(r.id, (r.hashes, now)).is_none(),
                        "an id twice"
                    );
                }
                assert!(
                    outstanding.len() <= REQUESTS_IN_FLIGHT,
                    "too many requests in flight"
                );
            }
            2 | 3 if !outstanding.is_empty() => {
                let i = index(u, outstanding.len());
                let id = *outstanding.keys().nth(i).expect("an id");
                let (asked, _) = outstanding.remove(&id).expect("outstanding");
                let honest: Vec<Block> = asked.iter().map(block_of).collect();
                let (blocks, ok) = match between(u, 0, 6) {
                    0 => (honest, true),
                    1 => {
                        let k = between(u, 1, asked.len() as u64) as usize;
                        (honest[..k].to_vec(), true)
                    }
                    2 => (Vec::new(), false),
                    3 => {
                        let mut b = honest;
                        b[0] = chain[index(u, chain.len())].clone();
                        let same = b[0].hash == asked[0];
                        (b, same)
                    }
                    4 => {
                        let mut b = honest;
                        b.push(chain[0].clone());
                        (b, false)
                    }
                    5 => {
                        let mut b = honest;
                        b[0].nonce ^= 1 + u64::from(byte(u));
                        (b, false)
                    }
                    _ => {
                        let mut b = honest;
                        b.reverse();
                        let ok = b.len() == 1;
                        (b, ok)
                    }
                };
                let result = d.answered(id, blocks);
                assert_eq!(result.is_ok(), ok, "answer to {id}: {result:?}");
                faulted |= result.is_err();
            }
            5 => {
                // An answer nobody waits for any more.
                let id = u.arbitrary::<u64>().unwrap_or(0) | (1 << 63);
                assert_eq!(d.answered(id, Vec::new()), Ok(()));
            }
            6 => now += Duration::from_millis(between(u, 0, 8_000)),
            _ => take_ready(&mut d, &mut delivered),
        }
        assert!(
            d.waiting() <= MAX_WAITING_BLOCKS + 2 * BLOCKS_PER_ASK,
            "{} waiting",
            d.waiting()
        );
        assert_eq!(d.is_done(), delivered == n);
    }
    if faulted {
        return; // the driver drops the peer and the run
    }
    // Answered honestly from here on, it finishes.
    for _ in 0..10 * (n / BLOCKS_PER_ASK + 2) {
        take_ready(&mut d, &mut delivered);
        if d.is_done() {
            break;
        }
        for r in d.next_requests() {
            outstanding.insert(r.id, (r.hashes, now));
        }
        for (id, (asked, _)) in std::mem::take(&mut outstanding) {
            d.answered(id, asked.iter().map(block_of).collect())
                .expect("an honest answer");
        }
    }
    assert!(
        d.is_done(),
        "an honest download did not finish: {delivered} of {n}"
    );
    assert_eq!(delivered, n);
}

fn merge_case(u: &mut Unstructured) {
    let n = between(u, 0, 40) as usize;
    let missing: Vec<Hash> = (0..n)
        .map(|i| {
            let mut h = Hash([byte(u); 32]);
            h.0[..8].copy_from_slice(&(i as u64).to_be_bytes());
            h
        })
        .collect();
    let room = between(u, 0, 50) as usize;
    let room_bytes = [0, 100, 1_000, usize::MAX][index(u, 4)];
    let start = base();
    let mut now = start;
    let mut m = Merge::new(missing.clone(), room, room_bytes, start);
    let wanted: Vec<Hash> = missing
        .into_iter()
        .take(room.min(MEMPOOL_MERGE_LIMIT))
        .collect();
    let (mut pos, mut silent, mut bytes_left) = (0usize, 0u32, room_bytes);
    for _ in 0..between(u, 0, 64) {
        match between(u, 0, 4) {
            0 => {
                let expected = if silent >= MERGE_SILENT_IN_A_ROW {
                    Err(MergeEnd::PeerSilent)
                } else if now >= start + MERGE_BUDGET {
                    Err(MergeEnd::OutOfTime)
                } else if bytes_left == 0 {
                    Err(MergeEnd::NoRoom)
                } else if let Some(h) = wanted.get(pos) {
                    pos += 1;
                    Ok(*h)
                } else {
                    Err(MergeEnd::Done)
                };
                assert_eq!(m.next(now), expected);
            }
            1 => {
                let answered = between(u, 0, 1) == 0;
                m.fetched(answered);
                silent = if answered { 0 } else { silent + 1 };
            }
            2 => {
                let bytes = between(u, 0, 600) as usize;
                m.admitted(bytes);
                bytes_left = bytes_left.saturating_sub(bytes);
            }
            3 => now += Duration::from_millis(between(u, 0, 10_000)),
            _ => {
                let left = (start + MERGE_BUDGET).saturating_duration_since(now);
                assert_eq!(m.fetch_timeout(now), left.min(MERGE_FETCH_TIMEOUT));
            }
        }
    }
}

/// A whole sync run (`SyncRun`) against peers answering anything: honest
/// peers serve a prefix of the solved chain (and may go silent, as honest
/// peers do); liars answer with cut, padded, reordered, re-hashed or
/// foreign data, the wrong kind of answer, claims of any work, or
/// misbehave outright; time jumps at random; connect verdicts are honest,
/// or anything while a liar is being synced from. Never a panic; at most
/// `CLAIMS_IN_FLIGHT` claims and `REQUESTS_IN_FLIGHT` body requests at
/// once; the verdicts of a `Connect` of a peer left meanwhile change
/// nothing; no honest peer is ever banned; nothing
/// after `Finished`; and once everyone answers honestly and time moves on,
/// the run finishes, at the honest tip when every peer was honest and
/// none was silenced.
fn run_case(u: &mut Unstructured) {
    let chain = solved_chain();
    let k = between(u, 1, 60) as usize;
    let theirs = &chain[..=k];
    let mut ours = MemoryChain::new();
    for b in &chain[1..=between(u, 0, k as u64) as usize] {
        ours.connect(b);
    }
    let peers: Vec<(NodeAddr, bool)> = (0..between(u, 1, 4))
        .map(|i| {
            let peer = NodeAddr::new([10, 0, i as u8, 1].into(), 40_000 + i as u16);
            (peer, between(u, 0, 2) != 0)
        })
        .collect();
    let honest = |p: &NodeAddr| peers.iter().any(|(q, h)| q == p && *h);
    let all_honest = peers.iter().all(|(_, h)| *h);
    let work_of = |blocks: &[Block]| {
        blocks.iter().fold(U256::zero(), |w, b| {
            w + cinder::consensus::block_work(&b.target)
        })
    };
    let claim_of = |peer: NodeAddr| {
        Answer::Claim(Claim {
            peer,
            work: work_of(theirs),
            height: k as u64,
            genesis: theirs[0].hash,
        })
    };
    let serve = |request: &Request| match request {
        Request::Claim => unreachable!("claims are served by claim_of"),
        Request::Headers { locator, limit } => {
            let after = locator
                .iter()
                .find_map(|h| theirs.iter().position(|b| b.hash == *h))
                .unwrap_or(0);
            Answer::Headers(
                theirs[after + 1..]
                    .iter()
                    .take(*limit)
                    .map(Block::header)
                    .collect(),
            )
        }
        Request::Blocks { hashes } => Answer::Blocks(
            hashes
                .iter()
                .map_while(|h| theirs.iter().find(|b| b.hash == *h).cloned())
                .collect(),
        ),
    };
    let mut now = base();
    let targets: Vec<NodeAddr> = peers.iter().map(|(p, _)| *p).collect();
    let (mut run, first) = SyncRun::start(targets, now);
    // Request id → (peer, request, when it was asked).
    let mut outstanding: BTreeMap<u64, (NodeAddr, Request, Instant)> = BTreeMap::new();
    // Connects handed out and not answered yet, by id: a run may hand out
    // a new one (after leaving a peer) while an old one is being connected.
    let mut connecting: BTreeMap<u64, Vec<Block>> = BTreeMap::new();
    let mut finished = false;
    let mut silenced = false;
    let anyone = |_: &NodeAddr| true;
    let take = |actions: Vec<Action>,
                outstanding: &mut BTreeMap<u64, (NodeAddr, Request, Instant)>,
                now: Instant,
                connecting: &mut BTreeMap<u64, Vec<Block>>,
                finished: &mut bool| {
        for a in actions {
            assert!(!*finished, "an action after Finished: {a:?}");
            match a {
                Action::Ask {
                    id, peer, request, ..
                } => {
                    assert!(
                        outstanding.insert(id, (peer, request, now)).is_none(),
                        "an id twice"
                    );
                }
                Action::Connect { id, blocks } => {
                    assert!(!blocks.is_empty());
                    assert!(
                        connecting.insert(id, blocks).is_none(),
                        "a Connect id twice"
                    );
                }
                Action::Ban { peer, reason, note } => {
                    assert!(!honest(&peer), "an honest peer banned: {reason}: {note}");
                }
                Action::Finished { .. } => *finished = true,
                _ => {}
            }
        }
        let claims = outstanding
            .values()
            .filter(|(_, r, _)| *r == Request::Claim)
            .count();
        assert!(claims <= CLAIMS_IN_FLIGHT, "{claims} claims at once");
        let bodies = outstanding
            .values()
            .filter(|(_, r, _)| matches!(r, Request::Blocks { .. }))
            .count();
        assert!(
            bodies <= REQUESTS_IN_FLIGHT,
            "{bodies} body requests at once"
        );
    };
    take(first, &mut outstanding, now, &mut connecting, &mut finished);
    for _ in 0..between(u, 0, 120) {
        if finished {
            break;
        }
        let actions = match between(u, 0, 6) {
            0..=2 if !outstanding.is_empty() => {
                let id = *outstanding
                    .keys()
                    .nth(index(u, outstanding.len()))
                    .expect("an id");
                let (peer, request, _) = outstanding.remove(&id).expect("outstanding");
                let answer = if honest(&peer) {
                    if between(u, 0, 7) == 0 {
                        silenced = true;
                        Err(AnswerError::Silent("timed out".into()))
                    } else if request == Request::Claim {
                        Ok(claim_of(peer))
                    } else {
                        Ok(serve(&request))
                    }
                } else {
                    lie(u, &request, peer, chain, &serve, &claim_of)
                };
                run.answer(id, answer, &ours, &anyone, now)
            }
            3 if !connecting.is_empty() => {
                let id = *connecting
                    .keys()
                    .nth(index(u, connecting.len()))
                    .expect("an id");
                let latest = connecting.keys().next_back() == Some(&id);
                let blocks = connecting.remove(&id).expect("blocks");
                let liar = run.current_peer().is_some_and(|p| !honest(&p));
                let mut verdicts = Vec::new();
                for b in &blocks {
                    let v = if liar && between(u, 0, 3) == 0 {
                        match between(u, 0, 3) {
                            0 => Verdict::Invalid("bad_merkle_root".into()),
                            1 => Verdict::NotYet,
                            2 => Verdict::UnknownParent,
                            _ => Verdict::AlreadyKnown,
                        }
                    } else {
                        ours.connect(b)
                    };
                    let stop = !matches!(v, Verdict::Connected | Verdict::AlreadyKnown);
                    verdicts.push(v);
                    if stop {
                        break;
                    }
                }
                let actions = run.connected(id, verdicts, &ours, &anyone, now);
                if !latest {
                    // An older Connect: its peer was left; nothing follows.
                    assert!(
                        actions.as_ref().is_ok_and(Vec::is_empty),
                        "the verdicts of a left peer acted on: {actions:?}"
                    );
                }
                actions
            }
            4 => {
                now += Duration::from_millis(between(u, 0, 8_000));
                // A request left unanswered for 2 s or more may have
                // timed out: silence, as far as the run can tell.
                if outstanding
                    .values()
                    .any(|(_, _, asked)| now >= *asked + Duration::from_secs(2))
                {
                    silenced = true;
                }
                run.tick(&ours, &anyone, now)
            }
            _ => Ok(Vec::new()),
        };
        take(
            actions.expect("infallible"),
            &mut outstanding,
            now,
            &mut connecting,
            &mut finished,
        );
    }
    // From here on every answer is honest (or silence, for a liar) and
    // time moves on: the run ends.
    for _ in 0..10_000 {
        if finished {
            break;
        }
        let actions = if let Some((id, blocks)) = connecting.pop_first() {
            let mut verdicts = Vec::new();
            for b in &blocks {
                let v = ours.connect(b);
                let stop = !matches!(v, Verdict::Connected | Verdict::AlreadyKnown);
                verdicts.push(v);
                if stop {
                    break;
                }
            }
            run.connected(id, verdicts, &ours, &anyone, now)
        } else if let Some((&id, _)) = outstanding.iter().next() {
            let (peer, request, _) = outstanding.remove(&id).expect("outstanding");
            let answer = if !honest(&peer) {
                Err(AnswerError::Silent("gone".into()))
            } else if request == Request::Claim {
                Ok(claim_of(peer))
            } else {
                Ok(serve(&request))
            };
            run.answer(id, answer, &ours, &anyone, now)
        } else {
            now += Duration::from_secs(10);
            run.tick(&ours, &anyone, now)
        };
        take(
            actions.expect("infallible"),
            &mut outstanding,
            now,
            &mut connecting,
            &mut finished,
        );
    }
    assert!(finished, "the run did not finish");
    assert!(run.is_finished());
    if all_honest && !silenced {
        assert!(
            ours.total_work() >= work_of(theirs),
            "an honest run ended short of the honest tip"
        );
    }
}

/// A liar's answer to `request`.
fn lie(
    u: &mut Unstructured,
    request: &Request,
    peer: NodeAddr,
    chain: &[Block],
    serve: &dyn Fn(&Request) -> Answer,
    claim_of: &dyn Fn(NodeAddr) -> Answer,
) -> Result<Answer, AnswerError> {
    let honest = || {
        if *request == Request::Claim {
            claim_of(peer)
        } else {
            serve(request)
        }
    };
    Ok(match between(u, 0, 9) {
        0 => return Err(AnswerError::Misbehaved("not the API".into())),
        1 => return Err(AnswerError::Silent("silent".into())),
        2 => Answer::Claim(Claim {
            peer,
            work: work(u),
            height: u.arbitrary().unwrap_or(0),
            genesis: if between(u, 0, 1) == 0 {
                chain[0].hash
            } else {
                Hash([byte(u); 32])
            },
        }),
        3 => Answer::Headers(
            (0..between(u, 0, 5))
                .map(|_| chain[index(u, chain.len())].header())
                .collect(),
        ),
        4 => Answer::Blocks(
            (0..between(u, 0, 5))
                .map(|_| chain[index(u, chain.len())].clone())
                .collect(),
        ),
        5 => match honest() {
            Answer::Headers(mut h) if !h.is_empty() => {
                let i = index(u, h.len());
                match between(u, 0, 3) {
                    0 => h[i].nonce ^= 1,
                    1 => h[i].timestamp = h[i].timestamp.wrapping_add(u64::from(byte(u))),
                    2 => {
                        h.remove(i);
                    }
                    _ => h.reverse(),
                }
                Answer::Headers(h)
            }
            Answer::Blocks(mut b) if !b.is_empty() => {
                let i = index(u, b.len());
                match between(u, 0, 2) {
                    0 => b[i].nonce ^= 1,
                    1 => b.truncate(i),
                    _ => b.reverse(),
                }
                Answer::Blocks(b)
            }
            other => other,
        },
        6 => match honest() {
            Answer::Headers(mut h) => {
                h.extend(
                    chain
                        .iter()
                        .skip(index(u, chain.len()))
                        .take(3)
                        .map(Block::header),
                );
                Answer::Headers(h)
            }
            other => other,
        },
        _ => honest(),
    })
}

fn work(u: &mut Unstructured) -> U256 {
    match between(u, 0, 3) {
        0 => U256::MAX,
        1 => U256::from(u.arbitrary::<u128>().unwrap_or(0)),
        _ => U256::from(between(u, 0, 20)),
    }
}

fn claims_case(u: &mut Unstructured) {
    let ours = Hash([1; 32]);
    let theirs = Hash([2; 32]);
    let claims: Vec<Claim> = (0..between(u, 0, 12))
        .map(|_| Claim {
            peer: NodeAddr::new([127, 0, 0, 1].into(), 40_000 + u16::from(byte(u))),
            work: work(u),
            height: u.arbitrary().unwrap_or(0),
            genesis: if between(u, 0, 3) == 0 { theirs } else { ours },
        })
        .collect();
    let our_work = work(u);
    let c = candidates(&ours, our_work, &claims);
    let heavier = claims
        .iter()
        .filter(|c| c.genesis == ours && c.work > our_work)
        .count();
    assert_eq!(c.len(), heavier);
    for c in &c {
        assert!(c.work > our_work);
        assert!(claims.iter().any(|k| k.peer == c.peer
            && k.work == c.work
            && k.height == c.height
            && k.genesis == ours));
    }
    for w in c.windows(2) {
        assert!(
            w[0].work > w[1].work || (w[0].work == w[1].work && w[0].peer <= w[1].peer),
            "not heaviest first"
        );
    }
    // A peer's `GET /blockchain/` answer, parsed as the driver does.
    let len = between(u, 0, 1024) as usize;
    let bytes = u.bytes(len).unwrap_or_default();
    if let Ok(info) = serde_json::from_slice::<BlockchainInfo>(bytes) {
        cinder_fuzz::json_round_trip(&info);
        let peer = NodeAddr::new([10, 0, 0, 1].into(), 9);
        let claim = Claim::of(peer, &info);
        assert_eq!(
            (claim.work, claim.height, claim.genesis),
            (info.total_work.0, info.height, info.genesis_hash)
        );
    }
    // The locator.
    let tip: u64 = if between(u, 0, 1) == 0 {
        u.arbitrary().unwrap_or(0)
    } else {
        between(u, 0, 5_000)
    };
    let l = locator_heights(tip);
    assert_eq!(l[0], tip);
    assert_eq!(*l.last().expect("genesis"), 0);
    assert!(l.len() <= MAX_LOCATOR);
    assert!(l.windows(2).all(|w| w[0] > w[1]), "{l:?}");
    for (i, h) in l.iter().enumerate().take(10) {
        assert!(
            *h == tip - i as u64 || *h == 0,
            "not dense at the tip: {l:?}"
        );
    }
    // A named sync: a known peer, from its own IP only.
    let named = NodeAddr::new([10, 1, 2, 3].into(), 8000);
    let caller: Option<IpAddr> = match between(u, 0, 3) {
        0 => None,
        1 => Some("::ffff:10.1.2.3".parse().expect("ip")),
        2 => Some([10, 1, 2, byte(u)].into()),
        _ => Some("10.1.2.3".parse().expect("ip")),
    };
    let known = between(u, 0, 1) == 0;
    assert_eq!(
        sync_from_named(named, caller, known),
        known && caller.is_some_and(|ip| ip.to_canonical() == named.ip())
    );
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    for _ in 0..8 {
        if u.is_empty() {
            break;
        }
        match between(&mut u, 0, 4) {
            0 => headers_case(&mut u),
            1 => download_case(&mut u),
            2 => merge_case(&mut u),
            3 => run_case(&mut u),
            _ => claims_case(&mut u),
        }
    }
});
