//! `full-node`: a Cinder full node serving the API of API.md.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use cinder::app::{App, DEFAULT_SEED, MiningConfig, NetworkConfig, NodeConfig};
use cinder::consensus::ChainParams;
use cinder::node::MempoolLimits;
use cinder::p2p::AddrPolicy;
use cinder::types::Address;
use cinder::wire::NodeAddr;
use clap::{Parser, Subcommand};

/// A Cinder full node: validates and stores the chain in SQLite, keeps a
/// mempool, serves the JSON API and mines when asked.
#[derive(Parser, Debug)]
#[command(name = "full-node", version, args_conflicts_with_subcommands = true)]
struct Args {
    /// Without a command: run the node.
    #[command(subcommand)]
    command: Option<Command>,
    /// Data directory (chain database, kept port, lock).
    #[arg(short = 'd', long = "dir", default_value = ".full_node")]
    dir: PathBuf,
    /// IP address to listen on.
    #[arg(short = 'i', long = "ip", default_value = "127.0.0.1")]
    ip: IpAddr,
    /// Port to listen on (0: any free port). Default: the port kept in the
    /// data directory, or at the first start 50000 or the next free one.
    #[arg(short = 'p', long = "port")]
    port: Option<u16>,
    /// Chain: regtest (local networks, demos, tests) or test_blockchain.
    #[arg(long = "chain", default_value = "regtest", value_parser = ["regtest", "test_blockchain"])]
    chain: String,
    /// Log level or tracing filter (error, warn, info, debug, trace).
    #[arg(long = "log", default_value = "info")]
    log: String,
    /// Log lines as text, or as one JSON object a line (the same fields).
    #[arg(long = "log-format", default_value = "text", value_parser = cinder::logging::LogFormat::NAMES)]
    log_format: String,
    /// Mine blocks in a background thread.
    #[arg(long = "mine")]
    mine: bool,
    /// Address the mined coins are paid to (required with --mine).
    #[arg(long = "reward-address")]
    reward_address: Option<String>,
    /// Least seconds between two blocks this node mines (default: the
    /// chain's block time on regtest, where work is trivial; 0 elsewhere).
    #[arg(long = "mine-interval")]
    mine_interval: Option<u64>,
    /// Most transactions the mempool holds.
    #[arg(long = "mempool-max-count", default_value_t = cinder::mempool::DEFAULT_MAX_COUNT)]
    mempool_max_count: usize,
    /// Most bytes (transaction size) the mempool holds.
    #[arg(long = "mempool-max-size", default_value_t = cinder::mempool::DEFAULT_MAX_SIZE)]
    mempool_max_size: usize,
    /// Most bytes of stored blocks on side branches lighter than the
    /// active chain; past it the lightest are deleted first.
    #[arg(long = "max-side-bytes", default_value_t = cinder::node::DEFAULT_MAX_SIDE_BYTES)]
    max_side_bytes: u64,
    /// HTTP worker threads (default: one per core).
    #[arg(long = "workers")]
    workers: Option<usize>,
    /// The DNS seed to register with and ask for nodes (IP:PORT).
    #[arg(long = "dns", default_value = DEFAULT_SEED)]
    dns: NodeAddr,
    /// Seconds between two peer rounds (register, check, look for nodes).
    #[arg(long = "update-interval", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    update_interval: u64,
    /// Most nodes this node looks for as peers (nodes that announce
    /// themselves are kept too, in 3 times as many slots of their own).
    #[arg(long = "max-peers", default_value_t = 10)]
    max_peers: usize,
    /// Seconds between two sync runs (also at start, when a new peer shows
    /// up, and when a relayed block has an unknown parent).
    #[arg(short = 's', long = "sync-interval", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    sync_interval: u64,
    /// The address peers reach this node at (IP:PORT), when it is not the
    /// one it listens on: behind a port forward or a proxy, or listening on
    /// 0.0.0.0. Registered with the seed and announced to peers.
    #[arg(long = "advertise")]
    advertise: Option<NodeAddr>,
    /// Accept, check and contact loopback and private addresses as peers
    /// (always on for --chain regtest; otherwise only global unicast
    /// addresses are).
    #[arg(long = "allow-local-peers")]
    allow_local_peers: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a stopped node's data directory (read-only) and print a
    /// digest of its chain state as the last line (`digest <64 hex>`);
    /// exit 1 naming each inconsistency.
    Verify(VerifyArgs),
}

