//! One sync run as a state machine (API.md §8 "Sync", "Work before
//! bodies", "Bad peers"), in the manner of nakamoto's `syncmgr`: it takes
//! events — the peers' answers, the verdicts on the blocks it handed out,
//! ticks of a clock passed in — and returns [`Action`]s for a driver to
//! carry out. It holds every decision of a run: whose claims to ask, which
//! candidates to take and in which order, the locator, when headers show
//! enough work to fetch bodies, the download window, when a peer stalls,
//! and what each failure costs the peer. It does no I/O: the chain is read
//! through [`ChainView`] (the node's store in production, the simulator's
//! chain model), requests go out as [`Action::Ask`] (the typed HTTP client
//! in production, an in-memory network in the simulator), and blocks are
//! connected by whoever carries out [`Action::Connect`].
//!
//! [`Schedule`] decides when runs happen and from whom.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use primitive_types::U256;

use crate::consensus::{ChainParams, block_work};
use crate::types::{Block, BlockHeader, Hash};
use crate::wire::NodeAddr;

use super::misbehaviour::{Leave, Misbehaviour};
use super::sync::{
    BranchContext, CLAIMS_IN_FLIGHT, Candidate, Claim, Download, HEADERS_PER_ASK, HeaderChain,
    KnownBlock, MAX_HEADERS_HELD, MAX_LOCATOR, REQUEST_TIMEOUT, candidates, locator_heights,
};

/// How long a peer's `/blockchain/` claim may take (the check's timeout).
pub const CLAIM_TIMEOUT: Duration = Duration::from_secs(2);

/// What a run reads of this node's chain.
pub trait ChainView {
    /// Why a read failed (the store's error; never, in the simulator).
    type Error;
    fn params(&self) -> &ChainParams;
    /// The work of the active chain.
    fn total_work(&self) -> U256;
    fn tip_height(&self) -> u64;
    /// Hashes of the active chain at `heights`, in that order (a height
    /// past the tip is skipped).
    fn active_hashes(&self, heights: &[u64]) -> Result<Vec<Hash>, Self::Error>;
    /// What checking headers after the stored block `hash` starts from;
    /// `None` when it is not stored.
    fn branch_context(&self, hash: &Hash) -> Result<Option<BranchContext>, Self::Error>;
    fn block_status(&self, hash: &Hash) -> Result<KnownBlock, Self::Error>;
    /// This node's clock, in Unix seconds (timestamps are judged by it).
    fn now_unix(&self) -> u64;
}

/// This node's locator (API.md §8 step 2): the active chain's hashes at
/// [`locator_heights`], newest first.
pub fn locator<C: ChainView>(chain: &C) -> Result<Vec<Hash>, C::Error> {
    chain.active_hashes(&locator_heights(chain.tip_height()))
}

/// What a run asks of a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `GET /blockchain/`.
    Claim,
    /// `GET /headers/?locator=…&limit=…`.
    Headers { locator: Vec<Hash>, limit: usize },
    /// `GET /blocks/?hashes=…`.
    Blocks { hashes: Vec<Hash> },
}

/// A peer's answer to a [`Request`].
#[derive(Clone, Debug)]
pub enum Answer {
    Claim(Claim),
    Headers(Vec<BlockHeader>),
    Blocks(Vec<Block>),
}

/// A request that got no usable answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// No answer in time, no connection, or a refusal an honest peer can
    /// give: no ban.
    Silent(String),
    /// An answer that is not the API's: a ban (`malformed_answer`).
    Misbehaved(String),
}

/// The node's verdict on one block handed out by [`Action::Connect`],
/// taken from its intake's typed result (never from an error's text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Stored (connected, or on a side branch).
    Connected,
    AlreadyKnown,
    /// Its parent is not stored: the blocks came out of order.
    UnknownParent,
    /// Refused only because of this node's clock (`timestamp_in_future`).
    NotYet,
    /// It breaks a rule: the error's code.
    Invalid(String),
}

/// What a driver carries out for a run.
#[derive(Clone, Debug)]
pub enum Action {
    /// Send `request` to `peer`; its answer (or failure) comes back to
    /// [`SyncRun::answer`] with `id`. `timeout` is what the request may
    /// take; the run also gives up on it by itself at its deadline
    /// ([`SyncRun::tick`]).
    Ask {
        id: u64,
        peer: NodeAddr,
        request: Request,
        timeout: Duration,
    },
    /// Connect `blocks` in order through the node's intake, stopping at
    /// the first verdict that is not `Connected` or `AlreadyKnown`; then
    /// call [`SyncRun::connected`] with `id` and the verdicts given. A
    /// driver that connects in the background may get a new `Connect`
    /// meanwhile (the peer was left, another taken): the late verdicts of
    /// the old one are ignored.
    Connect { id: u64, blocks: Vec<Block> },
    /// Ban `peer` for `reason`, with this node's `note`.
    Ban {
        peer: NodeAddr,
        reason: Misbehaviour,
        note: String,
    },
    /// Blocks are fetched from `peer`, whose claim is `height`.
    Started { peer: NodeAddr, height: u64 },
    /// The run left `peer` early (after an [`Action::Ban`] when it is one).
    Left { peer: NodeAddr, leave: Leave },
    /// The run is done with `peer`, `connected` blocks from it.
    Served { peer: NodeAddr, connected: u64 },
    /// Merge `peer`'s mempool (API.md §8 "The mempool merge"): the run
    /// synced from it, and it is not banned.
    Merge { peer: NodeAddr },
    /// The run is over; `synced_from`, the peer that gave it blocks, if
    /// any: this node's new tip is relayed.
    Finished { synced_from: Option<NodeAddr> },
}

