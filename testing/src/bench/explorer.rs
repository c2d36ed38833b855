//! The explorer's figures (issue 28, API.md §9) on the real `full-node`:
//! an address with 20,000 transactions — a page of its history at random
//! `before=` cursors (p50, p99 ≤ 100 ms), its `history.csv` (time to the
//! first byte ≤ 100 ms, the whole of it, and the node's memory before and
//! after downloading it again and again), each beside the same client
//! against the bench's minimal actix-web server answering the same bytes.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cinder::node::MempoolLimits;
use cinder::types::Address;

use super::chain::{ChainBuilder, address, par_map, spend};
use super::process::Served;
use super::report::{Figure, Goal, Report, percentile};
use super::{Sizes, progress};
use crate::{NodeProcess, rss_kib};

/// Namespace of the payees of the busy address.
const PAYEES: u8 = 5;
/// Transactions of the busy address (the figure).
pub const BUSY_TRANSACTIONS: usize = 20_000;
/// Payments in each block (one per coin of the busy address).
const PER_BLOCK: usize = 500;
/// The goals of issue 28.
const PAGE_P99_GOAL_MS: f64 = 100.0;
const FIRST_BYTE_GOAL_MS: f64 = 100.0;
/// Most the node's resident memory may grow over the CSV downloads.
const RSS_GROWTH_GOAL_MIB: f64 = 16.0;
/// Times the whole CSV is downloaded for the memory figure.
const CSV_DOWNLOADS: usize = 5;

pub fn figures(report: &mut Report, sizes: &Sizes, tmp: &Path) -> anyhow::Result<()> {
    let root = tempfile::tempdir_in(tmp).context("a directory for the node")?;
    let data = NodeProcess::data_dir_of(root.path());
    progress(&format!(
        "explorer: an address with {BUSY_TRANSACTIONS} transactions"
    ));
    let start = Instant::now();
    let busy = build_busy_address(&data)?;
    progress(&format!(
        "explorer: chain ready in {:.1} s; starting full-node",
        start.elapsed().as_secs_f64()
    ));
    let node = NodeProcess::try_start_in(root, &["--log", "warn"])
        .map_err(|failed| anyhow::anyhow!("full-node did not start: {failed}"))?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .context("an HTTP client")?;

    // Every entry of the history, through the JSON API, for the cursors.
    let mut hashes: Vec<String> = Vec::new();
    loop {
        let mut path = format!("/addresses/{busy}/transactions/?limit=1000");
        if let Some(last) = hashes.last() {
            path.push_str(&format!("&before={last}"));
        }
        let page: serde_json::Value = serde_json::from_slice(&fetch(&client, &node.url, &path)?)?;
        let page = page.as_array().context("a history page is an array")?;
        if page.is_empty() {
            break;
        }
        for entry in page {
            hashes.push(entry["hash"].as_str().context("a hash")?.to_string());
        }
    }
    if hashes.len() < BUSY_TRANSACTIONS {
        bail!("the busy address has {} transactions", hashes.len());
    }

    // The floor: the same client against the minimal server answering the
    // bytes of one such page.
    let sample = fetch(&client, &node.url, &format!("/explorer/addresses/{busy}/"))?;
    let file = tmp.join("explorer-address-page.html");
    std::fs::write(&file, &sample).with_context(|| format!("writing {}", file.display()))?;
    let minimal = Served::static_file(&file)?;
    let n = sizes.latency_requests;
    progress(&format!("explorer: {n} address pages at random cursors"));
    let floor = timed(&client, &minimal.url, n, &mut |_| "/".to_string())?;
    let mut rng = 0x28u64;
    let ms = timed(&client, &node.url, n, &mut |_| {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let at = (rng >> 33) as usize % hashes.len();
        format!("/explorer/addresses/{busy}/?before={}", hashes[at])
    })?;
    let pct = |v: &[f64], p| percentile(v, p).unwrap_or(f64::NAN);
    report.push(
        Figure::new(
            "explorer address page, 20k-tx address, latency p50",
            pct(&ms, 50.0),
            "ms",
        )
        .limit(pct(&floor, 50.0), "minimal server p50, same bytes")
        .note(format!(
            "{n} sequential pages at random before= cursors; {} B a page",
            sample.len()
        )),
    );
    report.push(
        Figure::new(
            "explorer address page, 20k-tx address, latency p99",
            pct(&ms, 99.0),
            "ms",
        )
        .limit(pct(&floor, 99.0), "minimal server p99, same bytes")
        .goal(Goal::AtMost(PAGE_P99_GOAL_MS))
        .note(format!("max {:.2} ms", ms.last().unwrap_or(&f64::NAN))),
    );

    progress("explorer: history.csv");
    let csv_path = format!("/explorer/addresses/{busy}/history.csv");
    let (first_floor, _, _) = first_byte(&client, &format!("{}/", minimal.url))?;
    drop(minimal);
    let rss_before = rss_kib(node.pid());
    let mut firsts = Vec::new();
    let mut wholes = Vec::new();
    let mut bytes = 0;
    for _ in 0..CSV_DOWNLOADS {
        let (first, whole, size) = first_byte(&client, &format!("{}{csv_path}", node.url))?;
        firsts.push(first);
        wholes.push(whole);
        bytes = size;
    }
    let rss_after = rss_kib(node.pid());
    firsts.sort_by(f64::total_cmp);
    wholes.sort_by(f64::total_cmp);
    let rows = hashes.len();
    report.push(
        Figure::new(
            "explorer history.csv, 20k-tx address, time to first byte (worst)",
            *firsts.last().unwrap_or(&f64::NAN),
            "ms",
        )
        .limit(first_floor, "minimal server, first byte of a file")
        .goal(Goal::AtMost(FIRST_BYTE_GOAL_MS))
        .note(format!(
            "{CSV_DOWNLOADS} downloads; median {:.2} ms",
            pct(&firsts, 50.0)
        )),
    );
    report.push(
        Figure::new(
            "explorer history.csv, 20k-tx address, whole download (median)",
            pct(&wholes, 50.0),
            "ms",
        )
        .note(format!(
            "{bytes} B, {rows} rows; streamed {} rows a read",
            cinder::explorer::CSV_CHUNK
        )),
    );
    let growth = (rss_after as f64 - rss_before as f64) / 1024.0;
    report.push(
        Figure::new("full-node RSS growth over the CSV downloads", growth, "MiB")
            .goal(Goal::AtMost(RSS_GROWTH_GOAL_MIB))
            .note(format!(
                "RSS {:.1} MiB before, {:.1} MiB after {CSV_DOWNLOADS} downloads of {bytes} B",
                rss_before as f64 / 1024.0,
                rss_after as f64 / 1024.0
            )),
    );
    drop(node);
    Ok(())
}

