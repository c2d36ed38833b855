//! The scenarios: each builds a world, runs it in virtual time and reads
//! its figures.

use std::time::Duration;

use super::link::Profile;
use super::queue::SimTime;
use super::world::{NodeId, Settings, Watch, World};
use super::{Figure, Scenario};

/// Transactions in a timed block, as in the lab.
pub const BLOCK_TXS: u32 = 100;

/// A world of `n` honest nodes joining at random moments over `join_over`.
fn network(settings: Settings, seed: u64, n: usize, join_over: Duration, progress: bool) -> World {
    let mut world = World::new(settings, seed);
    world.progress = progress;
    let mut starts: Vec<u64> = (0..n)
        .map(|_| world.rng.below(join_over.as_micros() as u64 + 1))
        .collect();
    starts.sort_unstable();
    for at in starts {
        world.add_honest(SimTime(at));
    }
    world
}

/// The times (ms after the item appeared) at which the online honest
/// nodes but its origin had a watched item, in increasing order, and how
/// many nodes were counted.
fn reach(world: &World, watch: &Watch) -> (Vec<f64>, usize) {
    let others: Vec<NodeId> = world
        .online_honest()
        .into_iter()
        .filter(|n| *n != watch.origin)
        .collect();
    let mut times: Vec<f64> = others
        .iter()
        .filter_map(|n| watch.reached[*n as usize])
        .map(|t| t.since(watch.since).as_secs_f64() * 1_000.0)
        .collect();
    times.sort_by(f64::total_cmp);
    (times, others.len())
}

