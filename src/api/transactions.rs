//! The mempool's transactions (API.md §4).

use actix_web::{HttpRequest, HttpResponse, web};
use actix_web::{get, post};

use super::params::{BODY_DEADLINE, ItemId, parse_hash, parse_item_id, read_body};
use super::{ApiError, AppState};
use crate::state::{self, StoreError};
use crate::types::Transaction;
use crate::wire::{TransactionList, TransactionStatus};

/// Body limit of `POST /transactions/` (API.md).
pub const TRANSACTION_BODY_LIMIT: usize = 256 * 1024;

#[utoipa::path(
    tag = "transactions",
    responses((status = 200, description = "Success", body = crate::wire::TransactionList), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/transactions")]
pub async fn mempool_list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let node = state.node.clone();
    let list = web::block(move || {
        let transaction_headers: Vec<_> = node
            .mempool_transactions()
            .iter()
            .map(|t| t.header())
            .collect();
        TransactionList {
            transaction_count: transaction_headers.len() as u64,
            transaction_headers,
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(
    tag = "transactions",
    params(("tid" = String, Path, pattern = r"^([0-9]{1,20}|[0-9a-f]{64})$", description = "A transaction hash, or an index in arrival order")),
    responses((status = 200, description = "Success", body = crate::types::Transaction), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/transactions/{tid}")]
pub async fn mempool_transaction(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tid = path.into_inner();
    let id = parse_item_id(&tid, "transaction id", true)?;
    let node = state.node.clone();
    let tx = web::block(move || match id {
        ItemId::Hash(h) => node.mempool_transaction(&h),
        ItemId::Index(i) => usize::try_from(i)
            .ok()
            .and_then(|i| node.mempool_transaction_at(i)),
    })
    .await?;
    let tx = tx.ok_or_else(|| ApiError::not_found(format!("no mempool transaction {tid}")))?;
    Ok(HttpResponse::Ok().json(&*tx))
}

#[utoipa::path(
    tag = "transactions",
    params(("hash" = crate::types::Hash, Path, description = "A transaction hash")),
    responses((status = 200, description = "Success", body = crate::wire::TransactionStatus), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/transactions/{hash}/status")]
pub async fn transaction_status(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let hash = parse_hash(&path.into_inner(), "transaction hash")?;
    let node = state.node.clone();
    let found = web::block(move || {
        if node.mempool_transaction(&hash).is_some() {
            return Ok(None);
        }
        node.reads().with(|conn| {
            // One read transaction: location and tip from the same snapshot.
            let snapshot = conn.unchecked_transaction().map_err(StoreError::from)?;
            Ok(Some((
                state::transaction_location(&snapshot, &hash)?,
                state::tip(&snapshot)?.height,
            )))
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(match found {
        None => TransactionStatus::mempool(),
        Some((Some((height, _)), tip)) => TransactionStatus::confirmed(height, tip),
        Some((None, _)) => TransactionStatus::unknown(),
    }))
}

#[utoipa::path(
    tag = "transactions",
    params(("X-Cinder-Node" = Option<String>, Header, description = "ip:port of the relaying node (API.md §8)")),
    request_body(content = crate::types::Transaction, description = "A signed transaction", content_type = "application/json"),
    responses((status = 200, description = "Success", body = crate::types::Transaction), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[post("/transactions")]
pub async fn post_transaction(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, TRANSACTION_BODY_LIMIT, BODY_DEADLINE).await?;
    let tx: Transaction = super::parse_json(&body)?;
    let origin = super::origin_of(&req);
    let node = state.node.clone();
    let accepted = web::block(move || node.submit_transaction_from(tx, origin)).await?;
    match accepted {
        Ok(tx) => Ok(HttpResponse::Ok().json(&*tx)),
        Err(e) => Err(e.into()),
    }
}
