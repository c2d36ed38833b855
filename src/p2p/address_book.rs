//! The address book shared by the API handlers (§1), the peer rounds
//! ([`super::peers_driver`]), relay and sync: [`Peers`], a lock around the
//! I/O-free [`PeerBook`] plus "the check" of API.md §1 ([`check_node`]).
//! No method holds the lock across I/O.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::RngExt;

use super::peers::{Admission, BookConfig, Misbehaviour, PeerBook, Refusal, Time};
use super::store::SavedPeers;
use crate::client::{CHECK_TIMEOUT, Client, ClientError};
use crate::types::Hash;
use crate::wire::{BlockchainInfo, NodeAddr};

/// Checks in flight for announcements at most (`POST /`, `POST /nodes/`);
/// beyond, an announcement is answered `503` at once.
pub const MAX_ANNOUNCED_CHECKS: usize = 32;
/// Most nodes the seed lists in one answer (API.md §1).
pub const SEED_LISTING_LIMIT: usize = 50;

/// Where the time comes from: the system, or a test's hand.
pub trait Clock: Send + Sync {
    fn now(&self) -> Time;
}

/// The system's wall clock (bans are kept across restarts in it).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Time::from_millis(millis)
    }
}

/// Why a node failed "the check" (API.md §1).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckFailure {
    #[error("{node} did not answer GET /blockchain/ (the check allows {} s): {source}", CHECK_TIMEOUT.as_secs())]
    Silent { node: NodeAddr, source: ClientError },
    #[error("{node} answered GET /blockchain/ with an error: {source}")]
    Refused { node: NodeAddr, source: ClientError },
    #[error("{node} answered GET /blockchain/ with something else: {source}")]
    Malformed { node: NodeAddr, source: ClientError },
    #[error("{node} runs another chain: its genesis_hash is {theirs}, this server's is {ours}")]
    OtherGenesis {
        node: NodeAddr,
        theirs: Hash,
        ours: Hash,
    },
}

/// "The check" (API.md §1): `GET /blockchain/` of `node` answers within
/// 2 s with `genesis` as its `genesis_hash`.
pub async fn check_node(
    client: &Client,
    node: NodeAddr,
    genesis: Hash,
) -> Result<BlockchainInfo, CheckFailure> {
    let info = client
        .to(node)
        .with_timeout(CHECK_TIMEOUT)
        .blockchain()
        .await
        .map_err(|source| {
            if source.is_silence() {
                CheckFailure::Silent { node, source }
            } else if source.is_misbehaviour() {
                CheckFailure::Malformed { node, source }
            } else {
                CheckFailure::Refused { node, source }
            }
        })?;
    if info.genesis_hash != genesis {
        return Err(CheckFailure::OtherGenesis {
            node,
            theirs: info.genesis_hash,
            ours: genesis,
        });
    }
    Ok(info)
}

/// Why an announced node was not taken (`POST /`, `POST /nodes/`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum AnnounceError {
    #[error("{0} is this server's own address")]
    Me(NodeAddr),
    #[error("{node} is banned for another {} minutes: {reason}", remaining.as_secs().div_ceil(60))]
    Banned {
        node: NodeAddr,
        reason: Misbehaviour,
        remaining: std::time::Duration,
    },
    /// API.md §1: the IP of an announced node is the IP the request came
    /// from.
    #[error("the announced node {node} is not at the IP the request came from ({caller})")]
    NotTheCaller { node: NodeAddr, caller: IpAddr },
    /// API.md §1: only global unicast addresses, unless local peers are
    /// allowed.
    #[error(
        "{0} is not an address this server contacts (only global unicast addresses are, unless --allow-local-peers)"
    )]
    NotContactable(NodeAddr),
    #[error("{node} was not added: {failure}")]
    CheckFailed {
        node: NodeAddr,
        failure: CheckFailure,
    },
    #[error("too many checks in flight ({MAX_ANNOUNCED_CHECKS}); try again later")]
    Busy,
}

