//! What the fuzz targets of `fuzz_targets/` share: the vector keys and
//! chain, a solved regtest chain, a node opened on a copy of a small valid
//! chain, repairs that carry a mutated block past its hash and proof of
//! work, the JSON round trip every parsing target asserts, and the state
//! oracle the node targets run after every step.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cinder::consensus::{ChainParams, block_work};
use cinder::crypto::SecretKey;
use cinder::node::{DATABASE_FILE, MempoolLimits, Node};
use cinder::state;
use cinder::types::{Address, Amount, Block, Hash, OutPoint, Output, Transaction};
use primitive_types::U256;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub const KEYS_JSON: &str = include_str!("../../docs/vectors/keys.json");
pub const CHAIN_JSON: &str = include_str!("../../docs/vectors/chain_regtest.json");

/// The node's clock in the node targets: fixed, so that a run replays.
/// Some time after the last block of the vector chain.
pub const NOW: u64 = 1_763_800_000;

pub fn params() -> ChainParams {
    ChainParams::regtest()
}

/// The keys of `docs/vectors/keys.json`; the vector chain pays them.
pub fn keys() -> &'static [SecretKey] {
    static KEYS: OnceLock<Vec<SecretKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_str(KEYS_JSON).expect("keys.json");
        v["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(k["private_key"].as_str().expect("hex"), &mut bytes)
                    .expect("32 bytes");
                SecretKey::from_bytes(&bytes).expect("a valid key")
            })
            .collect()
    })
}

/// The key of `address`, when it is one of [`keys`].
pub fn key_of(address: &Address) -> Option<&'static SecretKey> {
    keys().iter().find(|k| k.address() == *address)
}

/// An address the fuzz input picks: a vector key's (spendable later), the
/// zero address (burnt), or a stranger's.
pub fn pick_address(byte: u8) -> Address {
    let keys = keys();
    match byte as usize % (keys.len() + 2) {
        i if i < keys.len() => keys[i].address(),
        i if i == keys.len() => Address::ZERO,
        _ => Address([0x5a; 20]),
    }
}

/// Blocks 0–4 of `docs/vectors/chain_regtest.json`.
pub fn vector_blocks() -> &'static [Block] {
    static BLOCKS: OnceLock<Vec<Block>> = OnceLock::new();
    BLOCKS.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_str(CHAIN_JSON).expect("chain vector");
        v["blocks"]
            .as_array()
            .expect("blocks")
            .iter()
            .map(|b| serde_json::from_str(&b.to_string()).expect("a vector block"))
            .collect()
    })
}

/// Genesis and 300 empty regtest blocks after it, 10 s apart, solved.
pub fn solved_chain() -> &'static [Block] {
    static CHAIN: OnceLock<Vec<Block>> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let params = params();
        let mut blocks = vec![params.genesis()];
        for _ in 0..300 {
            let parent = blocks.last().expect("genesis");
            let height = parent.height + 1;
            let mut b = Block::assemble(
                parent.hash,
                height,
                parent.timestamp + 10,
                params.pow_limit,
                keys()[0].address(),
                params.subsidy(height),
                Vec::new(),
            )
            .expect("no overflow");
            assert!(b.solve(1_000_000));
            blocks.push(b);
        }
        blocks
    })
}

/// Asserts that `value` survives its own JSON: written, read back to the
/// same value, written again to the same text. Returns the text.
pub fn json_round_trip<T>(value: &T) -> String
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let text = serde_json::to_string(value).expect("a parsed value serialises");
    let again: T = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("own JSON refused ({e}): {text} from {value:?}"));
    assert_eq!(
        &again, value,
        "the JSON round trip changed the value: {text}"
    );
    let text2 = serde_json::to_string(&again).expect("serialises");
    assert_eq!(text, text2, "writing is not canonical");
    text
}

// ---------------------------------------------------------------------
// Repairs: what lets a mutated block reach the deeper rules.

