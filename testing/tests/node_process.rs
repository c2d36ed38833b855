//! The real `full-node` binary as a child process: its first line, its
//! data directory lock, its refusals at start, restarts and its miner.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use cinder::consensus::ChainParams;
use cinder::types::Block;
use testing::{
    NodeProcess, get, get_ok, mine_block, post, post_vector_chain, run_full_node_to_exit, solve,
    stranger, units, wait_for,
};

/// The names of the files in `dir`.
fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn first_stdout_line_is_the_url() {
    let node = NodeProcess::start(&[]);
    let port = node
        .first_line
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("first line: {:?}", node.first_line));
    let port: u16 = port
        .parse()
        .unwrap_or_else(|e| panic!("port of {:?}: {e}", node.first_line));
    assert_ne!(port, 0, "-p 0 must print the port actually bound");
    assert_eq!(node.first_line, format!("listening on {}", node.url));
    // The URL works.
    let health = get_ok(&node.url, "/health/");
    assert_eq!(health["status"], "ok", "{health}");
    let chain = get_ok(&node.url, "/blockchain/");
    assert_eq!(chain["name"], "regtest", "{chain}");
    assert_eq!(chain["height"], 0, "{chain}");
}

#[test]
fn second_node_on_the_same_directory_is_refused() {
    let first = NodeProcess::start(&[]);
    post_vector_chain(&first.url);
    let chain = get_ok(&first.url, "/blockchain/");
    let before = file_names(&first.data_dir);
    let data_dir = first.data_dir.to_str().expect("UTF-8 temporary path");

    let second = run_full_node_to_exit(&["-d", data_dir, "-p", "0"]);
    assert_eq!(second.code(), Some(1), "{second}");
    assert!(second.stdout.is_empty(), "it must not listen: {second}");
    let message = second.stderr.trim();
    assert!(
        message.contains("another full-node is already running") && message.contains(data_dir),
        "the error must name the directory and the other node: {second}"
    );
    assert_eq!(message.lines().count(), 1, "one line: {second}");

    // Nothing in the directory was touched; the first node goes on as before.
    assert_eq!(file_names(&first.data_dir), before);
    assert_eq!(get_ok(&first.url, "/blockchain/"), chain);
}

