//! The lab's delay proxy: each node's peer traffic passes through a front of
//! its own that delays every byte by a fixed time in each direction and, on
//! command, drops the traffic between groups of nodes (a partition) or to
//! one node (silence). netem's job, in-process, for loopback.
//!
//! A connection is told apart by the `X-Cinder-Node` header of its first
//! request: every node names itself on each request to a peer, and names
//! itself by its front's address (`--advertise`). Connections naming no lab
//! node (the seed's checks, the lab's own looks) come from outside: only
//! silence cuts them.
//!
//! Cut traffic is not refused but dropped, as a partitioned network drops
//! packets: the asking node learns of it only by its own timeouts. When the
//! cut ends, the connections that lost bytes are closed (their streams are
//! broken) and new ones pass.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// The longest first request head read to find who is asking.
const MAX_HEAD: usize = 64 * 1024;
/// How long a new connection may take to send its first request head, or
/// wait for its node's address.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Chunks in flight per direction of a connection (a full queue stops the
/// reading: the sender feels the back-pressure, memory stays bounded).
const QUEUE: usize = 64;
/// The header a node names itself with.
const NODE_HEADER: &str = "x-cinder-node";

/// What cuts traffic now. I/O-free: [`Cuts::cut`] is the whole rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cuts {
    /// The group of each node; traffic between two groups is dropped.
    /// Empty: no partition.
    pub groups: Vec<usize>,
    /// Nodes all traffic to which is dropped.
    pub silenced: HashSet<usize>,
}

impl Cuts {
    /// Whether traffic from `from` (a lab node, or `None`: from outside) to
    /// node `to` is dropped.
    pub fn cut(&self, from: Option<usize>, to: usize) -> bool {
        if self.silenced.contains(&to) {
            return true;
        }
        match from {
            Some(from) if !self.groups.is_empty() => self.groups.get(from) != self.groups.get(to),
            _ => false,
        }
    }
}

/// Bytes the proxy passed and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub delivered: u64,
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    dropped: AtomicU64,
}

struct Shared {
    delay: Duration,
    /// A front's address, as its node names itself → the node's index.
    names: Mutex<HashMap<String, usize>>,
    cuts: watch::Sender<Cuts>,
    counters: Counters,
}

impl Shared {
    fn names(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.names.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The proxy: a runtime of its own, one front per node.
pub struct DelayProxy {
    runtime: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    backends: Vec<watch::Sender<Option<SocketAddr>>>,
    /// Bytes delivered through each front, both ways.
    through: Vec<Arc<AtomicU64>>,
}

impl DelayProxy {
    /// A proxy adding `delay` one way (`delay` × 2 to each round trip).
    pub fn start(delay: Duration) -> DelayProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lab-proxy")
            .enable_all()
            .build()
            .expect("the proxy's runtime");
        DelayProxy {
            runtime,
            shared: Arc::new(Shared {
                delay,
                names: Mutex::new(HashMap::new()),
                cuts: watch::Sender::new(Cuts::default()),
                counters: Counters::default(),
            }),
            backends: Vec::new(),
            through: Vec::new(),
        }
    }

    /// Opens the front of the next node (index `self.fronts()` before the
    /// call): the address the node advertises. Connections wait until
    /// [`DelayProxy::route`] says where the node listens.
    pub fn open_front(&mut self) -> SocketAddr {
        let index = self.backends.len();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a front");
        listener.set_nonblocking(true).expect("nonblocking front");
        let addr = listener.local_addr().expect("the front's address");
        let (backend, route) = watch::channel(None);
        self.backends.push(backend);
        let through = Arc::new(AtomicU64::new(0));
        self.through.push(through.clone());
        self.shared.names().insert(addr.to_string(), index);
        let shared = self.shared.clone();
        self.runtime.spawn(async move {
            let listener = match TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => panic!("front {addr}: {e}"),
            };
            loop {
                if let Ok((client, _)) = listener.accept().await {
                    let front = Front {
                        index,
                        route: route.clone(),
                        through: through.clone(),
                    };
                    tokio::spawn(connection(client, front, shared.clone()));
                }
            }
        });
        addr
    }

    /// How many fronts are open.
    pub fn fronts(&self) -> usize {
        self.backends.len()
    }

    /// Node `index` listens at `backend`.
    pub fn route(&self, index: usize, backend: SocketAddr) {
        self.backends[index].send_replace(Some(backend));
    }

    /// Drops the traffic between nodes of different groups (`groups[i]`
    /// is node i's), from now until [`DelayProxy::heal`].
    pub fn partition(&self, groups: &[usize]) {
        self.shared.cuts.send_modify(|c| c.groups = groups.to_vec());
    }

    /// Drops all traffic to node `index` until [`DelayProxy::heal`].
    pub fn silence(&self, index: usize) {
        self.shared.cuts.send_modify(|c| {
            c.silenced.insert(index);
        });
    }

    /// Ends every partition and silence.
    pub fn heal(&self) {
        self.shared.cuts.send_replace(Cuts::default());
    }

    /// Bytes delivered through node `index`'s front so far, both ways.
    pub fn through(&self, index: usize) -> u64 {
        self.through[index].load(Ordering::Relaxed)
    }