/// Repairs of a transaction, as bits: 1 output hashes, 2 value and fee,
/// 4 signatures (with the vector keys, where they own the input) and hash.
pub fn fix_transaction(tx: &mut Transaction, bits: u8) {
    if bits & 1 != 0 {
        for o in &mut tx.outputs {
            o.hash = o.compute_hash();
        }
    }
    if bits & 2 != 0 {
        let value = tx
            .outputs
            .iter()
            .try_fold(Amount::ZERO, |s, o| s.checked_add(o.value));
        let total = tx
            .inputs
            .iter()
            .try_fold(Amount::ZERO, |s, i| s.checked_add(i.output_value));
        if let (Some(value), Some(total)) = (value, total) {
            tx.value = value;
            if let Some(fee) = total.checked_sub(value) {
                tx.fee = fee;
            }
        }
    }
    if bits & 4 != 0 {
        let sighash = tx.sighash();
        for input in &mut tx.inputs {
            if let Some(key) = key_of(&input.output_address) {
                input.signature = key.sign(&sighash);
            }
        }
        tx.hash = tx.hash_with_sighash(&sighash);
    }
}

/// Repairs of a block, as bits: the transactions' (`fix_transaction`'s
/// bits 1, 2, 4), 8 fees and coinbase, 16 count, merkle root and hash, then
/// a nonce that meets the target (regtest: a couple of tries).
pub fn fix_block(block: &mut Block, bits: u8) {
    let skip_coinbase = usize::from(bits & 8 != 0);
    for tx in block.transactions.iter_mut().skip(skip_coinbase) {
        fix_transaction(tx, bits & 7);
    }
    if bits & 8 != 0 {
        let fees = block
            .transactions
            .iter()
            .skip(1)
            .try_fold(Amount::ZERO, |s, t| s.checked_add(t.fee));
        if let Some(fees) = fees {
            block.fees = fees;
        }
        if let Some(amount) = block.reward.checked_add(block.fees)
            && !block.transactions.is_empty()
        {
            block.transactions[0] =
                Transaction::coinbase(block.height, block.timestamp, block.creator, amount);
        }
    }
    if bits & 16 != 0 {
        block.seal();
        block.solve(256);
    }
}

// ---------------------------------------------------------------------
// A node on a copy of a small valid chain.

/// The chain every node target starts from: the vector chain (heights
/// 0–4), then blocks 5–10 mined by the node's own templates to the vector
/// keys in turn (their coinbases mature up to height 8).
pub struct Template {
    /// The database file's bytes after the node closed.
    files: Vec<(String, Vec<u8>)>,
    /// The active chain, genesis first.
    pub blocks: Vec<Block>,
}

/// Where nodes' directories go: `$CINDER_FUZZ_TMP` (run.sh sets one it
/// removes at the end, so that a crash leaves nothing behind), else memory
/// (`/dev/shm`) when there is one.
fn scratch_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("CINDER_FUZZ_TMP") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn open_node(dir: &Path, limits: MempoolLimits) -> Node {
    Node::open(dir, params(), limits)
        .expect("the node opens")
        .with_clock(|| NOW)
}

pub fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let tmp = tempfile::Builder::new()
            .prefix("cinder-fuzz-template")
            .tempdir_in(scratch_root())
            .expect("a temporary directory");
        let mut blocks = vec![params().genesis()];
        {
            let node = open_node(tmp.path(), MempoolLimits::default());
            for b in &vector_blocks()[1..] {
                node.submit_block(b).expect("a vector block");
                blocks.push(b.clone());
            }
            for i in 0..6 {
                let mut b = node
                    .block_template(&keys()[i % keys().len()].address())
                    .expect("a template");
                assert!(b.solve(1_000_000));
                node.submit_block(&b).expect("a template block");
                blocks.push(b);
            }
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(tmp.path()).expect("the template directory") {
            let entry = entry.expect("an entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(DATABASE_FILE) && !name.ends_with("-shm") {
                files.push((name, std::fs::read(entry.path()).expect("readable")));
            }
        }
        Template { files, blocks }
    })
}

/// A node on a fresh copy of the [`template`] chain, with a fixed clock;
/// the directory goes when the returned guard is dropped.
pub fn fresh_node(limits: MempoolLimits, max_side_bytes: u64) -> (tempfile::TempDir, Node) {
    let t = template();
    let tmp = tempfile::Builder::new()
        .prefix("cinder-fuzz")
        .tempdir_in(scratch_root())
        .expect("a temporary directory");
    for (name, bytes) in &t.files {
        std::fs::write(tmp.path().join(name), bytes).expect("writable");
    }
    let node = open_node(tmp.path(), limits).with_max_side_bytes(max_side_bytes);
    (tmp, node)
}