#[test]
fn mine_without_reward_address_exits_1_before_creating_anything() {
    let root = tempfile::tempdir().expect("temporary directory");
    let data_dir = NodeProcess::data_dir_of(root.path());
    let data = data_dir.to_str().expect("UTF-8 temporary path");
    let run = run_full_node_to_exit(&["-d", data, "-p", "0", "--mine"]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(run.stdout.is_empty(), "{run}");
    assert!(
        run.stderr.contains("--mine needs --reward-address"),
        "a clear message: {run}"
    );
    assert!(!data_dir.exists(), "the data directory must not be created");
}

#[test]
fn restart_on_the_same_directory_keeps_the_chain() {
    let node = NodeProcess::start(&[]);
    post_vector_chain(&node.url);
    let chain = get_ok(&node.url, "/blockchain/");
    assert_eq!(chain["height"], 4, "{chain}");
    let tip = get_ok(&node.url, "/blocks/last/");

    let (root, status) = node.stop();
    assert!(
        status.success(),
        "SIGTERM must stop the node cleanly: {status}"
    );

    let node = NodeProcess::start_in(root, &[]);
    assert_eq!(get_ok(&node.url, "/blockchain/"), chain);
    assert_eq!(get_ok(&node.url, "/blocks/last/"), tip);
}

#[test]
fn other_chain_on_a_regtest_directory_is_refused_naming_both() {
    let node = NodeProcess::start(&[]);
    let data_dir = node.data_dir.clone();
    let (_root, status) = node.stop();
    assert!(status.success(), "{status}");

    let data = data_dir.to_str().expect("UTF-8 temporary path");
    let run = run_full_node_to_exit(&["-d", data, "-p", "0", "--chain", "test_blockchain"]);
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(run.stdout.is_empty(), "{run}");
    assert!(
        run.stderr
            .contains("holds the regtest chain, not test_blockchain"),
        "the error must name the chain found and the one asked: {run}"
    );
}

#[test]
fn mining_node_pays_the_reward_address() {
    let reward = stranger(7);
    let reward_text = reward.to_checksummed();
    let node = NodeProcess::start(&[
        "--mine",
        "--reward-address",
        &reward_text,
        "--mine-interval",
        "0",
    ]);
    let height = wait_for(
        "the miner to reach height 3",
        Duration::from_secs(60),
        || {
            let chain = get_ok(&node.url, "/blockchain/");
            let height = chain["height"].as_u64().expect("height");
            (height > 2).then_some(height)
        },
    );
    assert!(height > 2);
    let block = get_ok(&node.url, "/blocks/1/full/");
    assert_eq!(
        block["transactions"][0]["outputs"][0]["address"],
        reward.to_string(),
        "{block}"
    );
    let (status, info) = get(&node.url, &format!("/addresses/{reward}/"));
    assert_eq!(status, 200, "{info}");
    assert!(units(&info["balance"]) > 0, "{info}");
}

/// `full-node` listens for SIGTERM before it prints `listening on …`, so a
/// supervisor that starts a node and stops it at once gets a clean stop
/// (exit 0), not death by the signal's default action.
#[test]
fn sigterm_right_after_the_url_line_stops_cleanly() {
    for _ in 0..5 {
        let node = NodeProcess::start(&[]);
        let status = node.terminate_now();
        assert!(status.success(), "{status}");
    }
}

/// API.md §7: a node killed between storing a heavier side block and the
/// reorganisation it triggers (the fault point aborts the process there)
/// is on the heaviest chain after the restart, not stuck on the lighter one
/// with the heavier block answering `already_known` for ever.
#[test]
fn a_crash_inside_a_reorganisation_heals_at_restart() {
    let node = NodeProcess::start(&[]);
    let a1 = mine_block(&node.url, &stranger(1));
    let (root, _) = node.stop();
    let node = NodeProcess::try_start_with_env(root, &[], &[("CINDER_TEST_FAULT", "before_reorg")])
        .unwrap_or_else(|f| panic!("full-node did not start: {f}"));
    let params = ChainParams::regtest();
    let branch_block = |prev: &Block, timestamp: u64| {
        let height = prev.height + 1;
        solve(
            Block::assemble(
                prev.hash,
                height,
                timestamp,
                params.pow_limit,
                stranger(2),
                params.subsidy(height),
                Vec::new(),
            )
            .expect("no overflow"),
        )
    };
    let b1 = branch_block(&params.genesis(), a1.timestamp + 1);
    let b2 = branch_block(&b1, a1.timestamp + 2);
    let (status, body) = post(
        &node.url,
        "/blocks/",
        &serde_json::to_string(&b1).expect("JSON"),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("side_chain")),
        "{body}"
    );
    // The heavier block: stored, then the process dies before reorganising.
    let _ = reqwest::blocking::Client::new()
        .post(format!("{}/blocks/", node.url))
        .header("content-type", "application/json")
        .body(serde_json::to_string(&b2).expect("JSON"))
        .send();
    let (root, status) = node.wait_for_exit(Duration::from_secs(30));
    assert!(
        !status.success(),
        "the fault point aborted the node: {status}"
    );
    let node = NodeProcess::start_in(root, &[]);
    assert_eq!(
        get_ok(&node.url, "/blocks/last/")["hash"],
        b2.hash.to_string(),
        "on the heaviest chain after the restart"
    );
    // Each block the restart connects is a line (API.md §8 "Progress").
    let log = node.stderr();
    for b in [&b1, &b2] {
        let line = format!(
            "height={} hash={} transactions=1 origin=restart",
            b.height, b.hash
        );
        assert_eq!(log.matches(&line).count(), 1, "{line:?} in:\n{log}");
    }
    let (status, body) = post(
        &node.url,
        "/blocks/",
        &serde_json::to_string(&b2).expect("JSON"),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("already_known"))
    );
    node.stop();
}