/// Builds, in `data`, a chain where the bench's owner makes
/// [`BUSY_TRANSACTIONS`] payments (each with change back to itself, so
/// each is a row of its history), [`PER_BLOCK`] a block; returns it.
fn build_busy_address(data: &Path) -> anyhow::Result<Address> {
    let mut chain = ChainBuilder::open(data, MempoolLimits::default())?;
    let mut coins = chain.fund(PER_BLOCK, 2_000_000)?;
    let owner = chain.owner().clone();
    let me = owner.address();
    let fee = 400u64;
    let mut made = 0usize;
    while made < BUSY_TRANSACTIONS {
        let timestamp = chain.tip.timestamp;
        let jobs: Vec<(usize, super::chain::Coin)> = coins
            .iter()
            .copied()
            .enumerate()
            .map(|(i, c)| (made + i, c))
            .collect();
        let txs = par_map(&jobs, |(n, coin)| {
            let pay = 1_000 + (*n as u64 % 13) * 10;
            spend(
                &owner,
                &[*coin],
                &[
                    (address(PAYEES, *n as u64), pay),
                    (me, coin.value - pay - fee),
                ],
                timestamp,
            )
        });
        for (coin, tx) in coins.iter_mut().zip(&txs) {
            *coin = super::chain::Coin {
                tx: tx.hash,
                index: 1,
                value: tx.outputs[1].value.units(),
            };
        }
        made += txs.len();
        chain.mine(txs)?;
    }
    Ok(me)
}

fn fetch(client: &reqwest::blocking::Client, base: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    let url = format!("{base}{path}");
    let response = client
        .get(&url)
        .send()
        .with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        bail!("GET {url}: {}", response.status());
    }
    Ok(response
        .bytes()
        .with_context(|| format!("reading {url}"))?
        .to_vec())
}

/// Milliseconds of `n` sequential GETs (after a warm-up), sorted.
fn timed(
    client: &reqwest::blocking::Client,
    base: &str,
    n: usize,
    path: &mut dyn FnMut(usize) -> String,
) -> anyhow::Result<Vec<f64>> {
    for i in 0..20 {
        fetch(client, base, &path(i))?;
    }
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let p = path(i);
        let start = Instant::now();
        fetch(client, base, &p)?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms)
}

/// A GET of `url` read to its end: milliseconds to the first body byte
/// and to the last, and the body's size.
fn first_byte(client: &reqwest::blocking::Client, url: &str) -> anyhow::Result<(f64, f64, usize)> {
    let start = Instant::now();
    let mut response = client
        .get(url)
        .send()
        .with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        bail!("GET {url}: {}", response.status());
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut first = None;
    let mut size = 0;
    loop {
        let n = response
            .read(&mut buf)
            .with_context(|| format!("reading {url}"))?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(|| start.elapsed().as_secs_f64() * 1e3);
        size += n;
    }
    let whole = start.elapsed().as_secs_f64() * 1e3;
    Ok((first.unwrap_or(whole), whole, size))
}
