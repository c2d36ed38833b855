//! The explorer's stylesheet and script, compiled into the binary and
//! served under a name carrying a digest of their bytes, so a browser may
//! keep them for good and still never runs a stale one after an upgrade.

use std::sync::OnceLock;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};

use super::PageError;

const CSS: &str = include_str!("static/explorer.css");
const JS: &str = include_str!("static/explorer.js");

/// `/explorer/static/explorer.css?v=<digest>`.
pub fn css_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/explorer/static/explorer.css?v={}", digest(CSS)))
}

/// `/explorer/static/explorer.js?v=<digest>`.
pub fn js_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/explorer/static/explorer.js?v={}", digest(JS)))
}

/// The first 12 hex digits of the SHA-256 of `text`.
fn digest(text: &str) -> String {
    hex::encode(&crate::hash::sha256(text.as_bytes())[..6])
}

/// `GET /explorer/static/{file}`.
pub async fn asset(file: web::Path<String>) -> Result<HttpResponse, PageError> {
    let (body, content_type) = match file.as_str() {
        "explorer.css" => (CSS, "text/css; charset=utf-8"),
        "explorer.js" => (JS, "text/javascript; charset=utf-8"),
        _ => {
            return Err(PageError::not_found(
                "There is no such file in the explorer.",
            ));
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header((CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(body))
}