/// With its stderr (and stdout) pipe closed by the reader, the node still
/// stops cleanly on SIGTERM (it used to panic in the task that logs the
/// signal, and then ignore every signal).
#[test]
fn a_closed_stderr_does_not_keep_the_node_from_stopping() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut child = Command::new(testing::full_node_bin())
        .args(["--dns", testing::closed_addr()])
        .args(["-p", "0", "--log", "debug", "-d"])
        .arg(dir.path().join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("full-node starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    assert!(first.starts_with("listening on http://"), "{first}");
    let url = first.trim().trim_start_matches("listening on ").to_string();
    // Both pipes closed, as `full-node 2>&1 | head -1` leaves them.
    drop(child.stderr.take());
    // Debug logs are written on every request: let some fail.
    for _ in 0..3 {
        let _ = get(&url, "/health/");
    }
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(sent.is_ok_and(|s| s.success()));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("full-node ignored SIGTERM with its stderr closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "clean stop: {status}");
}

/// `--log` takes a level or target=level directives, not any word; and
/// `--reward-address` without `--mine` is a mistake, not ignored.
#[test]
fn misleading_flags_are_refused() {
    let verbose = run_full_node_to_exit(&["--log", "verbose"]);
    assert_eq!(verbose.code(), Some(1), "{verbose}");
    assert!(verbose.stderr.contains("expected a level"), "{verbose}");
    let reward = run_full_node_to_exit(&[
        "--reward-address",
        "0x628d3ddd3a9413983a0f5ad854fb1c0f8791cd52",
    ]);
    assert_eq!(reward.code(), Some(1), "{reward}");
    assert!(reward.stderr.contains("--mine"), "{reward}");
}

/// An OS error appears once in a message, not once per link of the chain.
#[test]
fn a_taken_port_is_named_once() {
    let first = NodeProcess::start(&[]);
    let port = first.url.rsplit(':').next().expect("a port").to_string();
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("data");
    let second = run_full_node_to_exit(&["-d", data.to_str().expect("utf-8 path"), "-p", &port]);
    assert_eq!(second.code(), Some(1), "{second}");
    assert_eq!(second.stderr.matches("os error").count(), 1, "{second}");
    first.stop();
}

/// At info the log is a story, not a flood: mining flat out gives a
/// summary line now and then, not a line per block, and actix's internals
/// stay quiet; at debug a refused request says why.
#[test]
fn info_logs_summarise_and_debug_tells_the_detail() {
    let reward = "0x628d3ddd3a9413983a0f5ad854fb1c0f8791cd52";
    let miner = NodeProcess::start(&[
        "--dns",
        "127.0.0.1:9",
        "--mine",
        "--reward-address",
        reward,
        "--mine-interval",
        "0",
    ]);
    std::thread::sleep(Duration::from_secs(3));
    let height = get_ok(&miner.url, "/blockchain/")["height"]
        .as_u64()
        .unwrap_or(0);
    let stderr = miner.stderr();
    miner.stop();
    assert!(height >= 10, "mined flat out: height {height}");
    // Start-up (chain, peers, mining, the missing seed once), at most one
    // summary in 3 s, the stop: a handful, whatever the height.
    let lines = stderr.lines().count();
    assert!(
        lines <= 12,
        "{lines} info lines for {height} blocks:\n{stderr}"
    );
    assert!(!stderr.contains("mined a block"), "{stderr}");
    assert!(!stderr.contains("actix_server"), "{stderr}");

    let node = NodeProcess::start(&["--dns", "127.0.0.1:9", "--log", "debug"]);
    let (status, _) = post(&node.url, "/transactions/", "{}");
    assert_eq!(status, 400);
    let detail = wait_for(
        "the refusal in the debug log",
        Duration::from_secs(10),
        || {
            let e = node.stderr();
            e.contains("request refused").then_some(e)
        },
    );
    assert!(detail.contains("malformed"), "{detail}");
    node.stop();
}

/// Posts `blocks` (genesis first, skipped): all but the last as a client,
/// the last as the peer `peer` (`X-Cinder-Node`).
fn post_blocks_last_from(url: &str, blocks: &[Block], peer: &str) {
    let (last, rest) = blocks[1..].split_last().expect("blocks after genesis");
    for block in rest {
        testing::post_block(url, block);
    }
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}/blocks/"))
        .header("content-type", "application/json")
        .header("X-Cinder-Node", peer)
        .body(serde_json::to_string(last).expect("block JSON"))
        .send()
        .expect("POST /blocks/ as a peer");
    assert_eq!(response.status().as_u16(), 200, "block {}", last.height);
}

/// API.md §8 "Progress": a block joining the active chain is one info line
/// (height, hash, transactions, where it came from).
#[test]
fn a_text_log_has_one_info_line_per_block_joining_the_chain() {
    let blocks = testing::chain::blocks(5, 2);
    let node = NodeProcess::start(&["--dns", "127.0.0.1:9"]);
    post_blocks_last_from(&node.url, &blocks, "127.0.0.1:9");
    let stderr = wait_for("a line per block", Duration::from_secs(10), || {
        let e = node.stderr();
        (e.matches("block connected").count() >= 5).then_some(e)
    });
    node.stop();
    for block in &blocks[1..] {
        let hash = format!("hash={}", block.hash);
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(&hash)).collect();
        assert_eq!(lines.len(), 1, "block {}:\n{stderr}", block.height);
        let line = lines[0];
        let origin = if block.height == 5 {
            "origin=peer peer=127.0.0.1:9"
        } else {
            "origin=api"
        };
        for part in [
            " INFO ".to_string(),
            "block connected".to_string(),
            format!("height={}", block.height),
            format!("transactions={}", block.transactions.len()),
            origin.to_string(),
        ] {
            assert!(line.contains(&part), "{part:?} not in {line:?}");
        }
    }
    assert_eq!(stderr.matches("block connected").count(), 5, "{stderr}");
}

