//! `lab`: the network's figures on one machine (release build):
//! `cargo run --release -p testing --bin lab [-- --quick]`.
//!
//! Relay on a seed + 5-node network (a transaction to every mempool, median
//! and max over 100; a block of 1,000 transactions to every tip); sync of
//! a fresh node (≥ 300 blocks / ≥ 50,000 transactions) next to the same
//! blocks connected locally, its peak memory; and the time until blocks
//! flow again when the first peer asked stalls.

use std::time::Duration;

use testing::chain::{self, Coin, owner, payee};
use testing::lab;

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let now = cinder::node::unix_now();

    // Relay: 100 transactions one by one, then a block of 1,000.
    let (blocks, coins) = chain::blocks_with_coins(9, 1100);
    let tip = blocks.last().expect("a tip").clone();
    let net = lab::Network::start(5, &blocks);
    let pay = |coin: &Coin, n: usize| chain::spend(*coin, &[(payee(n), coin.value - 500)], now);
    let singles: Vec<_> = coins[..100]
        .iter()
        .enumerate()
        .map(|(i, c)| pay(c, i))
        .collect();
    let spread = lab::transaction_spread(&net, &singles);
    println!(
        "relay, seed + 5 nodes: transaction to every mempool: median {:.3} s, max {:.3} s (100 transactions)",
        secs(spread.median),
        secs(spread.max)
    );
    let txs: Vec<_> = coins[100..1100]
        .iter()
        .enumerate()
        .map(|(i, c)| pay(c, 1000 + i))
        .collect();
    let big = chain::block_on(&tip, &owner().address(), txs, tip.timestamp + 10);
    let took = lab::block_spread(&net, &big);
    println!(
        "relay, seed + 5 nodes: block of {} transactions to every tip: {:.3} s",
        big.transactions.len() - 1,
        secs(took)
    );
    drop(net);

    // Sync of a fresh node.
    let (count, per_block) = if quick { (60, 100) } else { (301, 170) };
    let (blocks, _) = chain::blocks_with_coins(count, per_block);
    let f = lab::sync_figures(&blocks);
    let sync_tps = f.transactions as f64 / secs(f.sync_time);
    let local_tps = f.transactions as f64 / secs(f.local_time);
    println!(
        "sync, fresh node: {} blocks / {} transactions in {:.2} s = {:.1} blocks/s, {:.0} tx/s",
        f.blocks,
        f.transactions,
        secs(f.sync_time),
        f.blocks as f64 / secs(f.sync_time),
        sync_tps
    );
    println!(
        "connect locally, same blocks:  {:.2} s = {:.1} blocks/s, {:.0} tx/s  -> sync at {:.0} % of local connect",
        secs(f.local_time),
        f.blocks as f64 / secs(f.local_time),
        local_tps,
        100.0 * sync_tps / local_tps
    );
    println!(
        "sync, syncing node's peak RSS: {:.1} MiB",
        f.peak_rss_kib as f64 / 1024.0
    );

    // A stalled peer.
    let blocks = chain::blocks(20, 2);
    let resumed = lab::stall_resume_time(&blocks);
    println!(
        "sync, first peer silent after /blockchain/: blocks flow again after {:.2} s",
        secs(resumed)
    );
}
