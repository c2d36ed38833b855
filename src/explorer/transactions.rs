//! `GET /explorer/transactions/{hash}/`: a transaction confirmed on the
//! active chain or waiting in the mempool: its inputs linking to the
//! outputs they spend, its outputs with their spent or unspent state and a
//! link to the spender, fee and confirmations.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use askama::Template;

use super::format::{amount, fee_rate, iso_time, utc_time};
use super::{Layout, PageError, display, html, read};
use crate::api::AppState;
use crate::api::params::parse_hash;
use crate::node::Node;
use crate::state::{self, StoreError};
use crate::types::{Block, Hash, OutPoint, Transaction};

pub struct InputRow {
    pub index: usize,
    pub spends_tx: String,
    pub spends_index: u32,
    pub address: String,
    pub value: String,
}

pub struct OutputRow {
    pub index: u32,
    pub address: String,
    pub value: String,
    /// `unspent`, `spent` or `burnt` (paid to the zero address).
    pub state: &'static str,
    /// The height of the block that spent it.
    pub spent_height: Option<u64>,
    /// The transaction that spent it.
    pub spender: Option<String>,
    /// A mempool transaction spending it.
    pub pending: Option<String>,
}

#[derive(Template)]
#[template(path = "transaction.html", config = "src/explorer/askama.toml")]
struct TransactionPage {
    layout: Layout,
    hash: String,
    /// The height of its block when confirmed.
    block_height: Option<u64>,
    block_hash: String,
    position: usize,
    confirmations: u64,
    time: String,
    iso: String,
    value: String,
    fee: String,
    size: usize,
    fee_rate: String,
    coinbase: bool,
    inputs: Vec<InputRow>,
    outputs: Vec<OutputRow>,
}

/// A transaction as the page found it.
struct Found {
    tx: Transaction,
    /// (height, block hash, position, confirmations) when confirmed.
    block: Option<(u64, Hash, usize, u64)>,
    /// Per output, by index: stored (the address paid is not zero), the
    /// height of the block that spent it with the spender, and a mempool
    /// spender.
    outputs: Vec<Outcome>,
}

/// What became of an output: stored (the address paid is not zero), the
/// height of the block that spent it with the spender, a mempool spender.
type Outcome = (bool, Option<(u64, Option<Hash>)>, Option<Hash>);

/// The confirmed transaction `hash` with its outputs' states, in one read
/// transaction.
fn confirmed(node: &Node, hash: &Hash) -> Result<Option<Found>, StoreError> {
    node.reads().with_snapshot(|conn| {
        let Some((height, position)) = state::transaction_location(conn, hash)? else {
            return Ok(None);
        };
        let tip = state::tip(conn)?.height;
        let block_hash = state::active_hash(conn, height)?
            .ok_or_else(|| StoreError::Corrupt(format!("no active block at {height}")))?;
        let json = state::block_json(conn, &block_hash)?
            .ok_or_else(|| StoreError::Corrupt(format!("block {block_hash} missing")))?;
        let block: Block = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("block {block_hash}: {e}")))?;
        let tx = block
            .transactions
            .into_iter()
            .nth(position)
            .filter(|t| t.hash == *hash)
            .ok_or_else(|| StoreError::Corrupt(format!("{hash} not at {height}:{position}")))?;
        let stored = state::output_states(conn, hash)?;
        let mut outputs = vec![(false, None, None); tx.outputs.len()];
        // Only for rows without their stored spender: each block read once.
        let mut read = state::SpendsRead::default();
        for o in stored {
            let Some(slot) = outputs.get_mut(o.output_index as usize) else {
                continue;
            };
            slot.0 = true;
            if let Some(spent) = o.spent_height {
                let spender = match o.spent_by {
                    Some(spender) => Some(spender),
                    None => {
                        let outpoint = OutPoint::new(*hash, o.output_index);
                        state::spender_of(conn, &outpoint, &o.address, spent, &mut read)?
                    }
                };
                slot.1 = Some((spent, spender));
            }
        }
        Ok(Some(Found {
            block: Some((height, block_hash, position, tip.saturating_sub(height) + 1)),
            tx,
            outputs,
        }))
    })
}

/// Adds the mempool's spenders of `found`'s outputs.
fn with_pending(node: &Node, mut found: Found) -> Found {
    let outpoints: Vec<OutPoint> = (0..found.tx.outputs.len())
        .map(|i| OutPoint::new(found.tx.hash, i as u32))
        .collect();
    for (slot, pending) in found
        .outputs
        .iter_mut()
        .zip(node.mempool_spenders(&outpoints))
    {
        slot.2 = pending;
    }
    found
}

/// The mempool transaction `hash`, its outputs unspent unless the mempool
/// spends them.
fn unconfirmed(tx: Arc<Transaction>) -> Found {
    Found {
        outputs: tx
            .outputs
            .iter()
            .map(|o| (!o.address.is_zero(), None, None))
            .collect(),
        block: None,
        tx: Transaction::clone(&tx),
    }
}

fn find(node: &Node, hash: &Hash) -> Result<Option<Found>, StoreError> {
    // Confirmed first, then the mempool; once more if it moved from the
    // pool into a block between the two looks.
    for _ in 0..2 {
        if let Some(found) = confirmed(node, hash)? {
            return Ok(Some(with_pending(node, found)));
        }
        if let Some(tx) = node.mempool_transaction(hash) {
            return Ok(Some(with_pending(node, unconfirmed(tx))));
        }
    }
    Ok(None)
}

pub async fn transaction(
    state: web::Data<AppState>,
    hash: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let hash = parse_hash(&hash.into_inner(), "transaction hash")?;
    let layout = Layout::new(&state.node, format!("Transaction {hash}")).live("block");
    let found = read(&state, move |node| find(node, &hash))
        .await?
        .ok_or_else(|| {
            PageError::not_found(format!(
                "No transaction {hash} on the active chain or in the mempool."
            ))
        })?;
    let tx = &found.tx;
    let coinbase = found.block.as_ref().is_some_and(|b| b.2 == 0);
    let inputs = if coinbase {
        Vec::new()
    } else {
        tx.inputs
            .iter()
            .enumerate()
            .map(|(index, i)| InputRow {
                index,
                spends_tx: i.transaction_hash.to_string(),
                spends_index: i.output_index,
                address: display(&i.output_address),
                value: amount(i.output_value),
            })
            .collect()
    };
    let outputs = tx
        .outputs
        .iter()
        .zip(&found.outputs)
        .map(|(o, (stored, spender, pending))| OutputRow {
            index: o.index,
            address: display(&o.address),
            value: amount(o.value),
            state: if !stored {
                "burnt"
            } else if spender.is_some() {
                "spent"
            } else {
                "unspent"
            },
            spent_height: spender.map(|(height, _)| height),
            spender: spender.and_then(|(_, h)| h).map(|h| h.to_string()),
            pending: pending.map(|h| h.to_string()),
        })
        .collect();
    html(TransactionPage {
        layout,
        hash: tx.hash.to_string(),
        block_height: found.block.map(|b| b.0),
        block_hash: found.block.map(|b| b.1.to_string()).unwrap_or_default(),
        position: found.block.map_or(0, |b| b.2),
        confirmations: found.block.map_or(0, |b| b.3),
        time: utc_time(tx.timestamp),
        iso: iso_time(tx.timestamp),
        value: amount(tx.value),
        fee: amount(tx.fee),
        size: tx.size(),
        fee_rate: fee_rate(tx.fee, tx.size()),
        coinbase,
        inputs,
        outputs,
    })
}
