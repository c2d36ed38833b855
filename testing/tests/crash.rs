//! Crashes during sync (issue 31, in the spirit of Bitcoin Core's
//! `feature_dbcrash`), on the real binaries: a node syncs a long chain from
//! a peer — first following a lighter branch it was given, then
//! reorganising to the peer's heavier one — while the test also posts it
//! transactions, side-branch and competing blocks, and the peer relays it
//! new blocks; it is SIGKILLed at random moments and restarted on the same
//! data directory each time. After each kill `full-node verify` on the
//! killed node's directory must find it consistent, with the digest of the
//! reference state at the same best hash; at the end both nodes, stopped,
//! must verify to the same digest.
//!
//! `CINDER_CRASH_KILLS` (default 6: the CI run) sets the number of kills,
//! `CINDER_CRASH_SEED` replays a run's random choices (the seed is printed),
//! `CINDER_CRASH_BLOCKS` the length of the peer's chain (default: enough to
//! keep the node syncing for most kills). The full run:
//! `CINDER_CRASH_KILLS=25 cargo test -p testing --test crash -- --nocapture`.
//!
//! Also here: `full-node verify` itself on a stopped node's directory (a
//! corrupted balance is named, exit 1; a running node's directory is
//! refused).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cinder::consensus::ChainParams;
use cinder::node::{MempoolLimits, Node};
use cinder::types::{Block, Hash, Transaction};
use serde_json::Value;
use testing::chain::{self, Coin, owner, payee};
use testing::rng::Rng;
use testing::{
    Finished, NodeProcess, RUN_TIMEOUT, closed_addr, full_node_bin, get, get_ok, post_block,
    run_to_end, wait_for,
};

/// How long a node may take to catch up with its peer.
const CATCH_UP: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------
// `full-node verify`

/// What `full-node verify -d DIR` printed.
struct Verified {
    finished: Finished,
    best_hash: String,
    height: u64,
    digest: String,
    problems: Vec<String>,
}

impl Verified {
    /// Consistent: exit 0, no problem.
    fn is_ok(&self) -> bool {
        self.finished.status.success() && self.problems.is_empty()
    }
}

fn verify_dir(dir: &Path) -> Verified {
    let mut command = Command::new(full_node_bin());
    command.arg("verify").arg("-d").arg(dir);
    let finished = run_to_end(command, None, RUN_TIMEOUT);
    let field = |name: &str| {
        finished
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_default()
            .to_string()
    };
    let last = finished.stdout.lines().last().unwrap_or_default();
    let digest = last.strip_prefix("digest ").unwrap_or_default().to_string();
    let problems = finished
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("problem: "))
        .map(str::to_string)
        .collect();
    Verified {
        best_hash: field("best_hash"),
        height: field("height").parse().unwrap_or(0),
        digest,
        problems,
        finished,
    }
}

