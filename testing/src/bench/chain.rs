//! Regtest chains built in-process, fast: blocks are assembled, solved
//! (regtest work is trivial) and handed to [`Node::submit_block`]. What the
//! HTTP figures load is prepared here in the data directory, then served
//! by the real `full-node`.

use std::path::Path;

use cinder::consensus::ChainParams;
use cinder::consensus::block::MAX_BLOCK_SIZE;
use cinder::crypto::SecretKey;
use cinder::node::{Accepted, MempoolLimits, Node};
use cinder::types::{Address, Amount, Block, Hash, Input, Transaction};

/// Most outputs a transaction may have (PROTOCOL.md §4 step 1).
pub const MAX_OUTPUTS: usize = 256;

/// The key every bench coin belongs to.
pub fn owner() -> SecretKey {
    SecretKey::from_bytes(&[7; 32]).expect("a constant valid secret key")
}

/// The `n`-th address of a namespace: distinct for every (namespace, n),
/// controlled by nobody (the bench never spends from them).
pub fn address(namespace: u8, n: u64) -> Address {
    let mut bytes = [0xb0u8; 20];
    bytes[0] = namespace;
    bytes[12..].copy_from_slice(&n.to_be_bytes());
    Address(bytes)
}

/// The active tip: hash, height, timestamp.
#[derive(Clone, Copy, Debug)]
pub struct Tip {
    pub hash: Hash,
    pub height: u64,
    pub timestamp: u64,
}

/// An unspent output of [`owner`].
#[derive(Clone, Copy, Debug)]
pub struct Coin {
    pub tx: Hash,
    pub index: u32,
    pub value: u64,
}

/// A signed transaction of `owner` spending `coins` to `outputs`.
pub fn spend(
    owner: &SecretKey,
    coins: &[Coin],
    outputs: &[(Address, u64)],
    timestamp: u64,
) -> Transaction {
    let inputs = coins
        .iter()
        .map(|c| Input::spending(c.tx, c.index, owner.address(), Amount::from_units(c.value)))
        .collect();
    let outputs: Vec<(Address, Amount)> = outputs
        .iter()
        .map(|(a, v)| (*a, Amount::from_units(*v)))
        .collect();
    let mut tx = Transaction::unsigned(timestamp, inputs, &outputs)
        .expect("the bench never spends more than its coins hold");
    tx.sign_all(owner);
    tx
}

/// `f` over `items` on every core, results in order.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a bench worker thread panicked"))
            .collect()
    })
}

/// A node being given a chain, block after block.
pub struct ChainBuilder {
    pub node: Node,
    pub tip: Tip,
    owner: SecretKey,
    params: ChainParams,
    /// Coinbases of [`owner`] not spent yet: (coin, height).
    coinbases: Vec<(Coin, u64)>,
}

impl ChainBuilder {
    /// A regtest node in `dir` (created; must hold no chain yet).
    pub fn open(dir: &Path, limits: MempoolLimits) -> anyhow::Result<ChainBuilder> {
        let params = ChainParams::regtest();
        let node = Node::open(dir, params.clone(), limits)?;
        let genesis = params.genesis();
        let info = node.snapshot().info.clone();
        anyhow::ensure!(
            info.height == 0,
            "{} already holds a chain (height {})",
            dir.display(),
            info.height
        );
        Ok(ChainBuilder {
            node,
            tip: Tip {
                hash: genesis.hash,
                height: 0,
                timestamp: genesis.timestamp,
            },
            owner: owner(),
            params,
            coinbases: Vec::new(),
        })
    }

    /// A solved block on the tip holding `txs`, paying [`owner`]; not submitted.
    pub fn block(&self, txs: Vec<Transaction>) -> Block {
        self.block_on(&self.tip, txs)
    }

    /// Solved blocks extending the tip one after the other, one per batch;
    /// none submitted.
    pub fn blocks_ahead(&self, batches: Vec<Vec<Transaction>>) -> Vec<Block> {
        let mut tip = self.tip;
        batches
            .into_iter()
            .map(|txs| {
                let block = self.block_on(&tip, txs);
                tip = Tip {
                    hash: block.hash,
                    height: block.height,
                    timestamp: block.timestamp,
                };
                block
            })
            .collect()
    }

    fn block_on(&self, tip: &Tip, txs: Vec<Transaction>) -> Block {
        let height = tip.height + 1;
        let mut block = Block::assemble(
            tip.hash,
            height,
            tip.timestamp + 1,
            self.params.pow_limit,
            self.owner.address(),
            self.params.subsidy(height),
            txs,
        )
        .expect("bench fees never overflow");
        assert!(
            block.solve(1_000_000),
            "the regtest target is met in a few tries"
        );
        block
    }

