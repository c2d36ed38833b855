//! `GET /blockchain/` (API.md §2) and `GET /health/` (§7).

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::{ApiError, AppState};

pub async fn blockchain(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let snapshot = state.node.snapshot();
    let info = &snapshot.info;
    let params = state.node.params();
    let next_height = info.height + 1;
    let rich_list: Vec<_> = info
        .rich_list
        .iter()
        .map(|(address, balance)| json!({"address": address, "balance": balance}))
        .collect();
    let target = state.node.next_target()?;
    Ok(HttpResponse::Ok().json(json!({
        "name": params.name,
        "height": info.height,
        "total_transactions": info.total_transactions,
        "total_addresses": info.total_addresses,
        "block_time": params.block_time,
        "block_reward": params.subsidy(next_height),
        "rich_list": rich_list,
        "best_hash": info.best_hash,
        "target": target,
        "total_work": info.total_work.to_string(),
        "genesis_hash": params.genesis_hash,
        "mempool_size": state.node.mempool_size(),
    })))
}

pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.node.snapshot();
    HttpResponse::Ok().json(json!({
        "status": "ok",
        "height": snapshot.info.height,
        "peers": 0,
        "syncing": false,
    }))
}