// ---------------------------------------------------------------------
// The oracle: the node's state against a replay of its active chain.

/// What a replay of the active chain from genesis says.
#[derive(Debug)]
pub struct Replay {
    pub height: u64,
    pub tip: Hash,
    pub work: U256,
    pub transactions: u64,
    /// Unspent outputs: (address, value, hash, height, coinbase).
    pub unspent: BTreeMap<OutPoint, (Address, Amount, Hash, u64, bool)>,
    /// Per address: (received, sent, transactions touching it).
    pub totals: BTreeMap<Address, (u64, u64, u64)>,
    pub tx_hashes: BTreeSet<Hash>,
}

impl Default for Replay {
    fn default() -> Replay {
        Replay {
            height: 0,
            tip: Hash::ZERO,
            work: U256::zero(),
            transactions: 0,
            unspent: BTreeMap::new(),
            totals: BTreeMap::new(),
            tx_hashes: BTreeSet::new(),
        }
    }
}

/// Checks everything the node says about its chain and its mempool
/// against a replay of the active chain's blocks, and returns the replay.
/// Panics (a finding) on the first disagreement.
///
/// `parsed` keeps the blocks read so far by hash (a stored block's JSON
/// never changes): the replay parses each block once.
pub fn check_node(
    node: &Node,
    limits: &MempoolLimits,
    parsed: &mut BTreeMap<Hash, Block>,
) -> Replay {
    let snapshot = node.snapshot();
    let replay = node
        .reads()
        .with_snapshot(|conn| {
            let info = state::chain_info(conn)?;
            assert_eq!(snapshot.info, info, "the snapshot is not the store's");
            let tip = state::tip(conn)?;
            assert_eq!((tip.height, tip.hash), (info.height, info.best_hash));
            assert_eq!(tip.total_work, info.total_work);
            let mut r = Replay::default();
            let mut prev = Hash::ZERO;
            for height in 0..=info.height {
                let hash = state::active_hash(conn, height)?
                    .unwrap_or_else(|| panic!("no active block at height {height}"));
                let block = match parsed.get(&hash) {
                    Some(block) => block,
                    None => {
                        let json = state::block_json(conn, &hash)?
                            .unwrap_or_else(|| panic!("active block {hash} not stored"));
                        let block: Block =
                            serde_json::from_str(&json).expect("stored JSON is a block");
                        assert_eq!(block.compute_hash(), hash, "a stored block's hash");
                        parsed.entry(hash).or_insert(block)
                    }
                };
                assert_eq!(block.hash, hash);
                assert_eq!(block.height, height);
                if height > 0 {
                    assert_eq!(block.prev_hash, prev, "the active chain is not linked");
                }
                assert_eq!(
                    state::active_height(conn, &hash)?,
                    Some(height),
                    "active_height disagrees with active_hash"
                );
                r.work = r.work.saturating_add(block_work(&block.target));
                r.transactions += block.transactions.len() as u64;
                for (position, tx) in block.transactions.iter().enumerate() {
                    assert!(r.tx_hashes.insert(tx.hash), "transaction {} twice", tx.hash);
                    let mut touched = BTreeSet::new();
                    if position > 0 {
                        for input in &tx.inputs {
                            let spent = r.unspent.remove(&input.outpoint());
                            assert!(
                                spent.is_some(),
                                "block {hash} spends {:?}, not unspent on the active chain",
                                input.outpoint()
                            );
                            let e = r.totals.entry(input.output_address).or_default();
                            e.1 += input.output_value.units();
                            touched.insert(input.output_address);
                        }
                    }
                    for o in &tx.outputs {
                        if o.address.is_zero() {
                            continue;
                        }
                        r.unspent.insert(
                            OutPoint::new(tx.hash, o.index),
                            (o.address, o.value, o.hash, height, position == 0),
                        );
                        r.totals.entry(o.address).or_default().0 += o.value.units();
                        touched.insert(o.address);
                    }
                    for a in touched {
                        r.totals.entry(a).or_default().2 += 1;
                    }
                }
                prev = hash;
            }
            r.height = info.height;
            r.tip = info.best_hash;
            assert_eq!(r.work, info.total_work, "total_work is not the chain's");
            assert_eq!(
                r.transactions, info.total_transactions,
                "total_transactions is not the chain's"
            );
            assert_eq!(
                r.totals.len() as u64,
                info.total_addresses,
                "total_addresses is not the chain's"
            );
            // Balances, received, sent and counts of every address seen,
            // and the unspent outputs the API lists for it.
            let mut balances: Vec<(Address, Amount)> = Vec::new();
            for (address, &(received, sent, count)) in &r.totals {
                let t = state::address_totals(conn, address)?;
                let balance = received
                    .checked_sub(sent)
                    .expect("an address spent more than it got");
                assert_eq!(
                    (
                        t.balance.units(),
                        t.received.units(),
                        t.sent.units(),
                        t.transaction_count
                    ),
                    (balance, received, sent, count),
                    "totals of {address}"
                );
                let listed: u64 = state::unspent_outputs(conn, address)?
                    .iter()
                    .map(|o| o.value.units())
                    .sum();
                assert_eq!(
                    listed, balance,
                    "unspent outputs of {address} vs its balance"
                );
                if balance > 0 {
                    balances.push((*address, Amount::from_units(balance)));
                }
            }
            balances.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            balances.truncate(10);
            assert_eq!(info.rich_list, balances, "the rich list");
            // Every unspent output as the store looks it up.
            for (outpoint, &(address, value, hash, height, coinbase)) in &r.unspent {
                let o = state::lookup_output(conn, outpoint)?.expect("an unspent output is stored");
                assert_eq!(
                    (o.address, o.value, o.hash, o.height, o.coinbase, o.spent),
                    (address, value, hash, Some(height), coinbase, false),
                    "output {outpoint:?}"
                );
            }
            Ok(r)
        })
        .expect("the database answers");
    check_mempool(node, limits, &replay);
    replay
}

