//! The HTTP API (API.md) on actix-web: one file per resource, `ApiError`
//! for every non-200 answer. With feature `p2p` alone (the seed), only the
//! node endpoints of §1 ([`nodes`]).

#[cfg(feature = "node")]
mod addresses;
#[cfg(feature = "node")]
mod blocks;
#[cfg(feature = "node")]
mod chain;
pub mod connections;
mod error;
pub mod metrics;
#[cfg(feature = "node")]
mod mining;
pub mod nodes;
pub mod openapi;
pub mod params;
#[cfg(feature = "node")]
mod transactions;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::Uri;
use actix_web::http::header::ContentType;
use actix_web::http::uri::PathAndQuery;
use actix_web::{App, HttpResponse, HttpServer, web};

pub use error::ApiError;

use crate::metrics::{SeedMetrics, ServerMetrics};
use connections::{ConnectionCounter, ConnectionSlot, MAX_CONNECTIONS_PER_IP};
use std::time::Instant;
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

#[cfg(feature = "node")]
use crate::node::{Node, Origin};
use crate::p2p::Peers;
#[cfg(feature = "node")]
use crate::p2p::sync_driver::SyncControl;
#[cfg(feature = "node")]
use crate::wire::{NODE_HEADER, NodeAddr};

/// What every handler of a full node shares.
#[cfg(feature = "node")]
pub struct AppState {
    pub node: Arc<Node>,
    /// The peer book, shared with the peer tasks, relay and sync.
    pub peers: Arc<Peers>,
    /// Asks sync for a run; says whether one runs.
    pub sync: SyncControl,
}

/// A 200 answer whose body is already JSON text.
pub fn json_response(body: impl actix_web::body::MessageBody + 'static) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body)
}

/// Parses a request body strictly (PROTOCOL.md §1): anything that is not
/// the expected shape is `malformed`.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "malformed",
            format!("the body is not a valid JSON object of the protocol: {e}"),
        )
    })
}

#[cfg(feature = "node")]
/// Where a posted block or transaction comes from: the node named by
/// `X-Cinder-Node` (API.md §8), or a client. A malformed header is ignored
/// (the post is judged on its own).
pub fn origin_of(req: &actix_web::HttpRequest) -> Origin {
    req.headers()
        .get(NODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<NodeAddr>().ok())
        .map_or(Origin::Api, Origin::Peer)
}

/// The path of `path` as the routes are written: without a trailing slash,
/// runs of slashes merged, `/` for the root; `None` when it is already so.
fn normal_path(path: &str) -> Option<String> {
    if path.len() <= 1 || !(path.ends_with('/') || path.contains("//")) {
        return None;
    }
    let mut normal = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        normal.push('/');
        normal.push_str(segment);
    }
    if normal.is_empty() {
        normal.push('/');
    }
    Some(normal)
}

/// Serves every path with or without its trailing slash (API.md writes
/// them with it, the routes are registered without), as actix-web's
/// `NormalizePath` does, but without running a regular expression on
/// every request's path (merging repeated slashes). Called before routing.
pub fn normalize_path(req: &mut ServiceRequest) {
    let uri = &req.head().uri;
    let Some(path) = normal_path(uri.path()) else {
        return;
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    // Both are valid when the original was: left as it came otherwise.
    let Ok(path_and_query) = PathAndQuery::from_maybe_shared(path_and_query) else {
        return;
    };
    parts.path_and_query = Some(path_and_query);
    let Ok(uri) = Uri::from_parts(parts) else {
        return;
    };
    req.match_info_mut().get_mut().update(&uri);
    req.head_mut().uri = uri;
}

/// Counts each connection against its IP's share (API.md §8
/// "Connections"); the slot lives as long as the connection.
fn count_connections(
    counter: Arc<ConnectionCounter>,
) -> impl Fn(&dyn std::any::Any, &mut actix_web::dev::Extensions) + Send + Sync + 'static {
    move |conn, data| {
        if let Some(stream) = conn.downcast_ref::<actix_web::rt::net::TcpStream>()
            && let Ok(peer) = stream.peer_addr()
        {
            data.insert(counter.open(peer.ip()));
        }
    }
}

/// A `503` that closes the connection, for a request on a connection
/// beyond its IP's share.
fn over_connection_share(req: &ServiceRequest) -> Option<HttpResponse> {
    let over = req
        .conn_data::<ConnectionSlot>()
        .is_some_and(|slot| slot.over);
    over.then(|| {
        let mut answer = actix_web::ResponseError::error_response(&ApiError::unavailable(format!(
            "at most {MAX_CONNECTIONS_PER_IP} connections at once from one IP"
        )));
        answer
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        answer
    })
}

