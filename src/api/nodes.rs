//! The node endpoints (API.md §1), served alike by every full node and by
//! the seed: `POST /`, `GET /nodes/`, `GET /nodes/{nid}/`, `POST /nodes/`,
//! `DELETE /nodes/`. They read and change the shared [`Peers`] handle
//! (`web::Data<Peers>`); the check of an announced node runs without any
//! lock held and without blocking the worker.

use actix_web::{delete, get, post};
use std::net::SocketAddr;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::ApiError;
use super::params::{BODY_DEADLINE, parse_u64, read_body};
use crate::p2p::{Admission, AnnounceError, Peers};
use crate::wire::NodeAddr;

/// Bound of a node body (API.md: request bodies are at most 256 KiB).
pub const NODE_BODY_LIMIT: usize = 256 * 1024;

/// Registers the §1 routes (without trailing slashes, as `normalize_path`
/// leaves them).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(announce)
        .service(list_nodes)
        .service(register)
        .service(remove)
        .service(one_node);
}

/// Only a client on this machine may remove a node (API.md §1).
pub fn may_remove(client: Option<SocketAddr>) -> bool {
    client.is_some_and(|addr| addr.ip().to_canonical().is_loopback())
}

/// A node body; `None` for an empty (or blank) body.
pub fn parse_node(body: &[u8]) -> Result<Option<NodeAddr>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| {
        ApiError::bad_request(format!(
            r#"the body is not a node {{"ip_address": "<IP>", "port": <1-65535>}}: {e}"#
        ))
    })
}

async fn required_node(req: &HttpRequest, payload: web::Payload) -> Result<NodeAddr, ApiError> {
    let body = read_body(req, payload, NODE_BODY_LIMIT, BODY_DEADLINE).await?;
    parse_node(&body)?.ok_or_else(|| {
        ApiError::bad_request(
            r#"a node body {"ip_address": "<IP>", "port": <1-65535>} is required"#,
        )
    })
}

/// The one answer to an announced node that failed the check (API.md §1):
/// it must not tell a closed port from a silent one, nor echo what the
/// address answered.
pub const CHECK_FAILED: &str = "the announced node did not pass the check";

/// Checks and (room permitting) adds an announced node, which must be at
/// the caller's IP (API.md §1); logs who.
async fn take(peers: &Peers, node: NodeAddr, via: &str, req: &HttpRequest) -> Result<(), ApiError> {
    let caller = req.peer_addr().map(|a| a.ip());
    match peers.announced(node, caller).await {
        Ok(Admission::Added { evicted }) => {
            tracing::info!(%node, via, evicted = ?evicted, "registered a node");
            Ok(())
        }
        Ok(Admission::Full) => {
            tracing::info!(%node, via, "node passed the check; the list is full, not kept");
            Ok(())
        }
        Ok(Admission::GroupFull) => {
            tracing::info!(%node, via, "node passed the check; its group holds its share, not kept");
            Ok(())
        }
        Ok(Admission::AlreadyKnown) | Ok(Admission::Refused(_)) => Ok(()),
        Err(e) => {
            tracing::info!(%node, via, "refused a node: {e}");
            Err(announce_error(e))
        }
    }
}

fn announce_error(e: AnnounceError) -> ApiError {
    match e {
        AnnounceError::Busy => ApiError::unavailable(e.to_string()),
        AnnounceError::Banned { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
        }
        AnnounceError::CheckFailed { .. } => ApiError::bad_request(CHECK_FAILED),
        AnnounceError::Me(_)
        | AnnounceError::NotTheCaller { .. }
        | AnnounceError::NotContactable(_) => ApiError::bad_request(e.to_string()),
    }
}

/// `POST /`: this server's node; with a node body, the caller announces
/// itself first.
#[utoipa::path(
    tag = "nodes",
    request_body(content = Option<crate::wire::NodeAddr>, description = "The caller announcing itself (optional)", content_type = "application/json"),
    responses((status = 200, description = "Success", body = crate::wire::NodeAddr), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[post("/")]
pub async fn announce(
    req: HttpRequest,
    payload: web::Payload,
    peers: web::Data<Peers>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, NODE_BODY_LIMIT, BODY_DEADLINE).await?;
    if let Some(node) = parse_node(&body)? {
        take(&peers, node, "POST /", &req).await?;
    }
    Ok(HttpResponse::Ok().json(peers.me()))
}

