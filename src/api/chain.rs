//! `GET /blockchain/` (API.md §2) and `GET /health/` (§7).

use super::{AppState, json_response};
use crate::wire::Health;
use actix_web::get;
use actix_web::{HttpResponse, web};

/// Served from the snapshot's text, serialised once per tip; only the
/// live `mempool_size` is written per answer.
#[utoipa::path(
    tag = "chain",
    responses((status = 200, description = "Success", body = crate::wire::BlockchainInfo), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/blockchain")]
pub async fn blockchain(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.node.snapshot();
    json_response(snapshot.blockchain_json(state.node.mempool_size() as u64))
}

#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Success", body = crate::wire::Health), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.node.snapshot();
    HttpResponse::Ok().json(Health {
        status: "ok".to_string(),
        height: snapshot.info.height,
        peers: state.peers.count() as u64,
        syncing: state.sync.is_syncing(),
    })
}
