//! `testing`: fills a node's chain with blocks and payments, the one-command
//! demo of a working network. It finds a node (`--node`, else the first
//! that answers of up to 3 nodes the seed lists, else the default node:
//! [`wallet::choose`], as the wallet does), keeps a test wallet of its own,
//! mines blocks to it through `GET /mining/template/` and `POST /blocks/`
//! until it has mature coins, pays varied amounts to its own and fresh
//! addresses through the wallet's coin selection and signing, mines again
//! to confirm them, and prints the resulting `/blockchain/`.
//!
//! The chain is spoken to with [`cinder::client::Client`] on a
//! current-thread runtime; the wallet's questions go through its own
//! [`HttpNode`], outside the runtime (it is blocking).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use cinder::client::{Client, ClientError};
use cinder::consensus::ChainParams;
use cinder::crypto::{KeyChain, SecretKey};
use cinder::types::{Address, Amount, Block, Hash, HeaderHasher};
use cinder::wire::{BlockStatus, BlockchainInfo};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use wallet::coin_selection::{DEFAULT_FEE_RATE, FeePolicy, LargestFirst};
use wallet::discovery::{Discovery, discover};
use wallet::funds::gather_funds;
use wallet::keys::{KeyPath, KeySource, Secrets, WalletKeys, WordCount};
use wallet::keystore::{KdfParams, Keystore, KeystoreError};
use wallet::node::{HttpNode, NodeClient, NodeError};
use wallet::prompt::PasswordSource;
use wallet::send::{ChangeTo, SendAmount, SendRequest, prepare_send};
use zeroize::Zeroizing;

/// `println!` that fails instead of panicking when stdout is gone
/// (`testing … | head`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).context("cannot write to stdout")?;
    }};
}

/// The password of the test wallet when neither `--password-file` nor
/// `CINDER_WALLET_PASSWORD` gives one. Public on purpose: this wallet only
/// ever holds test coins.
pub const DEFAULT_PASSWORD: &str = "cinder testing wallet";
/// The seed asked for a node when `--node` is not given.
pub const DEFAULT_SEED: &str = "127.0.0.1:42020";
/// The wallet file inside `--dir`.
pub const WALLET_FILE: &str = "wallet.json";
/// Payments posted before a block confirms them: keeps chains of
/// unconfirmed change far below the mempool's 25 ancestors.
const BATCH: usize = 10;
/// Time spent on one template before a fresh one is asked for (new
/// timestamp, new mempool).
const TEMPLATE_LIFETIME: Duration = Duration::from_secs(20);
/// Smallest and largest payment, in units (0.01 and 0.5).
const MIN_PAYMENT: u64 = 1_000_000;
const MAX_PAYMENT: u64 = 50_000_000;
/// The highest fee a payment may pay (the wallet's default `--max-fee`).
const MAX_FEE: Amount = Amount::from_units(10_000_000);

#[derive(Parser, Debug)]
#[command(
    name = "testing",
    version,
    about = "Fills a Cinder node's chain: mines blocks to a test wallet, sends it payments, mines them in, prints the chain.",
    long_about = "Fills a Cinder node's chain: mines blocks to a test wallet through \
        GET /mining/template/ and POST /blocks/ until its coins are mature, sends --transactions \
        payments of varied amounts to its own and to fresh addresses through the wallet's coin \
        selection and signing, mines blocks to confirm them, and prints the resulting /blockchain/. \
        Run it again and it adds to the chain.\n\n\
        Without --node, the node is the first that answers GET /health/ of up to 3 random \
        nodes the seed lists (GET /nodes/), else http://127.0.0.1:50000 (or CINDER_DEFAULT_NODE); \
        --log debug tells which one answered.\n\n\
        The wallet in DIR/wallet.json is a TEST WALLET: encrypted like any wallet, with the \
        password from --password-file, else CINDER_WALLET_PASSWORD, else the public default \
        \"cinder testing wallet\". The `wallet` command opens it with \
        `wallet -w DIR/wallet.json` and the same password. Its mnemonic is never shown.",
    after_help = "The network simulator is `testing sim` (see `testing sim --help`)."
)]
pub struct Cli {
    /// The seed asked for its nodes (GET /nodes/) when --node is not given.
    #[arg(long = "dns", value_name = "IP:PORT", default_value = DEFAULT_SEED)]
    pub dns: String,
    /// The node to fill, instead of one from the seed.
    #[arg(long = "node", value_name = "http://IP:PORT")]
    pub node: Option<String>,
    /// Where the test wallet lives (DIR/wallet.json).
    #[arg(short = 'd', long = "dir", default_value = ".testing")]
    pub dir: PathBuf,
    /// The wallet password, on the first line of this file.
    #[arg(long = "password-file", value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Payments to send (0: only mine to maturity).
    #[arg(long = "transactions", value_name = "N", default_value_t = 20)]
    pub transactions: usize,
    /// Only mine N blocks to the wallet (confirming what the mempool holds), no payments.
    #[arg(long = "mine-only", value_name = "N", conflicts_with = "transactions")]
    pub mine_only: Option<u64>,
    /// Log level or tracing filter, on stderr (error, warn, info, debug, trace, off).
    #[arg(long = "log", value_name = "LEVEL", default_value = "warn")]
    pub log: String,
}

