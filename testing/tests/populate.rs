//! The real `testing` binary (the populate command) against a real regtest
//! `full-node`, and through a real `dns-server`.

use std::path::Path;

use serde_json::Value;
use testing::{
    Finished, NodeProcess, SeedProcess, closed_addr, get_ok, run_testing, run_testing_with_env,
    run_wallet, units, wait_for,
};

fn path(dir: &Path) -> &str {
    dir.to_str().expect("UTF-8 temporary path")
}

/// Transactions besides coinbases in blocks 1..=tip, from `/blocks/{h}/`.
fn payments_confirmed(url: &str) -> u64 {
    let height = get_ok(url, "/blockchain/")["height"]
        .as_u64()
        .expect("height");
    (1..=height)
        .map(|h| {
            let block = get_ok(url, &format!("/blocks/{h}/"));
            let count = block["transaction_count"]
                .as_u64()
                .unwrap_or_else(|| panic!("block {h} has a transaction_count: {block}"));
            count - 1
        })
        .sum()
}

fn height(url: &str) -> u64 {
    get_ok(url, "/blockchain/")["height"]
        .as_u64()
        .expect("height")
}

fn populate(url: &str, dir: &Path, transactions: &str) -> Finished {
    let run = run_testing(&[
        "--node",
        url,
        "-d",
        path(dir),
        "--transactions",
        transactions,
    ]);
    run.expect_success("testing");
    run
}

#[test]
fn populate_mines_pays_confirms_and_adds_on_a_second_run() {
    // No seed listens here: the node runs alone.
    let node = NodeProcess::start(&["--dns", closed_addr()]);
    let dir = tempfile::tempdir().expect("temporary directory");

    let first = populate(&node.url, dir.path(), "5");
    assert!(first.stdout.contains("created"), "{first}");
    let after_first = height(&node.url);
    assert!(after_first >= 3, "height {after_first}: {first}");
    let paid_first = payments_confirmed(&node.url);
    assert!(paid_first >= 5, "{paid_first} payments confirmed: {first}");
    let info = get_ok(&node.url, "/blockchain/");
    assert_eq!(info["mempool_size"], 0, "{info}");
    let rich = info["rich_list"].as_array().expect("rich list");
    assert!(!rich.is_empty(), "{info}");
    // Several addresses: the wallet's own (mined to, paid) and fresh ones.
    assert!(info["total_addresses"].as_u64() >= Some(3), "{info}");
    // The report names the chain it left.
    assert!(
        first
            .stdout
            .contains(&format!("height:             {after_first}")),
        "{first}"
    );
    assert!(first.stdout.contains("rich list:"), "{first}");

    // Again: the same wallet, more blocks and payments on the same chain.
    let second = populate(&node.url, dir.path(), "4");
    assert!(second.stdout.contains("opened"), "{second}");
    assert!(height(&node.url) > after_first, "{second}");
    let paid = payments_confirmed(&node.url);
    assert!(
        paid >= paid_first + 4,
        "{paid} after {paid_first}: {second}"
    );

    // The `wallet` command opens the test wallet with the same password.
    let wallet = dir.path().join("wallet.json");
    let balance = run_wallet(
        &[
            "-w",
            path(&wallet),
            "--node",
            &node.url,
            "--json",
            "balance",
        ],
        None,
        &[],
    );
    balance.expect_success("wallet balance");
    let balance: Value = serde_json::from_str(balance.stdout.trim()).expect("balance JSON");
    assert!(units(&balance["confirmed"]) > 0, "{balance}");

    // --mine-only mines that many blocks and nothing else.
    let before = height(&node.url);
    let mined = run_testing(&[
        "--node",
        &node.url,
        "-d",
        path(dir.path()),
        "--mine-only",
        "2",
    ]);
    mined.expect_success("testing --mine-only");
    assert_eq!(height(&node.url), before + 2, "{mined}");
}

#[test]
fn populate_finds_its_node_through_the_seed() {
    let seed = SeedProcess::start(&["-u", "1"]);
    let dns = seed.addr();
    let node = NodeProcess::start(&["--dns", &dns, "--update-interval", "1"]);
    wait_for(
        "the node to register with the seed",
        std::time::Duration::from_secs(30),
        || {
            let (status, _) = testing::get(&seed.url, "/nodes/random/");
            (status == 200).then_some(())
        },
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let run = run_testing(&["--dns", &dns, "-d", path(dir.path()), "--transactions", "1"]);
    run.expect_success("testing through the seed");
    assert!(run.stdout.contains(&node.url), "{run}");
    assert!(payments_confirmed(&node.url) >= 1, "{run}");
}

/// The seed is down: `testing` falls back on the default node, as the
/// wallet does (here `CINDER_DEFAULT_NODE`, standing for 127.0.0.1:50000).
#[test]
fn without_the_seed_it_fills_the_default_node() {
    let node = NodeProcess::start(&[]);
    let dir = tempfile::tempdir().expect("temporary directory");
    let run = run_testing_with_env(
        &[
            "--dns",
            closed_addr(),
            "-d",
            path(dir.path()),
            "--mine-only",
            "1",
            "--log",
            "debug",
        ],
        &[("CINDER_DEFAULT_NODE", &node.url)],
    );
    run.expect_success("testing with the seed down");
    assert!(
        run.stdout.starts_with(&format!("node {}:", node.url)),
        "{run}"
    );
    assert_eq!(height(&node.url), 1, "{run}");
    // --log debug names the node that answered.
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("answered") && l.contains(&node.url)),
        "{run}"
    );
}

#[test]
fn without_a_node_it_fails_in_one_line() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("http://{}", closed_addr());
    let run = run_testing(&["--node", &url, "-d", path(dir.path())]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(run.stderr.starts_with("error: no node answers at"), "{run}");
    assert!(run.stderr.contains(&url), "{run}");
    // Nothing was written: the wallet is made only once a node answered.
    assert!(!dir.path().join("wallet.json").exists());

    // No seed, and no node at the default address (a closed port here).
    let dns = closed_addr();
    let run = run_testing(&["--dns", dns, "-d", path(dir.path())]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(
        run.stderr.starts_with(&format!(
            "error: no node answered: tried {url} (unreachable); seed {dns} did not answer (unreachable)"
        )),
        "{run}"
    );
    assert!(!dir.path().join("wallet.json").exists());
}
