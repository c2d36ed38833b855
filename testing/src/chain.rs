//! Regtest chains built fast with the library, written into a data
//! directory before the real binary starts on it (tests and the lab).

use std::path::Path;

use cinder::consensus::ChainParams;
use cinder::crypto::SecretKey;
use cinder::node::{MempoolLimits, Node};
use cinder::types::{Address, Amount, Block, Hash, Input, Transaction};

/// The key that owns the coins of a built chain.
pub fn owner() -> SecretKey {
    SecretKey::from_bytes(&[42; 32]).expect("valid key")
}

/// Payees of a built chain (they fill the rich list).
pub fn payee(n: usize) -> Address {
    SecretKey::from_bytes(&[(n % 200) as u8 + 1; 32])
        .expect("valid key")
        .address()
}

#[derive(Clone, Copy, Debug)]
pub struct Coin {
    pub tx: Hash,
    pub index: u32,
    pub value: u64,
}

/// A transaction of [`owner`] spending `coin` to `outputs`, the rest as fee.
pub fn spend(coin: Coin, outputs: &[(Address, u64)], timestamp: u64) -> Transaction {
    let key = owner();
    let input = Input::spending(
        coin.tx,
        coin.index,
        key.address(),
        Amount::from_units(coin.value),
    );
    let outputs: Vec<(Address, Amount)> = outputs
        .iter()
        .map(|(a, v)| (*a, Amount::from_units(*v)))
        .collect();
    let mut tx =
        Transaction::unsigned(timestamp, vec![input], &outputs).expect("outputs within input");
    tx.sign_all(&key);
    tx
}

/// A solved block on `parent` holding `txs`, paying `creator`.
pub fn block_on(parent: &Block, creator: &Address, txs: Vec<Transaction>, timestamp: u64) -> Block {
    let params = ChainParams::regtest();
    let height = parent.height + 1;
    let mut block = Block::assemble(
        parent.hash,
        height,
        timestamp,
        params.pow_limit,
        *creator,
        params.subsidy(height),
        txs,
    )
    .expect("no overflow");
    assert!(block.solve(10_000_000), "regtest work is easy");
    block
}

/// `count` blocks after genesis (timestamps ending about now): coinbases
/// to [`owner`], fan-outs into `per_block` coins, then blocks of
/// `per_block` payments each (one input, a payment and change).
pub fn blocks(count: u64, per_block: usize) -> Vec<Block> {
    blocks_with_coins(count, per_block).0
}

/// [`blocks`], with the owner's `per_block` unspent coins at the tip.
pub fn blocks_with_coins(count: u64, per_block: usize) -> (Vec<Block>, Vec<Coin>) {
    const PER_FANOUT: usize = 250; // a transaction has at most 256 outputs
    let fanouts = per_block.div_ceil(PER_FANOUT);
    // Coinbases mature two blocks later on regtest.
    let coinbases = fanouts as u64 + 2;
    assert!(count > coinbases && per_block >= 1);
    let now = cinder::node::unix_now();
    let start = now - count * 10 - 60;
    let me = owner().address();
    let mut chain = vec![ChainParams::regtest().genesis()];
    let mut ts = start;
    for _ in 0..coinbases {
        ts += 10;
        let b = block_on(chain.last().expect("a tip"), &me, Vec::new(), ts);
        chain.push(b);
    }
    let mut coins = Vec::with_capacity(per_block);
    let mut fans = Vec::with_capacity(fanouts);
    for f in 0..fanouts {
        let coinbase = &chain[1 + f].transactions[0];
        let total = coinbase.outputs[0].value.units();
        let outputs = PER_FANOUT.min(per_block - f * PER_FANOUT);
        let each = (total - 100_000) / outputs as u64;
        let fan = spend(
            Coin {
                tx: coinbase.hash,
                index: 0,
                value: total,
            },
            &vec![(me, each); outputs],
            ts,
        );
        coins.extend((0..outputs as u32).map(|i| Coin {
            tx: fan.hash,
            index: i,
            value: each,
        }));
        fans.push(fan);
    }
    ts += 10;
    let b = block_on(chain.last().expect("a tip"), &me, fans, ts);
    chain.push(b);
    let mut n = 0usize;
    while (chain.len() as u64) <= count {
        ts += 10;
        let mut txs = Vec::with_capacity(per_block);
        for coin in coins.iter_mut() {
            n += 1;
            let pay = 1_000 + (n as u64 % 7) * 100;
            let fee = 300;
            let change = coin.value - pay - fee;
            let tx = spend(*coin, &[(payee(n), pay), (me, change)], ts);
            *coin = Coin {
                tx: tx.hash,
                index: 1,
                value: change,
            };
            txs.push(tx);
        }
        let b = block_on(chain.last().expect("a tip"), &me, txs, ts);
        chain.push(b);
    }
    (chain, coins)
}

