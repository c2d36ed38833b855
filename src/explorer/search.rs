//! `GET /explorer/search/?q=`: a height, block hash, transaction hash or
//! address (lowercase or checksummed, API.md §5) answers `303` to its
//! page; anything else (a query that is not one `q`, too) is a 404 page
//! saying nothing matched, the search shown back in its box.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{PageError, display, read};
use crate::api::AppState;
use crate::state;
use crate::types::{Address, Hash};

pub async fn search(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    // The one `q` of the query; anything else matches nothing.
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let mut qs = pairs
        .iter()
        .filter(|(k, _)| k == "q")
        .map(|(_, v)| v.trim());
    let (q, several) = (
        qs.next().unwrap_or_default().to_string(),
        qs.next().is_some(),
    );
    let found = if several {
        None
    } else {
        place_of(&state, &q).await?
    };
    let target = match found {
        Some(path) => path,
        None => {
            let shown: String = q.chars().take(100).collect();
            let message = if several {
                "Nothing matched: search for one thing at a time.".to_string()
            } else if shown.is_empty() {
                "Nothing matched an empty search: type a height, a block or transaction hash, or an address.".to_string()
            } else {
                format!(
                    "Nothing matched {shown:?}: no block height, block hash, transaction hash or address on this node."
                )
            };
            return Err(PageError::not_found(message).with_query(shown));
        }
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, target))
        .finish())
}

/// The page `q` names, if any.
async fn place_of(state: &AppState, q: &str) -> Result<Option<String>, PageError> {
    if q.starts_with("0x") || q.starts_with("0X") {
        return Ok(Address::parse_checked(q)
            .ok()
            .map(|a| format!("/explorer/addresses/{}/", display(&a))));
    }
    if q.len() == 64 {
        let Ok(hash) = q.to_ascii_lowercase().parse::<Hash>() else {
            return Ok(None);
        };
        return read(state, move |node| {
            let stored = node.reads().with(|conn| {
                Ok((
                    state::block_record(conn, &hash)?.is_some(),
                    state::transaction_location(conn, &hash)?.is_some(),
                ))
            })?;
            Ok(match stored {
                (true, _) => Some(format!("/explorer/blocks/{hash}/")),
                (_, true) => Some(format!("/explorer/transactions/{hash}/")),
                _ if node.mempool_transaction(&hash).is_some() => {
                    Some(format!("/explorer/transactions/{hash}/"))
                }
                _ => None,
            })
        })
        .await;
    }
    if !q.is_empty() && q.len() <= 20 && q.bytes().all(|b| b.is_ascii_digit()) {
        let Ok(height) = q.parse::<u64>() else {
            return Ok(None);
        };
        let tip = state.node.snapshot().info.height;
        return Ok((height <= tip).then(|| format!("/explorer/blocks/{height}/")));
    }
    Ok(None)
}