/// Runs the command line of this process.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cinder::logging::init(&cli.log).map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let url = find_node(&cli)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")?;
    let chain = Chain::connect(runtime, &url)?;
    say!(
        "node {url}: chain {}, height {}, best {}",
        chain.params.name,
        chain.info.height,
        chain.info.best_hash
    );
    let wallet = TestWallet::open_or_create(&cli.dir, cli.password_file.clone())?;
    let node = HttpNode::new(&url)?;
    let mut populate = Populate {
        chain,
        node,
        wallet,
        mined: Vec::new(),
        sent: Vec::new(),
        hashes: 0,
        hashing_time: Duration::ZERO,
    };
    match cli.mine_only {
        Some(blocks) => populate.mine_blocks(blocks, "mining")?,
        None => populate.populate(cli.transactions)?,
    }
    populate.report(started.elapsed())
}

/// The node's URL: `--node`, else the first node that answers of those
/// the seed lists, else the default node ([`wallet::choose::find_node`]).
fn find_node(cli: &Cli) -> anyhow::Result<String> {
    wallet::choose::find_node(cli.node.as_deref(), &cli.dns).map_err(|e| match e {
        NodeError::NoneAnswered(e) => anyhow!(
            "{e}; start dns-server and a full-node (with --dns {}), or pass --node http://IP:PORT",
            cli.dns
        ),
        other => anyhow!(other),
    })
}

/// The node's chain as the typed client sees it.
struct Chain {
    runtime: tokio::runtime::Runtime,
    client: Client,
    params: ChainParams,
    info: BlockchainInfo,
}

impl Chain {
    fn connect(runtime: tokio::runtime::Runtime, url: &str) -> anyhow::Result<Chain> {
        let client = Client::new(url);
        let info = runtime
            .block_on(client.blockchain())
            .map_err(|e| no_answer(url, e))?;
        let params = ChainParams::by_name(&info.name).ok_or_else(|| {
            anyhow!(
                "node {url} runs chain {:?}, which this tool does not know",
                info.name
            )
        })?;
        Ok(Chain {
            runtime,
            client,
            params,
            info,
        })
    }

    fn refresh(&mut self) -> anyhow::Result<&BlockchainInfo> {
        self.info = self
            .runtime
            .block_on(self.client.blockchain())
            .map_err(|e| no_answer(self.client.base(), e))?;
        Ok(&self.info)
    }
}

fn no_answer(url: &str, e: ClientError) -> anyhow::Error {
    if e.is_silence() {
        anyhow!("no node answers at {url}: {e}")
    } else {
        anyhow!("node {url}: {e}")
    }
}

/// The test wallet: its keystore and keys.
struct TestWallet {
    keystore: Keystore,
    keys: WalletKeys,
}

impl TestWallet {
    /// Opens `dir/wallet.json`, or creates it (and `dir`) with fresh keys.
    fn open_or_create(dir: &Path, password_file: Option<PathBuf>) -> anyhow::Result<TestWallet> {
        let path = dir.join(WALLET_FILE);
        let source = PasswordSource::from_env(password_file);
        let password = if source.file.is_some() || source.env.is_some() {
            source.password()?
        } else {
            Zeroizing::new(DEFAULT_PASSWORD.to_string())
        };
        let keystore = match Keystore::open(&path, &password) {
            Ok(keystore) => {
                say!("wallet {} opened", path.display());
                keystore
            }
            Err(KeystoreError::Missing(_)) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let secrets = Secrets::generate(WordCount::Twelve, Zeroizing::new(String::new()));
                let keystore =
                    Keystore::create(&path, secrets, &password, KdfParams::from_env()?, false)?;
                say!(
                    "wallet {} created (a test wallet: its mnemonic is not shown)",
                    path.display()
                );
                keystore
            }
            Err(e) => return Err(e.into()),
        };
        let keys = keystore.secrets().keys()?;
        Ok(TestWallet { keystore, keys })
    }

    /// Where mined coins go: the first receive address.
    fn mining_address(&self) -> anyhow::Result<Address> {
        Ok(self.keys.address(KeyPath::receive(0))?)
    }
}