/// A digest as `full-node verify` prints it: 64 lowercase hex digits.
fn is_digest(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `state_digest` of a node's database, read beside the running node.
fn digest_of(node: &Node) -> Hash {
    node.reads()
        .with(cinder::state::state_digest)
        .expect("the digest of the reference")
}

/// A copy of a stopped node's data directory files into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("directory");
    for entry in std::fs::read_dir(from).expect("files") {
        let entry = entry.expect("a file");
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

#[test]
fn verify_names_a_corrupted_balance_and_refuses_a_running_node() {
    let blocks = chain::blocks(12, 3);
    let node = testing::lab::node_with_chain(&blocks, &[]);
    // A running node's directory is refused.
    let running = verify_dir(&node.data_dir);
    assert_eq!(running.finished.code(), Some(1), "{}", running.finished);
    assert!(
        running.finished.stderr.contains("running"),
        "{}",
        running.finished
    );
    let (root, status) = node.stop();
    assert!(status.success(), "{status}");
    let data = NodeProcess::data_dir_of(root.path());
    let clean = verify_dir(&data);
    assert!(clean.is_ok(), "{}", clean.finished);
    assert!(is_digest(&clean.digest), "{}", clean.finished);
    assert_eq!(clean.height, 12);
    assert_eq!(
        clean.best_hash,
        blocks.last().expect("a tip").hash.to_string()
    );
    // A copy with one balance off by one unit.
    let copy = tempfile::tempdir().expect("temporary directory");
    copy_dir(&data, copy.path());
    let victim = payee(2);
    {
        let conn = cinder::state::open_connection(&copy.path().join("chain.sqlite"))
            .expect("the copy opens");
        let changed = conn
            .execute(
                &format!(
                    "UPDATE addresses SET balance = balance + 1 WHERE address = x'{}'",
                    hex_of(&victim.0)
                ),
                [],
            )
            .expect("update");
        assert_eq!(changed, 1);
    }
    let corrupt = verify_dir(copy.path());
    assert_eq!(corrupt.finished.code(), Some(1), "{}", corrupt.finished);
    assert_eq!(corrupt.problems.len(), 1, "{}", corrupt.finished);
    assert!(
        corrupt.problems[0].contains(&victim.to_string())
            && corrupt.problems[0].contains("balance"),
        "{}",
        corrupt.finished
    );
    assert!(
        corrupt.finished.stderr.contains("1 problem in"),
        "{}",
        corrupt.finished
    );
    assert!(is_digest(&corrupt.digest), "{}", corrupt.finished);
    assert_ne!(corrupt.digest, clean.digest);
    // The original is untouched, and still verifies to the same digest.
    assert_eq!(verify_dir(&data).digest, clean.digest);
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// The crash test

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
    )
}

/// Every block the test knows, by hash, and the reference digest of the
/// state whose tip it is. The peer's line (its chain, then the blocks it
/// gets during the test) is walked forward by one node in this process,
/// as far as asked (the syncing node's height on it never goes down); a
/// tip off the line is computed in a fresh directory.
struct Reference {
    blocks: HashMap<Hash, Block>,
    line: Vec<Block>,
    walker: Node,
    walked: usize,
    digests: HashMap<Hash, Hash>,
    _dir: tempfile::TempDir,
}

impl Reference {
    fn new(line: Vec<Block>) -> Reference {
        let dir = tempfile::tempdir().expect("temporary directory");
        let walker = Node::open(dir.path(), ChainParams::regtest(), MempoolLimits::default())
            .expect("a reference node");
        let mut digests = HashMap::new();
        digests.insert(line[0].hash, digest_of(&walker));
        let mut reference = Reference {
            blocks: HashMap::new(),
            line: Vec::new(),
            walker,
            walked: 0,
            digests,
            _dir: dir,
        };
        reference.add(&line);
        reference.line = line;
        reference
    }

    fn add(&mut self, blocks: &[Block]) {
        for b in blocks {
            self.blocks.insert(b.hash, b.clone());
        }
    }

    /// The reference digest of the chain ending at `tip`, or `None` when
    /// the test never made that block.
    fn digest(&mut self, tip: &Hash) -> Option<Hash> {
        if let Some(d) = self.digests.get(tip) {
            return Some(*d);
        }
        let block = self.blocks.get(tip)?.clone();
        let height = block.height as usize;
        if self.line.get(height).is_some_and(|b| b.hash == *tip) && height > self.walked {
            for b in &self.line[self.walked + 1..=height] {
                self.walker.submit_block(b).expect("a block of the line");
            }
            self.walked = height;
            let digest = digest_of(&self.walker);
            self.digests.insert(*tip, digest);
            return Some(digest);
        }
        let mut path = vec![block];
        while path.last().is_some_and(|b| b.height > 0) {
            let prev = path.last().map(|b| b.prev_hash)?;
            path.push(self.blocks.get(&prev)?.clone());
        }
        path.reverse();
        let dir = tempfile::tempdir().expect("temporary directory");
        let node = Node::open(dir.path(), ChainParams::regtest(), MempoolLimits::default())
            .expect("a reference node");
        for b in &path[1..] {
            node.submit_block(b).expect("a reference block");
        }
        let digest = digest_of(&node);
        self.digests.insert(*tip, digest);
        Some(digest)
    }
}

/// `count` blocks on `parent` by `creator`, the first holding `txs`.
fn branch(
    parent: &Block,
    creator: usize,
    txs: Vec<Transaction>,
    count: usize,
    dt: u64,
) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::with_capacity(count);
    let mut txs = Some(txs);
    for _ in 0..count {
        let tip = out.last().unwrap_or(parent);
        let b = chain::block_on(
            tip,
            &payee(creator),
            txs.take().unwrap_or_default(),
            tip.timestamp + dt,
        );
        out.push(b);
    }
    out
}

