//! `GET /blockchain/` (API.md §2) and `GET /health/` (§7).

use super::{AppState, json_response};
use crate::wire::Health;
use actix_web::{HttpResponse, web};

/// Served from the snapshot's text, serialised once per tip; only the
/// live `mempool_size` is written per answer.
pub async fn blockchain(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.node.snapshot();
    json_response(snapshot.blockchain_json(state.node.mempool_size() as u64))
}

pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.node.snapshot();
    HttpResponse::Ok().json(Health {
        status: "ok".to_string(),
        height: snapshot.info.height,
        peers: state.peers.count() as u64,
        syncing: state.sync.is_syncing(),
    })
}
