//! The explorer (API.md §9) of the real `full-node` holding a populated
//! chain (payments spending earlier outputs, many addresses, a mempool):
//! every page's status, labels and values beside the JSON API's answers,
//! the CSV, the event stream; then the same pages in a real browser
//! (Debian's `chromium` driven by Playwright for Python,
//! `explorer_browser.py`): navigation, search, error pages, live updates
//! and their reconnect after a restart, no JavaScript, a phone's width.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cinder::types::{Address, Amount, Block, Transaction};
use serde_json::Value;
use testing::chain::{self, Coin};
use testing::{NodeProcess, get_ok, post, solve};

/// A node on a built chain with two payments waiting in its mempool.
struct Populated {
    node: NodeProcess,
    blocks: Vec<Block>,
    /// The owner's unspent coins at the tip (two of them spent by `pending`).
    coins: Vec<Coin>,
    /// In the mempool: the cheaper first.
    pending: Vec<Transaction>,
}

fn populated() -> Populated {
    let root = tempfile::tempdir().expect("temporary directory");
    let (blocks, coins) = chain::blocks_with_coins(12, 4);
    chain::write_into(&NodeProcess::data_dir_of(root.path()), &blocks);
    let node = NodeProcess::start_in(root, &[]);
    let owner = chain::owner().address();
    let now = cinder::node::unix_now();
    let mut pending = Vec::new();
    for (coin, fee) in coins.iter().take(2).zip([400u64, 4_000]) {
        let pay = 25_000;
        let tx = chain::spend(
            *coin,
            &[(chain::payee(150), pay), (owner, coin.value - pay - fee)],
            now,
        );
        let (status, body) = post(
            &node.url,
            "/transactions/",
            &serde_json::to_string(&tx).expect("a transaction serialises"),
        );
        assert_eq!(status, 200, "a mempool payment: {body}");
        pending.push(tx);
    }
    Populated {
        node,
        blocks,
        coins,
        pending,
    }
}

/// Mines the node's template paying `to` and posts it. (Parsed from the
/// answer's text: amounts as written, whatever fees the template holds.)
fn mine_block(url: &str, to: &Address) -> Block {
    let text = client()
        .get(format!("{url}/mining/template/?address={to}"))
        .send()
        .and_then(|r| r.text())
        .expect("a template");
    let block: Block = serde_json::from_str(&text).expect("the template is a block");
    let block = solve(block);
    let (status, body) = post(
        url,
        "/blocks/",
        &serde_json::to_string(&block).expect("a block serialises"),
    );
    assert_eq!(status, 200, "the mined block: {body}");
    block
}

/// A client for event streams: no total timeout (it would cut a stream
/// read past it); [`next_event_data`] gives each event its deadline.
fn stream_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(None)
        .build()
        .expect("an HTTP client")
}