/// The candidate being synced from.
#[derive(Debug)]
struct FromPeer {
    candidate: Candidate,
    /// The work of the peer's chain as its headers showed it. Judged on
    /// what the peer sent, never on this node's tip: a block relayed
    /// meanwhile may be stored before the tip shows it.
    shown: U256,
    /// The peer's headers since the last body fetched, checked and linked.
    chain: Option<HeaderChain>,
    /// The bodies among them this node lacks (chain order).
    held: Vec<Hash>,
    /// Headers taken since the last body fetched, across fresh starts
    /// too: a peer whose headers never show more work is left after
    /// [`MAX_HEADERS_HELD`].
    held_count: usize,
    connected: u64,
    /// The active chain's tip when the last headers were asked.
    our_tip: Option<Hash>,
    /// Whether the last headers answer was full (more may follow).
    more_headers: bool,
    stage: Stage,
    timeout: Duration,
}

#[derive(Debug)]
enum Stage {
    /// Waiting for the answer to headers request `id`, since `since`.
    Headers { id: u64, since: Instant },
    /// Bodies in the window; `asks` maps request ids to the window's.
    Bodies {
        window: Box<Download>,
        asks: BTreeMap<u64, u64>,
        /// The blocks handed out to connect, (hash, height), while the
        /// driver connects them.
        connecting: Option<(u64, Vec<(Hash, u64)>)>,
        /// Waiting for an answer since then (`None` while connecting).
        since: Option<Instant>,
    },
}

/// One sync run.
#[derive(Debug)]
pub struct SyncRun {
    next_id: u64,
    /// Peers whose claims are still to ask.
    to_claim: VecDeque<NodeAddr>,
    /// Claims asked: request id → (peer, deadline).
    claiming: BTreeMap<u64, (NodeAddr, Instant)>,
    claims: Vec<Claim>,
    /// Candidates not taken yet, heaviest first; `None` until the claims
    /// are in.
    candidates: Option<VecDeque<Candidate>>,
    current: Option<FromPeer>,
    synced_from: Option<NodeAddr>,
    finished: bool,
    /// Whether candidates were skipped when caught up (a run of the
    /// schedule) or taken whatever this node's work (a test's one peer).
    skip_caught_up: bool,
    timeout: Duration,
}

impl SyncRun {
    /// A run over `targets`: their claims first (at most
    /// [`CLAIMS_IN_FLIGHT`] at once), then the heaviest candidates in turn
    /// until this node has caught up.
    pub fn start(targets: Vec<NodeAddr>, now: Instant) -> (SyncRun, Vec<Action>) {
        let mut run = SyncRun {
            next_id: 0,
            to_claim: dedup(targets).into(),
            claiming: BTreeMap::new(),
            claims: Vec::new(),
            candidates: None,
            current: None,
            synced_from: None,
            finished: false,
            skip_caught_up: true,
            timeout: REQUEST_TIMEOUT,
        };
        let mut actions = Vec::new();
        if run.to_claim.is_empty() {
            run.finished = true;
            actions.push(Action::Finished { synced_from: None });
        } else {
            run.ask_claims(now, &mut actions);
        }
        (run, actions)
    }

    /// A run from the one peer of `candidate` (its claim taken as given),
    /// whose requests may each take `timeout`.
    pub fn from_candidate<C: ChainView>(
        candidate: Candidate,
        timeout: Duration,
        chain: &C,
        now: Instant,
    ) -> Result<(SyncRun, Vec<Action>), C::Error> {
        let mut run = SyncRun {
            next_id: 0,
            to_claim: VecDeque::new(),
            claiming: BTreeMap::new(),
            claims: Vec::new(),
            candidates: Some(VecDeque::from([candidate])),
            current: None,
            synced_from: None,
            finished: false,
            skip_caught_up: false,
            timeout,
        };
        let mut actions = Vec::new();
        run.next_candidate(chain, &|_| true, now, &mut actions)?;
        Ok((run, actions))
    }

    /// Whether the run is over ([`Action::Finished`] was returned).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether blocks are being fetched from a candidate (`/health/`
    /// `syncing`).
    pub fn is_syncing(&self) -> bool {
        self.current.is_some()
    }

