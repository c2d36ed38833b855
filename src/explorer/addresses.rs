//! `GET /explorer/addresses/{address}/`: balances, the newest of its
//! mempool transactions, and the whole history, newest first, a page at a
//! time (`?before=` as API.md §5), each row with its date and the balance
//! after it; and `history.csv`: all of it oldest first, streamed a chunk
//! at a time.
//!
//! A page is two ranges of the history's key: its rows, and the sum of the
//! deltas newer than the cursor that gives the balance after its first row
//! (that sum grows with the number of newer rows: one indexed range, not
//! constant; 20,000 rows, p99 8.7 ms in `bench --only explorer`). The CSV
//! reads the next chunk of [`CSV_CHUNK`] rows only when the client took
//! the previous one, each a short read on a blocking thread: memory stays
//! flat, and a slow client holds no connection of the read pool and no
//! thread, only one of [`MAX_DOWNLOADS`] places ([`MAX_DOWNLOADS_PER_IP`]
//! from one IP; `503` beyond). `HEAD` answers the head alone.

use actix_web::http::header::CONTENT_DISPOSITION;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::format::{amount, count, delta, iso_time, signed, utc_time};
use super::{Explorer, Layout, PageError, blocking, display, html, read};
use crate::api::AppState;
use crate::api::params::{parse_address, parse_hash, query_map};
use crate::node::Node;
use crate::state::{self, StoreError};
use crate::types::{Address, Hash, SignedAmount};

/// History rows on one page.
pub const PER_PAGE: u64 = 50;
/// Mempool transactions the page lists (the newest; their number is shown).
pub const PENDING_SHOWN: usize = 100;
/// History rows the CSV reads at a time (about 30 KB handed to the server
/// per chunk, per download).
pub const CSV_CHUNK: u64 = 250;
/// CSV downloads at once, at most.
pub const MAX_DOWNLOADS: usize = 32;
/// CSV downloads at once from one IP (loopback included), at most.
pub const MAX_DOWNLOADS_PER_IP: usize = 8;
/// The CSV's first line (API.md §9).
pub const CSV_HEADER: &str = "block_height,timestamp,transaction_hash,delta,balance\n";

pub struct HistoryView {
    pub hash: String,
    pub height: u64,
    pub time: String,
    pub iso: String,
    pub delta: String,
    pub credit: bool,
    pub balance: String,
}

pub struct PendingView {
    pub hash: String,
    pub time: String,
    pub iso: String,
    pub delta: String,
    pub credit: bool,
}

#[derive(Template)]
#[template(path = "address.html", config = "src/explorer/askama.toml")]
struct AddressPage {
    layout: Layout,
    address: String,
    lower: String,
    balance: String,
    unconfirmed_balance: String,
    received: String,
    sent: String,
    transaction_count: String,
    rows: Vec<HistoryView>,
    /// The newest mempool transactions touching it, newest first.
    pending: Vec<PendingView>,
    /// How many mempool transactions touch it (`pending` may show fewer),
    /// and that number as shown.
    pending_count: usize,
    pending_total: String,
    /// The `before` of the next (older) page.
    older: Option<String>,
    /// Whether this is a later page (`before` was given).
    later: bool,
}

pub async fn address(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let address = parse_address(&path.into_inner())?;
    let query = query_map(&req)?;
    let before = match query.get("before") {
        Some(text) => Some(parse_hash(text, "before")?),
        None => None,
    };
    let shown = display(&address);
    let layout = Layout::new(&state.node, format!("Address {shown}"));
    let shown_pending = if before.is_some() { 0 } else { PENDING_SHOWN };
    let (page, pool) = read(&state, move |node| {
        let page = node.reads().with_snapshot(|conn| {
            state::address_history_page(conn, &address, PER_PAGE, before.as_ref())
        })?;
        // The rows shown and the unconfirmed balance from one look.
        Ok((page, node.mempool_activity_of(&address, shown_pending)))
    })
    .await?;
    let page = page.ok_or_else(|| {
        PageError::bad_request("before is not a transaction in this address's history.")
    })?;
    let totals = &page.totals;
    let unconfirmed = SignedAmount::credit(totals.balance)
        .saturating_add(SignedAmount::from_units(pool.net_effect));
    html(AddressPage {
        layout,
        lower: address.to_string(),
        address: shown,
        balance: amount(totals.balance),
        unconfirmed_balance: unconfirmed.to_string(),
        received: amount(totals.received),
        sent: amount(totals.sent),
        transaction_count: count(totals.transaction_count),
        older: page
            .older
            .then(|| page.rows.last().map(|r| r.entry.hash.to_string()))
            .flatten(),
        later: before.is_some(),
        rows: page
            .rows
            .iter()
            .map(|r| HistoryView {
                hash: r.entry.hash.to_string(),
                height: r.entry.block_height,
                time: utc_time(r.entry.timestamp),
                iso: iso_time(r.entry.timestamp),
                delta: delta(r.entry.delta),
                credit: r.entry.delta > 0,
                balance: signed(r.balance_after),
            })
            .collect(),
        pending: pool
            .newest
            .iter()
            .map(|(hash, timestamp, d)| PendingView {
                hash: hash.to_string(),
                time: utc_time(*timestamp),
                iso: iso_time(*timestamp),
                delta: delta(*d),
                credit: *d > 0,
            })
            .collect(),
        pending_count: if before.is_some() { 0 } else { pool.count },
        pending_total: count(pool.count as u64),
    })
}