/// The lines of an open event stream, read on a thread of their own.
fn stream_lines(mut events: reqwest::blocking::Response) -> mpsc::Receiver<String> {
    let (tx_lines, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(&mut events).lines() {
            let Ok(line) = line else { break };
            if tx_lines.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// The data of the next `event` on the stream, within 10 s.
fn next_event_data(lines: &mpsc::Receiver<String>, event: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut kind = String::new();
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no {event} event within 10 s"));
        if let Some(k) = line.strip_prefix("event: ") {
            kind = k.to_string();
        } else if let Some(data) = line.strip_prefix("data: ")
            && kind == event
        {
            return serde_json::from_str(data).expect("JSON data");
        }
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// `GET url+path`: status, content type and body text.
fn page(url: &str, path: &str) -> (u16, String, String) {
    let response = client()
        .get(format!("{url}{path}"))
        .send()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, kind, response.text().expect("a body"))
}

/// A 200 HTML page.
fn html(url: &str, path: &str) -> String {
    let (status, kind, body) = page(url, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    assert!(kind.starts_with("text/html"), "GET {path}: {kind}");
    body
}

/// `text` without its tags, whitespace collapsed.
fn text_of(fragment: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in fragment.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The value next to `label` in the page's facts (`<dt>label</dt><dd>…</dd>`).
fn fact(body: &str, label: &str) -> String {
    let dt = format!("<dt>{label}</dt>");
    let at = body
        .find(&dt)
        .unwrap_or_else(|| panic!("no label {label:?} in the page"));
    let rest = &body[at + dt.len()..];
    let end = rest.find("</dd>").expect("the value ends");
    text_of(&rest[..end])
}

/// The JSON number as written (amounts are compared as text, never floats).
fn number(v: &Value) -> String {
    v.to_string()
}

/// The rows of the table with `id`, each as its cells' text.
fn rows(body: &str, id: &str) -> Vec<Vec<String>> {
    let start = body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id}"));
    let table = &body[start..];
    let table = &table[..table.find("</table>").expect("the table ends")];
    let tbody = &table[table.find("<tbody>").expect("a body")..];
    tbody
        .split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| text_of(&format!("<td{}", cell.split("</td>").next().unwrap_or(""))))
                .collect()
        })
        .collect()
}

/// `address`'s confirmed history as the JSON API gives it, newest first,
/// with the balance after each entry (in units).
fn history_with_balances(url: &str, address: &Address) -> Vec<(Value, i64)> {
    let info = get_ok(url, &format!("/addresses/{address}/"));
    let history = get_ok(
        url,
        &format!("/addresses/{address}/transactions/?limit=1000"),
    );
    let history = history.as_array().expect("an array");
    assert!(history.len() < 1000, "the whole history in one answer");
    let mut balance = Amount::parse(&number(&info["balance"]))
        .expect("an amount")
        .units() as i64;
    let mut out = Vec::new();
    for entry in history {
        let delta = cinder::types::SignedAmount::parse(&number(&entry["delta"]))
            .expect("a delta")
            .units();
        out.push((entry.clone(), balance));
        balance -= delta;
    }
    assert_eq!(balance, 0, "the history adds up to the balance");
    out
}

/// Walks `address`'s history pages through their `?before=` links: every
/// entry once, newest first, each with its date and the balance after it.
/// Gives the number of pages.
fn check_history_pages(url: &str, address: &Address) -> usize {
    let expected = history_with_balances(url, address);
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut path = format!("/explorer/addresses/{address}/");
    loop {
        let a = html(url, &path);
        pages += 1;
        let rows = rows(&a, "history");
        assert!(rows.len() <= 50, "50 rows a page: {path}");
        for row in rows {
            assert!(row[0].ends_with(" UTC"), "{row:?}");
            seen.push((row[2].clone(), row[4].clone()));
        }
        let Some(at) = a.find("?before=") else { break };
        let before: String = a[at + 8..].chars().take(64).collect();
        path = format!("/explorer/addresses/{address}/?before={before}");
    }
    assert_eq!(seen.len(), expected.len(), "every entry, page after page");
    for ((hash, shown), (entry, want)) in seen.iter().zip(&expected) {
        assert_eq!(hash, entry["hash"].as_str().unwrap());
        assert_eq!(
            shown,
            &cinder::types::SignedAmount::from_units(*want).to_string(),
            "the balance after {hash}"
        );
    }
    pages
}

/// `address`'s CSV: the header, then every entry oldest first with the
/// balance after it on every row. Gives the number of rows.
fn check_csv(url: &str, address: &Address) -> usize {
    let expected = history_with_balances(url, address);
    let (status, kind, csv) = page(url, &format!("/explorer/addresses/{address}/history.csv"));
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("block_height,timestamp,transaction_hash,delta,balance")
    );
    let csv_rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(csv_rows.len(), expected.len());
    for (n, (row, (entry, balance))) in csv_rows.iter().zip(expected.iter().rev()).enumerate() {
        assert_eq!(row[0], entry["block_height"].to_string(), "row {n}");
        assert_eq!(row[1], entry["timestamp"].to_string(), "row {n}");
        assert_eq!(row[2], entry["hash"].as_str().unwrap(), "row {n}");
        assert_eq!(row[3], number(&entry["delta"]), "row {n}");
        assert_eq!(
            row[4],
            cinder::types::SignedAmount::from_units(*balance).to_string(),
            "the balance on row {n}"
        );
    }
    csv_rows.len()
}