/// `--log-format json`: every stderr line is a JSON object, a block's line
/// with the same fields at the top level.
#[test]
fn a_json_log_has_one_object_per_block_joining_the_chain() {
    let blocks = testing::chain::blocks(5, 2);
    let node = NodeProcess::start(&["--dns", "127.0.0.1:9", "--log-format", "json"]);
    post_blocks_last_from(&node.url, &blocks, "127.0.0.1:9");
    let stderr = wait_for("a line per block", Duration::from_secs(10), || {
        let e = node.stderr();
        (e.matches("\"block connected\"").count() >= 5).then_some(e)
    });
    node.stop();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["message"].is_string()),
        "{stderr}"
    );
    let connected: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["message"] == "block connected")
        .collect();
    assert_eq!(connected.len(), 5, "{stderr}");
    for (line, block) in connected.iter().zip(&blocks[1..]) {
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["height"], block.height, "{line}");
        assert_eq!(line["hash"], block.hash.to_string(), "{line}");
        assert_eq!(line["transactions"], block.transactions.len(), "{line}");
        if block.height == 5 {
            assert_eq!(line["origin"], "peer", "{line}");
            assert_eq!(line["peer"], "127.0.0.1:9", "{line}");
        } else {
            assert_eq!(line["origin"], "api", "{line}");
            assert!(line.get("peer").is_none(), "{line}");
        }
    }

    // The seed takes the flag too (its start and stop lines); other values
    // are refused.
    let seed = testing::SeedProcess::start(&["--log-format", "json"]);
    let seed_stderr = seed.stderr_path.clone();
    let (_root, status) = seed.stop();
    assert!(status.success(), "{status}");
    let stderr = std::fs::read_to_string(&seed_stderr).expect("the seed's stderr");
    let messages: Vec<String> = stderr
        .lines()
        .map(|l| {
            let line: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}"));
            line["message"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert!(messages.iter().any(|m| m == "stopped"), "{stderr}");
    let yaml = run_full_node_to_exit(&["--log-format", "yaml"]);
    assert_eq!(yaml.code(), Some(2), "{yaml}");
    assert!(yaml.stderr.contains("json"), "{yaml}");
}

#[test]
fn a_data_directory_holding_another_file_fails_in_one_clear_line() {
    let root = tempfile::tempdir().expect("temporary directory");
    let dir = root.path().join("node");
    std::fs::create_dir_all(&dir).expect("data directory");
    std::fs::write(
        dir.join("chain.sqlite"),
        b"not a database, just some text.\n",
    )
    .expect("write");
    let dir = dir.to_string_lossy().to_string();
    let finished = testing::run_full_node_to_exit(&["-d", &dir, "-p", "0"]);
    assert_eq!(finished.code(), Some(1), "{}", finished.stderr);
    let last = finished
        .stderr
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(last.contains("file is not a database"), "{last}");
    assert_eq!(
        last.matches("not a database").count(),
        1,
        "said more than once: {last}"
    );
    assert!(!last.contains("Error code"), "{last}");
}