/// The mempool against the replayed chain: within its bounds, every input
/// an unspent output of the chain or an earlier pool transaction, no
/// output spent twice, no transaction of the chain.
pub fn check_mempool(node: &Node, limits: &MempoolLimits, r: &Replay) {
    let pool = node.mempool_transactions();
    assert_eq!(pool.len(), node.mempool_size(), "mempool size");
    let bytes: usize = pool.iter().map(|t| t.size()).sum();
    assert_eq!(bytes, node.mempool_bytes(), "mempool bytes");
    assert!(pool.len() <= limits.max_count, "more than max_count");
    assert!(bytes <= limits.max_size, "more than max_size");
    let mut created: BTreeMap<OutPoint, Output> = BTreeMap::new();
    let mut spent: BTreeSet<OutPoint> = BTreeSet::new();
    let maturity = node.params().coinbase_maturity;
    for (i, tx) in pool.iter().enumerate() {
        assert!(
            !r.tx_hashes.contains(&tx.hash),
            "pool transaction {} is on the chain",
            tx.hash
        );
        assert_eq!(node.mempool_transaction(&tx.hash).as_deref(), Some(&**tx));
        assert_eq!(node.mempool_transaction_at(i).as_deref(), Some(&**tx));
        cinder::consensus::transaction::check_context_free(tx)
            .unwrap_or_else(|e| panic!("pool transaction {} breaks {e}", tx.hash));
        for input in &tx.inputs {
            let outpoint = input.outpoint();
            assert!(
                spent.insert(outpoint),
                "two pool transactions spend {outpoint:?}"
            );
            if let Some(o) = created.get(&outpoint) {
                assert_eq!(
                    (o.address, o.value, o.hash),
                    (input.output_address, input.output_value, input.output_hash)
                );
            } else if let Some(&(address, value, hash, height, coinbase)) = r.unspent.get(&outpoint)
            {
                assert_eq!(
                    (address, value, hash),
                    (input.output_address, input.output_value, input.output_hash)
                );
                if coinbase {
                    assert!(
                        r.height + 1 - height >= maturity,
                        "pool transaction {} spends an immature coinbase",
                        tx.hash
                    );
                }
            } else {
                panic!(
                    "pool transaction {} spends {outpoint:?}: neither unspent on the chain nor made by an earlier pool transaction",
                    tx.hash
                );
            }
        }
        for o in &tx.outputs {
            if !o.address.is_zero() {
                created.insert(OutPoint::new(tx.hash, o.index), o.clone());
            }
        }
    }
}