/// Settings of a [`Peers`] handle.
#[derive(Clone, Debug)]
pub struct PeersConfig {
    pub book: BookConfig,
    /// The genesis every known node must run.
    pub genesis: Hash,
    /// Most nodes in one `GET /nodes/` answer (a random sample beyond);
    /// `None` lists them all.
    pub listing_limit: Option<usize>,
    /// The IP this server's requests leave from (`-i` when it names one:
    /// API.md §1), `None` for the system's choice.
    pub bind: Option<IpAddr>,
}

/// The peer book shared by the API handlers, the driver, and later relay
/// and sync: cheap, non-blocking methods (the lock is never held across
/// I/O). Changes are saved by the driver's saver task.
pub struct Peers {
    book: Mutex<PeerBook>,
    genesis: Hash,
    listing_limit: Option<usize>,
    bind: Option<IpAddr>,
    clock: Arc<dyn Clock>,
    announced_checks: tokio::sync::Semaphore,
    changed: tokio::sync::Notify,
    /// Told what every node that passed a check answered (sync looks for
    /// peers showing more work).
    observer: Mutex<Option<CheckObserver>>,
}

/// What hears of a node's `/blockchain/` after a check it passed.
pub type CheckObserver = Arc<dyn Fn(NodeAddr, &BlockchainInfo) + Send + Sync>;

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers")
            .field("me", &self.me())
            .field("known", &self.count())
            .finish()
    }
}

impl Peers {
    /// A handle over the book restored from `saved`.
    pub fn new(config: PeersConfig, saved: &SavedPeers, clock: Arc<dyn Clock>) -> Arc<Peers> {
        let mut book_config = config.book;
        if book_config.seed == 0 {
            // The dice of a live server: unpredictable to a stranger.
            book_config.seed = rand::rng().random();
        }
        let book = PeerBook::restored(book_config, saved, clock.now());
        Arc::new(Peers {
            book: Mutex::new(book),
            genesis: config.genesis,
            listing_limit: config.listing_limit,
            bind: config.bind,
            clock,
            announced_checks: tokio::sync::Semaphore::new(MAX_ANNOUNCED_CHECKS),
            changed: tokio::sync::Notify::new(),
            observer: Mutex::new(None),
        })
    }