/// The owner's change coins after `block` (a block of payments of
/// [`chain::blocks_with_coins`]: output 1 of each is the change).
fn change_coins(block: &Block) -> Vec<Coin> {
    block.transactions[1..]
        .iter()
        .map(|t| Coin {
            tx: t.hash,
            index: 1,
            value: t.outputs[1].value.units(),
        })
        .collect()
}

/// Chains of mempool payments: each spends the change of the one before.
struct Payments {
    chains: Vec<Vec<Transaction>>,
    cursor: Vec<usize>,
}

impl Payments {
    fn new(coins: &[Coin], depth: usize) -> Payments {
        let now = cinder::node::unix_now();
        let chains: Vec<Vec<Transaction>> = coins
            .iter()
            .enumerate()
            .map(|(c, coin)| {
                let mut coin = *coin;
                (0..depth)
                    .map(|d| {
                        let pay = 1_500 + d as u64;
                        let t = chain::spend(
                            coin,
                            &[
                                (payee(120 + c), pay),
                                (owner().address(), coin.value - pay - 1_000),
                            ],
                            now,
                        );
                        coin = Coin {
                            tx: t.hash,
                            index: 1,
                            value: t.outputs[1].value.units(),
                        };
                        t
                    })
                    .collect()
            })
            .collect();
        let cursor = vec![0; chains.len()];
        Payments { chains, cursor }
    }
}

/// What posting to a node answered: the status, the error code, or the
/// reason it could not be sent.
fn send(
    url: &str,
    path: &str,
    body: &str,
    relayed_by: Option<&str>,
) -> Result<(u16, Value), String> {
    static CLIENT: std::sync::OnceLock<reqwest::blocking::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client")
    });
    let mut request = client
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(from) = relayed_by {
        request = request.header("X-Cinder-Node", from);
    }
    let response = request
        .send()
        .map_err(|e| format!("POST {url}{path}: {e}"))?;
    let status = response.status().as_u16();
    let value = response.json().unwrap_or(Value::Null);
    Ok((status, value))
}

/// A node's best hash and height.
fn tip_of(url: &str) -> (String, u64) {
    let info = get_ok(url, "/blockchain/");
    (
        info["best_hash"].as_str().unwrap_or_default().to_string(),
        info["height"].as_u64().unwrap_or(0),
    )
}

/// The syncing node's traffic between two kills: transactions, blocks of
/// every branch relayed in the peer's name, forks that outweigh its tip
/// while it syncs, and new blocks of the peer.
struct Traffic {
    payments: Payments,
    /// Blocks posted to the syncing node at random (branches, forks, side
    /// blocks, the peer's new blocks once released).
    blocks: Vec<Block>,
    /// The peer's chain by height, up to its first tip.
    main: Vec<Block>,
    /// Below this height the node may still be on the lighter branch.
    forks_from: u64,
    /// The peer's next blocks, released one at a time.
    extension: Vec<Block>,
    released: usize,
    forks: u64,
    posts: u64,
    accepted: u64,
}

/// What a step may do besides posting transactions and known blocks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The node syncs: forks two blocks long on its tip's parent make it
    /// reorganise (to be reorganised back by the sync).
    Sync,
    /// At the peer's tip: the peer gets its next block (once a round).
    Tip { release: bool },
    /// Waiting for the node to reach the peer's tip: nothing new.
    Quiet,
}