// ---------------------------------------------------------------------
// A world for the node targets: the node, what it accepted, and builders
// of blocks and transactions that the fuzz input steers.

pub use arbitrary::Unstructured;
use cinder::node::{Accepted, DEFAULT_MAX_SIDE_BYTES, KnownBlock, Rejected, TxRejected};
use cinder::types::{Input, Target};

/// An index below `n` (`n > 0`), 0 when the input is used up.
pub fn index(u: &mut Unstructured, n: usize) -> usize {
    u.choose_index(n).unwrap_or(0)
}

/// A number in `lo..=hi`, `lo` when the input is used up.
pub fn between(u: &mut Unstructured, lo: u64, hi: u64) -> u64 {
    u.int_in_range(lo..=hi).unwrap_or(lo)
}

pub fn byte(u: &mut Unstructured) -> u8 {
    u.arbitrary().unwrap_or(0)
}

pub struct World {
    pub node: Node,
    _dir: tempfile::TempDir,
    pub limits: MempoolLimits,
    pub max_side_bytes: u64,
    /// Every block the node stored, the template chain first.
    pub blocks: Vec<Block>,
    pub by_hash: BTreeMap<Hash, usize>,
    /// Transactions the mempool admitted (maybe gone since).
    pub posted: Vec<Transaction>,
    /// The replay of the last check.
    pub replay: Replay,
    parsed: BTreeMap<Hash, Block>,
}

impl World {
    pub fn new(limits: MempoolLimits, max_side_bytes: u64) -> World {
        let (dir, node) = fresh_node(limits, max_side_bytes);
        let blocks = template().blocks.clone();
        let by_hash = blocks
            .iter()
            .enumerate()
            .map(|(i, b)| (b.hash, i))
            .collect();
        let mut world = World {
            node,
            _dir: dir,
            limits,
            max_side_bytes,
            blocks,
            by_hash,
            posted: Vec::new(),
            replay: Replay::default(),
            parsed: template()
                .blocks
                .iter()
                .map(|b| (b.hash, b.clone()))
                .collect(),
        };
        world.check();
        world
    }

    /// Runs the oracle; the active chain's work never goes down.
    pub fn check(&mut self) {
        let before = self.replay.work;
        self.replay = check_node(&self.node, &self.limits, &mut self.parsed);
        assert!(self.replay.work >= before, "the active chain lost work");
    }

    pub fn tip(&self) -> &Block {
        let hash = self.node.snapshot().info.best_hash;
        &self.blocks[*self
            .by_hash
            .get(&hash)
            .expect("the tip is a block we posted")]
    }

    /// A stored block: mostly the tip or just below it, sometimes any.
    pub fn pick_block(&self, u: &mut Unstructured) -> &Block {
        match between(u, 0, 3) {
            0 | 1 => self.tip(),
            2 => {
                let tip = self.tip();
                let back = between(u, 1, 3);
                self.ancestor(tip, back)
            }
            _ => &self.blocks[index(u, self.blocks.len())],
        }
    }

    /// The block `back` blocks below `block` (or the oldest known).
    pub fn ancestor<'a>(&'a self, mut block: &'a Block, back: u64) -> &'a Block {
        for _ in 0..back {
            match self.by_hash.get(&block.prev_hash) {
                Some(&i) => block = &self.blocks[i],
                None => break,
            }
        }
        block
    }

    /// An output to spend: of a stored block (any branch, spent or not,
    /// mature or not) or of an admitted transaction.
    pub fn pick_coin(&self, u: &mut Unstructured) -> Input {
        let tx = if !self.posted.is_empty() && between(u, 0, 2) == 0 {
            &self.posted[index(u, self.posted.len())]
        } else {
            let block = self.pick_block(u);
            &block.transactions[index(u, block.transactions.len())]
        };
        let o = &tx.outputs[index(u, tx.outputs.len())];
        Input::spending(tx.hash, o.index, o.address, o.value)
    }

