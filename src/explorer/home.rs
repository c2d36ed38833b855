//! `GET /explorer/`: the chain at a glance, its newest blocks and the
//! mempool's newest transactions; fetched again by the script after every
//! block and transaction the node takes.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::format::{amount, count, iso_time, utc_time};
use super::{Layout, PageError, html, read};
use crate::api::AppState;
use crate::state;

/// Blocks and mempool transactions the home page lists.
const LATEST: usize = 10;

pub struct BlockRow {
    pub height: u64,
    pub hash: String,
    pub time: String,
    pub iso: String,
    pub transactions: u32,
}

pub struct PoolRow {
    pub hash: String,
    pub time: String,
    pub iso: String,
    pub value: String,
    pub fee: String,
}

#[derive(Template)]
#[template(path = "home.html", config = "src/explorer/askama.toml")]
struct HomePage {
    layout: Layout,
    chain: &'static str,
    height: u64,
    best_hash: String,
    target: String,
    mempool: u64,
    total_transactions: String,
    total_addresses: String,
    block_reward: String,
    block_time: u64,
    total_work: String,
    blocks: Vec<BlockRow>,
    pool: Vec<PoolRow>,
}

pub async fn home(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let node = &state.node;
    // The snapshot before the reads: the lists are then at least as new as
    // the tip the page names (a newer block's event fetches it again).
    let snapshot = node.snapshot();
    let layout = Layout::at(node, &snapshot, "Home").live("block transaction");
    let info = snapshot.blockchain_info(node.params(), node.mempool_size() as u64);
    let (headers, newest) = read(&state, |node| {
        let headers = node
            .reads()
            .with(|conn| state::latest_headers(conn, LATEST as u64))?;
        Ok((headers, node.mempool_newest(LATEST)))
    })
    .await?;
    html(HomePage {
        layout,
        chain: node.params().name,
        height: info.height,
        best_hash: info.best_hash.to_string(),
        target: info.target.to_string(),
        mempool: info.mempool_size,
        total_transactions: count(info.total_transactions),
        total_addresses: count(info.total_addresses),
        block_reward: amount(info.block_reward),
        block_time: info.block_time,
        total_work: info.total_work.0.to_string(),
        blocks: headers
            .iter()
            .map(|h| BlockRow {
                height: h.height,
                hash: h.hash.to_string(),
                time: utc_time(h.timestamp),
                iso: iso_time(h.timestamp),
                transactions: h.transaction_count,
            })
            .collect(),
        pool: newest
            .iter()
            .map(|t| PoolRow {
                hash: t.hash.to_string(),
                time: utc_time(t.timestamp),
                iso: iso_time(t.timestamp),
                value: amount(t.value),
                fee: amount(t.fee),
            })
            .collect(),
    })
}
