//! Blocks and headers (API.md §3).

use actix_web::{HttpRequest, HttpResponse, web};
use actix_web::{get, post};
use serde_json::json;

use super::params::{
    BLOCK_BODY_DEADLINE, BlockId, ItemId, parse_block_id, parse_hash, parse_item_id, query_map,
    query_u64, read_body,
};
use super::{ApiError, AppState, json_response};
use crate::state;
use crate::types::{Block, Hash, Transaction};
use crate::wire::BlockAccepted;

/// Most blocks one `/blocks/` answer holds, and its size bound.
const MAX_BLOCKS: u64 = 100;
const MAX_BLOCKS_BYTES: usize = 16 * 1024 * 1024;
const MAX_HEADERS: u64 = 2000;
const MAX_LOCATORS: usize = 64;
/// Body limit of `POST /blocks/`.
pub const BLOCK_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Loads the block `{bid}`: by height only on the active chain, by hash on
/// any branch.
async fn load_block(state: &AppState, bid: &str) -> Result<Block, ApiError> {
    let id = parse_block_id(bid)?;
    let node = state.node.clone();
    let json = web::block(move || {
        node.reads().with(|conn| {
            let hash = match id {
                BlockId::Hash(h) => Some(h),
                BlockId::Last => Some(state::tip(conn)?.hash),
                BlockId::Height(h) => state::active_hash(conn, h)?,
            };
            match hash {
                Some(h) => state::block_json(conn, &h),
                None => Ok(None),
            }
        })
    })
    .await??;
    let json = json.ok_or_else(|| ApiError::not_found(format!("no block {bid}")))?;
    serde_json::from_str(&json)
        .map_err(|e| ApiError::internal(format!("stored block unreadable: {e}")))
}

