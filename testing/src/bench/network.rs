//! The network's figures: a fresh node syncing a long chain from a peer,
//! next to the same blocks connected locally, and its peak memory; then the
//! network lab ([`crate::lab`]: a seed and N nodes whose peer traffic
//! passes a 20 ms one-way delay proxy): how fast a transaction and a block
//! of 100 transactions reach the nodes, how soon blocks flow again when a
//! sync peer goes silent mid-sync, and how fast two halves that mined
//! apart agree again.

use std::time::Duration;

use super::Sizes;
use super::report::{Figure, Goal, Report};
use crate::chain::{self, Coin, owner, payee};
use crate::lab::{self, LINK_DELAY, Lab, median};

/// Peak RSS goal of a node during the sync (issue 23).
const SYNC_RSS_GOAL_MIB: f64 = 200.0;
/// Transactions in each block timed in the lab.
const LAB_BLOCK_TXS: usize = 100;
/// The chain of the mid-sync stall: long enough that the first peer has
/// not sent it all when it goes silent.
const STALL_CHAIN: u64 = 1_000;
/// Peers each lab node looks for (`--max-peers`; Bitcoin Core keeps 8
/// outbound connections). Nodes that announce themselves are kept too.
const LAB_PEERS: usize = 8;
/// Blocks each half mines while the network is split.
const SPLIT_BLOCKS: (u64, u64) = (9, 10);
/// How long the halves stay apart: long enough for 3 failed peer checks
/// (each up to 2 s, a round every second), so each half forgets the other
/// and must find it again through the seed.
const SPLIT_TIME: Duration = Duration::from_secs(12);

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
}