/// `GET /nodes/`.
#[utoipa::path(
    tag = "nodes",
    responses((status = 200, description = "Success", body = Vec<crate::wire::NodeAddr>), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/nodes")]
pub async fn list_nodes(peers: web::Data<Peers>) -> HttpResponse {
    HttpResponse::Ok().json(peers.listing())
}

/// `GET /nodes/{nid}/`: number `nid` (from 0), or `random`.
#[utoipa::path(
    tag = "nodes",
    params(("nid" = String, Path, pattern = r"^([0-9]{1,20}|random)$", description = "An index in the list, or `random`")),
    responses((status = 200, description = "Success", body = crate::wire::NodeAddr), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[get("/nodes/{nid}")]
pub async fn one_node(
    nid: web::Path<String>,
    peers: web::Data<Peers>,
) -> Result<HttpResponse, ApiError> {
    let node = if nid.as_str() == "random" {
        peers
            .random()
            .ok_or_else(|| ApiError::not_found("this server knows no node yet"))?
    } else {
        let index = parse_u64(&nid, "node number")?;
        usize::try_from(index)
            .ok()
            .and_then(|i| peers.nth(i))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no node number {index}: this server knows {}",
                    peers.count()
                ))
            })?
    };
    Ok(HttpResponse::Ok().json(node))
}

/// `POST /nodes/`: the known nodes, after checking and adding the node.
#[utoipa::path(
    tag = "nodes",
    request_body(content = crate::wire::NodeAddr, description = "The node registering", content_type = "application/json"),
    responses((status = 200, description = "Success", body = Vec<crate::wire::NodeAddr>), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[post("/nodes")]
pub async fn register(
    req: HttpRequest,
    payload: web::Payload,
    peers: web::Data<Peers>,
) -> Result<HttpResponse, ApiError> {
    let node = required_node(&req, payload).await?;
    take(&peers, node, "POST /nodes/", &req).await?;
    Ok(HttpResponse::Ok().json(peers.listing()))
}

/// `DELETE /nodes/`: the known nodes, after removing the node; loopback
/// clients only.
#[utoipa::path(
    tag = "nodes",
    request_body(content = crate::wire::NodeAddr, description = "The node to remove (loopback clients only)", content_type = "application/json"),
    responses((status = 200, description = "Success", body = Vec<crate::wire::NodeAddr>), (status = "4XX", description = "Refused: the error code and a sentence", body = crate::wire::ErrorBody), (status = 503, description = "Unavailable (shutting down, or beyond a bound)", body = crate::wire::ErrorBody))
)]
#[delete("/nodes")]
pub async fn remove(
    req: HttpRequest,
    payload: web::Payload,
    peers: web::Data<Peers>,
) -> Result<HttpResponse, ApiError> {
    if !may_remove(req.peer_addr()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only a client on this machine (loopback) may remove a node",
        ));
    }
    let node = required_node(&req, payload).await?;
    if peers.remove(&node) {
        tracing::info!(%node, "removed a node on request (DELETE /nodes/)");
    }
    Ok(HttpResponse::Ok().json(peers.listing()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_clients_may_remove() {
        for ok in [
            "127.0.0.1:1",
            "127.8.9.1:65535",
            "[::1]:5",
            "[::ffff:127.0.0.1]:9",
        ] {
            assert!(may_remove(Some(ok.parse().expect("addr"))), "{ok}");
        }
        for refused in [
            "10.0.0.1:1",
            "192.168.1.2:80",
            "[::2]:5",
            "[::ffff:10.0.0.1]:9",
            "0.0.0.0:1",
        ] {
            assert!(
                !may_remove(Some(refused.parse().expect("addr"))),
                "{refused}"
            );
        }
        assert!(!may_remove(None), "an unknown client is not local");
    }

    #[test]
    fn node_bodies_are_strict_and_may_be_absent() {
        assert_eq!(parse_node(b"").expect("empty"), None);
        assert_eq!(parse_node(b" \n").expect("blank"), None);
        assert_eq!(
            parse_node(br#"{"ip_address":"127.0.0.1","port":8}"#).expect("node"),
            Some("127.0.0.1:8".parse().expect("node"))
        );
        for bad in [
            &br#"{"ip_address":"localhost","port":8}"#[..],
            br#"{"ip_address":"127.0.0.1","port":0}"#,
            br#"{"ip_address":"127.0.0.1","port":65536}"#,
            br#"[1,2]"#,
            b"null",
        ] {
            let e = parse_node(bad).expect_err("refused");
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert_eq!(e.code, "bad_request");
        }
    }
}