    /// A transaction spending picked coins to picked addresses, signed by
    /// the keys that own them, with fees, timestamps and a few mistakes
    /// the input chooses.
    pub fn build_tx(&self, u: &mut Unstructured) -> Option<Transaction> {
        let n_in = between(u, 1, 3) as usize;
        let inputs: Vec<Input> = (0..n_in).map(|_| self.pick_coin(u)).collect();
        let total: u64 = inputs.iter().map(|i| i.output_value.units()).sum();
        let n_out = between(u, 1, 3) as usize;
        let size = Transaction::size_for(n_in, n_out) as u64;
        let fee = match between(u, 0, 5) {
            0 | 1 => size,
            2 => size.saturating_sub(1),
            3 => 0,
            4 => between(u, 0, total),
            _ => size * between(u, 2, 60),
        }
        .min(total);
        let mut left = total - fee;
        let mut outputs = Vec::with_capacity(n_out);
        for i in 0..n_out {
            let v = if i + 1 == n_out {
                left
            } else {
                between(u, 0, left)
            };
            left -= v;
            outputs.push((pick_address(byte(u)), Amount::from_units(v)));
        }
        let timestamp = match between(u, 0, 9) {
            0 => NOW + 7200 + between(u, 1, 100),
            1 => u.arbitrary().unwrap_or(0),
            _ => NOW - between(u, 0, 5000),
        };
        let mut tx = Transaction::unsigned(timestamp, inputs, &outputs)?;
        let mistake = between(u, 0, 24);
        match mistake {
            0 => tx.inputs.push(tx.inputs[0].clone()),
            1 => tx.outputs[0].index += 1,
            2 => {
                tx.inputs[0].output_value =
                    Amount::from_units(tx.inputs[0].output_value.units() + 1)
            }
            3 => tx.fee = Amount::from_units(tx.fee.units() + 1),
            4 => tx.outputs[0].hash = Hash([3; 32]),
            _ => {}
        }
        let sighash = tx.sighash();
        for input in &mut tx.inputs {
            let key = match mistake {
                5 => Some(&keys()[1]),
                6 => None,
                _ => key_of(&input.output_address),
            };
            if let Some(key) = key {
                input.signature = key.sign(&sighash);
            }
        }
        tx.hash = tx.hash_with_sighash(&sighash);
        if mistake == 7 {
            tx.hash = Hash([1; 32]);
        }
        Some(tx)
    }

    /// A block on `parent` holding built (or admitted) transactions, with
    /// a mistake the input may choose, solved unless the mistake is its
    /// hash or its work.
    pub fn build_block(&self, u: &mut Unstructured, parent: &Block) -> Option<Block> {
        let params = params();
        // The parent may be a refused block of any height and time.
        let height = parent.height.checked_add(1)?;
        let timestamp = match between(u, 0, 15) {
            0 => NOW + 7200 + between(u, 1, 100),
            1 => parent.timestamp,
            2 => u.arbitrary().unwrap_or(0),
            _ => parent.timestamp.saturating_add(between(u, 1, 40)),
        };
        let mut txs = Vec::new();
        for _ in 0..between(u, 0, 3) {
            if !self.posted.is_empty() && between(u, 0, 1) == 0 {
                txs.push(self.posted[index(u, self.posted.len())].clone());
            } else if let Some(tx) = self.build_tx(u) {
                txs.push(tx);
            }
        }
        let creator = pick_address(byte(u));
        let mut b = Block::assemble(
            parent.hash,
            height,
            timestamp,
            params.pow_limit,
            creator,
            params.subsidy(height),
            txs,
        )?;
        let mistake = between(u, 0, 40);
        match mistake {
            0 => b.height = u.arbitrary().unwrap_or(0),
            1 => b.height = parent.height,
            2 => b.reward = Amount::from_units(b.reward.units() + 1),
            3 => b.fees = Amount::from_units(b.fees.units() + 1),
            4 => b.target = Target([0xff; 32]),
            5 => {
                let n = b.transactions.len();
                b.transactions.swap(0, n - 1);
            }
            6 => b
                .transactions
                .push(b.transactions[b.transactions.len() - 1].clone()),
            7 => {
                b.transactions.remove(0);
            }
            8 => b.prev_hash = Hash([byte(u); 32]),
            9 => {
                let cb = &mut b.transactions[0];
                cb.outputs[0].value = Amount::from_units(cb.outputs[0].value.units() + 1);
                cb.outputs[0].hash = cb.outputs[0].compute_hash();
                cb.value = cb.outputs[0].value;
                cb.hash = cb.compute_hash();
            }
            10 => b.creator = pick_address(byte(u).wrapping_add(1)),
            11 => fix_block(&mut b, byte(u)),
            12 => b.transactions.reverse(),
            _ => {}
        }
        b.seal();
        match mistake {
            13 => b.transaction_count += 1,
            14 => {
                b.merkle_root = Hash([7; 32]);
                b.hash = b.compute_hash();
            }
            _ => {}
        }
        match mistake {
            15 => b.hash = Hash([byte(u); 32]),
            16 => {
                // A true hash above the target.
                b.hash = b.compute_hash();
                while b.hash.meets(&b.target) {
                    b.nonce += 1;
                    b.hash = b.compute_hash();
                }
            }
            _ => {
                b.solve(256);
            }
        }
        Some(b)
    }