#[test]
fn every_page_shows_the_json_apis_values() {
    let p = populated();
    let url = &p.node.url;
    let chain_info = get_ok(url, "/blockchain/");

    // Home.
    let home = html(url, "/explorer/");
    assert_eq!(fact(&home, "Height"), chain_info["height"].to_string());
    assert_eq!(
        fact(&home, "Best hash"),
        chain_info["best_hash"].as_str().unwrap()
    );
    assert_eq!(
        fact(&home, "Target"),
        chain_info["target"].as_str().unwrap()
    );
    assert_eq!(fact(&home, "Mempool"), "2");
    assert_eq!(chain_info["mempool_size"], 2);
    let latest = rows(&home, "latest-blocks");
    assert_eq!(latest[0][0], chain_info["height"].to_string());
    assert_eq!(latest[0][1], chain_info["best_hash"].as_str().unwrap());
    assert!(latest[0][2].ends_with(" UTC"), "{:?}", latest[0]);
    let newest = rows(&home, "latest-transactions");
    assert_eq!(newest.len(), 2);
    assert_eq!(newest[0][0], p.pending[1].hash.to_string(), "newest first");
    // Both trailing-slash forms.
    assert_eq!(page(url, "/explorer").0, 200);

    // A block by height and by hash.
    let tip = p.blocks.last().expect("a tip");
    let height = tip.height - 2;
    let block = get_ok(url, &format!("/blocks/{height}/"));
    for path in [
        format!("/explorer/blocks/{height}/"),
        format!("/explorer/blocks/{}/", block["hash"].as_str().unwrap()),
    ] {
        let b = html(url, &path);
        assert_eq!(fact(&b, "Height"), height.to_string());
        assert_eq!(fact(&b, "Hash"), block["hash"].as_str().unwrap());
        assert_eq!(fact(&b, "Confirmations"), "3");
        assert_eq!(fact(&b, "Fee"), number(&block["fees"]));
        assert_eq!(fact(&b, "Reward"), number(&block["reward"]));
        assert_eq!(fact(&b, "Previous"), block["prev_hash"].as_str().unwrap());
        assert_eq!(
            fact(&b, "Next"),
            p.blocks[height as usize + 1].hash.to_string()
        );
        assert_eq!(fact(&b, "Target"), block["target"].as_str().unwrap());
        let txs = rows(&b, "block-transactions");
        let headers = block["transaction_headers"].as_array().unwrap();
        assert_eq!(txs.len(), headers.len());
        for (row, header) in txs.iter().zip(headers) {
            assert!(row[1].starts_with(header["hash"].as_str().unwrap()));
            assert_eq!(row[2], number(&header["value"]));
            assert_eq!(row[3], number(&header["fee"]));
        }
    }

    // A confirmed payment: fee, confirmations, the output it spends, and
    // the spender of its own outputs.
    let paid_in = &p.blocks[height as usize];
    let tx = &paid_in.transactions[1];
    let status = get_ok(url, &format!("/transactions/{}/status/", tx.hash));
    let t = html(url, &format!("/explorer/transactions/{}/", tx.hash));
    assert_eq!(fact(&t, "Fee"), tx.fee.to_string());
    assert_eq!(
        fact(&t, "Confirmations"),
        status["confirmations"].to_string()
    );
    assert_eq!(fact(&t, "Value"), tx.value.to_string());
    let inputs = rows(&t, "inputs");
    let spent = &tx.inputs[0];
    assert_eq!(
        inputs[0][1],
        format!("{}:{}", spent.transaction_hash, spent.output_index)
    );
    assert!(t.contains(&format!(
        "/explorer/transactions/{}/#output-{}",
        spent.transaction_hash, spent.output_index
    )));
    // The change output was spent by the owner's next payment, a block later.
    let spender = p.blocks[height as usize + 1]
        .transactions
        .iter()
        .find(|s| s.inputs.iter().any(|i| i.transaction_hash == tx.hash))
        .expect("the change is spent a block later");
    let outputs = rows(&t, "outputs");
    assert_eq!(outputs[0][3], "Unspent", "the payment to a payee");
    assert_eq!(
        outputs[1][3],
        format!("Spent by {} in block {}", spender.hash, height + 1)
    );
    // Addresses are shown in their checksummed form.
    assert_eq!(outputs[0][1], tx.outputs[0].address.to_checksummed());

    // A mempool transaction: 0 confirmations, unspent outputs, the coin it
    // spends marked as spent in the mempool on its own page.
    let waiting = &p.pending[0];
    let m = html(url, &format!("/explorer/transactions/{}/", waiting.hash));
    assert_eq!(fact(&m, "Confirmations"), "0");
    assert_eq!(fact(&m, "Fee"), waiting.fee.to_string());
    assert_eq!(fact(&m, "Block"), "none yet");
    let coin = &p.coins[0];
    let source = html(url, &format!("/explorer/transactions/{}/", coin.tx));
    let source_outputs = rows(&source, "outputs");
    assert_eq!(
        source_outputs[coin.index as usize][3],
        format!("Unspent; spent in the mempool by {}", waiting.hash)
    );

    // An address: balances, history with the balance after each row.
    let owner = chain::owner().address();
    let info = get_ok(url, &format!("/addresses/{owner}/"));
    for path in [
        format!("/explorer/addresses/{owner}/"),
        format!("/explorer/addresses/{}/", owner.to_checksummed()),
    ] {
        let a = html(url, &path);
        assert_eq!(fact(&a, "Balance"), number(&info["balance"]));
        assert_eq!(
            fact(&a, "Unconfirmed balance"),
            number(&info["unconfirmed_balance"])
        );
        assert_eq!(fact(&a, "Received"), number(&info["received"]));
        assert_eq!(fact(&a, "Sent"), number(&info["sent"]));
        assert_eq!(
            fact(&a, "Transactions"),
            info["transaction_count"].to_string()
        );
        assert!(a.contains(&owner.to_checksummed()));
    }
    let pages = check_history_pages(url, &owner);
    assert_eq!(pages, 1, "{owner}'s history fits one page here");
    // A never-seen address: 200 with zeros.
    let nobody = Address([0x77; 20]);
    let n = html(url, &format!("/explorer/addresses/{nobody}/"));
    assert_eq!(fact(&n, "Balance"), "0");
    assert_eq!(fact(&n, "Unconfirmed balance"), "0");

    // The CSV: oldest first, the running balance, streamed.
    check_csv(url, &owner);
    let (_, _, empty) = page(url, &format!("/explorer/addresses/{nobody}/history.csv"));
    assert_eq!(
        empty,
        "block_height,timestamp,transaction_hash,delta,balance\n"
    );

    // The rich list: its first 10 are /blockchain/'s.
    let r = html(url, "/explorer/rich/");
    let rich = rows(&r, "rich");
    let json_rich = chain_info["rich_list"].as_array().unwrap();
    assert!(rich.len() >= json_rich.len());
    for (row, entry) in rich.iter().zip(json_rich) {
        let address: Address = entry["address"].as_str().unwrap().parse().unwrap();
        assert_eq!(row[1], address.to_checksummed());
        assert_eq!(row[2], number(&entry["balance"]));
    }

    // The mempool: highest fee per byte first.
    let pool = html(url, "/explorer/mempool/");
    assert_eq!(fact(&pool, "Mempool"), "2");
    let listed = rows(&pool, "mempool");
    assert_eq!(listed[0][1], p.pending[1].hash.to_string());
    assert_eq!(listed[1][1], p.pending[0].hash.to_string());
    assert_eq!(listed[0][2], p.pending[1].fee.to_string());
}