    /// Runs `f` on the book under its lock (never across an `.await`), and
    /// wakes the saver when known nodes or bans changed.
    pub fn with_book<R>(&self, f: impl FnOnce(&mut PeerBook) -> R) -> R {
        let (result, changed) = {
            let mut book = self.lock();
            let result = f(&mut book);
            (result, book.take_changed())
        };
        if changed {
            self.changed.notify_one();
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, PeerBook> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This server's own node.
    pub fn me(&self) -> NodeAddr {
        self.lock().config().me
    }

    pub fn genesis(&self) -> Hash {
        self.genesis
    }

    pub fn now(&self) -> Time {
        self.clock.now()
    }

    /// Known nodes, in address order.
    pub fn known(&self) -> Vec<NodeAddr> {
        self.lock().known()
    }

    /// How many nodes are known (`/health/`'s `peers`).
    pub fn count(&self) -> usize {
        self.lock().count()
    }

    /// Bans `node` (by its key: API.md §8 "Bans") for 24 hours: dropped,
    /// no relay to it, not re-added from the seed, a peer list or `POST /`.
    /// `note` is this server's own words.
    pub fn ban(&self, node: NodeAddr, reason: Misbehaviour, note: &str) {
        let now = self.now();
        let was_known = self.with_book(|book| book.ban(node, reason, note, now));
        tracing::warn!(%node, was_known, %reason, note, "banned for 24 hours");
    }

    /// Whether `node` may be contacted: not this server, an address the
    /// policy allows (API.md §1), not banned.
    pub fn may_contact(&self, node: &NodeAddr) -> bool {
        let now = self.now();
        self.lock().may_contact(node, now)
    }

    /// A client for the requests of this server (from its `-i` IP).
    pub fn client(&self, base: &str) -> Client {
        Client::bound(base, self.bind).with_origin(self.me())
    }

    pub fn is_banned(&self, node: &NodeAddr) -> bool {
        let now = self.now();
        self.lock().is_banned(node, now)
    }

    /// `GET /nodes/`: every known node, or a random sample of
    /// `listing_limit` of them (the seed's 50).
    pub fn listing(&self) -> Vec<NodeAddr> {
        let mut book = self.lock();
        match self.listing_limit {
            Some(limit) if book.count() > limit => {
                // Group by group (API.md §8 "Groups").
                let mut sample = book.sample(limit);
                sample.sort();
                sample
            }
            _ => book.known(),
        }
    }

    /// `GET /nodes/random/`: a group drawn uniformly, then a node of it.
    pub fn random(&self) -> Option<NodeAddr> {
        self.lock().sample(1).first().copied()
    }

    /// `GET /nodes/{nid}/`: the `nid`-th known node (from 0, address order).
    pub fn nth(&self, nid: usize) -> Option<NodeAddr> {
        self.lock().nth(nid)
    }

    /// `DELETE /nodes/`: forgets `node`; whether it was known.
    pub fn remove(&self, node: &NodeAddr) -> bool {
        self.with_book(|book| book.remove(node))
    }

    /// An announcement (`POST /`, `POST /nodes/`): never this server nor a
    /// banned node; a known node is taken as is; a new one is checked
    /// (bounded: [`MAX_ANNOUNCED_CHECKS`] at once, `Busy` beyond) and added
    /// when there is room. No lock is held during the check.
    pub async fn announced(
        &self,
        node: NodeAddr,
        caller: Option<IpAddr>,
    ) -> Result<Admission, AnnounceError> {
        if let Some(caller) = caller.map(|ip| ip.to_canonical())
            && caller != node.ip()
        {
            return Err(AnnounceError::NotTheCaller { node, caller });
        }
        let screen = {
            let now = self.now();
            self.lock().screen(&node, now)
        };
        match screen {
            Err(refusal) => return Err(refusal_error(node, refusal, self.now())),
            Ok(true) => return Ok(Admission::AlreadyKnown),
            Ok(false) => {}
        }
        let _permit = self
            .announced_checks
            .try_acquire()
            .map_err(|_| AnnounceError::Busy)?;
        // A client of its own: the handler's runtime owns its connection.
        let client = self.client(&node.url());
        let info = check_node(&client, node, self.genesis)
            .await
            .map_err(|failure| AnnounceError::CheckFailed { node, failure })?;
        self.checked(node, &info);
        let now = self.now();
        match self.with_book(|book| book.admit(node, now)) {
            Admission::Refused(refusal) => Err(refusal_error(node, refusal, now)),
            admission => Ok(admission),
        }
    }

    /// Sets what hears of each check a node passed.
    pub fn observe_checks(&self, observer: CheckObserver) {
        *self.observer.lock().unwrap_or_else(|p| p.into_inner()) = Some(observer);
    }

    /// Tells the observer what `node` answered to its check.
    pub fn checked(&self, node: NodeAddr, info: &BlockchainInfo) {
        let observer = self
            .observer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(observer) = observer {
            observer(node, info);
        }
    }

    /// Waits until known nodes or bans changed since the last wait.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

fn refusal_error(node: NodeAddr, refusal: Refusal, now: Time) -> AnnounceError {
    match refusal {
        Refusal::Me => AnnounceError::Me(node),
        Refusal::NotContactable => AnnounceError::NotContactable(node),
        Refusal::Banned(ban) => AnnounceError::Banned {
            node,
            reason: ban.reason,
            remaining: std::time::Duration::from_millis(
                ban.until.as_millis().saturating_sub(now.as_millis()),
            ),
        },
    }
}
