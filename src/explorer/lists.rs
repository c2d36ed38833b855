//! `GET /explorer/rich/` (the largest confirmed balances) and
//! `GET /explorer/mempool/` (every mempool transaction, highest fee per
//! byte first, a page at a time).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::format::{amount, count, fee_rate, iso_time, utc_time};
use super::{Layout, PageError, display, html, read};
use crate::api::AppState;
use crate::api::params::{query_map, query_u64};
use crate::state;

/// Addresses the rich list shows (`/blockchain/` holds the first 10).
pub const RICH: u64 = 100;
/// Mempool transactions on one page.
pub const POOL_PAGE: u64 = 100;

pub struct RichRow {
    pub rank: usize,
    pub address: String,
    pub balance: String,
}

#[derive(Template)]
#[template(path = "rich.html", config = "src/explorer/askama.toml")]
struct RichPage {
    layout: Layout,
    rows: Vec<RichRow>,
    limit: u64,
}

pub async fn rich(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let layout = Layout::new(&state.node, "Rich list").live("block");
    let list = read(&state, |node| {
        node.reads().with(|conn| state::rich_list(conn, RICH))
    })
    .await?;
    html(RichPage {
        layout,
        rows: list
            .iter()
            .enumerate()
            .map(|(i, (address, balance))| RichRow {
                rank: i + 1,
                address: display(address),
                balance: amount(*balance),
            })
            .collect(),
        limit: RICH,
    })
}

pub struct PoolRow {
    pub rank: u64,
    pub hash: String,
    pub time: String,
    pub iso: String,
    pub value: String,
    pub fee: String,
    pub size: usize,
    pub fee_rate: String,
}

#[derive(Template)]
#[template(path = "mempool.html", config = "src/explorer/askama.toml")]
struct MempoolPage {
    layout: Layout,
    size: String,
    bytes: String,
    rows: Vec<PoolRow>,
    page: u64,
    pages: u64,
}

pub async fn mempool(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let query = query_map(&req)?;
    let page = query_u64(&query, "page", 1, 1, u64::MAX)?;
    // A page past the end is answered from the pool's size, read without
    // its lock; the walk to a page's first transaction under the lock is
    // then never longer than the pool.
    let beyond = |size: usize| {
        let pages = (size as u64).div_ceil(POOL_PAGE).max(1);
        (page > pages)
            .then(|| PageError::not_found(format!("The mempool has {pages} page(s), not {page}.")))
    };
    if let Some(e) = beyond(state.node.mempool_size()) {
        return Err(e);
    }
    let layout = Layout::new(&state.node, "Mempool").live("block transaction");
    let offset = (page - 1) * POOL_PAGE;
    let (size, txs) = read(&state, move |node| {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        Ok(node.mempool_by_fee_rate(offset, POOL_PAGE as usize))
    })
    .await?;
    // The pool may have shrunk meanwhile.
    if let Some(e) = beyond(size) {
        return Err(e);
    }
    let pages = (size as u64).div_ceil(POOL_PAGE).max(1);
    html(MempoolPage {
        layout,
        size: count(size as u64),
        bytes: count(state.node.mempool_bytes() as u64),
        rows: txs
            .iter()
            .enumerate()
            .map(|(i, (t, size))| PoolRow {
                rank: offset + i as u64 + 1,
                hash: t.hash.to_string(),
                time: utc_time(t.timestamp),
                iso: iso_time(t.timestamp),
                value: amount(t.value),
                fee: amount(t.fee),
                size: *size,
                fee_rate: fee_rate(t.fee, *size),
            })
            .collect(),
        page,
        pages,
    })
}
