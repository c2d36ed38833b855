//! The network simulator (`testing::sim`, issue 30): deterministic runs,
//! propagation at 1,000 nodes, a partition that heals, and the eclipse
//! share with and without the rules of API.md §8 "Groups". Virtual time
//! only: no assertion on how long anything takes on this machine.

use testing::sim::{Config, Outcome, Scenario, run};

fn sim(scenario: Scenario, nodes: usize, seed: u64) -> Outcome {
    run(&Config {
        nodes,
        seed,
        scenario,
        profile: None,
        progress: false,
        cpu_scale: 1.0,
    })
}

#[test]
fn one_seed_gives_one_trace_and_another_seed_another() {
    let a = sim(Scenario::Lab, 16, 7);
    let b = sim(Scenario::Lab, 16, 7);
    let c = sim(Scenario::Lab, 16, 8);
    assert_eq!(a.digest.len(), 64, "a SHA-256 in hex");
    assert_eq!(a.digest, b.digest, "one seed, one trace");
    assert_eq!(a.figures, b.figures);
    assert_ne!(a.digest, c.digest, "another seed, another trace");
    assert!(a.events > 1_000, "{} events", a.events);
}

#[test]
fn a_thousand_nodes_all_get_every_block_and_transaction() {
    let outcome = sim(Scenario::Propagation, 1_000, 1);
    for f in &outcome.figures {
        eprintln!("{:<60} {:>10.1} {}", f.name, f.value, f.unit);
    }
    eprintln!(
        "{} events, {:.0} s virtual, {:.1} s wall",
        outcome.events, outcome.virtual_secs, outcome.wall_secs
    );
    for what in ["a block of 100 txs", "a transaction"] {
        let least = outcome
            .figure(&format!("propagation: nodes reached by {what}, least"))
            .expect("the figure");
        assert_eq!(least, 100.0, "{what} reached every node");
        let half = outcome
            .figure(&format!("propagation: {what} to 50 % of nodes, median"))
            .expect("the figure");
        let all = outcome
            .figure(&format!("propagation: {what} to 100 % of nodes, median"))
            .expect("the figure");
        assert!(
            half > 0.0 && half <= all,
            "{what}: {half} ms, then {all} ms"
        );
    }
}

#[test]
fn a_partition_heals_to_one_tip() {
    let outcome = sim(Scenario::Partition, 200, 3);
    for f in &outcome.figures {
        eprintln!("{:<60} {:>10.1} {}", f.name, f.value, f.unit);
    }
    let side = |n| {
        outcome
            .figure(&format!(
                "partition, apart 120 s: blocks mined apart, side {n}"
            ))
            .expect("the figure")
    };
    assert!(side(1) > 0.0 && side(2) > 0.0, "both halves mined");
    let healed = outcome
        .figure("partition, apart 120 s: all on one tip after healing")
        .expect("the figure");
    assert!(healed >= 0.0, "every node on one tip after healing");
    let reorganised = outcome
        .figure("partition, apart 120 s: blocks reorganised after healing, all nodes")
        .expect("the figure");
    assert!(reorganised > 0.0, "the lighter half reorganised");
}

#[test]
fn groups_keep_more_honest_peers_against_an_eclipse() {
    let outcome = sim(Scenario::Eclipse, 150, 5);
    for f in &outcome.figures {
        eprintln!("{:<70} {:>10.1} {}", f.name, f.value, f.unit);
    }
    let share = |what: &str, with: &str| {
        outcome
            .figure(&format!(
                "eclipse: honest share of a node's peers, {what}, {with}"
            ))
            .expect("the figure")
    };
    let (median_with, median_without) = (
        share("median", "with groups"),
        share("median", "without groups"),
    );
    assert!(
        median_with > median_without,
        "median honest share {median_with} % with groups, {median_without} % without"
    );
    assert!(share("worst node", "with groups") >= share("worst node", "without groups"));
}