/// Who a payment went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Payee {
    /// One of the wallet's used addresses.
    Own,
    /// A receive address of the wallet not used before.
    FreshOwn,
    /// The address of a new random key nobody keeps: the coins leave the wallet.
    Fresh,
}

impl Payee {
    fn describe(self) -> &'static str {
        match self {
            Payee::Own => "own",
            Payee::FreshOwn => "own, fresh",
            Payee::Fresh => "fresh key",
        }
    }
}

struct Payment {
    hash: Hash,
    to: Address,
    payee: Payee,
    amount: Amount,
    fee: Amount,
}

struct Mined {
    height: u64,
    /// Transactions besides the coinbase.
    payments: usize,
}

struct Populate {
    chain: Chain,
    node: HttpNode,
    wallet: TestWallet,
    mined: Vec<Mined>,
    sent: Vec<Payment>,
    hashes: u64,
    hashing_time: Duration,
}

impl Populate {
    /// Mines to maturity, then sends `count` payments in batches, each
    /// confirmed by a block.
    fn populate(&mut self, count: usize) -> anyhow::Result<()> {
        let mut next_fresh_own = 0u32;
        let mut left = count;
        let progress = bar(count as u64, "payments");
        while left > 0 {
            let batch = left.min(BATCH);
            let amounts: Vec<Amount> = (0..batch).map(|_| random_payment()).collect();
            let needed = amounts.iter().fold(MAX_FEE, |sum, a| add(sum, *a));
            progress.suspend(|| self.mine_until_spendable(needed))?;
            let discovery = self.discover()?;
            let fresh_base = discovery.next_unused(KeyChain::Receive);
            for amount in amounts {
                let payee = match self.sent.len() % 3 {
                    0 => Payee::Own,
                    1 => Payee::FreshOwn,
                    _ => Payee::Fresh,
                };
                let to = match payee {
                    Payee::Own => self.wallet.mining_address()?,
                    Payee::FreshOwn => {
                        // Within the gap limit a restore scans.
                        let index = fresh_base.saturating_add(next_fresh_own % 5);
                        next_fresh_own += 1;
                        self.wallet.keys.address(KeyPath::receive(index))?
                    }
                    Payee::Fresh => fresh_address()?,
                };
                let payment = self.pay(&discovery, to, payee, amount)?;
                progress.suspend(|| -> anyhow::Result<()> {
                    say!(
                        "sent {} to {} ({}), fee {}: {}",
                        payment.amount,
                        payment.to.to_checksummed(),
                        payment.payee.describe(),
                        payment.fee,
                        payment.hash
                    );
                    Ok(())
                })?;
                self.sent.push(payment);
                progress.inc(1);
            }
            left -= batch;
            let before = self.mined.len();
            progress.suspend(|| self.mine_blocks(1, "confirming"))?;
            let confirmed: usize = self.mined[before..].iter().map(|m| m.payments).sum();
            if confirmed < batch {
                bail!(
                    "block {} confirmed {confirmed} of the {batch} payments just sent",
                    self.chain.info.height
                );
            }
        }
        progress.finish_and_clear();
        if count == 0 {
            self.mine_until_spendable(Amount::from_units(1))?;
        }
        Ok(())
    }

    fn discover(&self) -> anyhow::Result<Discovery> {
        Ok(discover(
            &self.wallet.keys,
            &self.node,
            wallet::GAP_LIMIT,
            self.wallet.keystore.next_receive_index().saturating_add(1),
        )?)
    }

    /// What the wallet may spend now.
    fn spendable(&mut self) -> anyhow::Result<Amount> {
        let discovery = self.discover()?;
        let height = self.chain.refresh()?.height;
        let funds = gather_funds(
            &self.node,
            &discovery,
            height,
            self.chain.params.coinbase_maturity,
        )?;
        Ok(funds.spendable_total())
    }

