//! A node on port 0 in a temporary directory, built by `App::build` like
//! the binary's and served over real HTTP from a thread of its own, and a
//! blocking client to talk to it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cinder::app::{NodeConfig, RunningNode};
use cinder::crypto::{self, HdAccount, KeyChain, SecretKey};
use cinder::node::{MempoolLimits, Node};
use cinder::types::{Address, Amount, Block, Hash, Input, Transaction};
use serde_json::Value;

pub const VECTORS_CHAIN: &str = include_str!("../../docs/vectors/chain_regtest.json");
pub const KEYS: &str = include_str!("../../docs/vectors/keys.json");

pub struct TestNode {
    pub url: String,
    pub node: Arc<Node>,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    running: Option<RunningNode>,
    client: reqwest::blocking::Client,
}

impl TestNode {
    /// A fresh regtest node.
    pub fn start() -> TestNode {
        Self::start_with(MempoolLimits::default())
    }

    pub fn start_with(limits: MempoolLimits) -> TestNode {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let dir = tmp.path().to_path_buf();
        let mut n = Self::start_in(&dir, limits);
        n._tmp = Some(tmp);
        n
    }

    /// A node on an existing directory (restarts).
    pub fn start_in(dir: &Path, limits: MempoolLimits) -> TestNode {
        let mut config = NodeConfig::for_test(dir);
        config.mempool = limits;
        let running = RunningNode::spawn(config).expect("node starts");
        TestNode {
            url: running.url(),
            node: running.node.clone(),
            dir: dir.to_path_buf(),
            _tmp: None,
            running: Some(running),
            client: reqwest::blocking::Client::new(),
        }
    }

    /// Stops the server, keeping the directory for a restart.
    pub fn stop(mut self) -> Option<tempfile::TempDir> {
        self.shutdown();
        self._tmp.take()
    }

    fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop();
        }
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{}", self.url, path))
            .send()
            .expect("GET answered");
        let status = r.status().as_u16();
        let text = r.text().expect("body");
        (
            status,
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}")),
        )
    }

    pub fn post(&self, path: &str, body: impl Into<String>) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{}", self.url, path))
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .expect("POST answered");
        let status = r.status().as_u16();
        let text = r.text().expect("body");
        (
            status,
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("POST {path}: not JSON ({e}): {text}")),
        )
    }

    pub fn post_block(&self, block: &Block) -> (u16, Value) {
        self.post(
            "/blocks/",
            serde_json::to_string(block).expect("block JSON"),
        )
    }

    pub fn post_tx(&self, tx: &Transaction) -> (u16, Value) {
        self.post(
            "/transactions/",
            serde_json::to_string(tx).expect("transaction JSON"),
        )
    }

    /// Mines the node's own template paying `address` and posts it.
    pub fn mine(&self, address: &Address) -> Block {
        let (status, template) = self.get(&format!("/mining/template/?address={address}"));
        assert_eq!(status, 200, "{template}");
        let block =
            solve(serde_json::from_str(&template.to_string()).expect("template is a block"));
        let (status, body) = self.post_block(&block);
        assert_eq!(status, 200, "mined block refused: {body}");
        assert_eq!(body["status"], "connected");
        block
    }

    /// The first unspent output the node lists for `address`.
    pub fn first_coin(&self, address: Address) -> Coin {
        let (status, utxo) = self.get(&format!("/utxo/{address}/"));
        assert_eq!(status, 200, "{utxo}");
        let o = &utxo["utxo_outputs"][0];
        Coin {
            tx: o["transaction_hash"]
                .as_str()
                .expect("a transaction hash")
                .parse()
                .expect("a hash"),
            index: o["output_index"].as_u64().expect("an output index") as u32,
            address,
            value: Amount::parse(&o["value"].to_string()).expect("an amount"),
        }
    }

    /// The node's template paying `creator`, with `extra` appended (fees
    /// and coinbase to match), resealed.
    pub fn block_with(&self, creator: &Address, extra: &[Transaction]) -> Block {
        let (status, template) = self.get(&format!("/mining/template/?address={creator}"));
        assert_eq!(status, 200, "{template}");
        let mut block: Block =
            serde_json::from_str(&template.to_string()).expect("template is a block");
        block.transactions.extend(extra.iter().cloned());
        let fees: u64 = extra.iter().map(|tx| tx.fee.units()).sum();
        block.fees = Amount::from_units(block.fees.units() + fees);
        let amount = block
            .reward
            .checked_add(block.fees)
            .expect("reward and fees");
        block.transactions[0] =
            Transaction::coinbase(block.height, block.timestamp, block.creator, amount);
        reseal(block)
    }

    /// Posts the vector chain's blocks 1..=n.
    pub fn post_vector_blocks(&self, n: usize) {
        for b in vector_blocks().iter().take(n + 1).skip(1) {
            let (status, body) = self.post_block(b);
            assert_eq!(status, 200, "vector block {} refused: {body}", b.height);
            assert_eq!(body["status"], "connected");
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Finds a nonce for `block` (regtest's target takes a couple of tries).
pub fn solve(mut block: Block) -> Block {
    assert!(block.solve(1_000_000), "no nonce found for an easy target");
    block
}

/// Recomputes count, merkle root and hash, then solves.
pub fn reseal(mut block: Block) -> Block {
    block.seal();
    solve(block)
}

pub fn vectors() -> Value {
    serde_json::from_str(VECTORS_CHAIN).expect("vector JSON")
}

pub fn vector_blocks() -> Vec<Block> {
    vectors()["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .map(|b| serde_json::from_str(&b.to_string()).expect("vector block"))
        .collect()
}

/// The keys of keys.json (the "abandon … about" mnemonic): receive 0..3, change 0.
pub fn vector_keys() -> Vec<SecretKey> {
    let v: Value = serde_json::from_str(KEYS).expect("keys JSON");
    let seed =
        crypto::mnemonic_to_seed(v["mnemonic"].as_str().expect("mnemonic"), "").expect("seed");
    let account = HdAccount::from_seed(&*seed).expect("account");
    let mut keys: Vec<SecretKey> = (0..3)
        .map(|i| account.key(KeyChain::Receive, i).expect("key"))
        .collect();
    keys.push(account.key(KeyChain::Change, 0).expect("key"));
    keys
}

/// A fresh key that owns nothing.
pub fn stranger(n: u8) -> SecretKey {
    SecretKey::from_bytes(&[n.max(1); 32]).expect("valid key")
}

/// An output to spend: (transaction hash, output index, address, value).
#[derive(Clone, Copy, Debug)]
pub struct Coin {
    pub tx: Hash,
    pub index: u32,
    pub address: Address,
    pub value: Amount,
}

impl Coin {
    pub fn of(tx: &Transaction, index: u32) -> Coin {
        let o = &tx.outputs[index as usize];
        Coin {
            tx: tx.hash,
            index,
            address: o.address,
            value: o.value,
        }
    }
}

/// A transaction spending `coins` (all signed by `key`) to `outputs`, the
/// rest as fee.
pub fn spend(
    key: &SecretKey,
    coins: &[Coin],
    outputs: &[(Address, u64)],
    timestamp: u64,
) -> Transaction {
    let inputs = coins
        .iter()
        .map(|c| Input::spending(c.tx, c.index, c.address, c.value))
        .collect();
    let outputs: Vec<(Address, Amount)> = outputs
        .iter()
        .map(|(a, v)| (*a, Amount::from_units(*v)))
        .collect();
    let mut tx = Transaction::unsigned(timestamp, inputs, &outputs).expect("outputs within inputs");
    tx.sign_all(key);
    tx
}

pub fn now() -> u64 {
    cinder::node::unix_now()
}