    /// Bytes passed and dropped so far.
    pub fn traffic(&self) -> Traffic {
        let c = &self.shared.counters;
        Traffic {
            delivered: c.delivered.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Reads the first request head of `client`: the bytes read, and the lab
/// node its `X-Cinder-Node` header names. `None` when it closes first.
async fn first_request(
    client: &mut TcpStream,
    shared: &Shared,
) -> Option<(Vec<u8>, Option<usize>)> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    let end = loop {
        let n = client.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if head.len() > MAX_HEAD {
            return None;
        }
    };
    let from = String::from_utf8_lossy(&head[..end])
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case(NODE_HEADER))
        .and_then(|(_, value)| shared.names().get(value.trim()).copied());
    Some((head, from))
}

/// A node's front, as its connections see it.
struct Front {
    index: usize,
    /// Where the node listens, once known.
    route: watch::Receiver<Option<SocketAddr>>,
    through: Arc<AtomicU64>,
}

/// One connection to a node's front, until either side closes it or a cut
/// that dropped its bytes ends.
async fn connection(mut client: TcpStream, mut front: Front, shared: Arc<Shared>) {
    let to = front.index;
    let _ = client.set_nodelay(true);
    let first = tokio::time::timeout(FIRST_REQUEST_TIMEOUT, first_request(&mut client, &shared));
    let Ok(Some((head, from))) = first.await else {
        return;
    };
    let arrived = Instant::now();
    let backend =
        tokio::time::timeout(FIRST_REQUEST_TIMEOUT, front.route.wait_for(Option::is_some));
    let backend = match backend.await {
        Ok(Ok(addr)) => *addr,
        _ => return,
    };
    let Some(backend) = backend else { return };
    let Ok(server) = TcpStream::connect(backend).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let mut cuts = shared.cuts.subscribe();
    let blocked = Arc::new(AtomicBool::new(cuts.borrow_and_update().cut(from, to)));
    let lost = Arc::new(AtomicBool::new(false));
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let link = Link {
        shared: shared.clone(),
        through: front.through,
        blocked: blocked.clone(),
        lost: lost.clone(),
    };
    let both = async {
        tokio::join!(
            link.pipe(client_read, server_write, head, arrived),
            link.pipe(server_read, client_write, Vec::new(), arrived),
        )
    };
    // Follows the cuts: blocked while cut; closed when a cut that dropped
    // bytes of this connection ends.
    let follow = async {
        while cuts.changed().await.is_ok() {
            let cut = cuts.borrow_and_update().cut(from, to);
            blocked.store(cut, Ordering::Relaxed);
            if !cut && lost.load(Ordering::Relaxed) {
                return;
            }
        }
        // The proxy is gone: wait for the pipes.
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = both => {}
        _ = follow => {}
    }
}

/// What both directions of a connection share.
struct Link {
    shared: Arc<Shared>,
    /// The front's count of bytes delivered.
    through: Arc<AtomicU64>,
    /// The connection is cut now: bytes due are dropped.
    blocked: Arc<AtomicBool>,
    /// Bytes were dropped: the stream is broken.
    lost: Arc<AtomicBool>,
}

impl Link {
    /// Copies `from` to `to`, each chunk `delay` after it was read
    /// (`first`, read already, is due `delay` after `first_at`).
    async fn pipe(
        &self,
        mut from: OwnedReadHalf,
        mut to: OwnedWriteHalf,
        first: Vec<u8>,
        first_at: Instant,
    ) {
        let delay = self.shared.delay;
        let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE);
        let reader = async move {
            if !first.is_empty() && tx.send((first_at + delay, first)).await.is_err() {
                return;
            }
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match from.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let due = Instant::now() + delay;
                        if tx.send((due, buf[..n].to_vec())).await.is_err() {
                            return;
                        }
                    }
                }
            }
        };
        let writer = async {
            while let Some((due, bytes)) = rx.recv().await {
                tokio::time::sleep_until(due).await;
                let counters = &self.shared.counters;
                if self.blocked.load(Ordering::Relaxed) {
                    self.lost.store(true, Ordering::Relaxed);
                    counters
                        .dropped
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    continue;
                }
                if to.write_all(&bytes).await.is_err() {
                    return;
                }
                counters
                    .delivered
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                self.through
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            // The other side closed its sending half: pass that on.
            let _ = to.shutdown().await;
        };
        tokio::join!(reader, writer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_cuts_between_groups_only() {
        let cuts = Cuts {
            groups: vec![0, 0, 1, 1],
            silenced: HashSet::new(),
        };
        assert!(!cuts.cut(Some(0), 1));
        assert!(!cuts.cut(Some(3), 2));
        assert!(cuts.cut(Some(1), 2));
        assert!(cuts.cut(Some(2), 0));
        // From outside the lab (the seed, the lab's looks): never cut.
        assert!(!cuts.cut(None, 2));
    }

    #[test]
    fn silence_cuts_everything_to_the_node() {
        let cuts = Cuts {
            groups: Vec::new(),
            silenced: HashSet::from([1]),
        };
        assert!(cuts.cut(Some(0), 1));
        assert!(cuts.cut(None, 1));
        assert!(!cuts.cut(Some(1), 0), "the silent node's own requests pass");
        assert!(!Cuts::default().cut(Some(0), 1));
    }
}
