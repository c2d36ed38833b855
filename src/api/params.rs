//! Strict parsing of path ids and query parameters (API.md §3): a value that
//! is not valid or is out of range is `400 bad_request`, never clamped.

use std::collections::HashMap;

use actix_web::HttpRequest;
use futures_util::StreamExt;

use super::ApiError;
use crate::types::{Address, Hash};

/// `{bid}`: a height, `last`, or a block hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockId {
    Height(u64),
    Last,
    Hash(Hash),
}

/// `{tid}` and friends: an index, or a hash where allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemId {
    Index(u64),
    Hash(Hash),
}

fn is_hash_text(text: &str) -> bool {
    text.len() == 64
}

pub fn parse_u64(text: &str, what: &str) -> Result<u64, ApiError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!(
            "{what} must be a whole number, got {text:?}"
        )));
    }
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("{what} {text:?} is out of range")))
}

pub fn parse_hash(text: &str, what: &str) -> Result<Hash, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "{what} must be 64 lowercase hex digits, got {text:?}"
        ))
    })
}

/// An address in a path or query: all lowercase, or the checksummed
/// display form (API.md §5); mixed case with a wrong checksum is refused.
pub fn parse_address(text: &str) -> Result<Address, ApiError> {
    if text.trim() != text {
        return Err(ApiError::bad_request(format!(
            "malformed address {text:?}: expected 0x and 40 hex digits"
        )));
    }
    Address::parse_checked(text).map_err(|e| ApiError::bad_request(e.to_string()))
}

pub fn parse_block_id(text: &str) -> Result<BlockId, ApiError> {
    if text == "last" {
        Ok(BlockId::Last)
    } else if is_hash_text(text) {
        Ok(BlockId::Hash(parse_hash(text, "block hash")?))
    } else {
        Ok(BlockId::Height(parse_u64(text, "block id")?))
    }
}

pub fn parse_item_id(text: &str, what: &str, allow_hash: bool) -> Result<ItemId, ApiError> {
    if allow_hash && is_hash_text(text) {
        Ok(ItemId::Hash(parse_hash(text, what)?))
    } else {
        Ok(ItemId::Index(parse_u64(text, what)?))
    }
}

/// The query string as a map; a parameter given twice is refused.
pub fn query_map(req: &HttpRequest) -> Result<HashMap<String, String>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::bad_request(format!("unparseable query: {e}")))?;
    let mut map = HashMap::new();
    for (k, v) in pairs {
        if map.insert(k.clone(), v).is_some() {
            return Err(ApiError::bad_request(format!(
                "query parameter {k:?} given twice"
            )));
        }
    }
    Ok(map)
}

/// An optional integer parameter in `min..=max`, `default` when absent.
pub fn query_u64(
    query: &HashMap<String, String>,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ApiError> {
    match query.get(name) {
        None => Ok(default),
        Some(text) => {
            let v = parse_u64(text, name)?;
            if v < min || v > max {
                return Err(ApiError::bad_request(format!(
                    "{name} must be between {min} and {max}, got {v}"
                )));
            }
            Ok(v)
        }
    }
}

/// Reads a request body of at most `limit` bytes (413 `too_large` beyond).
/// The time a body has to arrive, from the end of the request's head
/// (API.md, top): 10 s, 30 s for a block.
pub const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);
/// The time a block's body (`POST /blocks/`, up to 8 MiB) has to arrive.
pub const BLOCK_BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads a request body of at most `limit` bytes within `deadline`; past
/// the deadline the answer is `400` and the connection is closed (the
/// body is left unread), so a slow sender holds no connection for long.
pub async fn read_body(
    req: &HttpRequest,
    payload: actix_web::web::Payload,
    limit: usize,
    deadline: std::time::Duration,
) -> Result<actix_web::web::Bytes, ApiError> {
    match tokio::time::timeout(deadline, read_body_unbounded(req, payload, limit)).await {
        Ok(body) => body,
        Err(_) => Err(ApiError::bad_request(format!(
            "the body did not arrive within {} s",
            deadline.as_secs()
        ))),
    }
}

async fn read_body_unbounded(
    req: &HttpRequest,
    mut payload: actix_web::web::Payload,
    limit: usize,
) -> Result<actix_web::web::Bytes, ApiError> {
    if let Some(len) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(ApiError::too_large(limit));
    }
    let mut body = actix_web::web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