/// `GET /blocks/last/`, the hottest read: served from the snapshot.
#[utoipa::path(
    tag = "blocks",
    responses((status = 200, description = "Success", body = crate::types::BlockSummary), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/blocks/last")]
pub async fn last_block(state: web::Data<AppState>) -> HttpResponse {
    json_response(state.node.snapshot().tip_summary_json.clone())
}

#[utoipa::path(
    tag = "blocks",
    params(("bid" = String, Path, pattern = r"^([0-9]{1,20}|last|[0-9a-f]{64})$", description = "A height, `last`, or a block hash (64 hex)")),
    responses((status = 200, description = "Success", body = crate::types::BlockSummary), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/blocks/{bid}")]
pub async fn block_summary(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let bid = path.into_inner();
    let block = load_block(&state, &bid).await?;
    Ok(HttpResponse::Ok().json(block.summary()))
}

#[utoipa::path(
    tag = "blocks",
    params(("bid" = String, Path, pattern = r"^([0-9]{1,20}|last|[0-9a-f]{64})$", description = "A height, `last`, or a block hash (64 hex)")),
    responses((status = 200, description = "Success", body = crate::types::Block), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/blocks/{bid}/full")]
pub async fn block_full(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let block = load_block(&state, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(block))
}

#[utoipa::path(
    tag = "blocks",
    params(("bid" = String, Path, pattern = r"^([0-9]{1,20}|last|[0-9a-f]{64})$", description = "A height, `last`, or a block hash (64 hex)")),
    responses((status = 200, description = "Success", body = crate::wire::TransactionList), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/blocks/{bid}/transactions")]
pub async fn block_transactions(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let block = load_block(&state, &path.into_inner()).await?;
    let headers: Vec<_> = block.transactions.iter().map(Transaction::header).collect();
    Ok(HttpResponse::Ok()
        .json(json!({"transaction_count": headers.len(), "transaction_headers": headers})))
}

/// Transaction `{tid}` (index in the block or hash) of `block`.
fn pick_transaction(block: Block, tid: &str) -> Result<Transaction, ApiError> {
    let found = match parse_item_id(tid, "transaction id", true)? {
        ItemId::Index(i) => usize::try_from(i)
            .ok()
            .and_then(|i| block.transactions.into_iter().nth(i)),
        ItemId::Hash(h) => block.transactions.into_iter().find(|t| t.hash == h),
    };
    found.ok_or_else(|| ApiError::not_found(format!("no transaction {tid} in this block")))
}

fn index(text: &str, what: &str) -> Result<usize, ApiError> {
    match parse_item_id(text, what, false)? {
        ItemId::Index(i) => Ok(usize::try_from(i).unwrap_or(usize::MAX)),
        ItemId::Hash(_) => Err(ApiError::bad_request(format!("{what} must be a number"))),
    }
}

#[utoipa::path(
    tag = "blocks",
    params(("bid" = String, Path, pattern = r"^([0-9]{1,20}|last|[0-9a-f]{64})$", description = "A height, `last`, or a block hash (64 hex)"), ("tid" = String, Path, pattern = r"^([0-9]{1,20}|[0-9a-f]{64})$", description = "An index in the block or a transaction hash")),
    responses((status = 200, description = "Success", body = crate::types::Transaction), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/blocks/{bid}/transactions/{tid}")]
pub async fn block_transaction(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (bid, tid) = path.into_inner();
    let tx = pick_transaction(load_block(&state, &bid).await?, &tid)?;
    Ok(HttpResponse::Ok().json(tx))
}

#[utoipa::path(
    tag = "blocks",
    params(("bid" = String, Path, pattern = r"^([0-9]{1,20}|last|[0-9a-f]{64})$", description = "A height, `last`, or a block hash (64 hex)"), ("tid" = String, Path, pattern = r"^([0-9]{1,20}|[0-9a-f]{64})$", description = "An index in the block or a transaction hash")),
    responses((status = 200, description = "Success", body = Vec<crate::types::Input>), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/blocks/{bid}/transactions/{tid}/inputs")]
pub async fn transaction_inputs(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (bid, tid) = path.into_inner();
    let tx = pick_transaction(load_block(&state, &bid).await?, &tid)?;
    Ok(HttpResponse::Ok().json(tx.inputs))
}

#[utoipa::path(
    tag = "blocks",
    params(("bid" = String, Path, pattern = r"^([0-9]{1,20}|last|[0-9a-f]{64})$", description = "A height, `last`, or a block hash (64 hex)"), ("tid" = String, Path, pattern = r"^([0-9]{1,20}|[0-9a-f]{64})$", description = "An index in the block or a transaction hash"), ("iid" = String, Path, pattern = r"^[0-9]{1,20}$", description = "An input index")),
    responses((status = 200, description = "Success", body = crate::types::Input), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/blocks/{bid}/transactions/{tid}/inputs/{iid}")]
pub async fn transaction_input(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (bid, tid, iid) = path.into_inner();
    let i = index(&iid, "input id")?;
    let tx = pick_transaction(load_block(&state, &bid).await?, &tid)?;
    let input = tx
        .inputs
        .get(i)
        .ok_or_else(|| ApiError::not_found(format!("no input {iid}")))?;
    Ok(HttpResponse::Ok().json(input))
}

#[utoipa::path(
    tag = "blocks",
    params(("bid" = String, Path, pattern = r"^([0-9]{1,20}|last|[0-9a-f]{64})$", description = "A height, `last`, or a block hash (64 hex)"), ("tid" = String, Path, pattern = r"^([0-9]{1,20}|[0-9a-f]{64})$", description = "An index in the block or a transaction hash")),
    responses((status = 200, description = "Success", body = Vec<crate::types::Output>), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/blocks/{bid}/transactions/{tid}/outputs")]
pub async fn transaction_outputs(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (bid, tid) = path.into_inner();
    let tx = pick_transaction(load_block(&state, &bid).await?, &tid)?;
    Ok(HttpResponse::Ok().json(tx.outputs))
}

#[utoipa::path(
    tag = "blocks",
    params(("bid" = String, Path, pattern = r"^([0-9]{1,20}|last|[0-9a-f]{64})$", description = "A height, `last`, or a block hash (64 hex)"), ("tid" = String, Path, pattern = r"^([0-9]{1,20}|[0-9a-f]{64})$", description = "An index in the block or a transaction hash"), ("oid" = String, Path, pattern = r"^[0-9]{1,20}$", description = "An output index")),
    responses((status = 200, description = "Success", body = crate::types::Output), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/blocks/{bid}/transactions/{tid}/outputs/{oid}")]
pub async fn transaction_output(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (bid, tid, oid) = path.into_inner();
    let i = index(&oid, "output id")?;
    let tx = pick_transaction(load_block(&state, &bid).await?, &tid)?;
    let output = tx
        .outputs
        .get(i)
        .ok_or_else(|| ApiError::not_found(format!("no output {oid}")))?;
    Ok(HttpResponse::Ok().json(output))
}

/// Joins stored JSON texts into one array without parsing them again.
fn json_array(items: Vec<String>) -> HttpResponse {
    let mut out = String::with_capacity(items.iter().map(|s| s.len() + 1).sum::<usize>() + 2);
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push(']');
    json_response(out)
}

fn split_hashes(text: &str, what: &str, max: usize) -> Result<Vec<Hash>, ApiError> {
    let parts: Vec<&str> = text.split(',').collect();
    if parts.len() > max {
        return Err(ApiError::bad_request(format!(
            "at most {max} {what}, got {}",
            parts.len()
        )));
    }
    parts.iter().map(|p| parse_hash(p, what)).collect()
}

/// `GET /blocks/?from=&limit=` or `GET /blocks/?hashes=`.
#[utoipa::path(
    tag = "blocks",
    params(("from" = Option<u64>, Query, description = "First height (with limit; default 0)"), ("limit" = Option<u64>, Query, minimum = 1, maximum = 100, description = "1-100, default 100"), ("hashes" = Option<String>, Query, pattern = r"^[0-9a-f]{64}(,[0-9a-f]{64}){0,99}$", description = "Comma-separated block hashes (at most 100), instead of from")),
    responses((status = 200, description = "Success", body = Vec<crate::types::Block>), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/blocks")]
pub async fn get_blocks(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = query_map(&req)?;
    let node = state.node.clone();
    if let Some(hashes) = query.get("hashes") {
        if query.contains_key("from") || query.contains_key("limit") {
            return Err(ApiError::bad_request(
                "hashes cannot be combined with from or limit",
            ));
        }
        let hashes = split_hashes(hashes, "hashes", MAX_BLOCKS as usize)?;
        let found = web::block(move || {
            node.reads().with(|conn| {
                let mut out = Vec::with_capacity(hashes.len());
                let mut bytes = 0;
                for h in &hashes {
                    match state::block_json(conn, h)? {
                        None => return Ok(Err(*h)),
                        Some(json) => {
                            bytes += json.len() + 1;
                            if !out.is_empty() && bytes > MAX_BLOCKS_BYTES {
                                break;
                            }
                            out.push(json);
                        }
                    }
                }
                Ok(Ok(out))
            })
        })
        .await??;
        return match found {
            Ok(items) => Ok(json_array(items)),
            Err(h) => Err(ApiError::not_found(format!("no block {h}"))),
        };
    }
    let from = query_u64(&query, "from", 0, 0, u64::MAX)?;
    let limit = query_u64(&query, "limit", MAX_BLOCKS, 1, MAX_BLOCKS)?;
    let items = web::block(move || {
        node.reads()
            .with(|conn| state::blocks_from(conn, from, limit, MAX_BLOCKS_BYTES))
    })
    .await??;
    Ok(json_array(items))
}

/// `GET /headers/?locator=&limit=`.
#[utoipa::path(
    tag = "blocks",
    params(("locator" = Option<String>, Query, pattern = r"^[0-9a-f]{64}(,[0-9a-f]{64}){0,63}$", description = "Comma-separated block hashes, newest first (at most 64)"), ("limit" = Option<u64>, Query, minimum = 1, maximum = 2000, description = "1-2000, default 2000")),
    responses((status = 200, description = "Success", body = Vec<crate::types::BlockHeader>), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/headers")]
pub async fn get_headers(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = query_map(&req)?;
    let limit = query_u64(&query, "limit", MAX_HEADERS, 1, MAX_HEADERS)?;
    let locator = match query.get("locator") {
        Some(text) => split_hashes(text, "locator hashes", MAX_LOCATORS)?,
        None => Vec::new(),
    };
    let node = state.node.clone();
    // One read transaction (API.md §8 "Connections"): the locator's match
    // and the headers after it come from the same chain.
    let items = web::block(move || {
        node.reads().with_snapshot(|conn| {
            let mut start = 0;
            for h in &locator {
                if let Some(height) = state::active_height(conn, h)? {
                    start = height;
                    break;
                }
            }
            state::headers_after(conn, start, limit)
        })
    })
    .await??;
    Ok(json_array(items))
}

/// `POST /blocks/`.
#[utoipa::path(
    tag = "blocks",
    params(("X-Cinder-Node" = Option<String>, Header, description = "ip:port of the relaying node (API.md §8)")),
    request_body(content = crate::types::Block, description = "A whole block", content_type = "application/json"),
    responses((status = 200, description = "Success", body = crate::wire::BlockAccepted), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[post("/blocks")]
pub async fn post_block(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, BLOCK_BODY_LIMIT, BLOCK_BODY_DEADLINE).await?;
    let block: Block = super::parse_json(&body)?;
    let node = state.node.clone();
    let block = std::sync::Arc::new(block);
    let submitted = block.clone();
    let origin = super::origin_of(&req);
    let accepted = web::block(move || node.submit_block_from(&submitted, origin)).await?;
    let accepted = match accepted {
        Ok(a) => a,
        Err(e) => {
            // A relayed block whose parent this node lacks: sync from the
            // node that relayed it, when it is a known, unbanned peer
            // posting from its own IP (API.md §8 "Named syncs").
            let unknown_parent = matches!(
                e.sync_verdict(),
                Some(crate::p2p::sync_run::Verdict::UnknownParent)
            );
            let caller = req.peer_addr().map(|a| a.ip());
            let now = state.peers.now();
            let known = |peer: &crate::wire::NodeAddr| {
                state
                    .peers
                    .with_book(|book| book.is_known(peer) && !book.is_banned(peer, now))
            };
            if let Some(peer) = crate::p2p::sync::sync_for_posted_block(
                unknown_parent,
                origin.peer(),
                caller,
                known,
            ) {
                tracing::debug!(%peer, block = %block.hash, "unknown parent: asking sync");
                state.sync.request(Some(peer));
            }
            tracing::debug!(block = %block.hash, "block refused: {e}");
            return Err(e.into());
        }
    };
    Ok(HttpResponse::Ok().json(BlockAccepted {
        status: accepted,
        hash: block.hash,
        height: block.height,
    }))
}