impl Traffic {
    /// One random step against `node` (its peer `peer`); new blocks it
    /// makes are added to `reference`.
    fn step(
        &mut self,
        rng: &mut Rng,
        node: &NodeProcess,
        peer: &NodeProcess,
        phase: &mut Phase,
        reference: &mut Reference,
    ) {
        let answer = match rng.range(0, 12) {
            0..=4 => {
                let c = rng.range(0, self.payments.chains.len() as u64) as usize;
                let at = self.payments.cursor[c];
                let Some(tx) = self.payments.chains[c].get(at) else {
                    return;
                };
                let body = serde_json::to_string(tx).expect("JSON");
                let answer = send(&node.url, "/transactions/", &body, None);
                if let Ok((status, body)) = &answer {
                    match (*status, body["error"].as_str()) {
                        (200 | 409, _) => self.payments.cursor[c] += 1,
                        // Its parent was lost with a kill (or the chain
                        // is not there yet): post the parent again.
                        (400, Some("unknown_input")) => {
                            self.payments.cursor[c] = at.saturating_sub(1)
                        }
                        (400, _) => self.payments.cursor[c] += 1,
                        _ => {}
                    }
                }
                answer
            }
            5..=7 => {
                let Some(block) = self
                    .blocks
                    .get(rng.range(0, self.blocks.len() as u64) as usize)
                else {
                    return;
                };
                let body = serde_json::to_string(block).expect("JSON");
                send(&node.url, "/blocks/", &body, Some(&peer.addr()))
            }
            8 if *phase == Phase::Sync => {
                // Two blocks on the parent of the node's tip: more work
                // than its chain, less than the peer's.
                let (_, height) = tip_of(&node.url);
                let top = self.main.len() as u64 - 1;
                if height <= self.forks_from || height + 3 > top {
                    return;
                }
                let base = &self.main[height as usize - 1];
                let fork = branch(base, 154, Vec::new(), 2, 7);
                reference.add(&fork);
                self.forks += 1;
                let mut last = Ok((200, Value::Null));
                for b in &fork {
                    let body = serde_json::to_string(b).expect("JSON");
                    last = send(&node.url, "/blocks/", &body, Some(&peer.addr()));
                    if !matches!(last, Ok((200, _))) {
                        break;
                    }
                }
                self.blocks.extend(fork);
                last
            }
            8 if *phase == (Phase::Tip { release: true })
                && self.released < self.extension.len() =>
            {
                let block = self.extension[self.released].clone();
                post_block(&peer.url, &block);
                self.released += 1;
                self.blocks.push(block);
                *phase = Phase::Tip { release: false };
                return;
            }
            _ => {
                let (status, body) = get(&node.url, "/blockchain/");
                Ok((status, body))
            }
        };
        self.posts += 1;
        match answer {
            Ok((200, _)) => self.accepted += 1,
            Ok((400 | 409, _)) => {}
            Ok((status, body)) => panic!("{} answered {status}: {body}", node.url),
            Err(e) => panic!("the syncing node stopped answering: {e}"),
        }
    }
}

/// One kill, as the summary shows it.
struct Kill {
    at_tip: bool,
    height_before: u64,
    verified_height: u64,
    /// The killed node's best block was not on the peer's chain.
    off_line: bool,
    pending_reorganisation: bool,
}

