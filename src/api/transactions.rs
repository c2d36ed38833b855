//! The mempool's transactions (API.md §4).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::params::{ItemId, parse_hash, parse_item_id, read_body};
use super::{ApiError, AppState};
use crate::node::TxRejected;
use crate::state::{self, StoreError};
use crate::types::Transaction;

/// Body limit of `POST /transactions/` (API.md).
pub const TRANSACTION_BODY_LIMIT: usize = 256 * 1024;

pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    let txs = state.node.mempool_transactions();
    let headers: Vec<_> = txs.iter().map(|t| t.header()).collect();
    HttpResponse::Ok()
        .json(json!({"transaction_count": headers.len(), "transaction_headers": headers}))
}

pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tid = path.into_inner();
    let tx = match parse_item_id(&tid, "transaction id", true)? {
        ItemId::Hash(h) => state.node.mempool_transaction(&h),
        ItemId::Index(i) => usize::try_from(i)
            .ok()
            .and_then(|i| state.node.mempool_transaction_at(i)),
    };
    let tx = tx.ok_or_else(|| ApiError::not_found(format!("no mempool transaction {tid}")))?;
    Ok(HttpResponse::Ok().json(&*tx))
}

pub async fn status(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let hash = parse_hash(&path.into_inner(), "transaction hash")?;
    if state.node.mempool_transaction(&hash).is_some() {
        return Ok(HttpResponse::Ok().json(json!({"status": "mempool"})));
    }
    let node = state.node.clone();
    let found = web::block(move || {
        node.reads().with(|conn| {
            // One read transaction: location and tip from the same snapshot.
            let snapshot = conn.unchecked_transaction().map_err(StoreError::from)?;
            Ok((
                state::transaction_location(&snapshot, &hash)?,
                state::tip(&snapshot)?.height,
            ))
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(match found {
        (Some((height, _)), tip) => json!({"status": "confirmed", "block_height": height, "confirmations": tip.saturating_sub(height) + 1}),
        (None, _) => json!({"status": "unknown"}),
    }))
}

pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, TRANSACTION_BODY_LIMIT).await?;
    let tx: Transaction = super::parse_json(&body)?;
    let node = state.node.clone();
    let accepted = web::block(move || node.submit_transaction(tx)).await?;
    match accepted {
        Ok(tx) => Ok(HttpResponse::Ok().json(&*tx)),
        Err(TxRejected::Rule(e)) => Err(ApiError::rule(&e)),
        Err(TxRejected::Store(e)) => Err(e.into()),
    }
}
