//! The one place a whole node is built from its configuration: data
//! directory, chain, mempool, HTTP API, miner and the background tasks of
//! the network. `main` and every test use it (zero-to-production's
//! `Application::build`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

use crate::consensus::ChainParams;
use crate::datadir::DataDir;
use crate::miner::Miner;
use crate::node::{DATABASE_FILE, MempoolLimits, Node};
use crate::p2p::peers::DEFAULT_MAX_PEERS;
use crate::p2p::peers_driver::{DEFAULT_UPDATE_INTERVAL, DriverConfig, PeerTasks};
use crate::p2p::relay_driver::PeerSource;
use crate::p2p::sync_driver::{BanSink, ContactCheck, SyncControl, SyncRequests};
use crate::p2p::{AddrPolicy, BookConfig, PeerStore, Peers, PeersConfig, SystemClock};
use crate::state::SqlitePeerStore;
use crate::types::Address;
use crate::wire::NodeAddr;

/// The seed's default address (`--dns`, API.md §8).
pub const DEFAULT_SEED: &str = "127.0.0.1:42020";

/// The node on the network (API.md §8 "Peers"): `--dns`,
/// `--update-interval`, `--max-peers`.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// The seed to register with; `None` runs without one.
    pub seed: Option<NodeAddr>,
    /// Time between two peer rounds.
    pub update_interval: Duration,
    pub max_peers: usize,
    /// Time between two sync runs (`-s/--sync-interval`).
    pub sync_interval: Duration,
    /// The address peers reach this node at, when it is not the one it
    /// listens on (`--advertise`: behind a port forward, a proxy, or
    /// listening on 0.0.0.0). It is what the node registers, announces and
    /// names itself as.
    pub advertise: Option<NodeAddr>,
    /// Which addresses peers may have (API.md §1: `--allow-local-peers`,
    /// on by default for regtest).
    pub policy: AddrPolicy,
}

/// Default of `-s/--sync-interval` (API.md §8).
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(30);

impl Default for NetworkConfig {
    /// The defaults of `full-node`: the seed at 127.0.0.1:42020, 60 s, 10.
    fn default() -> NetworkConfig {
        NetworkConfig {
            seed: DEFAULT_SEED.parse().ok(),
            update_interval: DEFAULT_UPDATE_INTERVAL,
            max_peers: DEFAULT_MAX_PEERS,
            sync_interval: DEFAULT_SYNC_INTERVAL,
            advertise: None,
            policy: AddrPolicy::for_chain("regtest"),
        }
    }
}

/// Mining in the node (`--mine`).
#[derive(Clone, Debug)]
pub struct MiningConfig {
    pub reward_address: Address,
    /// Least time between two blocks this node mines.
    pub interval: Duration,
}

/// Everything a node is built from (the flags of `full-node`).
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub dir: PathBuf,
    pub ip: IpAddr,
    /// `None`: the port kept in the data directory, or 50000 and up.
    pub port: Option<u16>,
    pub params: ChainParams,
    pub mempool: MempoolLimits,
    /// `--max-side-bytes` (API.md §8 "Work before bodies").
    pub max_side_bytes: u64,
    /// HTTP worker threads.
    pub workers: usize,
    pub mining: Option<MiningConfig>,
    pub network: NetworkConfig,
}

impl NodeConfig {
    /// A regtest node in `dir` on a free loopback port: what tests start.
    /// It knows no seed (set `network.seed` to give it one) and runs a peer
    /// round every second.
    pub fn for_test(dir: impl Into<PathBuf>) -> NodeConfig {
        NodeConfig {
            dir: dir.into(),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: Some(0),
            params: ChainParams::regtest(),
            mempool: MempoolLimits::default(),
            max_side_bytes: crate::node::DEFAULT_MAX_SIDE_BYTES,
            workers: 2,
            mining: None,
            network: NetworkConfig {
                seed: None,
                update_interval: Duration::from_secs(1),
                max_peers: DEFAULT_MAX_PEERS,
                sync_interval: Duration::from_secs(1),
                advertise: None,
                policy: AddrPolicy::ALLOW_LOCAL,
            },
        }
    }
}

/// A node built and bound, not yet serving: [`App::run`] serves it.
pub struct App {
    addr: SocketAddr,
    node: Arc<Node>,
    peers: Arc<Peers>,
    peer_store: Arc<dyn PeerStore>,
    network: NetworkConfig,
    server: actix_web::dev::Server,
    /// Stops the server, the explorer's event streams first.
    stop: crate::api::StopHandle,
    mining: Option<MiningConfig>,
    sync: SyncControl,
    sync_requests: SyncRequests,
    /// Held for as long as the node runs: one node per directory.
    _dir: DataDir,
}