/// `text` percent-encoded for a query string.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn search_errors_and_events() {
    let p = populated();
    let url = &p.node.url;
    let tip = p.blocks.last().expect("a tip");
    let tx = &p.blocks[5].transactions[1];
    let owner = chain::owner().address();
    let location = |q: &str| {
        let response = client()
            .get(format!("{url}/explorer/search/?q={}", percent(q)))
            .send()
            .expect("search answered");
        let status = response.status().as_u16();
        let to = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap_or_default().to_string());
        (status, to)
    };
    for (q, to) in [
        ("5".to_string(), "/explorer/blocks/5/".to_string()),
        (
            tip.hash.to_string(),
            format!("/explorer/blocks/{}/", tip.hash),
        ),
        (
            tip.hash.to_string().to_uppercase(),
            format!("/explorer/blocks/{}/", tip.hash),
        ),
        (
            tx.hash.to_string(),
            format!("/explorer/transactions/{}/", tx.hash),
        ),
        (
            p.pending[0].hash.to_string(),
            format!("/explorer/transactions/{}/", p.pending[0].hash),
        ),
        (
            owner.to_string(),
            format!("/explorer/addresses/{}/", owner.to_checksummed()),
        ),
        (
            format!(" {} ", owner.to_checksummed()),
            format!("/explorer/addresses/{}/", owner.to_checksummed()),
        ),
    ] {
        assert_eq!(location(&q), (303, Some(to)), "search {q:?}");
        let (status, _, _) = page(url, &location(&q).1.unwrap());
        assert_eq!(status, 200, "the page {q:?} leads to");
    }
    // The display form with one letter's case flipped.
    let wrong_checksum: String = {
        let shown = owner.to_checksummed();
        // A lowercase letter made uppercase keeps the text mixed case.
        let flip = shown[2..]
            .find(|c: char| c.is_ascii_lowercase())
            .or_else(|| shown[2..].find(|c: char| c.is_ascii_alphabetic()))
            .expect("a letter in the address")
            + 2;
        shown
            .char_indices()
            .map(|(i, c)| {
                if i != flip {
                    c
                } else if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect()
    };
    for junk in [
        "",
        "hello",
        "99999",
        "18446744073709551616",
        &"ab".repeat(32),
        &wrong_checksum,
        "0x1234",
    ] {
        assert_eq!(location(junk), (404, None), "search {junk:?}");
        let (_, kind, body) = page(url, &format!("/explorer/search/?q={}", percent(junk)));
        assert!(kind.starts_with("text/html"));
        assert!(body.contains("Nothing matched"), "{junk:?}: {body}");
        // What was searched stays in the box.
        assert!(
            body.contains(&format!("name=\"q\" type=\"search\" value=\"{junk}\"")),
            "{junk:?}: the search box"
        );
    }
    // Two searches at once (or a query with no `q`): nothing matched, a 404
    // page as any other, not a 400.
    for query in [
        format!("q=5&q={}", tip.hash),
        "q=5&q=5".to_string(),
        "x=1".to_string(),
    ] {
        let (status, kind, body) = page(url, &format!("/explorer/search/?{query}"));
        assert_eq!(status, 404, "search ?{query}: {body}");
        assert!(kind.starts_with("text/html"));
        assert!(body.contains("Nothing matched"), "?{query}: {body}");
    }

    // 404 and 400 pages in the explorer's layout.
    let unknown = "cd".repeat(32);
    for (path, status) in [
        (format!("/explorer/blocks/{unknown}/"), 404),
        (format!("/explorer/blocks/{}/", tip.height + 1), 404),
        (format!("/explorer/transactions/{unknown}/"), 404),
        ("/explorer/no-such-page/".to_string(), 404),
        (format!("/explorer/blocks/{}/?page=2", tip.height), 404),
        ("/explorer/blocks/xyz/".to_string(), 400),
        ("/explorer/blocks/18446744073709551616/".to_string(), 400),
        ("/explorer/transactions/1234/".to_string(), 400),
        ("/explorer/addresses/0x1234/".to_string(), 400),
        (format!("/explorer/addresses/{wrong_checksum}/"), 400),
        (
            format!("/explorer/addresses/{owner}/?before={unknown}"),
            400,
        ),
        (format!("/explorer/addresses/{owner}/?before=xyz"), 400),
        ("/explorer/mempool/?page=0".to_string(), 400),
        ("/explorer/addresses/0x12/history.csv".to_string(), 400),
    ] {
        let (got, kind, body) = page(url, &path);
        assert_eq!(got, status, "GET {path}: {body}");
        assert!(kind.starts_with("text/html"), "GET {path}: {kind}");
        assert!(
            body.contains("class=\"brand\""),
            "GET {path}: not in the layout"
        );
        assert!(body.contains(&format!("<p class=\"status\">{status}</p>")));
    }
    let posted = client()
        .post(format!("{url}/explorer/"))
        .send()
        .expect("answered");
    assert_eq!(posted.status().as_u16(), 405);

    // The assets.
    let home = html(url, "/explorer/");
    for (asset, kind) in [
        ("explorer.css", "text/css"),
        ("explorer.js", "text/javascript"),
    ] {
        let at = home
            .find(&format!("/explorer/static/{asset}?v="))
            .expect("linked");
        let link: String = home[at..].chars().take_while(|c| *c != '"').collect();
        let (status, got, _) = page(url, &link);
        assert_eq!((status, got.starts_with(kind)), (200, true), "{link}");
    }

    // The event stream: retry, the tip, then a new block and a transaction.
    // No total timeout on the client (a stream outlives any): each event
    // has its own deadline below.
    let events = stream_client()
        .get(format!("{url}/explorer/events/"))
        .send()
        .expect("the stream opens");
    assert_eq!(events.status().as_u16(), 200);
    assert!(
        events.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let lines = stream_lines(events);
    let next_data = |event: &str| next_event_data(&lines, event);
    let first = next_data("block");
    assert_eq!(first["height"], tip.height);
    assert_eq!(first["hash"], tip.hash.to_string());
    let mined = mine_block(url, &chain::payee(3));
    let data = next_data("block");
    assert_eq!(data["height"], mined.height);
    assert_eq!(data["hash"], mined.hash.to_string());
    let coin = p.coins[3];
    let pay = chain::spend(
        coin,
        &[(chain::payee(9), coin.value - 1_000)],
        cinder::node::unix_now(),
    );
    let (status, body) = post(url, "/transactions/", &serde_json::to_string(&pay).unwrap());
    assert_eq!(status, 200, "{body}");
    assert_eq!(next_data("transaction")["hash"], pay.hash.to_string());
}

/// A `HEAD` of `path` on a connection of its own: the status, the head's
/// text, and the connection, left open.
fn raw_head(addr: &str, path: &str) -> (u16, String, TcpStream) {
    let mut conn = TcpStream::connect(addr).expect("a connection");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    write!(conn, "HEAD {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("the request sent");
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).expect("the answer's head");
        assert!(n > 0, "HEAD {path}: the connection closed");
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, conn)
}

/// Open descriptors of process `pid`.
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A client whose requests come from `ip` (any of 127.0.0.0/8 reaches the
/// node), for event streams.
fn client_from(ip: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().expect("an IP"))
        .connect_timeout(Duration::from_secs(10))
        .timeout(None)
        .build()
        .expect("an HTTP client")
}

/// `HEAD` of the event stream and of the CSV answers the head alone and
/// holds nothing: 300 of them, closed, then a stream is served and the
/// node's descriptors come back down. One IP gets at most its share of the
/// streams (loopback counted).
#[test]
fn head_holds_nothing_and_one_ip_gets_a_share_of_the_streams() {
    let node = NodeProcess::start(&[]);
    let url = &node.url;
    let addr = node.addr();
    let pid = node.pid();
    html(url, "/explorer/");
    let before = descriptors(pid);
    let csv = format!(
        "/explorer/addresses/{}/history.csv",
        chain::owner().address()
    );
    let mut held = Vec::new();
    for i in 0..300 {
        let path = if i % 10 == 9 {
            csv.as_str()
        } else {
            "/explorer/events/"
        };
        let (status, head, conn) = raw_head(&addr, path);
        assert_eq!(status, 200, "HEAD {path}: {head}");
        let kind = if path == csv {
            "text/csv"
        } else {
            "text/event-stream"
        };
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("content-type: {kind}")),
            "{head}"
        );
        held.push(conn);
    }
    assert!(
        descriptors(pid) >= before + 290,
        "the node holds the 300 connections ({} descriptors, {before} before)",
        descriptors(pid)
    );
    let (status, _, _) = raw_head(&addr, "/explorer/addresses/0x12/history.csv");
    assert_eq!(status, 400, "HEAD of a malformed address's CSV");
    // A stream while the HEADs' connections are still open: served, its
    // first event the tip.
    let events = stream_client()
        .get(format!("{url}/explorer/events/"))
        .send()
        .expect("the stream opens");
    assert_eq!(events.status().as_u16(), 200, "no place held by a HEAD");
    let lines = stream_lines(events);
    let tip = get_ok(url, "/blockchain/");
    assert_eq!(next_event_data(&lines, "block")["hash"], tip["best_hash"]);
    drop(held);
    // The closed connections are gone from the node.
    let deadline = Instant::now() + Duration::from_secs(20);
    while descriptors(pid) > before + 8 {
        assert!(
            Instant::now() < deadline,
            "the node still holds {} descriptors, {before} before the HEADs",
            descriptors(pid)
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // One IP's share of the streams; another IP still gets one.
    let share = cinder::explorer::MAX_STREAMS_PER_IP;
    let one = client_from("127.0.0.2");
    let open: Vec<reqwest::blocking::Response> = (0..share)
        .map(|n| {
            let r = one
                .get(format!("{url}/explorer/events/"))
                .send()
                .expect("a stream opens");
            assert_eq!(r.status().as_u16(), 200, "stream {n} of one IP");
            r
        })
        .collect();
    let over = one
        .get(format!("{url}/explorer/events/"))
        .send()
        .expect("answered");
    assert_eq!(
        over.status().as_u16(),
        503,
        "one stream past the IP's share"
    );
    let body = over.text().expect("a page");
    assert!(
        body.contains("class=\"brand\"")
            && body.contains(&format!("At most {share} event streams")),
        "{body}"
    );
    let other = client_from("127.0.0.3")
        .get(format!("{url}/explorer/events/"))
        .send()
        .expect("answered");
    assert_eq!(other.status().as_u16(), 200, "another IP");
    // Streams whose client went away free their places at once (the
    // node does not wait for a write to fail): a browser leaving page
    // after page never runs into its own closed streams.
    drop(open);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let again = one
            .get(format!("{url}/explorer/events/"))
            .send()
            .expect("answered");
        if again.status().as_u16() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed streams still hold their places after 5 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop((other, lines));
}

/// A chain whose owner has 338 history rows (7 pages of 50; the CSV
/// crosses chunks of 250), blocks of 111 transactions (2 pages), and 105
/// payments in the mempool (2 pages; the owner's page lists the newest
/// 100 of them), one paying the zero address.
#[test]
fn long_histories_big_blocks_and_a_big_mempool_are_paged() {
    let root = tempfile::tempdir().expect("temporary directory");
    let (blocks, coins) = chain::blocks_with_coins(7, 110);
    chain::write_into(&NodeProcess::data_dir_of(root.path()), &blocks);
    let node = NodeProcess::start_in(root, &[]);
    let url = &node.url;
    let owner = chain::owner().address();

    // The history, page after page, and the CSV across its chunks.
    let pages = check_history_pages(url, &owner);
    assert_eq!(pages, 338usize.div_ceil(50), "338 entries, 50 a page");
    let rows_written = check_csv(url, &owner);
    assert_eq!(rows_written, 338);
    assert!(
        rows_written > cinder::explorer::CSV_CHUNK as usize,
        "more than one chunk"
    );

    // A block of 111 transactions: page 2 holds the last 11.
    let big = &blocks[5];
    assert_eq!(big.transactions.len(), 111);
    let first = html(url, "/explorer/blocks/5/");
    assert_eq!(rows(&first, "block-transactions").len(), 100);
    assert!(first.contains(&format!("/explorer/blocks/{}/?page=2", big.hash)));
    let second = html(url, "/explorer/blocks/5/?page=2");
    let txs = rows(&second, "block-transactions");
    assert_eq!(txs.len(), 11);
    for (row, (index, tx)) in txs
        .iter()
        .zip(big.transactions.iter().enumerate().skip(100))
    {
        assert_eq!(row[0], index.to_string());
        assert!(row[1].starts_with(&tx.hash.to_string()), "{row:?}");
    }
    assert_eq!(page(url, "/explorer/blocks/5/?page=3").0, 404);

    // Coinbases: no inputs; the first one spent by the fan-out of block 4,
    // the last one unspent.
    let fan = &blocks[4].transactions[1];
    let spent_coinbase = &blocks[1].transactions[0];
    let c = html(
        url,
        &format!("/explorer/transactions/{}/", spent_coinbase.hash),
    );
    assert!(c.contains("A coinbase"), "no inputs listed");
    assert!(!c.contains("id=\"inputs\""));
    assert_eq!(fact(&c, "Confirmations"), "7");
    assert_eq!(
        rows(&c, "outputs")[0][3],
        format!("Spent by {} in block 4", fan.hash)
    );
    let last = html(
        url,
        &format!("/explorer/transactions/{}/", blocks[7].transactions[0].hash),
    );
    assert!(last.contains("A coinbase"));
    assert_eq!(fact(&last, "Confirmations"), "1");
    assert_eq!(rows(&last, "outputs")[0][3], "Unspent");
    // Each of the fan-out's 110 outputs names its own spender in block 5.
    let f = html(url, &format!("/explorer/transactions/{}/", fan.hash));
    let fan_outputs = rows(&f, "outputs");
    assert_eq!(fan_outputs.len(), 110);
    for (row, spender) in fan_outputs.iter().zip(&big.transactions[1..]) {
        assert_eq!(row[3], format!("Spent by {} in block 5", spender.hash));
    }

    // 105 payments in the mempool, fees rising; the last burns its payment.
    let now = cinder::node::unix_now();
    let pending: Vec<Transaction> = coins
        .iter()
        .take(105)
        .enumerate()
        .map(|(i, coin)| {
            let fee = 1_000 + 100 * i as u64;
            let to = if i == 104 {
                Address::ZERO
            } else {
                chain::payee(20 + i)
            };
            let tx = chain::spend(
                *coin,
                &[(to, 25_000), (owner, coin.value - 25_000 - fee)],
                now,
            );
            let (status, body) = post(url, "/transactions/", &serde_json::to_string(&tx).unwrap());
            assert_eq!(status, 200, "payment {i}: {body}");
            tx
        })
        .collect();
    let pool = html(url, "/explorer/mempool/");
    assert_eq!(fact(&pool, "Mempool"), "105");
    let listed = rows(&pool, "mempool");
    assert_eq!(listed.len(), 100);
    assert!(pool.contains("/explorer/mempool/?page=2"));
    let pool2 = html(url, "/explorer/mempool/?page=2");
    let listed2 = rows(&pool2, "mempool");
    assert_eq!(listed2.len(), 5);
    // Highest fee first: page 1 holds payments 104 down to 5, page 2 the rest.
    for (rank, row) in listed.iter().chain(&listed2).enumerate() {
        assert_eq!(row[0], (rank + 1).to_string());
        assert_eq!(
            row[1],
            pending[104 - rank].hash.to_string(),
            "rank {}",
            rank + 1
        );
    }
    for beyond in [
        "/explorer/mempool/?page=3",
        "/explorer/mempool/?page=18446744073709551615",
    ] {
        assert_eq!(page(url, beyond).0, 404, "{beyond}");
    }

    // The owner's page: the newest 100 of its 105 mempool transactions, and
    // the unconfirmed balance of all of them.
    let info = get_ok(url, &format!("/addresses/{owner}/"));
    let a = html(url, &format!("/explorer/addresses/{owner}/"));
    assert_eq!(
        fact(&a, "Unconfirmed balance"),
        number(&info["unconfirmed_balance"])
    );
    let waiting = rows(&a, "pending");
    assert_eq!(waiting.len(), cinder::explorer::PENDING_SHOWN);
    for (row, tx) in waiting.iter().zip(pending.iter().rev()) {
        assert_eq!(row[1], tx.hash.to_string(), "newest first");
    }
    let count_at = a.find("id=\"pending-count\">").expect("the count") + 19;
    let count_end = count_at + a[count_at..].find("</span>").expect("its end");
    assert_eq!(
        text_of(&a[count_at..count_end]),
        "(105 in the mempool, the newest 100 shown)"
    );

    // Mined: the burnt output stays burnt, never unspent.
    let burner = &pending[104];
    let mined = mine_block(url, &chain::payee(3));
    assert!(mined.transactions.iter().any(|t| t.hash == burner.hash));
    let b = html(url, &format!("/explorer/transactions/{}/", burner.hash));
    assert_eq!(fact(&b, "Confirmations"), "1");
    let outputs = rows(&b, "outputs");
    assert_eq!(outputs[0][3], "Burnt (paid to the zero address)");
    assert_eq!(outputs[1][3], "Unspent");
}

// ---------------------------------------------------------------------------
// The browser

/// The browser script's process group (python, Playwright's driver,
/// chromium): killed when dropped before it was waited for, so that a
/// failed check or a timeout leaves nothing running (nor holding the
/// pipes the test reads).
struct Script(Option<std::process::Child>);

impl Script {
    /// Kills the whole group now.
    fn kill(&mut self) {
        if let Some(child) = &self.0 {
            // SAFETY: kill(2) on the group this test started (its id is
            // the script's pid, `process_group(0)`); no memory is touched.
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
            }
        }
    }

    /// Waits for the script's end.
    fn wait(&mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("not waited for yet");
        child.wait().expect("the script ends")
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if self.0.is_some() {
            self.kill();
            let _ = self.wait();
        }
    }
}

