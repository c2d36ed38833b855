//! `GET /blockchain/` (API.md §2) and `GET /health/` (§7).

use super::AppState;
use crate::wire::{BlockchainInfo, Health, RichEntry, Work};
use actix_web::{HttpResponse, web};

pub async fn blockchain(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.node.snapshot();
    let info = &snapshot.info;
    let params = state.node.params();
    HttpResponse::Ok().json(BlockchainInfo {
        name: params.name.to_string(),
        height: info.height,
        total_transactions: info.total_transactions,
        total_addresses: info.total_addresses,
        block_time: params.block_time,
        block_reward: params.subsidy(info.height + 1),
        rich_list: info
            .rich_list
            .iter()
            .map(|(address, balance)| RichEntry {
                address: *address,
                balance: *balance,
            })
            .collect(),
        best_hash: info.best_hash,
        target: snapshot.next.required_target,
        total_work: Work(info.total_work),
        genesis_hash: params.genesis_hash,
        mempool_size: state.node.mempool_size() as u64,
    })
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