    /// Makes `block` (built by [`ChainBuilder::block`]) the new tip.
    pub fn connect(&mut self, block: &Block) -> anyhow::Result<()> {
        let status = self.node.submit_block(block)?;
        anyhow::ensure!(
            status == Accepted::Connected,
            "block {} was {status:?}, not connected",
            block.height
        );
        let coinbase = &block.transactions[0];
        self.coinbases.push((
            Coin {
                tx: coinbase.hash,
                index: 0,
                value: coinbase.outputs[0].value.units(),
            },
            block.height,
        ));
        self.tip = Tip {
            hash: block.hash,
            height: block.height,
            timestamp: block.timestamp,
        };
        Ok(())
    }

    /// Builds, solves and connects a block of `txs`.
    pub fn mine(&mut self, txs: Vec<Transaction>) -> anyhow::Result<Block> {
        let block = self.block(txs);
        self.connect(&block)?;
        Ok(block)
    }

    /// Mines until [`owner`] holds `wanted` confirmed coins of `value`
    /// units each, fanned out of mature coinbases (at most 256 per
    /// coinbase, fewer once halvings shrink the subsidy).
    pub fn fund(&mut self, wanted: usize, value: u64) -> anyhow::Result<Vec<Coin>> {
        let mut coins: Vec<Coin> = Vec::with_capacity(wanted);
        let maturity = self.params.coinbase_maturity;
        while coins.len() < wanted {
            let next_height = self.tip.height + 1;
            let mut fanouts = Vec::new();
            let mut size = Transaction::size_for(1, 1);
            let mut planned = coins.len();
            let mut kept = Vec::new();
            for (coin, height) in std::mem::take(&mut self.coinbases) {
                let room = size + Transaction::size_for(1, MAX_OUTPUTS) <= MAX_BLOCK_SIZE;
                if next_height - height < maturity || planned >= wanted || !room {
                    kept.push((coin, height));
                    continue;
                }
                let mut n = MAX_OUTPUTS.min(wanted - planned);
                while n > 0 && n as u64 * value + Transaction::size_for(1, n) as u64 > coin.value {
                    n -= 1;
                }
                anyhow::ensure!(
                    n > 0,
                    "a coinbase of {} units cannot fund coins of {value}",
                    coin.value
                );
                let outputs = vec![(self.owner.address(), value); n];
                let tx = spend(&self.owner, &[coin], &outputs, self.tip.timestamp);
                size += tx.size();
                planned += n;
                fanouts.push(tx);
            }
            self.coinbases = kept;
            let block = self.mine(fanouts)?;
            for tx in &block.transactions[1..] {
                coins.extend(tx.outputs.iter().map(|o| Coin {
                    tx: tx.hash,
                    index: o.index,
                    value: o.value.units(),
                }));
            }
        }
        Ok(coins)
    }

    /// Gives `count` distinct fresh addresses (namespace `namespace`, 0…)
    /// one confirmed output each, in full blocks of one-input transactions
    /// with 256 outputs. Balances differ, so the rich list has an order.
    pub fn fill_addresses(&mut self, namespace: u8, count: u64) -> anyhow::Result<()> {
        let per_tx = MAX_OUTPUTS as u64;
        let coin_value = per_tx * 2_000 + Transaction::size_for(1, MAX_OUTPUTS) as u64;
        let coins = self.fund(count.div_ceil(per_tx) as usize, coin_value)?;
        let per_block =
            (MAX_BLOCK_SIZE - Transaction::size_for(1, 1)) / Transaction::size_for(1, MAX_OUTPUTS);
        let timestamp = self.tip.timestamp;
        let owner = self.owner.clone();
        let jobs: Vec<(usize, Coin)> = coins.into_iter().enumerate().collect();
        let txs = par_map(&jobs, |(i, coin)| {
            let first = *i as u64 * per_tx;
            let outputs: Vec<(Address, u64)> = (first..(first + per_tx).min(count))
                .map(|n| (address(namespace, n), 1_000 + n % 997))
                .collect();
            spend(&owner, &[*coin], &outputs, timestamp)
        });
        for chunk in txs.chunks(per_block) {
            self.mine(chunk.to_vec())?;
        }
        Ok(())
    }

    /// One-input, one-output transactions paying fresh addresses of
    /// `namespace`, one per coin, signed on every core.
    pub fn small_spends(&self, namespace: u8, coins: &[Coin]) -> Vec<Transaction> {
        let fee = Transaction::size_for(1, 1) as u64;
        let timestamp = self.tip.timestamp;
        let owner = &self.owner;
        let jobs: Vec<(usize, Coin)> = coins.iter().copied().enumerate().collect();
        par_map(&jobs, |(i, c)| {
            spend(
                owner,
                &[*c],
                &[(address(namespace, *i as u64), c.value - fee)],
                timestamp,
            )
        })
    }

    pub fn owner(&self) -> &SecretKey {
        &self.owner
    }
}