    /// Mines blocks to the wallet until it can spend `needed`.
    fn mine_until_spendable(&mut self, needed: Amount) -> anyhow::Result<()> {
        let mut spendable = self.spendable()?;
        if spendable >= needed {
            return Ok(());
        }
        // Enough coinbases to cover it, plus the wait for maturity.
        let reward = self
            .chain
            .params
            .subsidy(self.chain.info.height.saturating_add(1))
            .units()
            .max(1);
        let missing = needed.units().saturating_sub(spendable.units());
        let mut blocks = missing.div_ceil(reward) + self.chain.params.coinbase_maturity;
        let mut rounds = 0;
        while spendable < needed {
            rounds += 1;
            if rounds > 5 {
                bail!(
                    "the wallet can spend only {spendable} after mining {} blocks, {needed} is needed",
                    self.mined.len()
                );
            }
            self.mine_blocks(blocks, "mining to maturity")?;
            spendable = self.spendable()?;
            blocks = 1;
        }
        say!("spendable: {spendable}");
        Ok(())
    }

    /// Mines `count` blocks paying the wallet, each on a fresh template.
    fn mine_blocks(&mut self, count: u64, what: &str) -> anyhow::Result<()> {
        if count == 0 {
            return Ok(());
        }
        let address = self.wallet.mining_address()?;
        let progress = bar(count, what);
        let first = self.chain.info.height.saturating_add(1);
        let started = Instant::now();
        let hashes_before = self.hashes;
        let hashing_before = self.hashing_time;
        for _ in 0..count {
            let mined = self.mine_block(&address, &progress)?;
            self.mined.push(mined);
            progress.inc(1);
        }
        progress.finish_and_clear();
        let elapsed = started.elapsed();
        let hashes = self.hashes - hashes_before;
        say!(
            "{what}: mined {count} block{} (height {first}..={}) to {} in {:.2} s, {} hashes, {}",
            if count == 1 { "" } else { "s" },
            self.chain.info.height,
            address.to_checksummed(),
            elapsed.as_secs_f64(),
            hashes,
            rate(hashes, self.hashing_time - hashing_before)
        );
        Ok(())
    }

    /// One block: a template, a nonce that meets its target, the post.
    fn mine_block(&mut self, address: &Address, progress: &ProgressBar) -> anyhow::Result<Mined> {
        let url = self.chain.client.base().to_string();
        loop {
            let mut block = self
                .chain
                .runtime
                .block_on(self.chain.client.template(address))
                .map_err(|e| no_answer(&url, e))?;
            let started = Instant::now();
            let (found, hashes) = solve(&mut block, TEMPLATE_LIFETIME, progress);
            self.hashes += hashes;
            self.hashing_time += started.elapsed();
            if !found {
                continue; // a fresh template: newer time and mempool
            }
            let accepted = self
                .chain
                .runtime
                .block_on(self.chain.client.post_block(&block))
                .map_err(|e| anyhow!("node {url} refused block {}: {e}", block.height))?;
            if accepted.status == BlockStatus::SideChain {
                // Another block took the height first: mine on the new tip.
                continue;
            }
            self.chain.info.height = accepted.height;
            self.chain.info.best_hash = accepted.hash;
            return Ok(Mined {
                height: accepted.height,
                payments: block.transactions.len().saturating_sub(1),
            });
        }
    }

    /// Builds, signs and posts one payment through the wallet.
    fn pay(
        &self,
        discovery: &Discovery,
        to: Address,
        payee: Payee,
        amount: Amount,
    ) -> anyhow::Result<Payment> {
        let request = SendRequest {
            to,
            amount: SendAmount::Exactly(amount),
            fee: FeePolicy::PerByte(DEFAULT_FEE_RATE),
            max_fee: MAX_FEE,
            change: ChangeTo::FirstInput,
        };
        let built = prepare_send(
            &self.node,
            &self.wallet.keys,
            discovery,
            &request,
            &LargestFirst,
            now(),
        )?;
        self.node.post_transaction(&built.transaction)?;
        Ok(Payment {
            hash: built.transaction.hash,
            to,
            payee,
            amount: built.amount(),
            fee: built.fee,
        })
    }