impl App {
    /// Locks the data directory, opens the chain (moving to the heaviest
    /// valid chain stored), reloads the mempool and binds the API. Call
    /// inside an actix `System` (the server's workers start here).
    pub fn build(config: NodeConfig) -> anyhow::Result<App> {
        let dir = DataDir::lock(&config.dir)?;
        let node = Node::open(dir.path(), config.params.clone(), config.mempool)
            .with_context(|| format!("opening the chain in {}", dir.path().display()))?
            .with_max_side_bytes(config.max_side_bytes);
        let (kept, dropped) = node.load_mempool().context("loading the mempool")?;
        let node = Arc::new(node);
        let listener = dir.bind(config.ip, config.port)?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let snapshot = node.snapshot();
        tracing::info!(
            chain = config.params.name,
            height = snapshot.info.height,
            best = %snapshot.info.best_hash,
            mempool = kept,
            dropped,
            dir = %dir.path().display(),
            "chain loaded"
        );
        let peer_store = SqlitePeerStore::open(&dir.path().join(DATABASE_FILE))
            .context("opening the peer tables")?;
        let saved = peer_store.load().context("loading the known nodes")?;
        let me = config
            .network
            .advertise
            .unwrap_or_else(|| NodeAddr::new(config.ip, addr.port()));
        let peers = Peers::new(
            PeersConfig {
                book: BookConfig::full_node(me, config.network.max_peers)
                    .with_policy(config.network.policy),
                genesis: config.params.genesis_hash,
                listing_limit: None,
                // Requests leave from the IP the node listens on, so peers
                // see it where it announces itself (API.md §1).
                bind: Some(config.ip).filter(|ip| !ip.is_unspecified()),
            },
            &saved,
            Arc::new(SystemClock),
        );
        let (sync, sync_requests) = SyncControl::new();
        let (server, stop) = crate::api::serve_node(
            node.clone(),
            peers.clone(),
            sync.clone(),
            listener,
            config.workers,
        )?;
        Ok(App {
            addr,
            node,
            peers,
            peer_store: Arc::new(peer_store),
            network: config.network,
            server,
            stop,
            mining: config.mining,
            sync,
            sync_requests,
            _dir: dir,
        })
    }

    /// The address the API listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The peer book (relay and sync use it too).
    pub fn peers(&self) -> &Arc<Peers> {
        &self.peers
    }

    /// Stops the node gracefully (requests in flight finish).
    pub fn handle(&self) -> crate::api::StopHandle {
        self.stop.clone()
    }

    /// Serves until stopped through [`App::handle`]; starts the miner and
    /// the background tasks (the peer rounds, API.md §8), and stops them
    /// when the server stops.
    pub async fn run(self) -> anyhow::Result<()> {
        tracing::info!(
            me = %self.peers.me(),
            seed = ?self.network.seed.map(|s| s.to_string()),
            interval = ?self.network.update_interval,
            max_peers = self.network.max_peers,
            known = self.peers.count(),
            "peers"
        );
        let peer_tasks = PeerTasks::spawn(
            self.peers.clone(),
            self.peer_store.clone(),
            DriverConfig::new(self.network.seed, self.network.update_interval),
        );
        // Relay and sync: what is accepted goes out, what is missing comes in.
        let client = self.peers.client(&self.peers.me().url());
        let book = self.peers.clone();
        let peer_source: PeerSource = Arc::new(move || book.known());
        let book = self.peers.clone();
        let ban: BanSink = Arc::new(move |node, reason, note: &str| book.ban(node, reason, note));
        let book = self.peers.clone();
        let may_contact: ContactCheck = Arc::new(move |node| book.may_contact(node));
        // A peer whose check shows more work than ours: sync from it now,
        // not at the next interval (the run takes it only once it is known).
        let (core, sync) = (self.node.clone(), self.sync.clone());
        self.peers.observe_checks(Arc::new(move |peer, info| {
            let ours = core.snapshot().info.total_work;
            if crate::p2p::sync::sync_for_checked_peer(ours, info.total_work.0) {
                sync.request(Some(peer));
            }
        }));
        let merges = tokio::spawn(crate::p2p::sync_driver::run_merges(
            self.node.clone(),
            client.clone(),
            peer_source.clone(),
            self.sync_requests.merges,
            self.network.update_interval,
        ));
        let relay = tokio::spawn(crate::p2p::relay_driver::run(
            self.node.clone(),
            client.clone(),
            peer_source.clone(),
        ));
        let sync = tokio::spawn(crate::p2p::sync_driver::run(
            self.node.clone(),
            client,
            peer_source,
            ban,
            may_contact,
            self.sync.clone(),
            self.sync_requests.runs,
            self.network.sync_interval,
        ));
        let miner = match &self.mining {
            Some(m) => {
                tracing::info!(address = %m.reward_address, interval = ?m.interval, "mining");
                Some(Miner::spawn(
                    self.node.clone(),
                    m.reward_address,
                    m.interval,
                )?)
            }
            None => None,
        };
        let result = self.server.await;
        peer_tasks.stop().await;
        relay.abort();
        sync.abort();
        merges.abort();
        if let Some(m) = miner {
            m.stop();
        }
        result.context("HTTP server")
    }
}

/// A node running on a thread of its own, as tests start it.
pub struct RunningNode {
    pub addr: SocketAddr,
    pub node: Arc<Node>,
    pub peers: Arc<Peers>,
    handle: crate::api::StopHandle,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl RunningNode {
    /// Builds the node from `config` and serves it on a new thread.
    pub fn spawn(config: NodeConfig) -> anyhow::Result<RunningNode> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("node".into())
            .spawn(move || {
                let system = actix_web::rt::System::new();
                system.block_on(async move {
                    let app = match App::build(config) {
                        Ok(app) => app,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    let _ = tx.send(Ok((
                        app.addr(),
                        app.node().clone(),
                        app.peers().clone(),
                        app.handle(),
                    )));
                    app.run().await
                })
            })?;
        let (addr, node, peers, handle) = rx
            .recv()
            .context("the node thread ended before starting")??;
        Ok(RunningNode {
            addr,
            node,
            peers,
            handle,
            thread: Some(thread),
        })
    }

    /// `http://ip:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the node and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let stopped = self.handle.stop(true);
        let Some(thread) = self.thread.take() else {
            return;
        };
        // The stop future only needs polling to completion; a tiny runtime
        // of its own does that from any thread.
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(stopped);
        }
        match thread.join() {
            Ok(Err(e)) => tracing::error!("node stopped with an error: {e:#}"),
            Err(_) => tracing::error!("node thread panicked"),
            Ok(Ok(())) => {}
        }
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        self.shutdown();
    }
}