    /// Posts a block and checks what the answer promises, then the oracle.
    pub fn submit_block(&mut self, block: &Block) -> Result<Accepted, String> {
        let before = self.node.snapshot();
        let result = self.node.submit_block(block);
        let after = self.node.snapshot();
        match &result {
            Ok(Accepted::Connected) | Ok(Accepted::Reorganized) => {
                assert_eq!(
                    after.info.best_hash, block.hash,
                    "{result:?} but not the tip"
                );
                assert_eq!(after.info.height, block.height);
            }
            Ok(Accepted::SideChain) => {
                assert_eq!(
                    after.info.best_hash, before.info.best_hash,
                    "a side block moved the tip"
                );
            }
            Err(Rejected::Store(e)) => panic!("a store error on a posted block: {e}"),
            Err(_) => {}
        }
        assert!(after.info.total_work >= before.info.total_work);
        if let Ok(accepted) = &result {
            let status = self.node.block_status(&block.hash).expect("reads");
            // A lighter side block may go at once when the side branches'
            // bytes are bounded tightly (`--max-side-bytes`).
            let pruned =
                *accepted == Accepted::SideChain && self.max_side_bytes < DEFAULT_MAX_SIDE_BYTES;
            assert!(
                status == KnownBlock::Stored || (pruned && status == KnownBlock::Unknown),
                "{accepted:?} but {status:?}"
            );
            if !self.by_hash.contains_key(&block.hash) {
                self.by_hash.insert(block.hash, self.blocks.len());
                self.blocks.push(block.clone());
            }
        } else if let Err(e) = &result
            && e.code() == "already_known"
        {
            assert_ne!(
                self.node.block_status(&block.hash).expect("reads"),
                KnownBlock::Unknown
            );
        }
        self.check();
        result.map_err(|e| e.code().to_string())
    }

    /// Posts a transaction to the mempool, then the oracle.
    pub fn submit_tx(&mut self, tx: Transaction) -> Result<(), String> {
        let in_pool = self.node.mempool_transaction(&tx.hash).is_some();
        let result = self.node.submit_transaction(tx.clone());
        match &result {
            Ok(admitted) => {
                assert!(!in_pool, "admitted twice");
                assert_eq!(**admitted, tx);
                assert!(
                    self.node.mempool_transaction(&tx.hash).is_some(),
                    "admitted, not in the pool"
                );
                self.posted.push(tx);
            }
            Err(TxRejected::Store(e)) => panic!("a store error on a posted transaction: {e}"),
            Err(e) => {
                if in_pool {
                    assert_eq!(e.code(), "already_known", "a pool transaction posted again");
                }
            }
        }
        self.check();
        result.map(|_| ()).map_err(|e| e.code().to_string())
    }

    /// Mines the node's own template: it must always be accepted.
    pub fn mine(&mut self, creator: Address) {
        let mut block = self.node.block_template(&creator).expect("a template");
        assert!(block.solve(1_000_000));
        let pool: BTreeSet<Hash> = self
            .node
            .mempool_transactions()
            .iter()
            .map(|t| t.hash)
            .collect();
        let result = self.submit_block(&block);
        assert_eq!(
            result,
            Ok(Accepted::Connected),
            "the node refused its own template"
        );
        for tx in &block.transactions[1..] {
            assert!(
                pool.contains(&tx.hash),
                "a template transaction not from the pool"
            );
            assert!(
                self.node.mempool_transaction(&tx.hash).is_none(),
                "mined, still in the pool"
            );
        }
    }
}
