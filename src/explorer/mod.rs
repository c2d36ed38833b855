//! The block explorer every full node serves (API.md §9): HTML pages
//! rendered by the node from its own SQLite indexes with askama templates
//! compiled into the binary (`templates/`), one small stylesheet and a few
//! lines of plain JavaScript (`static/`) for live updates over server-sent
//! events. Readable without JavaScript, with no internet, at 390 px wide.
//!
//! One file per page; [`format`] writes times, amounts and rates. Every
//! database read runs on a blocking thread (`web::block`, the node's read
//! pool), every mempool read too (its lock); the async workers only read
//! the snapshot and atomics. The answers that stay open while their client
//! reads (event streams, CSV downloads) are bounded in number, in all and
//! per IP ([`gate`]). The pages are not part of `/openapi.json`.

mod addresses;
mod assets;
mod blocks;
mod events;
pub mod format;
mod gate;
mod home;
mod lists;
mod search;
mod transactions;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError, web};
use askama::Template;

pub use addresses::{CSV_CHUNK, MAX_DOWNLOADS, MAX_DOWNLOADS_PER_IP, PENDING_SHOWN};
pub use events::{MAX_STREAM_AGE, MAX_STREAMS, MAX_STREAMS_PER_IP, Streams};

use crate::api::{ApiError, AppState};
use crate::node::{ChainSnapshot, Node};
use crate::state::StoreError;
use crate::types::Address;

/// What the explorer's handlers share besides the node: its event streams
/// and the places of its CSV downloads.
pub struct Explorer {
    pub streams: Streams,
    downloads: gate::Gate,
}

impl Explorer {
    /// `node`'s explorer (its event streams' thread ends with the node).
    pub fn new(node: &Arc<Node>) -> Explorer {
        Explorer {
            streams: Streams::new(node),
            downloads: gate::Gate::new(
                "history downloads",
                addresses::MAX_DOWNLOADS,
                addresses::MAX_DOWNLOADS_PER_IP,
            ),
        }
    }
}

/// Registers the explorer's pages under `/explorer` (paths without their
/// trailing slash: the server trims it before routing). Anything else
/// under `/explorer/` is the explorer's 404 page; a known page asked with
/// another method than GET or HEAD, its 405.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/explorer")
            .service(page("", home::home))
            .service(page("/static/{file}", assets::asset))
            .service(streamed("/events", events::events, events::events_head))
            .service(page("/search", search::search))
            .service(page("/rich", lists::rich))
            .service(page("/mempool", lists::mempool))
            .service(page("/blocks/{id}", blocks::block))
            .service(page("/transactions/{hash}", transactions::transaction))
            .service(page("/addresses/{address}", addresses::address))
            .service(streamed(
                "/addresses/{address}/history.csv",
                addresses::history_csv,
                addresses::history_csv_head,
            ))
            .default_service(web::to(no_such_page)),
    );
}

/// A page at `path` for GET (and HEAD: the same head, no body), with the
/// explorer's 405 for other methods.
fn page<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    use actix_web::guard;
    web::resource(path)
        .route(
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(handler),
        )
        .default_service(web::to(method_not_allowed))
}

/// A streamed answer at `path`: `get` for GET, and for HEAD `head`, which
/// answers the same head without starting the stream (actix writes no body
/// for HEAD, but would poll a stream to its end, its place held meanwhile
/// whether the client is still there or not).
fn streamed<F, Args, H, HArgs>(path: &str, get: F, head: H) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
    H: actix_web::Handler<HArgs>,
    HArgs: actix_web::FromRequest + 'static,
    H::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(get))
        .route(web::head().to(head))
        .default_service(web::to(method_not_allowed))
}

async fn no_such_page() -> HttpResponse {
    PageError::not_found("There is no such page in the explorer.").error_response()
}

async fn method_not_allowed(req: actix_web::HttpRequest) -> HttpResponse {
    let mut answer = PageError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not serve {}: the explorer's pages are read with GET.",
            req.path(),
            req.method()
        ),
    )
    .error_response();
    answer.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static("GET, HEAD"),
    );
    answer
}

/// What every page's frame shows: the chain, the search box, the assets,
/// and what live updates it takes (`block`, `transaction`).
pub struct Layout {
    pub title: String,
    pub chain: &'static str,
    /// The active tip's hash: the script compares a `block` event with it.
    pub tip: String,
    /// Events after which the script fetches the page again (space separated).
    pub live: &'static str,
    /// The search box's text.
    pub query: String,
    pub css: &'static str,
    pub js: &'static str,
}