    /// What was done, and the chain as the node now reports it.
    fn report(&mut self, elapsed: Duration) -> anyhow::Result<()> {
        let info = self.chain.refresh()?.clone();
        let confirmed: usize = self.mined.iter().map(|m| m.payments).sum();
        let paid = self
            .sent
            .iter()
            .fold(Amount::ZERO, |sum, p| add(sum, p.amount));
        let fees = self
            .sent
            .iter()
            .fold(Amount::ZERO, |sum, p| add(sum, p.fee));
        say!(
            "done in {:.1} s: mined {} block(s), sent {} payment(s) ({paid} paid, {fees} in fees), {confirmed} transactions confirmed besides coinbases",
            elapsed.as_secs_f64(),
            self.mined.len(),
            self.sent.len(),
        );
        if let (Some(first), Some(last)) = (self.mined.first(), self.mined.last()) {
            say!("blocks {}..={} are this run's", first.height, last.height);
        }
        say!("/blockchain/ of {}:", self.chain.client.base());
        say!("  chain:              {}", info.name);
        say!("  height:             {}", info.height);
        say!("  best hash:          {}", info.best_hash);
        say!("  total transactions: {}", info.total_transactions);
        say!("  total addresses:    {}", info.total_addresses);
        say!("  mempool size:       {}", info.mempool_size);
        say!("  total work:         {}", info.total_work.0);
        say!("  rich list:");
        for entry in &info.rich_list {
            say!("    {}  {}", entry.address.to_checksummed(), entry.balance);
        }
        Ok(())
    }
}

/// Tries nonces with one thread per core until one meets the block's target
/// or `lifetime` passes; returns whether it found one and how many hashes
/// it tried. Sets `nonce` and `hash` when found.
fn solve(block: &mut Block, lifetime: Duration, progress: &ProgressBar) -> (bool, u64) {
    let hasher = HeaderHasher::new(&block.header());
    let target = block.target;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let done = AtomicBool::new(false);
    let tried = AtomicU64::new(0);
    let found = std::sync::Mutex::new(None);
    let started = Instant::now();
    const CHUNK: u64 = 4096;
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (hasher, done, tried, found) = (&hasher, &done, &tried, &found);
            scope.spawn(move || {
                let mut chunk = thread;
                while !done.load(Ordering::Relaxed) {
                    let start = chunk.saturating_mul(CHUNK);
                    for nonce in start..start.saturating_add(CHUNK) {
                        let hash = hasher.hash(nonce);
                        if hash.meets(&target) {
                            done.store(true, Ordering::Relaxed);
                            if let Ok(mut slot) = found.lock()
                                && slot.is_none()
                            {
                                *slot = Some((nonce, hash));
                            }
                            break;
                        }
                    }
                    tried.fetch_add(CHUNK, Ordering::Relaxed);
                    chunk += threads;
                    if thread == 0 {
                        let elapsed = started.elapsed();
                        if elapsed > lifetime {
                            done.store(true, Ordering::Relaxed);
                        } else if elapsed > Duration::from_millis(500) {
                            progress.set_message(rate(tried.load(Ordering::Relaxed), elapsed));
                        }
                    }
                }
            });
        }
    });
    let tried = tried.load(Ordering::Relaxed);
    match found.into_inner().ok().flatten() {
        Some((nonce, hash)) => {
            block.nonce = nonce;
            block.hash = hash;
            (true, tried)
        }
        None => (false, tried),
    }
}

fn rate(hashes: u64, elapsed: Duration) -> String {
    let per_second = hashes as f64 / elapsed.as_secs_f64().max(1e-9);
    if per_second >= 1e6 {
        format!("{:.2} Mhash/s", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1} khash/s", per_second / 1e3)
    } else {
        format!("{per_second:.0} hash/s")
    }
}

/// A bar on stderr when it is a terminal, hidden otherwise.
fn bar(length: u64, what: &str) -> ProgressBar {
    let progress = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}") {
        progress.set_style(style.progress_chars("=> "));
    }
    progress.set_prefix(what.to_string());
    progress.enable_steady_tick(Duration::from_millis(200));
    progress
}

/// A payment between [`MIN_PAYMENT`] and [`MAX_PAYMENT`], with a varied
/// number of decimals.
fn random_payment() -> Amount {
    use rand::RngExt;
    let mut rng = rand::rng();
    let units = rng.random_range(MIN_PAYMENT..=MAX_PAYMENT);
    let rounding = [1, 1_000, 100_000, 1_000_000][rng.random_range(0..4usize)];
    Amount::from_units((units / rounding).max(1) * rounding)
}

/// The address of a new random key, kept nowhere.
fn fresh_address() -> anyhow::Result<Address> {
    use rand::Rng;
    for _ in 0..16 {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        if let Ok(key) = SecretKey::from_bytes(&bytes) {
            return Ok(key.address());
        }
    }
    bail!("no valid random key in 16 tries")
}

/// `a + b`, at most the largest amount (sums of a few payments never get near it).
fn add(a: Amount, b: Amount) -> Amount {
    Amount::from_units(a.units().saturating_add(b.units()))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