/// What an operator's Prometheus would scrape from node `i` of the lab
/// after the relay rounds: its counters and gauges of Cinder (API.md §7),
/// on stderr beside the progress lines (histogram buckets left out).
fn print_metrics_excerpt(lab: &Lab, i: usize) {
    let Some(node) = lab.nodes.get(i) else {
        return;
    };
    let text = reqwest::blocking::get(format!("{}/metrics", node.url)).and_then(|r| r.text());
    match text {
        Ok(text) => {
            super::progress(&format!("lab: GET /metrics of node {i} (excerpt)"));
            for line in text.lines().filter(|l| {
                (l.starts_with("cinder_") || l.starts_with("process_"))
                    && !l.contains("_bucket{")
                    && !l.ends_with(" 0")
            }) {
                eprintln!("    {line}");
            }
        }
        Err(e) => super::progress(&format!("lab: GET /metrics of node {i}: {e}")),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The lab: relay over 20 ms links, a stalled sync peer, a split network.
///
/// `recoveries`: one-thread signature recoveries a second measured in
/// this run (the simulator beside the lab is scaled by it).
pub fn lab(report: &mut Report, sizes: &Sizes, recoveries: f64) {
    let n = sizes.lab_nodes;
    super::progress(&format!("lab: a seed and {n} nodes, 20 ms links"));
    let wanted = sizes.lab_transactions + sizes.lab_blocks * LAB_BLOCK_TXS;
    let (blocks, coins) = chain::blocks_with_coins(6, wanted);
    let mut tip = blocks.last().expect("a built chain has a tip").clone();
    let lab = Lab::network(n, LAB_PEERS, &blocks, LINK_DELAY);
    let now = cinder::node::unix_now();
    let pay = |coin: &Coin, n: usize| chain::spend(*coin, &[(payee(n), coin.value - 500)], now);
    let links = format!(
        "seed + {n} nodes, each looking for {} peers",
        LAB_PEERS.min(n - 1)
    );

    super::progress("lab: transactions");
    let (singles, rest) = coins.split_at(sizes.lab_transactions);
    let reaches: Vec<_> = singles
        .iter()
        .enumerate()
        .map(|(i, coin)| lab.transaction_reach(i % n, &pay(coin, i)))
        .collect();
    let ninety: Vec<_> = reaches.iter().map(|r| r.by(0.9)).collect();
    let half: Vec<_> = reaches.iter().map(|r| r.by(0.5)).collect();
    let mut measured: super::sim::LabFigures = vec![
        (
            "lab: a transaction to 90 % of mempools, median",
            ms(median(ninety.clone())),
        ),
        (
            "lab: a transaction to 50 % of mempools, median",
            ms(median(half.clone())),
        ),
    ];
    report.push(
        Figure::new(
            "lab: a transaction to 90 % of mempools, median",
            ms(median(ninety.clone())),
            "ms",
        )
        .goal(Goal::AtMost(500.0))
        .note(format!(
            "{} txs, posted to each node in turn; max {:.0} ms; 50 % median {:.0} ms; {links}",
            reaches.len(),
            ms(ninety.iter().copied().max().unwrap_or_default()),
            ms(median(half)),
        )),
    );

    super::progress("lab: blocks of 100 transactions");
    let mut block_reaches = Vec::new();
    for (b, group) in rest
        .chunks(LAB_BLOCK_TXS)
        .take(sizes.lab_blocks)
        .enumerate()
    {
        let txs = group
            .iter()
            .enumerate()
            .map(|(i, coin)| pay(coin, 10_000 + b * LAB_BLOCK_TXS + i))
            .collect();
        let block = chain::block_on(&tip, &owner().address(), txs, tip.timestamp + 10);
        block_reaches.push(lab.block_reach(b % n, &block));
        tip = block;
    }
    print_metrics_excerpt(&lab, n / 2);
    let half = median(block_reaches.iter().map(|r| r.by(0.5)).collect());
    let ninety = median(block_reaches.iter().map(|r| r.by(0.9)).collect());
    measured.push(("lab: a block of 100 txs to 50 % of nodes", ms(half)));
    measured.push(("lab: a block of 100 txs to 90 % of nodes", ms(ninety)));
    let note = format!(
        "median over {} block(s); all nodes {:.0} ms; {links}",
        block_reaches.len(),
        ms(median(block_reaches.iter().map(|r| r.by(1.0)).collect())),
    );
    report.push(
        Figure::new("lab: a block of 100 txs to 50 % of nodes", ms(half), "ms")
            .goal(Goal::AtMost(500.0))
            .note(note.clone()),
    );
    report.push(
        Figure::new("lab: a block of 100 txs to 90 % of nodes", ms(ninety), "ms")
            .goal(Goal::AtMost(1000.0))
            .note(note),
    );

    super::progress("lab: two halves mine apart, then heal");
    let healing = lab::split_and_heal(&lab, &tip, SPLIT_BLOCKS.0, SPLIT_BLOCKS.1, SPLIT_TIME);
    report.push(
        Figure::new(
            "lab: split network, all on the heaviest tip after healing",
            healing.took.as_secs_f64(),
            "s",
        )
        .goal(Goal::AtMost(20.0))
        .note(format!(
            "{}/{} blocks mined apart for {:.1} s ({} KiB dropped; fewest peers known then {}, of {} looked for); {} nodes",
            SPLIT_BLOCKS.0,
            SPLIT_BLOCKS.1,
            healing.apart.as_secs_f64(),
            healing.dropped / 1024,
            healing.fewest_peers_apart,
            LAB_PEERS.min(n - 1),
            n
        )),
    );
    report.push(
        Figure::new(
            "lab: honest nodes banned while splitting and healing",
            healing.bans.len() as f64,
            "",
        )
        .goal(Goal::AtMost(0.0))
        .note(
            healing
                .bans
                .first()
                .cloned()
                .unwrap_or_else(|| "none".into()),
        ),
    );
    drop(lab);
    super::sim::beside_lab(report, n, &measured, recoveries);

    super::progress("lab: a sync peer goes silent mid-sync");
    let stall = lab::stall_mid_sync(&chain::blocks(STALL_CHAIN, 1), LINK_DELAY);
    report.push(
        Figure::new(
            "lab: a sync peer goes silent mid-sync, blocks flow again after",
            stall.resumed_after.as_secs_f64(),
            "s",
        )
        .goal(Goal::AtMost(10.0))
        .note(format!(
            "silent at height {} of {}; longest stretch without a block {:.2} s; on the tip after {:.2} s; request timeout 5 s",
            stall.height_at_silence,
            stall.tip_height,
            stall.longest_flat.as_secs_f64(),
            stall.finished_after.as_secs_f64()
        )),
    );
}
