//! Operations (API.md §7) on the real binaries: `/metrics` of a node and
//! of the seed passes `promtool check metrics`, its counters move with
//! what happened (blocks, transactions accepted and refused, a sync run,
//! relay), and the Grafana dashboard names only metrics that exist.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use testing::chain::{self, owner, payee};
use testing::lab::{args, network_args};
use testing::{NodeProcess, SeedProcess, get_ok, post, post_block, wait_for};

const CATCH_UP: Duration = Duration::from_secs(60);

/// `GET {url}/metrics` as text.
fn metrics(url: &str) -> String {
    let answer = reqwest::blocking::get(format!("{url}/metrics"))
        .unwrap_or_else(|e| panic!("GET {url}/metrics: {e}"));
    assert_eq!(answer.status().as_u16(), 200, "GET {url}/metrics");
    let kind = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(kind.starts_with("text/plain"), "content type {kind}");
    answer
        .text()
        .unwrap_or_else(|e| panic!("GET {url}/metrics: body: {e}"))
}

/// The value of one series (`name{labels}` exactly as the text writes it).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn value_of(url: &str, series: &str) -> f64 {
    value(&metrics(url), series).unwrap_or(0.0)
}

/// Runs `promtool check metrics` on `text`; fails the test when promtool
/// is missing (`.ci/run` installs Debian's `prometheus` package).
fn promtool_check(what: &str, text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child.unwrap_or_else(|e| {
        panic!("promtool cannot run ({e}): install Debian's `prometheus` package (.ci/run does)")
    });
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .expect("promtool reads the metrics");
    let out = child.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics on {what}: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_pass_promtool_and_move_with_what_happened() {
    let seed = SeedProcess::start(&["-u", "1"]);
    let net = network_args(&seed.addr(), 1);
    let a = NodeProcess::start(&args(&net));

    // Every series of these exists from the start, at 0.
    let fresh = metrics(&a.url);
    for series in [
        r#"cinder_peers{kind="chosen"}"#,
        r#"cinder_peers{kind="announced"}"#,
        r#"cinder_relay_posts_total{kind="block",outcome="accepted"}"#,
        r#"cinder_relay_posts_total{kind="transaction",outcome="silent"}"#,
    ] {
        assert_eq!(value(&fresh, series), Some(0.0), "{series}:\n{fresh}");
    }
    assert_eq!(value(&fresh, "cinder_chain_height"), Some(0.0));

    // Blocks through the API.
    let (blocks, coins) = chain::blocks_with_coins(6, 2);
    for block in &blocks[1..] {
        post_block(&a.url, block);
    }
    let tip = blocks.last().expect("a tip");
    // A transaction accepted, then the same refused with its code.
    let tx = chain::spend(
        coins[0],
        &[
            (payee(1), 5_000),
            (owner().address(), coins[0].value - 6_000),
        ],
        tip.timestamp,
    );
    let body = serde_json::to_string(&tx).expect("tx JSON");
    assert_eq!(post(&a.url, "/transactions/", &body).0, 200);
    assert_eq!(post(&a.url, "/transactions/", &body).0, 409);
    // A block id route is labelled by its pattern, never its path.
    get_ok(&a.url, &format!("/blocks/{}/", tip.hash));

    let text = metrics(&a.url);
    promtool_check("a node", &text);
    for (series, expected) in [
        (
            r#"cinder_blocks_total{origin="api",result="connected"}"#,
            6.0,
        ),
        (
            r#"cinder_transactions_total{origin="api",result="accepted"}"#,
            1.0,
        ),
        (
            r#"cinder_transactions_total{origin="api",result="already_known"}"#,
            1.0,
        ),
        ("cinder_chain_height", 6.0),
        ("cinder_chain_best_timestamp_seconds", tip.timestamp as f64),
        ("cinder_mempool_transactions", 1.0),
        (
            r#"cinder_http_requests_total{route="/blocks",status="200"}"#,
            6.0,
        ),
        (
            r#"cinder_http_requests_total{route="/transactions",status="409"}"#,
            1.0,
        ),
        (
            r#"cinder_http_requests_total{route="/blocks/{bid}",status="200"}"#,
            1.0,
        ),
        ("cinder_reorganizations_total", 0.0),
    ] {
        assert_eq!(value(&text, series), Some(expected), "{series}:\n{text}");
    }
    let bytes = value(&text, "cinder_mempool_bytes").expect("mempool bytes");
    assert!(bytes > 100.0, "mempool bytes {bytes}");
    assert!(value(&text, "cinder_database_bytes").expect("db bytes") > 0.0);
    assert!(value(&text, "process_open_fds").expect("fds") > 0.0);
    assert!(value(&text, "process_resident_memory_bytes").expect("rss") > 0.0);
    assert!(
        !text.contains(&tip.hash.to_string()),
        "a raw path in a label"
    );

    // A second node syncs from the first through the seed, then merges
    // its mempool.
    let b = NodeProcess::start(&args(&net));
    wait_for("B synced and merged", CATCH_UP, || {
        let text = metrics(&b.url);
        let synced = value(
            &text,
            r#"cinder_blocks_total{origin="sync",result="connected"}"#,
        );
        let merged = value(
            &text,
            r#"cinder_transactions_total{origin="merge",result="accepted"}"#,
        );
        (synced == Some(6.0) && merged == Some(1.0)).then_some(())
    });
    let text = metrics(&b.url);
    promtool_check("a synced node", &text);
    assert_eq!(
        value(&text, "cinder_sync_target_height"),
        Some(6.0),
        "{text}"
    );
    assert_eq!(value(&text, "cinder_sync_active"), Some(0.0), "{text}");

    // A transaction posted to B is relayed to A (B chose A as a peer).
    wait_for("B knows A", CATCH_UP, || {
        (value_of(&b.url, r#"cinder_peers{kind="chosen"}"#) >= 1.0).then_some(())
    });
    let tx2 = chain::spend(
        coins[1],
        &[
            (payee(2), 5_000),
            (owner().address(), coins[1].value - 6_000),
        ],
        tip.timestamp,
    );
    let body = serde_json::to_string(&tx2).expect("tx JSON");
    assert_eq!(post(&b.url, "/transactions/", &body).0, 200);
    wait_for("the relay counted on both ends", CATCH_UP, || {
        let sent = value_of(
            &b.url,
            r#"cinder_relay_posts_total{kind="transaction",outcome="accepted"}"#,
        );
        let got = value_of(
            &a.url,
            r#"cinder_transactions_total{origin="peer",result="accepted"}"#,
        );
        (sent >= 1.0 && got >= 1.0).then_some(())
    });

    // The seed: its nodes and its HTTP metrics.
    let seed_url = format!("http://{}", seed.addr());
    let seed_text = metrics(&seed_url);
    promtool_check("the seed", &seed_text);
    assert_eq!(
        value(&seed_text, "cinder_seed_nodes"),
        Some(2.0),
        "{seed_text}"
    );
    assert!(
        seed_text.contains(r#"cinder_http_requests_total{route="/nodes",status="200"}"#),
        "{seed_text}"
    );

    // Every metric the dashboard's queries name exists.
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, format!("{}\n{seed_text}", metrics(&a.url))).expect("write metrics");
    check_dashboard(&file);
}

/// `ops/check_dashboard.py` on the dashboard against `metrics` (a file of
/// the text format).
fn check_dashboard(metrics: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("python3")
        .arg(root.join("ops/check_dashboard.py"))
        .arg(root.join("ops/grafana/cinder.json"))
        .arg(metrics)
        .output()
        .unwrap_or_else(|e| panic!("python3 cannot run: {e}"));
    assert!(
        out.status.success(),
        "the dashboard names metrics /metrics lacks: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_known_path_with_another_method_is_405() {
    let node = NodeProcess::start(&["--dns", "127.0.0.1:9"]);
    let (status, body) = testing::request("PUT", &node.url, "/blocks/last/", Vec::new());
    assert_eq!(status, 405, "{body}");
    assert_eq!(body["error"], "method_not_allowed");
    let (status, body) = testing::request("DELETE", &node.url, "/blocks/", Vec::new());
    assert_eq!(status, 405, "{body}");
    let (status, body) = testing::request("PUT", &node.url, "/no/such/path/", Vec::new());
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "not_found");
}

/// `METHOD /path` of every route API.md §1–§8 names, its parameters
/// written `{}`, without the trailing slash or the query.
fn api_md_routes() -> std::collections::BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("docs/API.md")).expect("docs/API.md");
    let before_explorer = text.split("\n## 9.").next().unwrap_or_default();
    let mut routes = std::collections::BTreeSet::new();
    for quoted in before_explorer.split('`').skip(1).step_by(2) {
        let Some((method, path)) = quoted.split_once(' ') else {
            continue;
        };
        if !["GET", "POST", "DELETE", "PUT"].contains(&method) || !path.starts_with('/') {
            continue;
        }
        routes.insert(format!("{method} {}", normal_route(path)));
    }
    routes
}

/// A path without its query and trailing slash, parameters written `{}`.
fn normal_route(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let mut out = String::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(if segment.starts_with('{') {
            "{}"
        } else {
            segment
        });
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// `METHOD /path` of every operation of an OpenAPI document.
fn document_routes(doc: &serde_json::Value) -> std::collections::BTreeSet<String> {
    let mut routes = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            routes.insert(format!("{} {}", method.to_uppercase(), normal_route(path)));
        }
    }
    routes
}

