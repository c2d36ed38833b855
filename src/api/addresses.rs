//! Addresses and unspent outputs (API.md §5), written as the shapes of
//! [`crate::wire`].

use actix_web::get;
use actix_web::{HttpRequest, HttpResponse, web};

use super::params::{parse_address, parse_hash, query_map, query_u64};
use super::{ApiError, AppState};
use crate::state;
use crate::types::{Address, Amount, OutPoint, SignedAmount};
use crate::wire::{
    AddressHistoryEntry, AddressInfo, AddressMempoolEntry, UnspentOutput, UnspentOutputs,
};

fn confirmed_output(o: &state::UnspentOutput) -> UnspentOutput {
    UnspentOutput {
        block_height: Some(o.block_height),
        transaction_hash: o.transaction_hash,
        transaction_index: Some(o.transaction_index),
        output_index: o.output_index,
        value: o.value,
        coinbase: o.coinbase,
    }
}

fn mempool_flag(req: &HttpRequest) -> Result<bool, ApiError> {
    let query = query_map(req)?;
    match query.get("mempool").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "mempool must be true or false, got {other:?}"
        ))),
    }
}

/// The unspent outputs of an address and their balance: confirmed, or as
/// the mempool sees them.
async fn unspent(
    state: &AppState,
    address: Address,
    with_mempool: bool,
) -> Result<UnspentOutputs, ApiError> {
    let node = state.node.clone();
    let confirmed = web::block(move || {
        node.reads()
            .with(|conn| state::unspent_outputs(conn, &address))
    })
    .await??;
    if !with_mempool {
        let balance = confirmed.iter().map(|o| o.value.units()).sum();
        return Ok(UnspentOutputs {
            utxo_outputs: confirmed.iter().map(confirmed_output).collect(),
            balance: Amount::from_units(balance),
        });
    }
    let node = state.node.clone();
    let view = web::block(move || node.mempool_view_of(&address)).await?;
    let mut items = Vec::new();
    let mut balance = 0u64;
    for o in confirmed.iter().filter(|o| {
        !view
            .spent
            .contains(&OutPoint::new(o.transaction_hash, o.output_index))
    }) {
        balance += o.value.units();
        items.push(confirmed_output(o));
    }
    for (hash, index, value) in &view.created {
        balance += value.units();
        items.push(UnspentOutput {
            block_height: None,
            transaction_hash: *hash,
            transaction_index: None,
            output_index: *index,
            value: *value,
            coinbase: false,
        });
    }
    Ok(UnspentOutputs {
        utxo_outputs: items,
        balance: Amount::from_units(balance),
    })
}