#[test]
fn a_node_killed_at_random_while_syncing_keeps_a_consistent_chain_state() {
    let started = Instant::now();
    let kills = env_u64("CINDER_CRASH_KILLS").unwrap_or(6).max(1) as usize;
    let seed = env_u64("CINDER_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(31)
    });
    // Two kills in three while the node syncs, then the rest at the tip.
    let sync_kills = (kills * 2).div_ceil(3);
    let length = env_u64("CINDER_CRASH_BLOCKS").unwrap_or(100 + 30 * kills as u64);
    eprintln!(
        "crash test: seed {seed} (CINDER_CRASH_SEED={seed} replays its choices), {kills} kills ({sync_kills} while syncing), a chain of {length} blocks"
    );
    let mut rng = Rng::new(seed);

    // The peer's chain: payments in every block, a lighter branch the
    // syncing node follows first, forks competing with the chain, side
    // blocks, and the blocks the peer gets during the test.
    let per_block = 6;
    let (main, coins) = chain::blocks_with_coins(length, per_block);
    let fork = 12;
    let lighter = {
        let parent = &main[fork];
        let now = parent.timestamp + 1;
        let payments = change_coins(parent)
            .into_iter()
            .take(3)
            .enumerate()
            .map(|(i, coin)| {
                chain::spend(
                    coin,
                    &[
                        (payee(160 + i), 2_000),
                        (owner().address(), coin.value - 3_000),
                    ],
                    now,
                )
            })
            .collect();
        branch(parent, 150, payments, 6, 10)
    };
    let on_branch = fork + lighter.len();
    let mut competing: Vec<Block> = [
        on_branch + 3,
        length as usize / 3,
        length as usize / 2,
        length as usize - 2,
    ]
    .iter()
    .flat_map(|&h| branch(&main[h], 151, Vec::new(), 1, 3))
    .collect();
    competing.extend(branch(&main[3], 152, Vec::new(), 2, 7));
    let extension = {
        let tip = main.last().expect("a tip");
        let mut coin = coins[0];
        let mut blocks: Vec<Block> = Vec::new();
        for i in 0..(kills - sync_kills).max(2) {
            let prev = blocks.last().unwrap_or(tip);
            let t = chain::spend(
                coin,
                &[
                    (payee(170 + i), 4_000),
                    (owner().address(), coin.value - 5_000),
                ],
                prev.timestamp + 1,
            );
            coin = Coin {
                tx: t.hash,
                index: 1,
                value: t.outputs[1].value.units(),
            };
            blocks.push(chain::block_on(
                prev,
                &payee(153),
                vec![t],
                prev.timestamp + 10,
            ));
        }
        blocks
    };

    // The peer's directory, its side branches stored too (side blocks: the
    // digest does not move); the reference walks the peer's line later.
    let peer_root = tempfile::tempdir().expect("temporary directory");
    {
        let node = Node::open(
            &NodeProcess::data_dir_of(peer_root.path()),
            ChainParams::regtest(),
            MempoolLimits::default(),
        )
        .expect("the peer's directory");
        for b in &main[1..] {
            node.submit_block(b).expect("a block of the chain");
        }
        let tip_digest = digest_of(&node);
        for b in lighter.iter().chain(&competing) {
            let status = node.submit_block(b).expect("a side block");
            assert_eq!(status.as_str(), "side_chain");
        }
        assert_eq!(digest_of(&node), tip_digest, "side blocks moved the digest");
    }
    let mut reference = Reference::new(main.iter().chain(&extension).cloned().collect());
    reference.add(&lighter);
    reference.add(&competing);
    eprintln!(
        "chains and the peer's directory ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let flags = [
        "--dns",
        closed_addr(),
        "--update-interval",
        "1",
        "--sync-interval",
        "1",
    ];
    let peer = NodeProcess::start_in(peer_root, &flags);
    // The syncing node follows the lighter branch first, alone.
    let mut node = NodeProcess::start(&flags);
    for b in main[1..=fork].iter().chain(&lighter) {
        post_block(&node.url, b);
    }
    assert_eq!(tip_of(&node.url).1, on_branch as u64);
    let meet = |node: &NodeProcess, peer: &NodeProcess| {
        testing::lab::introduce(node, peer.port().parse().expect("a port"));
        testing::lab::introduce(peer, node.port().parse().expect("a port"));
    };
    meet(&node, &peer);

    let mut traffic = Traffic {
        payments: Payments::new(&coins[1..], 12),
        blocks: lighter.iter().chain(&competing).cloned().collect(),
        main: main.clone(),
        forks_from: on_branch as u64 + 1,
        extension,
        released: 0,
        forks: 0,
        posts: 0,
        accepted: 0,
    };
    let mut done: Vec<Kill> = Vec::new();
    let mut digests_compared = 0u64;
    for k in 0..kills {
        // While syncing: after a random time (at start, mid-sync, inside a
        // reorganisation). Then at the peer's tip, while blocks and
        // transactions come in.
        let at_tip = k >= sync_kills;
        let mut phase = if at_tip {
            let deadline = Instant::now() + CATCH_UP;
            while tip_of(&node.url).0 != tip_of(&peer.url).0 {
                assert!(
                    Instant::now() < deadline,
                    "kill {k}: never reached the peer's tip"
                );
                traffic.step(&mut rng, &node, &peer, &mut Phase::Quiet, &mut reference);
                std::thread::sleep(Duration::from_millis(20));
            }
            Phase::Tip { release: true }
        } else {
            Phase::Sync
        };
        let window = if at_tip {
            Duration::from_millis(rng.range(0, 500))
        } else {
            Duration::from_millis(rng.range(20, 600))
        };
        let until = Instant::now() + window;
        while Instant::now() < until {
            traffic.step(&mut rng, &node, &peer, &mut phase, &mut reference);
            std::thread::sleep(Duration::from_millis(rng.range(5, 30)));
        }
        let (_, height_before) = tip_of(&node.url);
        let root = node.kill();
        let verified = verify_dir(&NodeProcess::data_dir_of(root.path()));
        // Killed between storing a heavier block and the reorganisation
        // it starts (two transactions): the node moves at its restart.
        let pending = !verified.problems.is_empty()
            && verified
                .problems
                .iter()
                .all(|p| p.contains("more work than the active chain"));
        assert!(
            verified.is_ok() || (pending && verified.finished.code() == Some(1)),
            "kill {k} (seed {seed}): the killed node's directory is inconsistent: {}",
            verified.finished
        );
        let best: Hash = verified
            .best_hash
            .parse()
            .unwrap_or_else(|e| panic!("kill {k}: no best hash: {e}: {}", verified.finished));
        let off_line = reference
            .line
            .get(verified.height as usize)
            .is_none_or(|b| b.hash != best);
        let want = reference
            .digest(&best)
            .unwrap_or_else(|| panic!("kill {k}: best hash {best} is no block the test made"));
        assert_eq!(
            verified.digest,
            want.to_string(),
            "kill {k} (seed {seed}): the state at {best} differs from the reference's"
        );
        digests_compared += 1;
        eprintln!(
            "kill {:>2}: {} height {height_before} -> verified height {}{} digest {}… = reference{}",
            k + 1,
            if at_tip { "at tip " } else { "syncing" },
            verified.height,
            if off_line {
                " (off the peer's chain)"
            } else {
                ""
            },
            &verified.digest[..16],
            if pending {
                " (heavier block stored, reorganisation pending)"
            } else {
                ""
            },
        );
        done.push(Kill {
            at_tip,
            height_before,
            verified_height: verified.height,
            off_line,
            pending_reorganisation: pending,
        });
        node = match NodeProcess::try_start_in(root, &flags) {
            Ok(node) => node,
            Err(failed) => panic!("kill {k} (seed {seed}): the node did not come back: {failed}"),
        };
        let (_, height_after) = tip_of(&node.url);
        assert!(
            height_after >= height_before,
            "kill {k}: blocks lost: height {height_before} before the kill, {height_after} after"
        );
        meet(&node, &peer);
    }

    // The peer gets its last blocks; the node catches up, both stop and
    // verify to one digest.
    while traffic.released < traffic.extension.len() {
        post_block(&peer.url, &traffic.extension[traffic.released]);
        traffic.released += 1;
    }
    let target = traffic
        .extension
        .last()
        .expect("extension blocks")
        .hash
        .to_string();
    wait_for("the node on the peer's tip", CATCH_UP, || {
        (tip_of(&node.url).0 == target).then_some(())
    });
    let (node_root, status) = node.stop();
    assert!(status.success(), "the node stopped cleanly: {status}");
    let (peer_root, status) = peer.stop();
    assert!(status.success(), "the peer stopped cleanly: {status}");
    let mine = verify_dir(&NodeProcess::data_dir_of(node_root.path()));
    let theirs = verify_dir(&NodeProcess::data_dir_of(peer_root.path()));
    assert!(
        mine.is_ok(),
        "the node after {kills} kills: {}",
        mine.finished
    );
    assert!(theirs.is_ok(), "the peer: {}", theirs.finished);
    assert_eq!(mine.best_hash, target);
    assert_eq!(theirs.best_hash, target);
    assert_eq!(
        mine.digest, theirs.digest,
        "seed {seed}: the node and its peer on {target} differ"
    );
    let tip: Hash = target.parse().expect("a hash");
    assert_eq!(
        Some(mine.digest.clone()),
        reference.digest(&tip).map(|d| d.to_string())
    );
    digests_compared += 2;

    let heights: Vec<String> = done
        .iter()
        .map(|k| {
            format!(
                "{}{}{}{}",
                k.height_before,
                if k.at_tip { "t" } else { "" },
                if k.off_line { "f" } else { "" },
                if k.pending_reorganisation { "p" } else { "" }
            )
        })
        .collect();
    let mid_sync = done.iter().filter(|k| k.verified_height < length).count();
    eprintln!(
        "crash test summary: seed {seed}; {kills} kills ({mid_sync} below the peer's first tip at {length}, {} at the tip, {} off the peer's chain, {} with a reorganisation pending); heights at kill [{}] (t: at the tip, f: off the peer's chain, p: reorganisation pending); {} forks posted; final tip {}… at height {}; {digests_compared} digests compared, all equal to the reference (final {}); {} requests to the node ({} answered 200); {:.1} s",
        done.iter().filter(|k| k.at_tip).count(),
        done.iter().filter(|k| k.off_line).count(),
        done.iter().filter(|k| k.pending_reorganisation).count(),
        heights.join(" "),
        traffic.forks,
        &target[..16],
        mine.height,
        mine.digest,
        traffic.posts,
        traffic.accepted,
        started.elapsed().as_secs_f64()
    );
}
