//! The real `wallet` binary against a real regtest `full-node` holding the
//! vector chain (docs/vectors/chain_regtest.json, blocks 0..=4), whose
//! coins all belong to the "abandon … about" mnemonic of keys.json.

use cinder::types::{Address, Amount};
use serde_json::Value;
use tempfile::TempDir;
use testing::{
    Finished, NodeProcess, SeedProcess, closed_addr, get_ok, mine_block, post_vector_chain,
    run_wallet, stranger, units, vector_addresses, vector_mnemonic, wait_for,
};

/// Regtest's coinbase maturity (PROTOCOL.md; `ChainParams::regtest()`).
const COINBASE_MATURITY: u64 = 2;
/// The tip of the vector chain.
const TIP: u64 = 4;

/// A node holding the vector chain and a wallet restored from its mnemonic.
struct Setup {
    node: NodeProcess,
    _dir: TempDir,
    wallet: String,
}

impl Setup {
    fn new() -> Setup {
        let node = NodeProcess::start(&[]);
        post_vector_chain(&node.url);
        let dir = tempfile::tempdir().expect("temporary directory");
        let wallet = dir
            .path()
            .join("wallet.json")
            .to_str()
            .expect("UTF-8 temporary path")
            .to_string();
        let setup = Setup {
            node,
            _dir: dir,
            wallet,
        };
        let restore = setup.run(
            &["--json", "restore"],
            Some(&format!("{}\n\n", vector_mnemonic())),
        );
        restore.expect_success("wallet restore");
        let report = json_line(&restore);
        // Receive 0, 1, 2 and change 0 hold coins of the vector chain; the
        // next receive address is index 3.
        assert_eq!(report["discovered"], true, "{restore}");
        assert_eq!(report["used_addresses"], 4, "{restore}");
        assert_eq!(report["path"], "m/44'/1'/0'/0/3", "{restore}");
        setup
    }

    /// `wallet -w WALLET --node URL args…`.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Finished {
        let mut all = vec!["-w", self.wallet.as_str(), "--node", self.node.url.as_str()];
        all.extend_from_slice(args);
        run_wallet(&all, stdin, &[])
    }

    /// `wallet --json balance`: (confirmed, immature, unconfirmed) in units.
    fn balance(&self) -> (i64, i64, i64) {
        let run = self.run(&["--json", "balance"], None);
        run.expect_success("wallet balance");
        let b = json_line(&run);
        (
            units(&b["confirmed"]),
            units(&b["immature"]),
            units(&b["unconfirmed"]),
        )
    }

    /// A mempool transaction by hash.
    fn mempool_transaction(&self, hash: &str) -> Value {
        get_ok(&self.node.url, &format!("/transactions/{hash}/"))
    }

    fn mempool_count(&self) -> u64 {
        get_ok(&self.node.url, "/transactions/")["transaction_count"]
            .as_u64()
            .expect("transaction_count")
    }
}

/// The one line of JSON a `--json` command printed.
fn json_line(run: &Finished) -> Value {
    assert_eq!(run.stdout.lines().count(), 1, "one JSON line: {run}");
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {run}"))
}

/// The one line of a failed command: exit 1, nothing on stdout.
fn one_line_error(run: &Finished) -> &str {
    assert_eq!(run.code(), Some(1), "{run}");
    assert!(run.stdout.is_empty(), "{run}");
    let message = run.stderr.trim_end();
    assert_eq!(message.lines().count(), 1, "one line: {run}");
    message
}

fn coins(units: i64) -> String {
    Amount::from_units(u64::try_from(units).expect("a positive amount")).to_string()
}

/// The wallet's (spendable, immature) funds at the vector chain's tip, from
/// the node's `/utxo/{a}/` answers for the four vector addresses: a
/// coinbase of height c is spendable in the next block when
/// `(tip + 1) - c >= maturity`.
fn funds_from_utxo(url: &str) -> (i64, i64) {
    let (mut spendable, mut immature) = (0, 0);
    for address in vector_addresses() {
        let utxo = get_ok(url, &format!("/utxo/{address}/"));
        for output in utxo["utxo_outputs"].as_array().expect("utxo_outputs") {
            let height = output["block_height"].as_u64().expect("confirmed height");
            let coinbase = output["coinbase"].as_bool().expect("coinbase flag");
            if coinbase && (TIP + 1) - height < COINBASE_MATURITY {
                immature += units(&output["value"]);
            } else {
                spendable += units(&output["value"]);
            }
        }
    }
    (spendable, immature)
}