/// The time by which `fraction` of `count` nodes had it (the lab's
/// `Reach::by`), `None` when fewer got it.
fn by(times: &[f64], count: usize, fraction: f64) -> Option<f64> {
    let k = ((fraction * count as f64).ceil() as usize).clamp(1, count.max(1));
    times.get(k - 1).copied()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let k = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[k - 1]
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

/// Figures of the reach of several watched items of one kind: per share of
/// nodes, the median over items (and the worst time to all), and the
/// least share of nodes any item reached.
fn reach_figures(world: &World, watches: &[&Watch], what: &str, figures: &mut Vec<Figure>) {
    let mut least_share = 100.0f64;
    let mut per: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for watch in watches {
        let (times, count) = reach(world, watch);
        least_share = least_share.min(100.0 * times.len() as f64 / count.max(1) as f64);
        for (i, fraction) in [0.5, 0.9, 1.0].into_iter().enumerate() {
            if let Some(t) = by(&times, count, fraction) {
                per[i].push(t);
            }
        }
    }
    let [half, ninety, all] = per;
    figures.push(Figure::new(
        format!("propagation: {what} to 50 % of nodes, median"),
        median(half),
        "ms",
    ));
    figures.push(Figure::new(
        format!("propagation: {what} to 90 % of nodes, median"),
        median(ninety),
        "ms",
    ));
    figures.push(Figure::new(
        format!("propagation: {what} to 100 % of nodes, median"),
        median(all.clone()),
        "ms",
    ));
    figures.push(Figure::new(
        format!("propagation: {what} to 100 % of nodes, worst"),
        max(&all),
        "ms",
    ));
    figures.push(Figure::new(
        format!("propagation: nodes reached by {what}, least"),
        least_share,
        "%",
    ));
}

/// `propagation`: nodes join over a minute and find peers for five;
/// then, every 30 s, a transaction posted to a random node and, 10 s
/// later, a block of 100 transactions mined by another (5 of each).
pub fn propagation(world: &mut World) -> Vec<Figure> {
    let warm = SimTime::from_secs(300);
    world.run_until(warm);
    let items = 5;
    for k in 0..items {
        let t = warm.after(Duration::from_secs(30 * k));
        world.run_until(t);
        let nodes = world.online_honest();
        let origin = nodes[world.rng.index(nodes.len())];
        world.post_transaction(origin);
        world.run_until(t.after(Duration::from_secs(10)));
        let origin = nodes[world.rng.index(nodes.len())];
        world.mine_now(origin, BLOCK_TXS);
    }
    world.run_until(warm.after(Duration::from_secs(30 * items + 90)));
    let mut figures = Vec::new();
    let blocks: Vec<&Watch> = world
        .watches
        .iter()
        .filter(|w| matches!(w.item, super::world::WatchItem::Block(_)))
        .collect();
    let txs: Vec<&Watch> = world
        .watches
        .iter()
        .filter(|w| matches!(w.item, super::world::WatchItem::Tx(_)))
        .collect();
    reach_figures(world, &blocks, "a block of 100 txs", &mut figures);
    reach_figures(world, &txs, "a transaction", &mut figures);
    figures
}

/// How long the halves of `partition` stay apart, in update intervals:
/// two (each half still knows the other: 3 failed checks drop a peer),
/// and five (each half forgot the other).
pub const PARTITION_INTERVALS: [u32; 2] = [2, 5];
/// How long a healed network is watched for one tip.
pub const HEALING_WATCHED: Duration = Duration::from_secs(600);

/// `partition`: after four minutes the honest nodes split in two halves
/// (by index), a miner in each, for `intervals` update intervals; then
/// the halves heal, mining stops (one more block breaks a tie of work) and
/// the time until every node is on one tip is measured (-1: not within
/// ten minutes).
pub fn partition(world: &mut World, intervals: u32) -> Vec<Figure> {
    let warm = SimTime::from_secs(240);
    world.run_until(warm);
    let honest: Vec<NodeId> = world.honest().collect();
    let half = honest.len() / 2;
    // Honest ids ascend: the first half is below the middle one.
    let middle = honest[half];
    let side_of = |n: NodeId| if n < middle { 1 } else { 2 };
    let miners = [honest[0], honest[half]];
    world.partition(side_of);
    for miner in miners {
        world.start_mining(miner, warm, 0);
    }
    let apart = world.settings.update_interval * intervals;
    let heal_at = warm.after(apart);
    world.run_until(heal_at);
    for miner in miners {
        world.stop_mining(miner);
    }
    let tips = miners.map(|m| world.node(m).chain.tip());
    let heights = tips.map(|t| world.arena.block(t).height);
    let reorganised_before = world.stats.blocks_reorganised;
    world.heal();
    if world.arena.block(tips[0]).work == world.arena.block(tips[1]).work {
        world.mine_now(miners[0], 0);
    }
    let step = Duration::from_millis(100);
    let limit = heal_at.after(HEALING_WATCHED);
    let mut healed = None;
    let mut t = heal_at;
    while t < limit {
        t = t.after(step);
        world.run_until(t);
        let (_, on) = world.best_tip();
        if on == world.online_honest().len() {
            healed = Some(t.since(heal_at));
            break;
        }
    }
    let (_, on) = world.best_tip();
    let on_best = 100.0 * on as f64 / world.online_honest().len().max(1) as f64;
    let apart_s = apart.as_secs();
    let name = |what: &str| format!("partition, apart {apart_s} s: {what}");
    vec![
        Figure::new(
            name("all on one tip after healing"),
            healed.map_or(-1.0, |d| d.as_secs_f64()),
            "s",
        ),
        Figure::new(name("nodes on the heaviest tip at the end"), on_best, "%"),
        Figure::new(
            name("blocks reorganised after healing, all nodes"),
            (world.stats.blocks_reorganised - reorganised_before) as f64,
            "blocks",
        ),
        Figure::new(
            name("blocks mined apart, side 1"),
            heights[0] as f64,
            "blocks",
        ),
        Figure::new(
            name("blocks mined apart, side 2"),
            heights[1] as f64,
            "blocks",
        ),
        Figure::new(
            name("honest nodes banned while splitting and healing"),
            world.stats.bans as f64,
            "",
        ),
    ]
}

/// `churn`: a miner finds a block every 10 s on average; after three
/// minutes, every virtual minute for ten minutes 10 % of the honest nodes
/// leave for good and as many fresh ones join (at random moments of that
/// minute), finding peers through the seed and syncing. Sampled every 10 s.
pub fn churn(world: &mut World) -> Vec<Figure> {
    let miner = world.honest().next().expect("one honest node at least");
    world.start_mining(miner, SimTime::from_secs(60), 0);
    let warm = SimTime::from_secs(180);
    world.run_until(warm);
    // Nodes starting from now note the best work at their start.
    world.track_catch_up = true;
    let minutes = 10u64;
    let mut shares = Vec::new();
    let mut joined: Vec<NodeId> = Vec::new();
    for minute in 0..minutes {
        let start = warm.after(Duration::from_secs(60 * minute));
        world.run_until(start);
        let mut online: Vec<NodeId> = world
            .online_honest()
            .into_iter()
            .filter(|n| *n != miner)
            .collect();
        let leaving = online.len().div_ceil(10);
        world.rng.shuffle(&mut online);
        for n in online.into_iter().take(leaving) {
            world.leave(n);
        }
        let mut starts: Vec<u64> = (0..leaving).map(|_| world.rng.below(60_000_000)).collect();
        starts.sort_unstable();
        for offset in starts {
            joined.push(world.add_honest(start.plus_micros(offset)));
        }
        for s in 1..=6 {
            world.run_until(start.after(Duration::from_secs(10 * s)));
            let (_, on) = world.best_tip();
            shares.push(100.0 * on as f64 / world.online_honest().len().max(1) as f64);
        }
    }
    // Time for the last joiners to catch up.
    world.run_until(warm.after(Duration::from_secs(60 * minutes + 60)));
    let times: Vec<f64> = joined
        .iter()
        .filter_map(|j| world.node(*j).catch_up)
        .filter_map(|(_, start, done)| done.map(|d| d.since(start).as_secs_f64()))
        .collect();
    let with_goal = joined
        .iter()
        .filter(|j| world.node(**j).catch_up.is_some())
        .count();
    let mean = shares.iter().sum::<f64>() / shares.len().max(1) as f64;
    vec![
        Figure::new(
            "churn: nodes on the best tip, mean of 10 s samples",
            mean,
            "%",
        ),
        Figure::new(
            "churn: nodes on the best tip, lowest sample",
            shares.iter().copied().fold(f64::NAN, f64::min),
            "%",
        ),
        Figure::new(
            "churn: a joining node on the best work of its start, median",
            median(times.clone()),
            "s",
        ),
        Figure::new(
            "churn: a joining node on the best work of its start, p90",
            percentile(times.clone(), 0.9),
            "s",
        ),
        Figure::new(
            "churn: joining nodes caught up",
            100.0 * times.len() as f64 / with_goal.max(1) as f64,
            "%",
        ),
        Figure::new(
            "churn: nodes joined (and left)",
            joined.len() as f64,
            "nodes",
        ),
    ]
}

/// Attacker nodes per honest node in `eclipse`.
pub const ATTACKERS_PER_HONEST: usize = 1;
/// The /16 groups the attackers come from.
pub const ATTACKER_GROUPS: u32 = 2;

/// The honest share of the known peers of each online honest node, and
/// of the seed's list.
fn honest_shares(world: &World) -> (Vec<f64>, f64) {
    let share = |known: Vec<cinder::wire::NodeAddr>| {
        let honest = known
            .iter()
            .filter(|a| {
                world
                    .id_of(a)
                    .is_some_and(|n| world.node(n).role == super::world::Role::Honest)
            })
            .count();
        100.0 * honest as f64 / known.len().max(1) as f64
    };
    let nodes = world
        .online_honest()
        .into_iter()
        .map(|n| share(world.node(n).book.known()))
        .collect();
    (nodes, share(world.node(super::world::SEED).book.known()))
}

/// The world of `eclipse`: as many attacker nodes as honest ones, from
/// [`ATTACKER_GROUPS`] /16 groups, start in the first 10 s; the honest
/// nodes join over the next minute. With `groups` off, the per-group
/// shares of API.md §8 "Groups" are as large as the whole.
fn eclipse_world(config: &super::Config, groups: bool) -> World {
    let mut settings = Settings::new(config.profile.unwrap_or(Profile::Geo));
    settings.cpu_scale = config.cpu_scale;
    settings.groups = groups;
    let mut world = World::new(settings, config.seed);
    world.progress = config.progress;
    let attackers = config.nodes * ATTACKERS_PER_HONEST;
    for j in 0..attackers {
        let at = SimTime(world.rng.below(10_000_000));
        world.add_attacker(j as u32, ATTACKER_GROUPS, at);
    }
    let mut starts: Vec<u64> = (0..config.nodes)
        .map(|_| 10_000_000 + world.rng.below(60_000_000))
        .collect();
    starts.sort_unstable();
    for at in starts {
        world.add_honest(SimTime(at));
    }
    world
}

/// `eclipse`: each attacker registers with the seed and announces itself
/// to 30 honest nodes every update interval, answers checks, lists only
/// attackers and relays nothing. After ten minutes: the honest share of
/// the peers of the median and of the worst honest node, and of the
/// seed's list (run with the rules of API.md §8 "Groups" and without).
pub fn eclipse(world: &mut World, groups: bool) -> Vec<Figure> {
    world.run_until(SimTime::from_secs(600));
    let (shares, seed_share) = honest_shares(world);
    let worst = shares.iter().copied().fold(f64::NAN, f64::min);
    let with = if groups {
        "with groups"
    } else {
        "without groups"
    };
    vec![
        Figure::new(
            format!("eclipse: honest share of a node's peers, median, {with}"),
            median(shares.clone()),
            "%",
        ),
        Figure::new(
            format!("eclipse: honest share of a node's peers, worst node, {with}"),
            worst,
            "%",
        ),
        Figure::new(
            format!("eclipse: honest share of the seed's list, {with}"),
            seed_share,
            "%",
        ),
    ]
}

/// `lab`: the lab's network in the simulator — a seed and 16 nodes, 20 ms
/// links, 8 peers looked for, peer rounds every second — timed as the lab
/// times it (`bench/network.rs`): 20 transactions posted to node i % n in
/// turn, then 3 blocks of 100 transactions to node b % n.
pub fn lab(world: &mut World) -> Vec<Figure> {
    let warm = SimTime::from_secs(20);
    world.run_until(warm);
    let nodes = world.online_honest();
    let n = nodes.len();
    let mut t = warm;
    let mut tx_watches = Vec::new();
    for i in 0..20 {
        world.post_transaction(nodes[i % n]);
        tx_watches.push(world.watches.len() - 1);
        t = t.after(Duration::from_secs(2));
        world.run_until(t);
    }
    let mut block_watches = Vec::new();
    for b in 0..3 {
        world.mine_now(nodes[b % n], BLOCK_TXS);
        block_watches.push(world.watches.len() - 1);
        t = t.after(Duration::from_secs(5));
        world.run_until(t);
    }
    let by_of = |world: &World, watches: &[usize], fraction: f64| -> Vec<f64> {
        watches
            .iter()
            .filter_map(|w| {
                let (times, count) = reach(world, &world.watches[*w]);
                by(&times, count, fraction)
            })
            .collect()
    };
    let tx90 = by_of(world, &tx_watches, 0.9);
    let known: Vec<f64> = nodes
        .iter()
        .map(|n| world.node(*n).book.count() as f64)
        .collect();
    vec![
        Figure::new(
            "lab: peers known per node, mean",
            known.iter().sum::<f64>() / known.len().max(1) as f64,
            "",
        ),
        Figure::new(
            "lab: peers known per node, fewest",
            known.iter().copied().fold(f64::NAN, f64::min),
            "",
        ),
        Figure::new(
            "lab: a transaction to 90 % of mempools, median",
            median(tx90.clone()),
            "ms",
        ),
        Figure::new(
            "lab: a transaction to 90 % of mempools, max",
            max(&tx90),
            "ms",
        ),
        Figure::new(
            "lab: a transaction to 50 % of mempools, median",
            median(by_of(world, &tx_watches, 0.5)),
            "ms",
        ),
        Figure::new(
            "lab: a block of 100 txs to 50 % of nodes",
            median(by_of(world, &block_watches, 0.5)),
            "ms",
        ),
        Figure::new(
            "lab: a block of 100 txs to 90 % of nodes",
            median(by_of(world, &block_watches, 0.9)),
            "ms",
        ),
        Figure::new(
            "lab: a block of 100 txs to all nodes",
            median(by_of(world, &block_watches, 1.0)),
            "ms",
        ),
    ]
}

/// The settings of `scenario` (the lab's own for `lab`).
pub fn settings(scenario: Scenario, profile: Option<Profile>) -> Settings {
    match scenario {
        Scenario::Lab => {
            let mut s = Settings::new(profile.unwrap_or(Profile::Lab));
            s.max_peers = 8;
            s.update_interval = Duration::from_secs(1);
            s.seed_interval = Duration::from_secs(1);
            s
        }
        _ => Settings::new(profile.unwrap_or(Profile::Geo)),
    }
}

/// What the worlds of a run gave.
#[derive(Debug, Default)]
pub struct Ran {
    pub figures: Vec<Figure>,
    /// Each world's digest, in the order they ran.
    pub digests: Vec<String>,
    pub events: u64,
    /// Virtual time of the longest world.
    pub virtual_secs: f64,
}

impl Ran {
    fn world_done(&mut self, world: &mut World) {
        if world.progress {
            world.print_progress(true);
        }
        self.digests.push(world.digest());
        self.events += world.stats.events;
        self.virtual_secs = self.virtual_secs.max(world.now.as_secs_f64());
    }
}

/// Builds the world(s) of `config` and runs its scenario.
pub fn run(config: &super::Config) -> Ran {
    let mut ran = Ran::default();
    if config.scenario == Scenario::Eclipse {
        for groups in [true, false] {
            let mut world = eclipse_world(config, groups);
            ran.figures.extend(eclipse(&mut world, groups));
            ran.world_done(&mut world);
        }
        return ran;
    }
    let mut settings = settings(config.scenario, config.profile);
    settings.cpu_scale = config.cpu_scale;
    let join_over = match config.scenario {
        Scenario::Lab => Duration::from_secs(2),
        _ => Duration::from_secs(60),
    };
    let worlds: Vec<Option<u32>> = match config.scenario {
        Scenario::Partition => PARTITION_INTERVALS.iter().copied().map(Some).collect(),
        _ => vec![None],
    };
    for intervals in worlds {
        let mut world = network(
            settings.clone(),
            config.seed,
            config.nodes,
            join_over,
            config.progress,
        );
        let figures = match (config.scenario, intervals) {
            (Scenario::Propagation, _) => propagation(&mut world),
            (Scenario::Partition, Some(i)) => partition(&mut world, i),
            (Scenario::Churn, _) => churn(&mut world),
            (Scenario::Lab, _) => lab(&mut world),
            (Scenario::Partition | Scenario::Eclipse, _) => Vec::new(),
        };
        ran.figures.extend(figures);
        ran.world_done(&mut world);
    }
    ran
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_is_the_labs_reach() {
        let times = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(by(&times, 4, 0.5), Some(20.0));
        assert_eq!(by(&times, 4, 0.9), Some(40.0));
        assert_eq!(by(&times, 5, 1.0), None, "one node never had it");
        assert_eq!(percentile(vec![3.0, 1.0, 2.0], 0.9), 3.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    }
}
