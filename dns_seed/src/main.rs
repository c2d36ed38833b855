//! `dns-server`: the Cinder DNS seed (API.md §1). It keeps the list of live
//! full nodes of one chain: a node is listed after "the check", re-checked
//! every `-u` seconds and dropped at its first failed check. The list is a
//! JSON file in the data directory. A thin driver over the library's peer
//! book, §1 handlers and check (feature `p2p`: no chain database).

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cinder::consensus::ChainParams;
use cinder::datadir::{DataDir, DataDirError};
use cinder::p2p::peers_driver::{DriverConfig, PeerTasks};
use cinder::p2p::store::NODES_FILE;
use cinder::p2p::{
    AddrPolicy, BookConfig, JsonFileStore, PeerStore, Peers, PeersConfig, SEED_LISTING_LIMIT,
    SavedPeers, SystemClock,
};
use cinder::wire::NodeAddr;
use clap::Parser;

/// The Cinder DNS seed: lists the live full nodes of one chain.
#[derive(Parser, Debug)]
#[command(name = "dns-server", version)]
struct Args {
    /// IP address to listen on.
    #[arg(short = 'i', long = "ip", default_value = "127.0.0.1")]
    ip: IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(short = 'p', long = "port", default_value_t = 42020)]
    port: u16,
    /// Data directory (the node list, the lock).
    #[arg(short = 'd', long = "dir", default_value = ".dns_server")]
    dir: PathBuf,
    /// Seconds between two checks of every listed node.
    #[arg(short = 'u', long = "update-interval", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    update_interval: u64,
    /// The chain whose nodes are listed: regtest or test_blockchain.
    #[arg(long = "chain", default_value = "regtest", value_parser = ["regtest", "test_blockchain"])]
    chain: String,
    /// Log level or tracing filter (error, warn, info, debug, trace).
    #[arg(long = "log", default_value = "info")]
    log: String,
    /// Log lines as text, or as one JSON object a line (the same fields).
    #[arg(long = "log-format", default_value = "text", value_parser = cinder::logging::LogFormat::NAMES)]
    log_format: String,
    /// HTTP worker threads (default: one per core).
    #[arg(long = "workers")]
    workers: Option<usize>,
    /// Accept and check loopback and private addresses (always on for
    /// --chain regtest; otherwise only global unicast addresses are).
    #[arg(long = "allow-local-peers")]
    allow_local_peers: bool,
}

fn main() {
    if let Err(e) = run() {
        // Not eprintln!: a closed stderr must not turn an error into a panic.
        let _ = writeln!(std::io::stderr(), "dns-server: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let log_format = args.log_format.parse().map_err(anyhow::Error::msg)?;
    cinder::logging::init_with_format(&args.log, log_format).map_err(anyhow::Error::msg)?;
    let params = ChainParams::by_name(&args.chain).context("unknown chain")?;
    let dir = DataDir::lock(&args.dir).map_err(|e| match e {
        DataDirError::Locked(path) => anyhow::anyhow!(
            "another dns-server is already running on data directory {}",
            path.display()
        ),
        e => e.into(),
    })?;
    cinder::api::connections::raise_and_log_open_file_limit();
    let store = JsonFileStore::new(dir.path().join(NODES_FILE));
    let saved = store.load().unwrap_or_else(|e| {
        tracing::warn!("{e}; starting with an empty list");
        SavedPeers::default()
    });
    let addr = SocketAddr::new(args.ip, args.port);
    let listener = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let me = NodeAddr::new(args.ip, local.port());
    let peers = Peers::new(
        PeersConfig {
            book: BookConfig::seed(me).with_policy(AddrPolicy {
                allow_local: args.allow_local_peers || args.chain == "regtest",
            }),
            genesis: params.genesis_hash,
            listing_limit: Some(SEED_LISTING_LIMIT),
            bind: Some(args.ip).filter(|ip| !ip.is_unspecified()),
        },
        &saved,
        Arc::new(SystemClock),
    );
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let system = actix_web::rt::System::new();
    let server = system.block_on(async {
        let server = cinder::api::serve_nodes(peers.clone(), listener, workers)?;
        cinder::api::stop_on_signals(server.handle())?;
        anyhow::Ok(server)
    })?;
    tracing::info!(
        chain = params.name,
        genesis = %params.genesis_hash,
        known = peers.count(),
        interval_s = args.update_interval,
        dir = %dir.path().display(),
        "seed started"
    );
    // Not println!: a closed stdout must not panic the seed.
    let mut stdout = std::io::stdout();
    let _ = writeln!(
        stdout,
        "listening on http://{}:{}",
        local.ip(),
        local.port()
    );
    let _ = stdout.flush();
    let store: Arc<dyn PeerStore> = Arc::new(store);
    let result = system.block_on(async move {
        // The first round re-checks the nodes kept from the last run.
        let tasks = PeerTasks::spawn(
            peers,
            store,
            DriverConfig::new(None, Duration::from_secs(args.update_interval)),
        );
        let result = server.await;
        tasks.stop().await;
        result
    });
    tracing::info!("stopped");
    drop(dir);
    result.context("HTTP server")
}