/// The value of `transaction`'s inputs, and of its outputs to `to`.
fn input_total(transaction: &Value) -> i64 {
    transaction["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|i| units(&i["output_value"]))
        .sum()
}

fn spends(transaction: &Value, hash: &str) -> bool {
    transaction["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .any(|i| i["transaction_hash"] == hash)
}

/// The first output of `transaction` paying one of `ours` (its change).
fn change_output(transaction: &Value, ours: &[Address]) -> Option<i64> {
    transaction["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .find(|o| ours.iter().any(|a| o["address"] == a.to_string()))
        .map(|o| units(&o["value"]))
}

#[test]
fn restore_balance_send_twice_mine_and_history() {
    let s = Setup::new();
    let url = s.node.url.clone();
    let ours = vector_addresses();

    // Balance at tip 4. Read from chain_regtest.json, the unspent outputs are:
    //   receive 0: 0.6995 (change of block 4's second transaction)
    //   receive 1: 1.502  (coinbase of block 3: (4+1)-3 = 2 >= 2, mature)
    //   receive 2: 0.2 and 0.098 (block 3), 1.5005 (coinbase of block 4:
    //              (4+1)-4 = 1 < 2, immature)
    //   change 0:  2      (block 4)
    // so 4.4995 confirmed and spendable, 1.5005 immature: 6 in all, the
    // four subsidies of 1.5 (the fees paid went back into coinbases).
    let (spendable, immature) = funds_from_utxo(&url);
    assert_eq!(
        (spendable, immature),
        (449_950_000, 150_050_000),
        "the node's unspent outputs differ from the reading of chain_regtest.json"
    );
    assert_eq!(s.balance(), (spendable, immature, 0));

    // First payment: text output is the hash alone, a note on stderr.
    let payee = stranger(2);
    let payee_text = payee.to_checksummed();
    let send1 = s.run(&["send", "--to", &payee_text, "--amount", "1.2"], None);
    send1.expect_success("wallet send 1.2");
    let hash1 = send1.stdout.trim().to_string();
    assert_eq!(send1.stdout.lines().count(), 1, "{send1}");
    assert!(
        hash1.len() == 64 && hash1.bytes().all(|b| b.is_ascii_hexdigit()),
        "{send1}"
    );
    assert!(
        send1
            .stderr
            .starts_with(&format!("sent 1.2 to {payee_text}, fee ")),
        "{send1}"
    );
    let status = get_ok(&url, &format!("/transactions/{hash1}/status/"));
    assert_eq!(status["status"], "mempool", "{status}");
    let tx1 = s.mempool_transaction(&hash1);
    let amount1 = 120_000_000;
    let fee1 = units(&tx1["fee"]);
    assert!(fee1 > 0, "{tx1}");
    let change1 = change_output(&tx1, &ours).expect("the first payment has change");

    // Second payment at once, for more than the confirmed coins left: it
    // must spend the first payment's unconfirmed change.
    let confirmed_left = spendable - input_total(&tx1);
    let amount2 = confirmed_left + 10_000_000;
    assert!(change1 > 20_000_000, "change {change1} too small: {tx1}");
    let amount2_text = coins(amount2);
    let send2 = s.run(
        &[
            "--json",
            "send",
            "--to",
            &payee_text,
            "--amount",
            &amount2_text,
        ],
        None,
    );
    send2.expect_success("second wallet send");
    let report2 = json_line(&send2);
    let hash2 = report2["hash"].as_str().expect("hash").to_string();
    let tx2 = s.mempool_transaction(&hash2);
    assert!(
        spends(&tx2, &hash1),
        "must spend the unconfirmed change: {tx2}"
    );
    let fee2 = units(&tx2["fee"]);
    assert_eq!(units(&report2["fee"]), fee2, "{send2}");
    let status = get_ok(&url, &format!("/transactions/{hash2}/status/"));
    assert_eq!(status["status"], "mempool", "{status}");

    // Waiting: confirmed unchanged, the mempool's effect as unconfirmed.
    let paid = amount1 + fee1 + amount2 + fee2;
    assert_eq!(s.balance(), (spendable, immature, -paid));
    let payee_info = get_ok(&url, &format!("/addresses/{payee}/"));
    assert_eq!(units(&payee_info["balance"]), 0, "{payee_info}");
    assert_eq!(
        units(&payee_info["unconfirmed_balance"]),
        amount1 + amount2,
        "{payee_info}"
    );

    // A block (paying someone else) confirms both.
    let block = mine_block(&url, &stranger(3));
    assert_eq!(block.height, TIP + 1);
    let in_block: Vec<String> = block
        .transactions
        .iter()
        .map(|t| t.hash.to_string())
        .collect();
    assert!(
        in_block.contains(&hash1) && in_block.contains(&hash2),
        "{in_block:?}"
    );
    for hash in [&hash1, &hash2] {
        let status = get_ok(&url, &format!("/transactions/{hash}/status/"));
        assert_eq!(status["status"], "confirmed", "{status}");
        assert_eq!(status["block_height"], TIP + 1, "{status}");
        assert_eq!(status["confirmations"], 1, "{status}");
    }

    // At tip 5 the coinbase of block 4 is mature too ((5+1)-4 = 2): the
    // wallet holds what it held, immature included, less what it paid.
    assert_eq!(s.balance(), (spendable + immature - paid, 0, 0));
    let payee_info = get_ok(&url, &format!("/addresses/{payee}/"));
    assert_eq!(
        units(&payee_info["balance"]),
        amount1 + amount2,
        "{payee_info}"
    );
    assert_eq!(
        units(&payee_info["unconfirmed_balance"]),
        amount1 + amount2,
        "{payee_info}"
    );

    // History: both payments, each with its whole cost, in block 5.
    let run = s.run(&["--json", "history"], None);
    run.expect_success("wallet history");
    let history = json_line(&run);
    let items = history.as_array().expect("history array");
    for (hash, cost) in [(&hash1, amount1 + fee1), (&hash2, amount2 + fee2)] {
        let item = items
            .iter()
            .find(|i| i["hash"] == hash.as_str())
            .unwrap_or_else(|| panic!("{hash} not in history: {run}"));
        assert_eq!(units(&item["delta"]), -cost, "{item}");
        assert_eq!(item["confirmations"], 1, "{item}");
        assert_eq!(item["block_height"], TIP + 1, "{item}");
    }
    assert!(
        items
            .iter()
            .all(|i| i["confirmations"].as_u64().is_some_and(|c| c >= 1)),
        "nothing is left in the mempool: {run}"
    );
    assert_eq!(items[0]["block_height"], TIP + 1, "newest first: {run}");
}

#[test]
fn wrong_checksum_recipient_is_refused() {
    let s = Setup::new();
    let good = stranger(2).to_checksummed();
    // Flip the case of the first letter: a checksum that no longer holds.
    let i = good[2..]
        .find(|c: char| c.is_ascii_alphabetic())
        .expect("the address has a letter")
        + 2;
    let mut typo = good.clone();
    let flipped = if good.as_bytes()[i].is_ascii_lowercase() {
        good[i..=i].to_uppercase()
    } else {
        good[i..=i].to_lowercase()
    };
    typo.replace_range(i..=i, &flipped);

    let run = s.run(&["send", "--to", &typo, "--amount", "1"], None);
    let message = one_line_error(&run);
    assert!(message.contains("checksum"), "{run}");
    assert_eq!(s.mempool_count(), 0, "nothing may be posted");
}

#[test]
fn insufficient_funds_says_what_is_spendable() {
    let s = Setup::new();
    let to = stranger(2).to_checksummed();
    let run = s.run(&["send", "--to", &to, "--amount", "100"], None);
    let message = one_line_error(&run);
    // The numbers of the vector chain at tip 4 (see the balance test).
    assert!(
        message.contains("only 4.4995 is spendable")
            && message.contains("1.5005 more is immature coinbase"),
        "{run}"
    );
    assert_eq!(s.mempool_count(), 0, "nothing may be posted");
}

#[test]
fn unreachable_node_is_named() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let wallet = dir.path().join("wallet.json");
    let wallet = wallet.to_str().expect("UTF-8 temporary path");
    let node = "http://127.0.0.1:1";
    // Restoring offline writes the wallet and says discovery is postponed.
    let restore = run_wallet(
        &["-w", wallet, "--node", node, "restore"],
        Some(&format!("{}\n\n", vector_mnemonic())),
        &[],
    );
    restore.expect_success("offline restore");
    assert!(restore.stdout.contains("no node answered"), "{restore}");

    let run = run_wallet(&["-w", wallet, "--node", node, "balance"], None, &[]);
    let message = one_line_error(&run);
    assert!(message.contains(node), "the node must be named: {run}");
}

/// Keeps the port a stopped node listened on closed for the rest of the
/// test: a socket bound there that never listens (another test's node on
/// port 0 could otherwise be given it, and answer in the stopped one's name).
fn hold_closed(url: &str) -> tokio::net::TcpSocket {
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .expect("a node URL is http://ip:port");
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    // The stopped node's closed connections may linger in TIME_WAIT.
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(addr)
        .unwrap_or_else(|e| panic!("cannot hold {addr}: {e}"));
    socket
}

/// The seed lists a node that just stopped (it drops it only at its next
/// check, here an hour away) beside a live one: `wallet balance` passes over
/// the stopped node, says at `--log debug` which node answered, and when
/// none does, names the seed and every node it tried.
#[test]
fn a_stopped_node_the_seed_still_lists_is_passed_over() {
    let seed = SeedProcess::start(&["-u", "3600"]);
    let dns = seed.addr();
    let args = ["--dns", dns.as_str(), "--update-interval", "3600"];
    let live = NodeProcess::start(&args);
    let stopped = NodeProcess::start(&args);
    post_vector_chain(&live.url);
    wait_for(
        "both nodes listed by the seed",
        std::time::Duration::from_secs(30),
        || {
            let listed = get_ok(&seed.url, "/nodes/");
            (listed.as_array().map_or(0, Vec::len) == 2).then_some(())
        },
    );
    let stopped_url = stopped.url.clone();
    let stopped_port: u64 = stopped.port().parse().expect("a port number");
    let (_stopped_root, _) = stopped.stop();
    let _held = hold_closed(&stopped_url);
    let listed = get_ok(&seed.url, "/nodes/");
    assert!(
        listed.as_array().is_some_and(|nodes| nodes
            .iter()
            .any(|n| n["port"].as_u64() == Some(stopped_port))),
        "the seed still lists the stopped node: {listed}"
    );

    let dir = tempfile::tempdir().expect("temporary directory");
    let wallet = dir.path().join("wallet.json");
    let wallet = wallet.to_str().expect("UTF-8 temporary path");
    let offline = format!("http://{}", closed_addr());
    run_wallet(
        &["-w", wallet, "--node", &offline, "restore"],
        Some(&format!("{}\n\n", vector_mnemonic())),
        &[],
    )
    .expect_success("offline restore");

    // The seed's list comes shuffled: the stopped node is tried first in
    // half the runs (all 12 picking the live one first: 1 in 4096).
    let mut passed_over = false;
    for _ in 0..12 {
        let run = run_wallet(
            &[
                "-w", wallet, "--dns", &dns, "--log", "debug", "--json", "balance",
            ],
            None,
            &[],
        );
        run.expect_success("wallet balance through the seed");
        let balance = json_line(&run);
        assert_eq!(units(&balance["confirmed"]), 449_950_000, "{run}");
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains("answered") && l.contains(&live.url)),
            "the debug log names the node that answered: {run}"
        );
        if run
            .stderr
            .lines()
            .any(|l| l.contains("did not answer") && l.contains(&stopped_url))
        {
            passed_over = true;
            break;
        }
    }
    assert!(passed_over, "the stopped node was never tried first");

    // No node answers: the error names every node tried and the seed.
    let live_url = live.url.clone();
    let (_live_root, _) = live.stop();
    let _held_too = hold_closed(&live_url);
    let run = run_wallet(&["-w", wallet, "--dns", &dns, "balance"], None, &[]);
    let message = one_line_error(&run);
    assert!(
        message.starts_with("error: no node answered: tried "),
        "{run}"
    );
    for url in [&stopped_url, &live_url, &offline] {
        assert!(message.contains(url.as_str()), "{url} must be named: {run}");
    }
    assert!(
        message.ends_with(&format!("; seed {dns} listed 2 nodes")),
        "{run}"
    );
}