/// Any path or method no route takes: a JSON 404, or a 405 for a known
/// path asked with a method it does not serve.
pub async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    let Some(pattern) = req.match_pattern() else {
        return actix_web::ResponseError::error_response(&ApiError::not_found("no such endpoint"));
    };
    let mut answer = actix_web::ResponseError::error_response(&ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not serve {}", req.path(), req.method()),
    ));
    let allowed = req
        .app_data::<web::Data<openapi::Document>>()
        .and_then(|doc| doc.allowed(&pattern))
        .and_then(|methods| actix_web::http::header::HeaderValue::from_str(methods).ok());
    if let Some(methods) = allowed {
        answer
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, methods);
    }
    answer
}

/// The future of a request through [`around_routes`].
type Answer =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<ServiceResponse, actix_web::Error>>>>;

/// What every server does before and after its routes: the connection
/// share (API.md §8), the trailing slash, and the HTTP metrics (§7).
fn around_routes<S>(
    metrics: Arc<ServerMetrics>,
) -> impl Fn(ServiceRequest, &S) -> Answer + Clone + 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
    S::Future: 'static,
{
    move |mut req, service| {
        let started = Instant::now();
        if let Some(answer) = over_connection_share(&req) {
            let res = req.into_response(answer);
            metrics::observe(&metrics, &res, started);
            return Box::pin(std::future::ready(Ok(res)));
        }
        normalize_path(&mut req);
        let call = service.call(req);
        let metrics = metrics.clone();
        Box::pin(async move {
            let res = call.await?;
            metrics::observe(&metrics, &res, started);
            Ok(res)
        })
    }
}

/// Registers every route of a full node (paths without the trailing slash:
/// [`normalize_path`] trims it, so both forms work). The router tries them
/// in this order, matching a pattern with `{segments}` by a regular
/// expression (6 % of the node's CPU under `GET /blocks/last/` load when
/// that path went through two of them): the hottest reads are plain paths,
/// registered before any pattern.
#[cfg(feature = "node")]
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(blocks::last_block)
        .service(chain::blockchain)
        .service(chain::health)
        .service(metrics::node_metrics)
        .service(openapi::openapi_json)
        .service(blocks::get_blocks)
        .service(blocks::post_block)
        .service(blocks::get_headers)
        .service(transactions::mempool_list)
        .service(transactions::post_transaction)
        .service(mining::template)
        .service(blocks::block_summary)
        .service(blocks::block_full)
        .service(blocks::block_transactions)
        .service(blocks::block_transaction)
        .service(blocks::transaction_inputs)
        .service(blocks::transaction_input)
        .service(blocks::transaction_outputs)
        .service(blocks::transaction_output)
        .service(transactions::mempool_transaction)
        .service(transactions::transaction_status)
        .service(addresses::utxo)
        .service(addresses::utxo_outputs)
        .service(addresses::utxo_outputs_of)
        .service(addresses::address_info)
        .service(addresses::address_transactions)
        .service(addresses::address_mempool);
    cfg.configure(nodes::configure);
}

/// Every route of the seed (API.md §1 and §7).
pub fn configure_seed(cfg: &mut ServiceConfig) {
    cfg.service(metrics::seed_metrics)
        .service(openapi::openapi_json);
    cfg.configure(nodes::configure);
}

/// Stops a server gracefully or not. For a full node it first ends the
/// explorer's event streams (API.md §9), which would otherwise hold a
/// graceful stop for as long as a page stays open.
#[derive(Clone)]
pub struct StopHandle {
    server: actix_web::dev::ServerHandle,
    #[cfg(feature = "node")]
    streams: Option<crate::explorer::Streams>,
}

impl From<actix_web::dev::ServerHandle> for StopHandle {
    fn from(server: actix_web::dev::ServerHandle) -> StopHandle {
        StopHandle {
            server,
            #[cfg(feature = "node")]
            streams: None,
        }
    }
}

impl StopHandle {
    /// Stops the server (`graceful`: requests in flight finish first).
    pub fn stop(&self, graceful: bool) -> impl std::future::Future<Output = ()> + use<> {
        #[cfg(feature = "node")]
        if let Some(streams) = &self.streams {
            streams.close();
        }
        self.server.stop(graceful)
    }
}