#[utoipa::path(
    tag = "addresses",
    params(("address" = crate::types::Address, Path, description = "An address: 0x and 40 hex digits, lowercase or checksummed"), ("mempool" = Option<bool>, Query, description = "true: as the mempool sees them (default false)")),
    responses((status = 200, description = "Success", body = crate::wire::UnspentOutputs), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/utxo/{address}")]
pub async fn utxo(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let address = parse_address(&path.into_inner())?;
    let answer = unspent(&state, address, mempool_flag(&req)?).await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[utoipa::path(
    tag = "addresses",
    params(("address" = crate::types::Address, Path, description = "An address: 0x and 40 hex digits, lowercase or checksummed"), ("mempool" = Option<bool>, Query, description = "true: as the mempool sees them (default false)")),
    responses((status = 200, description = "Success", body = Vec<crate::wire::UnspentOutput>), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/utxo/{address}/outputs")]
pub async fn utxo_outputs(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let address = parse_address(&path.into_inner())?;
    let answer = unspent(&state, address, mempool_flag(&req)?).await?;
    Ok(HttpResponse::Ok().json(answer.utxo_outputs))
}

#[utoipa::path(
    tag = "addresses",
    params(("address" = crate::types::Address, Path, description = "An address: 0x and 40 hex digits, lowercase or checksummed"), ("hash" = crate::types::Hash, Path, description = "The transaction that created the outputs"), ("mempool" = Option<bool>, Query, description = "true: as the mempool sees them (default false)")),
    responses((status = 200, description = "Success", body = Vec<crate::wire::UnspentOutput>), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/utxo/{address}/outputs/{hash}")]
pub async fn utxo_outputs_of(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (address, hash) = path.into_inner();
    let address = parse_address(&address)?;
    let hash = parse_hash(&hash, "transaction hash")?;
    let answer = unspent(&state, address, mempool_flag(&req)?).await?;
    let items: Vec<UnspentOutput> = answer
        .utxo_outputs
        .into_iter()
        .filter(|o| o.transaction_hash == hash)
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

#[utoipa::path(
    tag = "addresses",
    params(("address" = crate::types::Address, Path, description = "An address: 0x and 40 hex digits, lowercase or checksummed")),
    responses((status = 200, description = "Success", body = crate::wire::AddressInfo), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/addresses/{address}")]
pub async fn address_info(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let address = parse_address(&path.into_inner())?;
    let node = state.node.clone();
    let (totals, net) = web::block(move || {
        let totals = node
            .reads()
            .with(|conn| state::address_totals(conn, &address))?;
        Ok::<_, ApiError>((totals, node.mempool_net_effect(&address)))
    })
    .await??;
    let unconfirmed_balance =
        SignedAmount::credit(totals.balance).saturating_add(SignedAmount::from_units(net));
    Ok(HttpResponse::Ok().json(AddressInfo {
        address,
        balance: totals.balance,
        unconfirmed_balance,
        received: totals.received,
        sent: totals.sent,
        transaction_count: totals.transaction_count,
    }))
}

#[utoipa::path(
    tag = "addresses",
    params(("address" = crate::types::Address, Path, description = "An address: 0x and 40 hex digits, lowercase or checksummed"), ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "1-1000, default 50"), ("before" = Option<crate::types::Hash>, Query, description = "The hash of the last entry of the previous page")),
    responses((status = 200, description = "Success", body = Vec<crate::wire::AddressHistoryEntry>), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/addresses/{address}/transactions")]
pub async fn address_transactions(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let address = parse_address(&path.into_inner())?;
    let query = query_map(&req)?;
    let limit = query_u64(&query, "limit", 50, 1, 1000)?;
    let before = match query.get("before") {
        Some(text) => Some(parse_hash(text, "before")?),
        None => None,
    };
    let node = state.node.clone();
    let page = web::block(move || {
        node.reads()
            .with(|conn| state::address_history(conn, &address, limit, before.as_ref()))
    })
    .await??
    .ok_or_else(|| {
        ApiError::bad_request("before is not a transaction in this address's history")
    })?;
    let items: Vec<AddressHistoryEntry> = page
        .iter()
        .map(|e| AddressHistoryEntry {
            hash: e.hash,
            block_height: e.block_height,
            timestamp: e.timestamp,
            delta: SignedAmount::from_units(e.delta),
        })
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

#[utoipa::path(
    tag = "addresses",
    params(("address" = crate::types::Address, Path, description = "An address: 0x and 40 hex digits, lowercase or checksummed")),
    responses((status = 200, description = "Success", body = Vec<crate::wire::AddressMempoolEntry>), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/addresses/{address}/mempool")]
pub async fn address_mempool(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let address = parse_address(&path.into_inner())?;
    let node = state.node.clone();
    let entries = web::block(move || node.mempool_entries_of(&address)).await?;
    let items: Vec<AddressMempoolEntry> = entries
        .into_iter()
        .map(|(hash, timestamp, delta)| AddressMempoolEntry {
            hash,
            timestamp,
            delta: SignedAmount::from_units(delta),
        })
        .collect();
    Ok(HttpResponse::Ok().json(items))
}
