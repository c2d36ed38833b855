//! `GET /explorer/blocks/{height|hash}/`: a block's header fields, its
//! transactions (paged), links to its parent and children.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::format::{amount, iso_time, utc_time};
use super::{Layout, PageError, display, html, read};
use crate::api::AppState;
use crate::api::params::{BlockId, parse_block_id, query_map, query_u64};
use crate::state;
use crate::types::Block;

/// Transactions on one page of a block.
pub const PER_PAGE: u64 = 100;

pub struct TxRow {
    pub index: usize,
    pub hash: String,
    pub value: String,
    pub fee: String,
    pub inputs: usize,
    pub outputs: usize,
    pub coinbase: bool,
}

pub struct Child {
    pub hash: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "block.html", config = "src/explorer/askama.toml")]
struct BlockPage {
    layout: Layout,
    height: u64,
    hash: String,
    prev_hash: Option<String>,
    children: Vec<Child>,
    time: String,
    iso: String,
    timestamp: u64,
    target: String,
    nonce: u64,
    merkle_root: String,
    creator: String,
    reward: String,
    fees: String,
    transaction_count: u32,
    /// `None` for a block off the active chain.
    confirmations: Option<u64>,
    rows: Vec<TxRow>,
    page: u64,
    pages: u64,
}

/// What the page reads in one read transaction.
struct Found {
    block: Block,
    active: bool,
    tip_height: u64,
    children: Vec<(crate::types::Hash, bool)>,
}

pub async fn block(
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let id_text = id.into_inner();
    let id = parse_block_id(&id_text)?;
    let query = query_map(&req)?;
    let page = query_u64(&query, "page", 1, 1, u64::MAX)?;
    let layout = Layout::new(&state.node, format!("Block {id_text}"));
    let found = read(&state, move |node| {
        node.reads().with_snapshot(|conn| {
            let tip = state::tip(conn)?;
            let hash = match id {
                BlockId::Hash(h) => Some(h),
                BlockId::Last => Some(tip.hash),
                BlockId::Height(h) => state::active_hash(conn, h)?,
            };
            let Some(hash) = hash else {
                return Ok(None);
            };
            let Some(json) = state::block_json(conn, &hash)? else {
                return Ok(None);
            };
            let block: Block = serde_json::from_str(&json)
                .map_err(|e| state::StoreError::Corrupt(format!("block {hash}: {e}")))?;
            Ok(Some(Found {
                active: state::active_height(conn, &hash)?.is_some(),
                tip_height: tip.height,
                children: state::block_children(conn, &hash)?,
                block,
            }))
        })
    })
    .await?
    .ok_or_else(|| PageError::not_found(format!("No block {id_text} on this node.")))?;
    let b = &found.block;
    let pages = (b.transactions.len() as u64).div_ceil(PER_PAGE).max(1);
    if page > pages {
        return Err(PageError::not_found(format!(
            "Block {} has {pages} page(s) of transactions, not {page}.",
            b.height
        )));
    }
    let first = ((page - 1) * PER_PAGE) as usize;
    let rows = b
        .transactions
        .iter()
        .enumerate()
        .skip(first)
        .take(PER_PAGE as usize)
        .map(|(index, t)| TxRow {
            index,
            hash: t.hash.to_string(),
            value: amount(t.value),
            fee: amount(t.fee),
            inputs: t.inputs.len(),
            outputs: t.outputs.len(),
            coinbase: index == 0,
        })
        .collect();
    html(BlockPage {
        layout: Layout {
            title: format!("Block {}", b.height),
            ..layout
        }
        .live("block"),
        height: b.height,
        hash: b.hash.to_string(),
        prev_hash: (b.height > 0).then(|| b.prev_hash.to_string()),
        children: found
            .children
            .iter()
            .map(|(h, active)| Child {
                hash: h.to_string(),
                active: *active,
            })
            .collect(),
        time: utc_time(b.timestamp),
        iso: iso_time(b.timestamp),
        timestamp: b.timestamp,
        target: b.target.to_string(),
        nonce: b.nonce,
        merkle_root: b.merkle_root.to_string(),
        creator: display(&b.creator),
        reward: amount(b.reward),
        fees: amount(b.fees),
        transaction_count: b.transaction_count,
        confirmations: found
            .active
            .then(|| found.tip_height.saturating_sub(b.height) + 1),
        rows,
        page,
        pages,
    })
}