/// Why the browser test cannot run here, if it cannot.
fn browser_missing() -> Option<String> {
    if !Path::new("/usr/bin/chromium").exists() {
        return Some(
            "Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
                .into(),
        );
    }
    let probe = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .output();
    match probe {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "Playwright for Python is missing (python3 -m pip install playwright): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!("python3 cannot run: {e}")),
    }
}

/// Where the screenshots go: `target/explorer-screenshots/`.
fn screenshots_dir() -> PathBuf {
    let dir = testing::target_profile_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("explorer-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshots directory");
    dir
}

#[test]
fn the_explorer_in_a_real_browser() {
    if let Some(why) = browser_missing() {
        panic!(
            "the browser test cannot run: {why}. .ci/run installs both; it never skips silently"
        );
    }
    let p = populated();
    let mut node = Some(p.node);
    let port = node.as_ref().expect("the node").port();
    let url = node.as_ref().expect("the node").url.clone();
    let shots = screenshots_dir();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/explorer_browser.py");
    let mut child = Command::new("python3")
        .arg(script)
        .env("EXPLORER_URL", &url)
        .env("EXPLORER_SCREENSHOTS", &shots)
        .env("EXPLORER_PAYMENT_BLOCK", "6")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own: Playwright's driver and chromium with it.
        .process_group(0)
        .spawn()
        .expect("python3 starts");
    let mut stdin = child.stdin.take().expect("its stdin");
    let stdout = child.stdout.take().expect("its stdout");
    let mut stderr = child.stderr.take().expect("its stderr");
    // From here on, a panic or a timeout kills the script and its browser.
    let mut script = Script(Some(child));
    let err_thread = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut coins = p.coins.clone();
    let mut said = Vec::new();
    let mut finished = false;
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        said.push(line.clone());
        let reply = match line.as_str() {
            "cmd mine" => {
                let block = mine_block(&url, &chain::payee(7));
                format!("ok {} {}", block.height, block.hash)
            }
            "cmd pay" => {
                let coin = coins.pop().expect("a coin left");
                let tx = chain::spend(
                    coin,
                    &[(chain::payee(11), coin.value - 2_000)],
                    cinder::node::unix_now(),
                );
                let (status, body) =
                    post(&url, "/transactions/", &serde_json::to_string(&tx).unwrap());
                assert_eq!(status, 200, "{body}");
                format!("ok {}", tx.hash)
            }
            "cmd restart" => {
                let (root, status) = node.take().expect("a running node").stop();
                assert!(status.success(), "the node stopped cleanly: {status}");
                node = Some(NodeProcess::start_on(root, &port, &[]));
                "ok".to_string()
            }
            "done" => {
                finished = true;
                break;
            }
            _ => continue,
        };
        writeln!(stdin, "{reply}").expect("the script reads its reply");
        stdin.flush().expect("flushed");
    }
    drop(stdin);
    if !finished {
        // Timed out (or the script stopped talking): nothing waits for it.
        script.kill();
    }
    let status = script.wait();
    let errors = err_thread.join().unwrap_or_default();
    // What the script checked (shown with --nocapture).
    eprintln!("{errors}");
    assert!(
        finished && status.success(),
        "the browser script failed ({status}):\n{}\n{errors}",
        said.join("\n")
    );
    for name in [
        "home.png",
        "transaction.png",
        "address.png",
        "phone-home.png",
        "phone-transaction.png",
        "no-javascript.png",
        "not-found.png",
    ] {
        assert!(shots.join(name).is_file(), "screenshot {name}");
    }
}