#[test]
fn the_openapi_document_covers_every_route_api_md_names_and_the_node_serves_each() {
    let node = NodeProcess::start(&["--dns", "127.0.0.1:9"]);
    let doc = get_ok(&node.url, "/openapi.json");
    assert_eq!(doc["openapi"], "3.1.0", "{doc}");
    assert_eq!(doc["info"]["title"], "Cinder full node");
    let documented = document_routes(&doc);
    let named = api_md_routes();
    assert!(named.len() >= 25, "API.md routes: {named:?}");
    let missing: Vec<_> = named.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "API.md routes missing from /openapi.json: {missing:?}"
    );
    // Every documented operation is served: never the router's 404 or 405.
    for route in &documented {
        let (method, path) = route.split_once(' ').expect("method and path");
        let path = path
            .replace("{}", "0")
            .replace("/utxo/0", &format!("/utxo/{}", owner().address()))
            .replace("/addresses/0", &format!("/addresses/{}", owner().address()));
        let method: reqwest::Method = method.parse().expect("an HTTP method");
        let answer = reqwest::blocking::Client::new()
            .request(method, format!("{}{path}", node.url))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .unwrap_or_else(|e| panic!("{route}: {e}"));
        let status = answer.status().as_u16();
        let body = answer.text().unwrap_or_default();
        assert_ne!(status, 405, "{route}: {body}");
        assert!(!body.contains("no such endpoint"), "{route}: {body}");
    }

    let seed = SeedProcess::start(&[]);
    let doc = get_ok(&format!("http://{}", seed.addr()), "/openapi.json");
    let seed_routes: Vec<String> = document_routes(&doc).into_iter().collect();
    assert_eq!(
        seed_routes,
        [
            "DELETE /nodes",
            "GET /metrics",
            "GET /nodes",
            "GET /nodes/{}",
            "GET /openapi.json",
            "POST /",
            "POST /nodes",
        ],
        "{doc}"
    );
}