/// Starts a full node's API and explorer on `listener`; the returned
/// server runs until stopped through the returned handle (the binary stops
/// it on Ctrl-C / SIGTERM).
#[cfg(feature = "node")]
pub fn serve_node(
    node: Arc<Node>,
    peers: Arc<Peers>,
    sync: SyncControl,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<(Server, StopHandle)> {
    let explorer = web::Data::new(crate::explorer::Explorer::new(&node));
    let streams = explorer.streams.clone();
    let server_metrics = Arc::new(ServerMetrics::new());
    node.metrics().register(&server_metrics);
    let peers_data = web::Data::from(peers.clone());
    let state = web::Data::new(AppState { node, peers, sync });
    let metrics_data = web::Data::from(server_metrics.clone());
    let document = web::Data::new(openapi::document(
        "Cinder full node",
        "The JSON API of a Cinder full node (API.md §1-§8)",
        configure,
    ));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(peers_data.clone())
            .app_data(metrics_data.clone())
            .app_data(document.clone())
            .app_data(explorer.clone())
            .wrap_fn(around_routes(server_metrics.clone()))
            .into_utoipa_app()
            .configure(configure)
            .into_app()
            // The explorer's pages: HTML, not part of /openapi.json.
            .configure(crate::explorer::configure)
            .default_service(web::to(not_found))
    })
    .on_connect(count_connections(ConnectionCounter::new(
        MAX_CONNECTIONS_PER_IP,
        false,
    )))
    // A client that closes its side is gone: its answer ends at once. With
    // half-closed connections allowed (actix's default), an answer that
    // keeps streaming (the explorer's events, a CSV) only noticed at its
    // second write after the close, up to 30 s later, holding its place
    // meanwhile (every page a browser leaves holds a stream).
    .h1_allow_half_closed(false)
    .workers(workers.max(1))
    .disable_signals()
    .listen(listener)?
    .run();
    let stop = StopHandle {
        server: server.handle(),
        streams: Some(streams),
    };
    Ok((server, stop))
}

/// Starts the seed's API (API.md §1 only) on `listener`.
pub fn serve_nodes(
    peers: Arc<Peers>,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<Server> {
    let server_metrics = Arc::new(ServerMetrics::new());
    let seed_metrics = web::Data::new(SeedMetrics::register(&server_metrics));
    let peers = web::Data::from(peers);
    let metrics_data = web::Data::from(server_metrics.clone());
    let document = web::Data::new(openapi::document(
        "Cinder DNS seed",
        "The node endpoints of the Cinder DNS seed (API.md §1, §7)",
        configure_seed,
    ));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(peers.clone())
            .app_data(metrics_data.clone())
            .app_data(seed_metrics.clone())
            .app_data(document.clone())
            .wrap_fn(around_routes(server_metrics.clone()))
            .into_utoipa_app()
            .configure(configure_seed)
            .into_app()
            .default_service(web::to(not_found))
    })
    .on_connect(count_connections(ConnectionCounter::new(
        MAX_CONNECTIONS_PER_IP,
        false,
    )))
    .workers(workers.max(1))
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

/// Stops `server` gracefully on Ctrl-C or SIGTERM: requests in flight (a
/// block being connected) finish, new ones are refused. Call inside the
/// server's actix `System`, before printing the `listening on` line, so a
/// supervisor stopping the server at once still gets a clean stop.
pub fn stop_on_signals(handle: impl Into<StopHandle>) -> std::io::Result<()> {
    let handle = handle.into();
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    actix_web::rt::spawn(async move {
        #[cfg(unix)]
        let terminated = terminate.recv();
        #[cfg(not(unix))]
        let terminated = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: stopping"),
            _ = terminated => tracing::info!("SIGTERM: stopping"),
        }
        handle.stop(true).await;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::normal_path;

    #[test]
    fn paths_lose_their_trailing_slash_and_repeated_slashes() {
        for (path, normal) in [
            ("/blocks/last/", Some("/blocks/last")),
            ("/blocks/last//", Some("/blocks/last")),
            ("//blocks///last/", Some("/blocks/last")),
            ("/blocks//last", Some("/blocks/last")),
            ("//", Some("/")),
            ("/", None),
            ("", None),
            ("/blocks/last", None),
            ("/blockchain", None),
        ] {
            assert_eq!(normal_path(path).as_deref(), normal, "{path:?}");
        }
    }
}