    /// Whether bodies are being fetched (the node keeps its side blocks
    /// meanwhile).
    pub fn is_fetching_bodies(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| matches!(c.stage, Stage::Bodies { .. }))
    }

    /// The peer being synced from.
    pub fn current_peer(&self) -> Option<NodeAddr> {
        self.current.as_ref().map(|c| c.candidate.peer)
    }

    /// When [`SyncRun::tick`] next has something to decide.
    pub fn next_deadline(&self) -> Option<Instant> {
        let claims = self.claiming.values().map(|(_, d)| *d).min();
        let current = self.current.as_ref().and_then(|c| match &c.stage {
            Stage::Headers { since, .. } => Some(*since + c.timeout),
            Stage::Bodies { since, .. } => since.map(|s| s + c.timeout),
        });
        match (claims, current) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The answer to request `id` (an id the run no longer waits for is
    /// ignored: its peer was left meanwhile).
    pub fn answer<C: ChainView>(
        &mut self,
        id: u64,
        answer: Result<Answer, AnswerError>,
        chain: &C,
        may_contact: &dyn Fn(&NodeAddr) -> bool,
        now: Instant,
    ) -> Result<Vec<Action>, C::Error> {
        let mut actions = Vec::new();
        if self.finished {
            return Ok(actions);
        }
        if let Some((peer, _)) = self.claiming.remove(&id) {
            match answer {
                Ok(Answer::Claim(claim)) => self.claims.push(Claim { peer, ..claim }),
                Ok(_) => actions.push(Action::Ban {
                    peer,
                    reason: Misbehaviour::MalformedAnswer,
                    note: "an answer that is not a claim".into(),
                }),
                Err(AnswerError::Misbehaved(note)) => actions.push(Action::Ban {
                    peer,
                    reason: Misbehaviour::MalformedAnswer,
                    note,
                }),
                Err(AnswerError::Silent(_)) => {}
            }
            self.claims_progress(chain, may_contact, now, &mut actions)?;
            return Ok(actions);
        }
        let Some(current) = self.current.as_mut() else {
            return Ok(actions);
        };
        let step = match &mut current.stage {
            Stage::Headers { id: asked, .. } if *asked == id => match answer {
                Ok(Answer::Headers(headers)) => current.headers(headers, chain, now)?,
                Ok(_) => Err(Leave::Ban(
                    Misbehaviour::MalformedAnswer,
                    "an answer that is not headers".into(),
                )),
                Err(e) => Err(leave_for(e)),
            },
            Stage::Bodies {
                window,
                asks,
                since,
                ..
            } => match asks.remove(&id) {
                None => return Ok(actions),
                Some(wid) => {
                    *since = since.map(|_| now);
                    match answer {
                        Ok(Answer::Blocks(blocks)) => window.answered(wid, blocks),
                        Ok(_) => Err(Leave::Ban(
                            Misbehaviour::MalformedAnswer,
                            "an answer that is not blocks".into(),
                        )),
                        Err(e) => Err(leave_for(e)),
                    }
                }
            },
            Stage::Headers { .. } => return Ok(actions),
        };
        self.after_step(step, chain, may_contact, now, &mut actions)?;
        Ok(actions)
    }

    /// The verdicts on the blocks of [`Action::Connect`] `id`, in order
    /// (fewer than the blocks when one stopped the rest).
    pub fn connected<C: ChainView>(
        &mut self,
        id: u64,
        verdicts: Vec<Verdict>,
        chain: &C,
        may_contact: &dyn Fn(&NodeAddr) -> bool,
        now: Instant,
    ) -> Result<Vec<Action>, C::Error> {
        let mut actions = Vec::new();
        let Some(current) = self.current.as_mut() else {
            return Ok(actions);
        };
        let Stage::Bodies {
            connecting, since, ..
        } = &mut current.stage
        else {
            return Ok(actions);
        };
        let Some((_, blocks)) = connecting.take_if(|(asked, _)| *asked == id) else {
            return Ok(actions); // the verdicts of a peer left meanwhile
        };
        *since = Some(now);
        let mut step = Ok(());
        for ((hash, height), verdict) in blocks.iter().zip(verdicts) {
            match verdict {
                Verdict::Connected | Verdict::AlreadyKnown => current.connected += 1,
                Verdict::UnknownParent => {
                    step = Err(Leave::Silent(format!(
                        "block {hash} arrived before its parent"
                    )));
                    break;
                }
                Verdict::NotYet => {
                    step = Err(Leave::NotYet(format!(
                        "block {hash} at height {height}: timestamp_in_future"
                    )));
                    break;
                }
                Verdict::Invalid(code) => {
                    step = Err(Leave::Ban(
                        Misbehaviour::InvalidBlock,
                        format!("block {hash} at height {height}: {code}"),
                    ));
                    break;
                }
            }
        }
        self.after_step(step, chain, may_contact, now, &mut actions)?;
        Ok(actions)
    }

    /// Time passed: claims past their deadline count as unanswered, and a
    /// candidate silent for its timeout is left for the next one.
    pub fn tick<C: ChainView>(
        &mut self,
        chain: &C,
        may_contact: &dyn Fn(&NodeAddr) -> bool,
        now: Instant,
    ) -> Result<Vec<Action>, C::Error> {
        let mut actions = Vec::new();
        if self.finished {
            return Ok(actions);
        }
        let late: Vec<u64> = self
            .claiming
            .iter()
            .filter(|(_, (_, deadline))| now >= *deadline)
            .map(|(id, _)| *id)
            .collect();
        if !late.is_empty() {
            for id in late {
                self.claiming.remove(&id);
            }
            self.claims_progress(chain, may_contact, now, &mut actions)?;
        }
        if let Some(current) = &self.current {
            let stalled = match &current.stage {
                Stage::Headers { since, .. } => (now >= *since + current.timeout)
                    .then(|| format!("no headers within {} ms", current.timeout.as_millis())),
                Stage::Bodies { since, .. } => since
                    .filter(|s| now >= *s + current.timeout)
                    .map(|_| format!("no block within {} ms", current.timeout.as_millis())),
            };
            if let Some(note) = stalled {
                self.after_step(
                    Err(Leave::Silent(note)),
                    chain,
                    may_contact,
                    now,
                    &mut actions,
                )?;
            }
        }
        Ok(actions)
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn ask_claims(&mut self, now: Instant, actions: &mut Vec<Action>) {
        while self.claiming.len() < CLAIMS_IN_FLIGHT {
            let Some(peer) = self.to_claim.pop_front() else {
                break;
            };
            let id = self.id();
            self.claiming.insert(id, (peer, now + CLAIM_TIMEOUT));
            actions.push(Action::Ask {
                id,
                peer,
                request: Request::Claim,
                timeout: CLAIM_TIMEOUT,
            });
        }
    }

    /// After a claim came in or was given up: more claims, or the
    /// candidates once every claim is in.
    fn claims_progress<C: ChainView>(
        &mut self,
        chain: &C,
        may_contact: &dyn Fn(&NodeAddr) -> bool,
        now: Instant,
        actions: &mut Vec<Action>,
    ) -> Result<(), C::Error> {
        self.ask_claims(now, actions);
        if self.claiming.is_empty() && self.candidates.is_none() {
            let genesis = chain.params().genesis_hash;
            let claims = std::mem::take(&mut self.claims);
            self.candidates = Some(candidates(&genesis, chain.total_work(), &claims).into());
            self.next_candidate(chain, may_contact, now, actions)?;
        }
        Ok(())
    }

    /// Takes the next candidate worth it, or finishes the run.
    fn next_candidate<C: ChainView>(
        &mut self,
        chain: &C,
        may_contact: &dyn Fn(&NodeAddr) -> bool,
        now: Instant,
        actions: &mut Vec<Action>,
    ) -> Result<(), C::Error> {
        self.current = None;
        while let Some(candidate) = self.candidates.as_mut().and_then(VecDeque::pop_front) {
            if self.skip_caught_up && chain.total_work() >= candidate.work {
                continue; // caught up through an earlier candidate
            }
            if !may_contact(&candidate.peer) {
                continue; // banned during this run (another port of its IP, say)
            }
            actions.push(Action::Started {
                peer: candidate.peer,
                height: candidate.height,
            });
            let mut current = FromPeer {
                candidate,
                shown: U256::zero(),
                chain: None,
                held: Vec::new(),
                held_count: 0,
                connected: 0,
                our_tip: None,
                more_headers: false,
                stage: Stage::Headers { id: 0, since: now },
                timeout: self.timeout,
            };
            let id = self.id();
            actions.push(current.ask_headers(id, chain, now)?);
            self.current = Some(current);
            return Ok(());
        }
        self.finished = true;
        if let Some(peer) = self.synced_from.filter(|p| may_contact(p)) {
            actions.push(Action::Merge { peer });
        }
        actions.push(Action::Finished {
            synced_from: self.synced_from,
        });
        Ok(())
    }

    /// Carries a step of the current candidate on: a [`Leave`] ends it;
    /// otherwise the window is pumped (more asks, blocks to connect), or
    /// the next headers asked, or the candidate is done.
    fn after_step<C: ChainView>(
        &mut self,
        step: Result<(), Leave>,
        chain: &C,
        may_contact: &dyn Fn(&NodeAddr) -> bool,
        now: Instant,
        actions: &mut Vec<Action>,
    ) -> Result<(), C::Error> {
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        let peer = current.candidate.peer;
        let outcome = match step {
            Err(leave) => Err(leave),
            Ok(()) => {
                let mut next_ids = || {
                    self.next_id += 1;
                    self.next_id
                };
                current.pump(&mut next_ids, chain, now, actions)?
            }
        };
        match outcome {
            Err(leave) => {
                if let Leave::Ban(reason, note) = &leave {
                    actions.push(Action::Ban {
                        peer,
                        reason: *reason,
                        note: note.clone(),
                    });
                }
                actions.push(Action::Left { peer, leave });
                self.next_candidate(chain, may_contact, now, actions)?;
            }
            Ok(Pumped::Going) => {}
            Ok(Pumped::Done) => {
                let connected = current.connected;
                if connected > 0 {
                    self.synced_from = Some(peer);
                }
                actions.push(Action::Served { peer, connected });
                self.next_candidate(chain, may_contact, now, actions)?;
            }
        }
        Ok(())
    }
}

/// Where a candidate stands after a step.
enum Pumped {
    Going,
    Done,
}

impl FromPeer {
    fn ask_headers<C: ChainView>(
        &mut self,
        id: u64,
        chain: &C,
        now: Instant,
    ) -> Result<Action, C::Error> {
        let mut locator = locator(chain)?;
        self.our_tip = locator.first().copied();
        if let Some(c) = &self.chain {
            // Go on after the last header held (its body may not be here).
            locator.insert(0, c.tip());
            locator.truncate(MAX_LOCATOR);
        }
        self.stage = Stage::Headers { id, since: now };
        Ok(Action::Ask {
            id,
            peer: self.candidate.peer,
            request: Request::Headers {
                locator,
                limit: HEADERS_PER_ASK,
            },
            timeout: self.timeout,
        })
    }

    /// Headers arrived (§8 step 3): checked, linked, their work counted;
    /// the bodies this node lacks held for the window.
    fn headers<C: ChainView>(
        &mut self,
        headers: Vec<BlockHeader>,
        chain: &C,
        now: Instant,
    ) -> Result<Result<(), Leave>, C::Error> {
        if headers.len() > HEADERS_PER_ASK {
            return Ok(Err(Leave::Ban(
                Misbehaviour::Unrequested,
                format!("{} headers for a limit of {HEADERS_PER_ASK}", headers.len()),
            )));
        }
        self.more_headers = headers.len() == HEADERS_PER_ASK;
        let Some(first) = headers.first() else {
            // Nothing after our locator: the peer's tip is on our chain,
            // at most our tip.
            if self.chain.is_none()
                && let Some(tip) = self.our_tip
                && let Some(ours) = chain.branch_context(&tip)?
            {
                self.shown = self.shown.max(ours.work);
            }
            return Ok(Ok(()));
        };
        let start = first.prev_hash;
        if self.chain.as_ref().is_none_or(|c| c.tip() != start) {
            // A fresh start (or the peer moved to another branch): from a
            // block this node stores.
            let Some(context) = chain.branch_context(&start)? else {
                return Ok(Err(Leave::Ban(
                    Misbehaviour::InvalidHeaders,
                    format!("headers start after {start}, a block this node does not store"),
                )));
            };
            self.chain = Some(HeaderChain::after(
                chain.params(),
                start,
                context.target,
                context.tail,
            ));
            self.shown = context.work;
            self.held.clear();
        }
        let Some(c) = self.chain.as_mut() else {
            return Ok(Ok(()));
        };
        if let Err(leave) = c.extend(&headers, chain.now_unix()) {
            return Ok(Err(leave));
        }
        self.shown = headers
            .iter()
            .fold(self.shown, |work, h| work + block_work(&h.target));
        self.held_count += headers.len();
        for h in &headers {
            match chain.block_status(&h.hash)? {
                KnownBlock::Unknown => self.held.push(h.hash),
                KnownBlock::Stored => {}
                KnownBlock::Invalid => {
                    return Ok(Err(Leave::Ban(
                        Misbehaviour::KnownInvalid,
                        format!("its chain holds block {}, known invalid", h.hash),
                    )));
                }
            }
        }
        if self.shown > chain.total_work() && !self.held.is_empty() {
            // Work before bodies (§8): only now are bodies fetched.
            self.stage = Stage::Bodies {
                window: Box::new(Download::new(std::mem::take(&mut self.held))),
                asks: BTreeMap::new(),
                connecting: None,
                since: Some(now),
            };
            self.held_count = 0;
        } else if self.held_count >= MAX_HEADERS_HELD {
            return Ok(Err(Leave::Silent(format!(
                "{} headers held without more work than this node's chain",
                self.held_count
            ))));
        }
        Ok(Ok(()))
    }

    /// The next thing to do: bodies to ask and blocks to connect while the
    /// window is open; headers to ask while the peer has more; or done.
    fn pump<C: ChainView>(
        &mut self,
        next_id: &mut dyn FnMut() -> u64,
        chain: &C,
        now: Instant,
        actions: &mut Vec<Action>,
    ) -> Result<Result<Pumped, Leave>, C::Error> {
        if let Stage::Bodies {
            window,
            asks,
            connecting,
            since,
        } = &mut self.stage
        {
            if connecting.is_some() {
                return Ok(Ok(Pumped::Going));
            }
            for request in window.next_requests() {
                let id = next_id();
                asks.insert(id, request.id);
                actions.push(Action::Ask {
                    id,
                    peer: self.candidate.peer,
                    request: Request::Blocks {
                        hashes: request.hashes,
                    },
                    timeout: self.timeout,
                });
            }
            let ready = window.ready();
            if !ready.is_empty() {
                let id = next_id();
                *connecting = Some((id, ready.iter().map(|b| (b.hash, b.height)).collect()));
                *since = None;
                actions.push(Action::Connect { id, blocks: ready });
                return Ok(Ok(Pumped::Going));
            }
            if !window.is_done() {
                if since.is_none() {
                    *since = Some(now);
                }
                return Ok(Ok(Pumped::Going));
            }
            // The window is through: more headers if the peer had more.
            if !self.more_headers {
                return Ok(self.done());
            }
            let id = next_id();
            actions.push(self.ask_headers(id, chain, now)?);
            return Ok(Ok(Pumped::Going));
        }
        if self.more_headers {
            let id = next_id();
            actions.push(self.ask_headers(id, chain, now)?);
            return Ok(Ok(Pumped::Going));
        }
        Ok(self.done())
    }

    /// The peer has no more: it showed the work it claimed, or it is
    /// banned for the claim.
    fn done(&self) -> Result<Pumped, Leave> {
        if self.shown < self.candidate.work {
            return Err(Leave::Ban(
                Misbehaviour::WorkNotShown,
                format!(
                    "it claimed work {} and its headers showed a chain of {}",
                    self.candidate.work, self.shown
                ),
            ));
        }
        Ok(Pumped::Done)
    }
}

fn leave_for(e: AnswerError) -> Leave {
    match e {
        AnswerError::Silent(note) => Leave::Silent(note),
        AnswerError::Misbehaved(note) => Leave::Ban(Misbehaviour::MalformedAnswer, note),
    }
}

fn dedup(peers: Vec<NodeAddr>) -> Vec<NodeAddr> {
    let mut seen = BTreeSet::new();
    peers.into_iter().filter(|p| seen.insert(*p)).collect()
}

/// When sync runs and from whom (API.md §8 "Sync"): one run at start, then
/// every `interval` from every known peer; a run asked for a named peer
/// (a post with an unknown parent, a check showing more work) or for a
/// peer new to the book, from that peer alone, and only while it is known.
/// Requests made while a run goes on coalesce into the next one.
#[derive(Debug)]
pub struct Schedule {
    interval: Duration,
    next_run: Instant,
    named: BTreeSet<NodeAddr>,
    everyone: bool,
    /// The known peers as last looked at: one new since is named.
    seen: Option<BTreeSet<NodeAddr>>,
    /// Whether the run going on is an interval run (everyone).
    running_everyone: bool,
}

impl Schedule {
    /// The first run is due at `now`.
    pub fn new(interval: Duration, now: Instant) -> Schedule {
        Schedule {
            interval,
            next_run: now,
            named: BTreeSet::new(),
            everyone: false,
            seen: None,
            running_everyone: false,
        }
    }

    /// A run was asked: from `peer` alone, or from everyone (`None`).
    pub fn requested(&mut self, peer: Option<NodeAddr>) {
        match peer {
            Some(peer) => {
                self.named.insert(peer);
            }
            None => self.everyone = true,
        }
    }

    /// The peers known now (looked at about once a second): any not seen
    /// before is named, as it may have more work.
    pub fn peers_now(&mut self, known: &[NodeAddr]) {
        let now: BTreeSet<NodeAddr> = known.iter().copied().collect();
        if let Some(seen) = &self.seen {
            self.named.extend(now.difference(seen).copied());
        } else {
            self.named.extend(now.iter().copied());
        }
        self.seen = Some(now);
    }

    /// The targets of a run to start now, if one is due: everyone known at
    /// the interval or when asked, else the named peers still known.
    pub fn due(&mut self, known: &[NodeAddr], now: Instant) -> Option<Vec<NodeAddr>> {
        let everyone = self.everyone || now >= self.next_run;
        if !everyone && self.named.is_empty() {
            return None;
        }
        self.running_everyone = everyone;
        let targets: Vec<NodeAddr> = if everyone {
            self.next_run = now + self.interval;
            known.to_vec()
        } else {
            known
                .iter()
                .copied()
                .filter(|p| self.named.contains(p))
                .collect()
        };
        self.everyone = false;
        self.named.clear();
        Some(targets)
    }

    /// The run [`Schedule::due`] started ended at `now`: the next interval
    /// run is an interval after the end of an interval run, however long
    /// it took.
    pub fn run_ended(&mut self, now: Instant) {
        if std::mem::take(&mut self.running_everyone) {
            self.next_run = now + self.interval;
        }
    }

    /// When the next interval run is due.
    pub fn next_wake(&self) -> Instant {
        self.next_run
    }
}

/// Whose mempool an interval merge takes (API.md §8 "Delivery"): one known
/// peer at random, `dice` a uniform draw.
pub fn merge_peer(known: &[NodeAddr], dice: u64) -> Option<NodeAddr> {
    if known.is_empty() {
        return None;
    }
    let n = known.len() as u64;
    usize::try_from(dice % n)
        .ok()
        .and_then(|i| known.get(i).copied())
}

#[cfg(test)]
mod tests {
    //! A run against an in-memory chain, every answer and every tick
    //! handed in by the test: no sockets, no sleeping.

    use super::*;
    use crate::p2p::memory_chain::MemoryChain;
    use crate::types::Address;

    /// `n` blocks of `creator` after `parent`.
    fn blocks_after(parent: &Block, n: u64, creator: u8) -> Vec<Block> {
        let params = ChainParams::regtest();
        let mut out: Vec<Block> = Vec::new();
        let base = crate::node::unix_now() - 50_000;
        for _ in 0..n {
            let p = out.last().unwrap_or(parent).clone();
            let height = p.height + 1;
            let mut b = Block::assemble(
                p.hash,
                height,
                base + height * 10 + u64::from(creator),
                params.pow_limit,
                Address([creator; 20]),
                params.subsidy(height),
                Vec::new(),
            )
            .expect("no overflow");
            assert!(b.solve(10_000_000));
            out.push(b);
        }
        out
    }

    fn peer(n: u16) -> NodeAddr {
        NodeAddr::new([10, 0, 0, 1].into(), 40_000 + n)
    }

    fn claim(peer: NodeAddr, work: U256, height: u64) -> Answer {
        Answer::Claim(Claim {
            peer,
            work,
            height,
            genesis: ChainParams::regtest().genesis_hash,
        })
    }

    fn asks(actions: &[Action]) -> Vec<(u64, NodeAddr, Request)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Ask {
                    id, peer, request, ..
                } => Some((*id, *peer, request.clone())),
                _ => None,
            })
            .collect()
    }

    fn anyone(_: &NodeAddr) -> bool {
        true
    }

    /// What a peer holding `chain` (genesis first) answers.
    fn serve(chain: &[Block], request: &Request) -> Answer {
        match request {
            Request::Claim => unreachable!("claims are answered by the test"),
            Request::Headers { locator, limit } => {
                let after = locator
                    .iter()
                    .find_map(|h| chain.iter().position(|b| b.hash == *h))
                    .unwrap_or(0);
                Answer::Headers(
                    chain[after + 1..]
                        .iter()
                        .take(*limit)
                        .map(Block::header)
                        .collect(),
                )
            }
            Request::Blocks { hashes } => Answer::Blocks(
                hashes
                    .iter()
                    .filter_map(|h| chain.iter().find(|b| b.hash == *h).cloned())
                    .collect(),
            ),
        }
    }

    /// Runs `actions` to the end against peers that all hold `chain`,
    /// connecting into `ours`; the actions seen, in order.
    fn run_out(
        run: &mut SyncRun,
        first: Vec<Action>,
        chain: &[Block],
        ours: &mut MemoryChain,
        now: Instant,
    ) -> Vec<Action> {
        let mut seen = Vec::new();
        let mut queue: VecDeque<Action> = first.into();
        while let Some(action) = queue.pop_front() {
            seen.push(action.clone());
            let more = match action {
                Action::Ask { id, request, .. } => {
                    let answer = serve(chain, &request);
                    run.answer(id, Ok(answer), ours, &anyone, now)
                }
                Action::Connect { id, blocks } => {
                    let mut verdicts = Vec::new();
                    for b in &blocks {
                        let v = ours.connect(b);
                        let stop = !matches!(v, Verdict::Connected | Verdict::AlreadyKnown);
                        verdicts.push(v);
                        if stop {
                            break;
                        }
                    }
                    run.connected(id, verdicts, ours, &anyone, now)
                }
                _ => Ok(Vec::new()),
            };
            queue.extend(more.expect("infallible"));
        }
        seen
    }

    #[test]
    fn claims_go_eight_at_a_time_and_the_heaviest_candidate_is_taken_first() {
        let now = Instant::now();
        let ours = MemoryChain::new();
        let targets: Vec<NodeAddr> = (1..=10).map(peer).collect();
        let (mut run, actions) = SyncRun::start(targets, now);
        let first = asks(&actions);
        assert_eq!(first.len(), CLAIMS_IN_FLIGHT);
        assert!(first.iter().all(|(_, _, r)| *r == Request::Claim));
        let mut pending: VecDeque<(u64, NodeAddr)> =
            first.iter().map(|(id, p, _)| (*id, *p)).collect();
        let mut started = Vec::new();
        while let Some((id, p)) = pending.pop_front() {
            // Peer 7 has the most work, peer 3 some; the rest none.
            let work = match p.port() {
                40_007 => U256::from(1_000u64),
                40_003 => U256::from(500u64),
                _ => U256::zero(),
            };
            let actions = run
                .answer(id, Ok(claim(p, work, 3)), &ours, &anyone, now)
                .expect("infallible");
            pending.extend(
                asks(&actions)
                    .iter()
                    .filter_map(|(id, p, r)| (*r == Request::Claim).then_some((*id, *p))),
            );
            started.extend(actions.iter().filter_map(|a| match a {
                Action::Started { peer, .. } => Some(*peer),
                _ => None,
            }));
        }
        assert_eq!(started, [peer(7)], "the heaviest first, after every claim");
        assert!(run.is_syncing());
        // Peer 7 stalls: at its timeout the run goes on with peer 3.
        let later = now + REQUEST_TIMEOUT;
        assert_eq!(run.next_deadline(), Some(later));
        let actions = run.tick(&ours, &anyone, later).expect("infallible");
        assert!(actions.iter().any(
            |a| matches!(a, Action::Left { peer: p, leave: Leave::Silent(_) } if *p == peer(7))
        ));
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Ban { .. })),
            "silence is no ban"
        );
        assert_eq!(run.current_peer(), Some(peer(3)));
    }

    #[test]
    fn a_silent_claim_is_given_up_at_its_deadline_and_a_malformed_one_bans() {
        let now = Instant::now();
        let ours = MemoryChain::new();
        let (mut run, actions) = SyncRun::start(vec![peer(1), peer(2), peer(1)], now);
        let claims = asks(&actions);
        assert_eq!(claims.len(), 2, "one claim per peer");
        let actions = run
            .answer(
                claims[0].0,
                Err(AnswerError::Misbehaved("not JSON".into())),
                &ours,
                &anyone,
                now,
            )
            .expect("infallible");
        assert!(matches!(
            &actions[..],
            [Action::Ban {
                reason: Misbehaviour::MalformedAnswer,
                ..
            }]
        ));
        assert!(run.tick(&ours, &anyone, now).expect("ok").is_empty());
        let actions = run
            .tick(&ours, &anyone, now + CLAIM_TIMEOUT)
            .expect("infallible");
        assert!(
            matches!(&actions[..], [Action::Finished { synced_from: None }]),
            "{actions:?}"
        );
        assert!(run.is_finished());
    }

    #[test]
    fn a_run_fetches_headers_then_bodies_and_ends_at_the_peers_tip() {
        let now = Instant::now();
        let mut ours = MemoryChain::new();
        let g = ChainParams::regtest().genesis();
        let mut theirs = vec![g.clone()];
        theirs.extend(blocks_after(&g, 250, 1));
        let (mut run, actions) = SyncRun::start(vec![peer(1)], now);
        let (id, _, _) = asks(&actions)[0].clone();
        let work = theirs
            .iter()
            .map(|b| block_work(&b.target))
            .fold(U256::zero(), |a, b| a + b);
        let first = run
            .answer(id, Ok(claim(peer(1), work, 250)), &ours, &anyone, now)
            .expect("infallible");
        let seen = run_out(&mut run, first, &theirs, &mut ours, now);
        assert_eq!(ours.tip(), theirs[250].hash);
        let bodies: usize = seen
            .iter()
            .map(|a| match a {
                Action::Ask {
                    request: Request::Blocks { hashes },
                    ..
                } => hashes.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(bodies, 250, "each body asked once");
        assert!(
            seen.iter()
                .any(|a| matches!(a, Action::Served { peer: p, connected: 250 } if *p == peer(1)))
        );
        assert!(matches!(
            &seen[seen.len() - 2..],
            [Action::Merge { peer: m }, Action::Finished { synced_from: Some(p) }]
                if *p == peer(1) && *m == peer(1)
        ));
    }

    #[test]
    fn verdicts_cost_what_they_say() {
        let g = ChainParams::regtest().genesis();
        let mut theirs = vec![g.clone()];
        theirs.extend(blocks_after(&g, 5, 1));
        for (verdict, ban) in [
            (Verdict::Invalid("bad_merkle_root".into()), true),
            (Verdict::NotYet, false),
            (Verdict::UnknownParent, false),
        ] {
            let now = Instant::now();
            let ours = MemoryChain::new();
            let candidate = Candidate {
                peer: peer(1),
                work: U256::zero(),
                height: 5,
            };
            let (mut run, actions) =
                SyncRun::from_candidate(candidate, REQUEST_TIMEOUT, &ours, now).expect("ok");
            let (id, _, request) = asks(&actions)[0].clone();
            let actions = run
                .answer(id, Ok(serve(&theirs, &request)), &ours, &anyone, now)
                .expect("ok");
            assert!(run.is_fetching_bodies());
            let (id, _, request) = asks(&actions)[0].clone();
            let actions = run
                .answer(id, Ok(serve(&theirs, &request)), &ours, &anyone, now)
                .expect("ok");
            let [Action::Connect { id, blocks }] = &actions[..] else {
                panic!("one Connect: {actions:?}");
            };
            assert_eq!(blocks.len(), 5);
            // Verdicts of another Connect (a peer left meanwhile) change
            // nothing.
            let stale = run
                .connected(
                    id + 1000,
                    vec![Verdict::Invalid("x".into())],
                    &ours,
                    &anyone,
                    now,
                )
                .expect("ok");
            assert!(stale.is_empty() && !run.is_finished(), "{stale:?}");
            let actions = run
                .connected(
                    *id,
                    vec![Verdict::Connected, verdict.clone()],
                    &ours,
                    &anyone,
                    now,
                )
                .expect("ok");
            let banned = actions.iter().any(|a| {
                matches!(a, Action::Ban { reason: Misbehaviour::InvalidBlock, note, .. } if note.contains("height 2"))
            });
            assert_eq!(banned, ban, "{verdict:?}: {actions:?}");
            assert!(run.is_finished(), "{verdict:?}");
        }
    }

    #[test]
    fn headers_showing_no_more_work_fetch_no_body_and_a_claim_not_shown_bans() {
        let now = Instant::now();
        let mut ours = MemoryChain::new();
        let g = ChainParams::regtest().genesis();
        let mine = blocks_after(&g, 20, 2);
        for b in &mine {
            ours.connect(b);
        }
        let mut theirs = vec![g.clone()];
        theirs.extend(blocks_after(&g, 10, 3));
        let candidate = Candidate {
            peer: peer(1),
            work: U256::MAX,
            height: 10,
        };
        let (mut run, first) =
            SyncRun::from_candidate(candidate, REQUEST_TIMEOUT, &ours, now).expect("ok");
        let seen = run_out(&mut run, first, &theirs, &mut ours, now);
        assert!(
            !seen.iter().any(|a| matches!(
                a,
                Action::Ask {
                    request: Request::Blocks { .. },
                    ..
                }
            )),
            "no body before the headers show more work"
        );
        assert!(seen.iter().any(|a| matches!(
            a,
            Action::Ban {
                reason: Misbehaviour::WorkNotShown,
                ..
            }
        )));
        assert_eq!(ours.tip_height(), 20);
    }

    #[test]
    fn the_schedule_runs_at_start_at_each_interval_and_for_named_known_peers() {
        let start = Instant::now();
        let interval = Duration::from_secs(60);
        let known = [peer(1), peer(2)];
        let mut s = Schedule::new(interval, start);
        assert_eq!(s.due(&known, start), Some(known.to_vec()), "at start");
        assert_eq!(s.due(&known, start), None);
        s.requested(Some(peer(2)));
        s.requested(Some(peer(9)));
        assert_eq!(
            s.due(&known, start),
            Some(vec![peer(2)]),
            "named, and only while known"
        );
        // The first look at the book names everyone in it; then only the new.
        s.peers_now(&known);
        assert_eq!(s.due(&known, start), Some(known.to_vec()));
        let more = [peer(1), peer(2), peer(3)];
        s.peers_now(&more);
        assert_eq!(s.due(&more, start), Some(vec![peer(3)]));
        assert_eq!(
            s.due(&more, start + interval - Duration::from_millis(1)),
            None
        );
        assert_eq!(s.due(&more, start + interval), Some(more.to_vec()));
        assert_eq!(s.next_wake(), start + 2 * interval);
        // A long interval run: the next is an interval after its end.
        let end = start + 3 * interval;
        s.run_ended(end);
        assert_eq!(s.next_wake(), end + interval);
        assert_eq!(s.due(&more, end), None);
        // A named run's end leaves the interval as it was.
        s.requested(Some(peer(1)));
        assert_eq!(s.due(&more, end), Some(vec![peer(1)]));
        s.run_ended(end + interval / 2);
        assert_eq!(s.next_wake(), end + interval);
        s.requested(None);
        assert_eq!(s.due(&more, end), Some(more.to_vec()));
    }

    #[test]
    fn a_merge_takes_one_known_peer_by_the_dice() {
        assert_eq!(merge_peer(&[], 7), None);
        let known = [peer(1), peer(2), peer(3)];
        assert_eq!(merge_peer(&known, 0), Some(peer(1)));
        assert_eq!(merge_peer(&known, 5), Some(peer(3)));
    }
}
