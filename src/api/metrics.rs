//! `GET /metrics` (API.md §7) and the HTTP metrics of every answer.

use actix_web::get;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use super::ApiError;
use crate::metrics::{ServerMetrics, UNMATCHED_ROUTE};

/// Routes without `{segments}`: their path is their pattern, found
/// without asking the router again (which matches patterns by regular
/// expression).
const PLAIN_ROUTES: [&str; 13] = [
    "/",
    "/blocks/last",
    "/blockchain",
    "/health",
    "/blocks",
    "/headers",
    "/transactions",
    "/mining/template",
    "/nodes",
    "/metrics",
    "/openapi.json",
    "/explorer",
    "/explorer/events",
];

/// The `route` label of an answered request: the pattern the router
/// matched, never the raw path (a stranger chooses it).
pub fn route_label(req: &HttpRequest) -> std::borrow::Cow<'static, str> {
    let path = req.path();
    if let Some(plain) = PLAIN_ROUTES.iter().find(|p| **p == path) {
        return std::borrow::Cow::Borrowed(plain);
    }
    match req.match_pattern() {
        Some(pattern) => std::borrow::Cow::Owned(pattern),
        None => std::borrow::Cow::Borrowed(UNMATCHED_ROUTE),
    }
}

/// Counts an answered request in `metrics`.
pub fn observe<B>(metrics: &ServerMetrics, res: &ServiceResponse<B>, started: Instant) {
    let route = route_label(res.request());
    metrics
        .http
        .observe(&route, res.status().as_str(), started.elapsed());
}

/// The text format's content type.
fn text_format() -> HeaderValue {
    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8")
}

/// Renders `metrics` after `refresh` has set the gauges of state.
pub async fn render(
    metrics: Arc<ServerMetrics>,
    refresh: impl FnOnce() + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    // Reading the peer book and the database's size may wait on a lock or
    // the disk: off the async workers.
    let text = web::block(move || {
        refresh();
        metrics.render()
    })
    .await?
    .map_err(ApiError::internal)?;
    let mut answer = HttpResponse::Ok().body(text);
    answer.headers_mut().insert(CONTENT_TYPE, text_format());
    Ok(answer)
}

/// `GET /metrics` of a full node.
#[cfg(feature = "node")]
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Success", body = String, content_type = "text/plain"), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/metrics")]
pub async fn node_metrics(
    state: web::Data<super::AppState>,
    metrics: web::Data<ServerMetrics>,
) -> Result<HttpResponse, ApiError> {
    use crate::p2p::Slot;
    let state = state.into_inner();
    render(metrics.into_inner(), move || {
        let node = &state.node;
        let snapshot = node.snapshot();
        let (chosen_peers, announced_peers, banned) = state.peers.with_book(|book| {
            (
                book.count_in(Slot::Chosen),
                book.count_in(Slot::Announced),
                book.ban_count(),
            )
        });
        node.metrics()
            .sync_active
            .set(i64::from(state.sync.is_syncing()));
        node.metrics().set_state(&crate::metrics::NodeState {
            height: snapshot.info.height,
            best_timestamp: snapshot.best_timestamp,
            chosen_peers,
            announced_peers,
            banned,
            mempool_transactions: node.mempool_size(),
            mempool_bytes: node.mempool_bytes(),
            database_bytes: node.database_bytes(),
        });
    })
    .await
}

/// `GET /metrics` of the seed.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Success", body = String, content_type = "text/plain"), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/metrics")]
pub async fn seed_metrics(
    peers: web::Data<crate::p2p::Peers>,
    metrics: web::Data<ServerMetrics>,
    seed: web::Data<crate::metrics::SeedMetrics>,
) -> Result<HttpResponse, ApiError> {
    let (peers, seed) = (peers.into_inner(), seed.into_inner());
    render(metrics.into_inner(), move || {
        seed.nodes
            .set(i64::try_from(peers.count()).unwrap_or(i64::MAX));
    })
    .await
}