/// Connects `blocks` (genesis first, skipped) into the chain in `dir`.
pub fn write_into(dir: &Path, blocks: &[Block]) {
    let node =
        Node::open(dir, ChainParams::regtest(), MempoolLimits::default()).expect("node opens");
    for b in blocks.iter().skip(1) {
        node.submit_block(b)
            .unwrap_or_else(|e| panic!("block {} refused: {e}", b.height));
    }
}

/// The answers of a peer that serves `blocks` (`/blockchain/`, `/headers/`,
/// `/blocks/?hashes=`) and lists a mempool of transactions it never hands
/// out: anything else is `None`, to be met with silence. The bench's
/// attacks and the strangers tests play it.
pub struct SilentMempoolPeer {
    blocks: Vec<Block>,
    claim: String,
    mempool: String,
}

impl SilentMempoolPeer {
    /// `claim` is its `/blockchain/` answer; its mempool lists `listed`
    /// made-up transactions.
    pub fn new(blocks: Vec<Block>, claim: String, listed: u64) -> SilentMempoolPeer {
        use cinder::types::TransactionHeader;
        let list = cinder::wire::TransactionList {
            transaction_count: listed,
            transaction_headers: (0..listed)
                .map(|i| {
                    let mut h = [0u8; 32];
                    h[..8].copy_from_slice(&(i + 1).to_be_bytes());
                    TransactionHeader {
                        timestamp: 1,
                        value: Amount::from_units(1),
                        fee: Amount::from_units(1),
                        hash: Hash(h),
                    }
                })
                .collect(),
        };
        SilentMempoolPeer {
            blocks,
            claim,
            mempool: serde_json::to_string(&list).unwrap_or_default(),
        }
    }

    /// The JSON answer to `target` (path and query), or `None`.
    pub fn answer(&self, target: &str) -> Option<String> {
        if target.starts_with("/blockchain") {
            return Some(self.claim.clone());
        }
        if let Some(query) = target.strip_prefix("/headers/?") {
            let locator: Vec<&str> = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("locator="))
                .map(|l| l.split(',').collect())
                .unwrap_or_default();
            let after = locator
                .iter()
                .find_map(|h| self.blocks.iter().position(|b| b.hash.to_string() == *h))
                .unwrap_or(0);
            let headers: Vec<_> = self.blocks[after + 1..]
                .iter()
                .take(2000)
                .map(Block::header)
                .collect();
            return serde_json::to_string(&headers).ok();
        }
        if let Some(hashes) = target.strip_prefix("/blocks/?hashes=") {
            let wanted: Vec<&str> = hashes.split(',').collect();
            let found: Vec<&Block> = self
                .blocks
                .iter()
                .filter(|b| wanted.contains(&b.hash.to_string().as_str()))
                .collect();
            return serde_json::to_string(&found).ok();
        }
        if target == "/transactions/" {
            return Some(self.mempool.clone());
        }
        None
    }
}