/// Where the CSV stands between two chunks.
enum Csv {
    Header,
    Rows {
        /// The last row written: (height, position).
        after: Option<(u64, u64)>,
        /// The balance after it, in units.
        balance: i64,
        /// The active block at the last row's height when it was read: a
        /// reorganisation below it would make the rest disagree with what
        /// was written, and ends the download (cut short, not wrong).
        anchor: Option<(u64, Hash)>,
    },
    Done,
}

/// The head of `address`'s CSV.
fn csv_head(address: &Address) -> actix_web::HttpResponseBuilder {
    let mut head = HttpResponse::Ok();
    head.content_type("text/csv; charset=utf-8").insert_header((
        CONTENT_DISPOSITION,
        format!("attachment; filename=\"{address}-history.csv\""),
    ));
    head
}

/// `GET /explorer/addresses/{address}/history.csv`.
pub async fn history_csv(
    state: web::Data<AppState>,
    explorer: web::Data<Explorer>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let address = parse_address(&path.into_inner())?;
    let pass = explorer.downloads.enter(req.peer_addr().map(|a| a.ip()))?;
    let node = state.node.clone();
    // The place is the stream's: freed when it ends or the client goes.
    let body = futures_util::stream::unfold((Csv::Header, pass), move |(step, pass)| {
        let node = node.clone();
        async move {
            let (bytes, next) = next_chunk(node, address, step).await?;
            Some((bytes, (next, pass)))
        }
    });
    Ok(csv_head(&address).streaming(body))
}

/// `HEAD /explorer/addresses/{address}/history.csv`: the head alone, no
/// read of the history and no place taken.
pub async fn history_csv_head(path: web::Path<String>) -> Result<HttpResponse, PageError> {
    let address = parse_address(&path.into_inner())?;
    Ok(
        csv_head(&address)
            .streaming(futures_util::stream::empty::<Result<Bytes, std::io::Error>>()),
    )
}

/// One chunk of rows after `after`, and the anchor for the next one; an
/// error when the chain was reorganised below the last row written.
type Chunk = Result<(Vec<state::HistoryStep>, Option<(u64, Hash)>), String>;

fn read_chunk(
    node: &Node,
    address: &Address,
    after: Option<(u64, u64)>,
    anchor: Option<(u64, Hash)>,
) -> Result<Chunk, StoreError> {
    node.reads().with_snapshot(|conn| {
        if let Some((height, hash)) = anchor
            && state::active_hash(conn, height)? != Some(hash)
        {
            return Ok(Err(format!(
                "the chain was reorganised below height {height} during the download"
            )));
        }
        let steps = state::address_history_ascending(conn, address, after, CSV_CHUNK)?;
        let anchor = match steps.last() {
            Some(last) => {
                state::active_hash(conn, last.block_height)?.map(|hash| (last.block_height, hash))
            }
            None => None,
        };
        Ok(Ok((steps, anchor)))
    })
}

async fn next_chunk(
    node: std::sync::Arc<Node>,
    address: Address,
    step: Csv,
) -> Option<(Result<Bytes, std::io::Error>, Csv)> {
    let (after, mut balance, anchor) = match step {
        Csv::Done => return None,
        Csv::Header => {
            let first = Csv::Rows {
                after: None,
                balance: 0,
                anchor: None,
            };
            return Some((Ok(Bytes::from_static(CSV_HEADER.as_bytes())), first));
        }
        Csv::Rows {
            after,
            balance,
            anchor,
        } => (after, balance, anchor),
    };
    let chunk = match blocking(move || read_chunk(&node, &address, after, anchor)).await {
        Ok(Ok(Ok(chunk))) => chunk,
        Ok(Ok(Err(why))) => return Some((Err(std::io::Error::other(why)), Csv::Done)),
        Ok(Err(e)) => {
            tracing::error!("explorer: history.csv of {address}: {e}");
            return Some((Err(std::io::Error::other(e.to_string())), Csv::Done));
        }
        // Shutting down, or a panic (logged): the download is cut short.
        Err(e) => return Some((Err(std::io::Error::other(e.message)), Csv::Done)),
    };
    let (steps, anchor) = chunk;
    let last = steps.last().map(|s| (s.block_height, s.position))?;
    let mut text = String::with_capacity(steps.len() * 128);
    for s in &steps {
        balance += s.delta;
        text.push_str(&format!(
            "{},{},{},{},{}\n",
            s.block_height,
            s.timestamp,
            s.hash,
            signed(s.delta),
            signed(balance)
        ));
    }
    let next = Csv::Rows {
        after: Some(last),
        balance,
        anchor,
    };
    Some((Ok(Bytes::from(text)), next))
}