impl Layout {
    pub fn new(node: &Node, title: impl Into<String>) -> Layout {
        Layout::at(node, &node.snapshot(), title)
    }

    /// The frame of a page showing `snapshot`'s tip.
    pub fn at(node: &Node, snapshot: &ChainSnapshot, title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            chain: node.params().name,
            tip: snapshot.info.best_hash.to_string(),
            live: "",
            query: String::new(),
            css: assets::css_url(),
            js: assets::js_url(),
        }
    }

    /// The page is fetched again after these events (API.md §9: within
    /// 2 s of the node taking a block or transaction).
    pub fn live(mut self, events: &'static str) -> Layout {
        self.live = events;
        self
    }
}

/// A non-200 page in the explorer's layout: 400, 404, 405, 500, 503.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
    /// The search box's text (a search that matched nothing shows it).
    pub query: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
            query: String::new(),
        }
    }

    pub fn internal(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The page with `query` in its search box.
    pub fn with_query(mut self, query: impl Into<String>) -> PageError {
        self.query = query.into();
        self
    }

    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn bad_request(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::BAD_REQUEST, message)
    }

    fn heading(&self) -> &'static str {
        match self.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST => "Bad request",
            StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
            StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
            _ => "Something went wrong",
        }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

#[derive(Template)]
#[template(path = "error.html", config = "src/explorer/askama.toml")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    heading: &'a str,
    message: &'a str,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        // The frame without the node (an error page needs no chain state).
        let layout = Layout {
            title: self.heading().to_string(),
            chain: "",
            tip: String::new(),
            live: "",
            query: self.query.clone(),
            css: assets::css_url(),
            js: assets::js_url(),
        };
        let page = ErrorPage {
            layout,
            status: self.status.as_u16(),
            heading: self.heading(),
            message: &self.message,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{} {}", self.status, self.message));
        HttpResponse::build(self.status)
            .content_type(ContentType::html())
            .body(body)
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::new(e.status, upper_first(&e.message))
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        tracing::error!("explorer: store: {e}");
        PageError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

/// The blocking pool refused the work: the server is shutting down (a
/// read that panicked is caught before, see [`blocking`]).
impl From<actix_web::error::BlockingError> for PageError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The node is shutting down.",
        )
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        tracing::error!("explorer: a template failed: {e}");
        PageError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

/// A sentence from an error message (`no block 9` → `No block 9.`).
fn upper_first(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// A rendered page as a 200 answer.
fn html(page: impl Template) -> Result<HttpResponse, PageError> {
    Ok(HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(page.render()?))
}

/// Runs a read of the chain on a blocking thread.
async fn read<R: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Node) -> Result<R, StoreError> + Send + 'static,
) -> Result<R, PageError> {
    let node: Arc<Node> = state.node.clone();
    blocking(move || f(&node)).await?.map_err(PageError::from)
}

/// Runs `f` on a blocking thread. actix's `BlockingError` says either
/// that the pool refused it (shutting down: `503`) or that it panicked:
/// the panic is caught here, so it is a `500` (a bug), never a `503`.
async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, PageError> {
    let caught =
        web::block(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))).await?;
    caught.map_err(|_| {
        tracing::error!("explorer: a read panicked");
        PageError::internal("A read of the chain failed (a bug: see the node's log).")
    })
}

/// An address as every page shows and links it: the checksummed display
/// form (PROTOCOL.md §1).
fn display(address: &Address) -> String {
    address.to_checksummed()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that panics is a bug (`500`), not the `503` of a node
    /// shutting down, though actix's `BlockingError` says both.
    #[actix_web::test]
    async fn a_read_that_panics_is_a_500_not_a_503() {
        let answer = blocking(|| -> u32 { panic!("a bug in a read") }).await;
        let e = answer.expect_err("an error");
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(blocking(|| 7).await.expect("ran"), 7);
    }

    #[test]
    fn the_error_page_shows_the_search_back() {
        let page = PageError::not_found("Nothing matched.")
            .with_query("a <b>")
            .error_response();
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        let body = actix_web::body::to_bytes(page.into_body());
        let body = futures_util::FutureExt::now_or_never(body)
            .expect("a body at once")
            .expect("bytes");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("value=\"a &#60;b&#62;\""), "{text}");
    }
}