/// schemathesis (PyPI) against a node holding a chain and a mempool:
/// every operation, bounded examples, a fixed seed; no 5xx, no answer
/// outside the document. Fails when schemathesis cannot run (`.ci/run`
/// installs it).
#[test]
fn schemathesis_finds_no_server_error_and_no_answer_breaking_the_document() {
    let (blocks, coins) = chain::blocks_with_coins(40, 4);
    let node = testing::lab::node_with_chain(&blocks, &["--dns", "127.0.0.1:9"]);
    let tip = blocks.last().expect("a tip");
    let tx = chain::spend(
        coins[0],
        &[
            (payee(1), 5_000),
            (owner().address(), coins[0].value - 6_000),
        ],
        tip.timestamp,
    );
    let body = serde_json::to_string(&tx).expect("tx JSON");
    assert_eq!(post(&node.url, "/transactions/", &body).0, 200);

    let dir = tempfile::tempdir().expect("temporary directory");
    let out = Command::new("schemathesis")
        .current_dir(dir.path())
        .args([
            "run",
            &format!("{}/openapi.json", node.url),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "30",
            "--seed",
            "20261207",
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "2",
            "--no-color",
            "--generation-database",
            "none",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("schemathesis cannot run ({e}): `pip install schemathesis` (.ci/run does)")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("generated") || l.contains("Tested:") || l.contains("passed"))
        .collect();
    println!("schemathesis: {}", summary.join(" | "));
    assert!(
        out.status.success(),
        "schemathesis failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Tested: 31"),
        "not every operation tested:\n{stdout}"
    );
}
