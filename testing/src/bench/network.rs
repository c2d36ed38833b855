//! The network's figures, from the lab ([`crate::lab`]): a fresh node
//! syncing a long chain from a peer, next to the same blocks connected
//! locally, its peak memory, the time until blocks flow again after a peer
//! stalls, and relay on a seed + 5-node network.
//!
//! Not built yet (issue 23's lab, second part): each node's peer traffic
//! through a delay proxy with partitions on command, and N = 16.

use super::Sizes;
use super::report::{Figure, Goal, Report};
use crate::chain::{self, Coin, owner, payee};
use crate::lab;

/// Peak RSS goal of a node during the sync (issue 23).
const SYNC_RSS_GOAL_MIB: f64 = 200.0;

/// Sync of a fresh node: rate against local connect, and peak memory.
pub fn sync(report: &mut Report, sizes: &Sizes) {
    super::progress("sync: building the chain");
    let (blocks, _) = chain::blocks_with_coins(sizes.sync_blocks, sizes.sync_per_block);
    super::progress("sync: a fresh node from a peer");
    let f = lab::sync_figures(&blocks);
    let sync_tps = f.transactions as f64 / f.sync_time.as_secs_f64();
    let local_tps = f.transactions as f64 / f.local_time.as_secs_f64();
    report.push(
        Figure::new("sync, fresh node from a peer over HTTP", sync_tps, "tx/s")
            .limit(local_tps, "local connect of the same blocks, in-process")
            .goal(Goal::RatioAtLeast(0.7))
            .note(format!(
                "{} blocks / {} txs in {:.2} s = {:.1} blocks/s; local {:.2} s",
                f.blocks,
                f.transactions,
                f.sync_time.as_secs_f64(),
                f.blocks as f64 / f.sync_time.as_secs_f64(),
                f.local_time.as_secs_f64()
            )),
    );
    report.push(
        Figure::new(
            "full-node peak RSS during the sync",
            f.peak_rss_kib as f64 / 1024.0,
            "MiB",
        )
        .goal(Goal::AtMost(SYNC_RSS_GOAL_MIB))
        .note("VmHWM of the syncing node"),
    );
    super::progress("sync: a peer that stalls");
    let resumed = lab::stall_resume_time(&chain::blocks(20, 2));
    report.push(
        Figure::new(
            "sync: a silent first peer, blocks flow again after",
            resumed.as_secs_f64(),
            "s",
        )
        .goal(Goal::AtMost(10.0))
        .note("request timeout 5 s, then the next candidate"),
    );
}

/// Relay on a seed + 5-node network (no delay proxy yet).
pub fn relay(report: &mut Report) {
    super::progress("relay: a seed and 5 nodes");
    let (blocks, coins) = chain::blocks_with_coins(9, 1100);
    let tip = blocks.last().expect("a built chain has a tip").clone();
    let net = lab::Network::start(5, &blocks);
    let now = cinder::node::unix_now();
    let pay = |coin: &Coin, n: usize| chain::spend(*coin, &[(payee(n), coin.value - 500)], now);
    let singles: Vec<_> = coins[..100]
        .iter()
        .enumerate()
        .map(|(i, c)| pay(c, i))
        .collect();
    let spread = lab::transaction_spread(&net, &singles);
    report.push(
        Figure::new(
            "relay: a transaction to every mempool, max of 100",
            spread.max.as_secs_f64() * 1000.0,
            "ms",
        )
        .goal(Goal::AtMost(500.0))
        .note(format!(
            "median {:.1} ms; seed + 5 nodes on loopback, no added delay",
            spread.median.as_secs_f64() * 1000.0
        )),
    );
    let txs: Vec<_> = coins[100..1100]
        .iter()
        .enumerate()
        .map(|(i, c)| pay(c, 1000 + i))
        .collect();
    let big = chain::block_on(&tip, &owner().address(), txs, tip.timestamp + 10);
    let took = lab::block_spread(&net, &big);
    report.push(
        Figure::new(
            "relay: a block of 1,000 transactions to every tip",
            took.as_secs_f64() * 1000.0,
            "ms",
        )
        .goal(Goal::AtMost(1000.0))
        .note("seed + 5 nodes on loopback, no added delay"),
    );
}
