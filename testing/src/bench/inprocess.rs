//! Figures of the node library without HTTP: block connect, transaction
//! intake and block templates on a full pool.

use std::path::Path;
use std::time::{Duration, Instant};

use cinder::mempool::{MAX_DESCENDANTS, PolicyError};
use cinder::node::{MempoolLimits, TxRejected};
use cinder::types::{Address, Hash, Signature, Transaction};

use super::chain::{ChainBuilder, Coin, address, par_map, spend};
use super::limits::{Limit2, recoveries_per_second};
use super::process::CpuMeter;
use super::report::{Figure, Goal, Report};
use super::{Sizes, progress};

/// Transactions per connected block in the connect figure.
const BLOCK_TXS: usize = 1_000;

/// Value of every coin the in-process figures spend.
const COIN_VALUE: u64 = 100_000;

/// Blocks of 1,000 one-input transactions connected with
/// `Node::submit_block`, against two-thread recoveries measured just
/// before.
pub fn connect(
    report: &mut Report,
    sizes: &Sizes,
    dir: &Path,
    samples: &[(Hash, Signature, Address)],
) -> anyhow::Result<()> {
    let blocks = sizes.connect_blocks;
    progress(&format!(
        "connect: preparing {blocks} blocks of {BLOCK_TXS} transactions"
    ));
    let mut chain = ChainBuilder::open(dir, MempoolLimits::default())?;
    let coins = chain.fund(blocks * BLOCK_TXS, COIN_VALUE)?;
    let txs = chain.small_spends(1, &coins);
    let batches: Vec<Vec<Transaction>> = txs.chunks(BLOCK_TXS).map(<[_]>::to_vec).collect();
    let prepared = chain.blocks_ahead(batches);
    let before = recoveries_per_second(samples, 2, sizes.limit_time);
    let cpu = CpuMeter::start(std::process::id());
    let start = Instant::now();
    for block in &prepared {
        chain.connect(block)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let cores = cpu.cores().unwrap_or(f64::NAN);
    let limit = Limit2::after(before, samples, sizes);
    report.push(
        Figure::new(
            "block connect, blocks of 1,000 one-input txs",
            (blocks * BLOCK_TXS) as f64 / secs,
            "tx/s",
        )
        .limit(limit.mean(), Limit2::WHAT)
        .goal(Goal::RatioAtLeast(0.6))
        .note(format!(
            "{blocks} blocks in {secs:.2} s, in-process Node::submit_block; bench CPU {cores:.2} core; {}",
            limit.note()
        )),
    );
    Ok(())
}

/// A one-input, one-output spend of `coin` paying `rate` units per byte to
/// the owner (so that it can be spent again).
fn spend_at_rate(chain: &ChainBuilder, coin: &Coin, to: Address, rate: u64) -> Transaction {
    let fee = Transaction::size_for(1, 1) as u64 * rate;
    spend(
        chain.owner(),
        &[*coin],
        &[(to, coin.value - fee)],
        chain.tip.timestamp,
    )
}

/// A pseudo-random fee rate, 1–8 units per byte, so the template has an
/// order to find.
fn rate(n: usize) -> u64 {
    (n.wrapping_mul(2_654_435_761) >> 7) as u64 % 8 + 1
}

/// Fills a pool of `sizes.pool` transactions — chains of 1 + 25
/// unconfirmed spends (the longest the mempool takes) and independent
/// spends, fee rates mixed — through `Node::submit_transaction` on two
/// threads, then times `Node::block_template`.
pub fn template(
    report: &mut Report,
    sizes: &Sizes,
    dir: &Path,
    samples: &[(Hash, Signature, Address)],
) -> anyhow::Result<()> {
    let chain_len = MAX_DESCENDANTS + 1;
    let chains = sizes.pool_chains;
    let singles = sizes.pool - chains * chain_len;
    progress(&format!(
        "template: preparing a pool of {} transactions ({chains} chains of {chain_len}, {singles} independent)",
        sizes.pool
    ));
    let limits = MempoolLimits {
        max_count: sizes.pool.max(cinder::mempool::DEFAULT_MAX_COUNT),
        ..MempoolLimits::default()
    };
    let mut chain = ChainBuilder::open(dir, limits)?;
    let coins = chain.fund(chains + singles, COIN_VALUE)?;
    let (chain_coins, single_coins) = coins.split_at(chains);
    let me = chain.owner().address();
    let roots: Vec<(usize, Coin)> = chain_coins.iter().copied().enumerate().collect();
    let chained: Vec<Vec<Transaction>> = par_map(&roots, |(c, root)| {
        let mut coin = *root;
        (0..chain_len)
            .map(|k| {
                let tx = spend_at_rate(&chain, &coin, me, rate(c * chain_len + k));
                coin = Coin {
                    tx: tx.hash,
                    index: 0,
                    value: tx.outputs[0].value.units(),
                };
                tx
            })
            .collect()
    });
    let jobs: Vec<(usize, Coin)> = single_coins.iter().copied().enumerate().collect();
    let independent: Vec<Transaction> = par_map(&jobs, |(i, coin)| {
        spend_at_rate(&chain, coin, address(3, *i as u64), rate(*i + 7))
    });

    let before = recoveries_per_second(samples, 2, sizes.limit_time);
    let node = &chain.node;
    let threads = 2;
    let cpu = CpuMeter::start(std::process::id());
    let start = Instant::now();
    let accepted: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let chained = &chained;
                let independent = &independent;
                s.spawn(move || -> anyhow::Result<usize> {
                    let mut n = 0;
                    let mine = chained.iter().skip(t).step_by(threads).flatten();
                    let rest = independent.iter().skip(t).step_by(threads);
                    for tx in mine.chain(rest) {
                        node.submit_transaction(tx.clone())?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("an intake thread panicked"))
            .sum::<anyhow::Result<usize>>()
    })?;
    let secs = start.elapsed().as_secs_f64();
    let cores = cpu.cores().unwrap_or(f64::NAN);
    let limit = Limit2::after(before, samples, sizes);
    anyhow::ensure!(
        node.mempool_size() == sizes.pool,
        "the pool holds {} transactions, not {}",
        node.mempool_size(),
        sizes.pool
    );
    report.push(
        Figure::new(
            "submit_transaction in-process, 2 threads",
            accepted as f64 / secs,
            "tx/s",
        )
        .limit(limit.mean(), Limit2::WHAT)
        .note(format!(
            "{accepted} txs (with chains) in {secs:.2} s, no HTTP; bench CPU {cores:.2} core; {}",
            limit.note()
        )),
    );

    // The chains are as long as the pool allows: one more spend is refused.
    if let Some(last) = chained.first().and_then(|c| c.last()) {
        let coin = Coin {
            tx: last.hash,
            index: 0,
            value: last.outputs[0].value.units(),
        };
        let extra = spend_at_rate(&chain, &coin, me, 1);
        match node.submit_transaction(extra) {
            Err(TxRejected::Policy(PolicyError::ChainTooLong { .. })) => {}
            other => anyhow::bail!(
                "a spend past the chain limit was answered {other:?}, not chain_too_long"
            ),
        }
    }

    let runs = 5;
    let mut times = Vec::with_capacity(runs);
    let mut picked = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let block = node.block_template(&me)?;
        times.push(start.elapsed());
        picked = block.transactions.len() - 1;
    }
    times.sort();
    let worst = times.last().copied().unwrap_or(Duration::ZERO);
    report.push(
        Figure::new(
            format!(
                "template time, full pool ({} txs), worst of {runs}",
                sizes.pool
            ),
            worst.as_secs_f64() * 1e3,
            "ms",
        )
        .goal(Goal::AtMost(250.0))
        .note(format!(
            "median {:.1} ms; {picked} txs picked; in-process Node::block_template",
            times[runs / 2].as_secs_f64() * 1e3
        )),
    );
    Ok(())
}