#[derive(clap::Args, Debug)]
struct VerifyArgs {
    /// Data directory of a stopped node.
    #[arg(short = 'd', long = "dir", default_value = ".full_node")]
    dir: PathBuf,
    /// The chain it must hold (default: the one it holds).
    #[arg(long = "chain", value_parser = ["regtest", "test_blockchain"])]
    chain: Option<String>,
}

fn main() {
    let args = Args::parse();
    if let Some(Command::Verify(verify)) = &args.command {
        std::process::exit(run_verify(verify));
    }
    if let Err(e) = run(args) {
        // Not eprintln!: a closed stderr must not turn an error into a panic.
        let _ = writeln!(std::io::stderr(), "full-node: {e:#}");
        std::process::exit(1);
    }
}

/// `full-node verify`: the report on stdout, `digest …` last; 0 when the
/// directory is consistent, 1 otherwise (each problem named).
fn run_verify(args: &VerifyArgs) -> i32 {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    match cinder::state::verify_data_dir(&args.dir, args.chain.as_deref()) {
        Ok(report) => {
            for line in report.lines() {
                let _ = writeln!(stdout, "{line}");
            }
            let _ = stdout.flush();
            if report.is_consistent() {
                0
            } else {
                let n = report.problem_count();
                let _ = writeln!(
                    stderr,
                    "full-node: verify: {n} problem{} in {} (each named on stdout)",
                    if n == 1 { "" } else { "s" },
                    args.dir.display()
                );
                1
            }
        }
        Err(e) => {
            let _ = writeln!(stderr, "full-node: verify: {e}");
            1
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let log_format = args.log_format.parse().map_err(anyhow::Error::msg)?;
    cinder::logging::init_with_format(&args.log, log_format).map_err(anyhow::Error::msg)?;
    let params = ChainParams::by_name(&args.chain).context("unknown chain")?;
    let reward_address = match (&args.mine, &args.reward_address) {
        (true, None) => bail!("--mine needs --reward-address 0x… (where the mined coins go)"),
        (false, Some(_)) => {
            bail!("--reward-address is only used with --mine: add --mine, or leave it out")
        }
        (true, Some(text)) => Some(
            Address::parse_checked(text).with_context(|| format!("--reward-address {text:?}"))?,
        ),
        (false, None) => None,
    };
    let mining = match reward_address {
        Some(reward_address) if args.mine => {
            let default_interval = if params.retarget_interval == 0 {
                params.block_time
            } else {
                0
            };
            Some(MiningConfig {
                reward_address,
                interval: Duration::from_secs(args.mine_interval.unwrap_or(default_interval)),
            })
        }
        _ => None,
    };
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let config = NodeConfig {
        dir: args.dir,
        ip: args.ip,
        port: args.port,
        params,
        mempool: MempoolLimits {
            max_count: args.mempool_max_count,
            max_size: args.mempool_max_size,
        },
        max_side_bytes: args.max_side_bytes,
        workers,
        mining,
        network: NetworkConfig {
            seed: Some(args.dns),
            update_interval: Duration::from_secs(args.update_interval),
            max_peers: args.max_peers,
            sync_interval: Duration::from_secs(args.sync_interval),
            advertise: args.advertise,
            policy: AddrPolicy {
                allow_local: args.allow_local_peers || args.chain == "regtest",
            },
        },
    };
    let system = actix_web::rt::System::new();
    let app = system.block_on(async {
        let app = App::build(config)?;
        cinder::api::connections::raise_and_log_open_file_limit();
        // Listen for Ctrl-C / SIGTERM before announcing the port, so that a
        // supervisor stopping the node at once still gets a clean stop.
        cinder::api::stop_on_signals(app.handle())?;
        anyhow::Ok(app)
    })?;
    let local = app.addr();
    // Not println!: a closed stdout must not panic the node.
    let mut stdout = std::io::stdout();
    let _ = writeln!(
        stdout,
        "listening on http://{}:{}",
        local.ip(),
        local.port()
    );
    let _ = stdout.flush();
    // Runs until Ctrl-C / SIGTERM; requests in flight (a block being
    // connected) finish first.
    let result = system.block_on(app.run());
    tracing::info!("stopped");
    result
}
