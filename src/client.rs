//! The typed HTTP client of the API (API.md), over the shapes of
//! [`crate::wire`]: what relay, sync, the peer book, the seed, the tests
//! and the benches say to a node. Every answer is read within a size bound
//! and a timeout, and parsed strictly: a peer cannot make us buffer or wait
//! without limit, and a malformed answer is told apart from a refusal (sync
//! bans for the first, never for the second).

use std::time::Duration;

use crate::types::{Address, Block, BlockHeader, Hash, Transaction};
use crate::wire::{
    AddressHistoryEntry, AddressInfo, AddressMempoolEntry, BlockAccepted, BlockchainInfo,
    ErrorBody, Health, NODE_HEADER, NodeAddr, TransactionList, TransactionStatus, UnspentOutputs,
};

/// Bound of an answer the API does not bound otherwise (API.md §8).
pub const ANSWER_LIMIT: usize = 2 * 1024 * 1024;
/// Bound of a `GET /blockchain/` answer (API.md §8 "Named syncs"): a
/// larger one is malformed.
pub const BLOCKCHAIN_ANSWER_LIMIT: usize = 64 * 1024;
/// Bound of an answer holding whole blocks (`GET /blocks/?…`: 16 MiB,
/// API.md §3), and of a mempool listing.
pub const BLOCKS_ANSWER_LIMIT: usize = 16 * 1024 * 1024;
/// Bound of an answer listing an address's unspent outputs or mempool
/// entries, which the API does not page (API.md §5).
pub const LISTING_ANSWER_LIMIT: usize = 32 * 1024 * 1024;
/// The most of a non-API error text (a proxy's page…) kept in an error.
const ERROR_TEXT_LIMIT: usize = 1024;
/// Default time for one request, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The time a node has to answer "the check" (API.md §1).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a request got no usable answer. Silence comes in three kinds, told
/// apart because a post that may have been sent may also have taken effect:
/// `Unreachable` (never sent), `Timeout` and `Interrupted` (perhaps sent).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// No connection could be made: the request was not sent.
    #[error("{url} unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// No complete answer in time; the request may have been sent.
    #[error("{url}{path}: no answer within {} ms", timeout.as_millis())]
    Timeout {
        url: String,
        path: String,
        timeout: Duration,
    },
    /// The connection failed after the request may have been sent, before
    /// a complete answer (closed, reset).
    #[error("{url}{path}: connection lost before an answer: {reason}")]
    Interrupted {
        url: String,
        path: String,
        reason: String,
    },
    #[error("{url}{path} answered {status}: {}: {}", body.error, body.message)]
    Refused {
        url: String,
        path: String,
        status: u16,
        body: Box<ErrorBody>,
    },
    /// A non-200 answer without the API's error body (API.md): the peer
    /// broke the API, but its status and text still say something to a user.
    #[error("{url}{path} answered {status} without an error body: {text}")]
    UnexplainedRefusal {
        url: String,
        path: String,
        status: u16,
        /// The answer as text, cut after a kilobyte.
        text: String,
    },
    #[error("{url}{path}: malformed answer: {reason}")]
    Malformed {
        url: String,
        path: String,
        reason: String,
    },
    #[error("{url}{path}: answer larger than {limit} bytes")]
    TooLarge {
        url: String,
        path: String,
        limit: usize,
    },
}

impl ClientError {
    /// The API's error code of a refusal (`already_known`, `unknown_parent`…).
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Refused { body, .. } => Some(&body.error),
            _ => None,
        }
    }

    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. }
            | ClientError::UnexplainedRefusal { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The peer broke the API (malformed or oversized answer, or a refusal
    /// without an error body): a reason to ban it (API.md §8 "Bad peers").
    /// Silence and refusals are not.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            ClientError::Malformed { .. }
                | ClientError::TooLarge { .. }
                | ClientError::UnexplainedRefusal { .. }
        )
    }

    /// What a ban says of this failure: the path asked and what was wrong,
    /// in this node's words, never the peer's text (API.md §8 "Bans").
    pub fn own_summary(&self) -> String {
        match self {
            ClientError::Malformed { path, .. } => format!("{path}: malformed answer"),
            ClientError::TooLarge { path, limit, .. } => {
                format!("{path}: answer over {limit} bytes")
            }
            ClientError::UnexplainedRefusal { path, status, .. } => {
                format!("{path}: {status} without an error body")
            }
            ClientError::Refused { path, status, .. } => format!("{path}: refused ({status})"),
            ClientError::Unreachable { .. } => "unreachable".to_string(),
            ClientError::Timeout { path, .. } => format!("{path}: no answer in time"),
            ClientError::Interrupted { path, .. } => format!("{path}: connection lost"),
        }
    }

    /// No answer at all (down, too slow, or the connection lost).
    pub fn is_silence(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. }
                | ClientError::Timeout { .. }
                | ClientError::Interrupted { .. }
        )
    }
}

/// A client of one node's API. Cheap to clone; [`Client::to`] gives a client
/// of another node sharing the same connection pool.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    origin: Option<NodeAddr>,
    timeout: Duration,
}

/// `http://` is added when missing; a trailing `/` is removed.
pub fn normalize_url(text: &str) -> String {
    let text = text.trim().trim_end_matches('/');
    if text.starts_with("http://") || text.starts_with("https://") {
        text.to_string()
    } else {
        format!("http://{text}")
    }
}

impl Client {
    /// A client of the node at `base` (`http://ip:port`, or `ip:port`).
    pub fn new(base: &str) -> Client {
        Client::bound(base, None)
    }

    /// A client whose requests leave from `local` (a node's `-i` IP, so
    /// peers see it at the IP it announces: API.md §1); `None` lets the
    /// system choose.
    pub fn bound(base: &str, local: Option<std::net::IpAddr>) -> Client {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(8)
            .local_address(local)
            .build()
            .unwrap_or_default();
        Client {
            http,
            base: normalize_url(base),
            origin: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A client of `node`, sharing this one's connections and settings.
    pub fn to(&self, node: NodeAddr) -> Client {
        Client {
            base: node.url(),
            ..self.clone()
        }
    }

    /// Names this node on every request (`X-Cinder-Node`): API.md §8 asks
    /// it on posts, where the receiver uses it; on the others it lets a
    /// receiver's log, or the lab's proxy, tell the asking nodes apart.
    pub fn with_origin(mut self, me: NodeAddr) -> Client {
        self.origin = Some(me);
        self
    }

    /// The time each request has from now on.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Classifies a failure of reqwest: before the request was sent
    /// (connecting, building it) or perhaps after.
    fn transport(&self, path: &str, e: reqwest::Error) -> ClientError {
        if e.is_connect() || e.is_builder() {
            let reason = if e.is_builder() {
                e.to_string()
            } else if e.is_timeout() {
                "connection timed out".to_string()
            } else {
                "connection refused or failed".to_string()
            };
            ClientError::Unreachable {
                url: self.base.clone(),
                reason,
            }
        } else if e.is_timeout() {
            ClientError::Timeout {
                url: self.base.clone(),
                path: path.to_string(),
                timeout: self.timeout,
            }
        } else {
            ClientError::Interrupted {
                url: self.base.clone(),
                path: path.to_string(),
                reason: error_chain(&e),
            }
        }
    }

    /// Sends `request`; returns the status and the body, read within `limit`.
    async fn exchange(
        &self,
        path: &str,
        request: reqwest::RequestBuilder,
        limit: usize,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let mut request = request.timeout(self.timeout);
        if let Some(me) = self.origin {
            request = request.header(NODE_HEADER, me.to_string());
        }
        let mut response = request.send().await.map_err(|e| self.transport(path, e))?;
        let status = response.status().as_u16();
        let too_large = || ClientError::TooLarge {
            url: self.base.clone(),
            path: path.to_string(),
            limit,
        };
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport(path, e))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    /// The answer parsed as `T` when 200, a refusal otherwise.
    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        status: u16,
        body: &[u8],
    ) -> Result<T, ClientError> {
        let malformed = |reason: String| ClientError::Malformed {
            url: self.base.clone(),
            path: path.to_string(),
            reason,
        };
        if status == 200 {
            return serde_json::from_slice(body).map_err(|e| malformed(e.to_string()));
        }
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(body) => Err(ClientError::Refused {
                url: self.base.clone(),
                path: path.to_string(),
                status,
                body: Box::new(body),
            }),
            Err(_) => Err(ClientError::UnexplainedRefusal {
                url: self.base.clone(),
                path: path.to_string(),
                status,
                text: String::from_utf8_lossy(&body[..body.len().min(ERROR_TEXT_LIMIT)])
                    .into_owned(),
            }),
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        limit: usize,
    ) -> Result<T, ClientError> {
        let request = self.http.get(format!("{}{path}", self.base));
        let (status, body) = self.exchange(path, request, limit).await?;
        self.parse(path, status, &body)
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
        limit: usize,
    ) -> Result<T, ClientError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        let (status, body) = self.exchange(path, request, limit).await?;
        self.parse(path, status, &body)
    }

    async fn delete<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let request = self
            .http
            .delete(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        let (status, body) = self.exchange(path, request, ANSWER_LIMIT).await?;
        self.parse(path, status, &body)
    }

    fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
        // Protocol types and wire shapes always serialise.
        serde_json::to_vec(value).unwrap_or_default()
    }

    /// `GET /blockchain/`.
    pub async fn blockchain(&self) -> Result<BlockchainInfo, ClientError> {
        self.get("/blockchain/", BLOCKCHAIN_ANSWER_LIMIT).await
    }

    /// `GET /health/`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("/health/", ANSWER_LIMIT).await
    }

    /// `GET /headers/?locator=…&limit=…`.
    pub async fn headers(
        &self,
        locator: &[Hash],
        limit: usize,
    ) -> Result<Vec<BlockHeader>, ClientError> {
        let hashes: Vec<String> = locator.iter().map(Hash::to_string).collect();
        let path = format!("/headers/?locator={}&limit={limit}", hashes.join(","));
        self.get(&path, ANSWER_LIMIT).await
    }

    /// `GET /blocks/?hashes=…`: stored blocks of any branch, in that order
    /// (the answer may stop early at its size bound).
    pub async fn blocks_by_hash(&self, hashes: &[Hash]) -> Result<Vec<Block>, ClientError> {
        let hashes: Vec<String> = hashes.iter().map(Hash::to_string).collect();
        let path = format!("/blocks/?hashes={}", hashes.join(","));
        self.get(&path, BLOCKS_ANSWER_LIMIT).await
    }

    /// `GET /blocks/?from=…&limit=…`: blocks of the active chain.
    pub async fn blocks_from(&self, from: u64, limit: usize) -> Result<Vec<Block>, ClientError> {
        self.get(
            &format!("/blocks/?from={from}&limit={limit}"),
            BLOCKS_ANSWER_LIMIT,
        )
        .await
    }

    /// `GET /blocks/{hash}/full/`; `None` when the node does not store it.
    pub async fn block(&self, hash: &Hash) -> Result<Option<Block>, ClientError> {
        not_found_is_none(
            self.get(&format!("/blocks/{hash}/full/"), BLOCKS_ANSWER_LIMIT)
                .await,
        )
    }

    /// `POST /blocks/`.
    pub async fn post_block(&self, block: &Block) -> Result<BlockAccepted, ClientError> {
        self.post("/blocks/", Self::to_json(block), ANSWER_LIMIT)
            .await
    }

    /// `POST /transactions/`: the accepted transaction.
    pub async fn post_transaction(&self, tx: &Transaction) -> Result<Transaction, ClientError> {
        self.post("/transactions/", Self::to_json(tx), ANSWER_LIMIT)
            .await
    }

    /// `GET /transactions/`: the mempool's headers in arrival order.
    pub async fn mempool(&self) -> Result<TransactionList, ClientError> {
        self.get("/transactions/", BLOCKS_ANSWER_LIMIT).await
    }

    /// `GET /transactions/{hash}/`; `None` when not in that node's mempool.
    pub async fn mempool_transaction(
        &self,
        hash: &Hash,
    ) -> Result<Option<Transaction>, ClientError> {
        not_found_is_none(
            self.get(&format!("/transactions/{hash}/"), ANSWER_LIMIT)
                .await,
        )
    }

    /// `GET /transactions/{hash}/status/`.
    pub async fn transaction_status(&self, hash: &Hash) -> Result<TransactionStatus, ClientError> {
        self.get(&format!("/transactions/{hash}/status/"), ANSWER_LIMIT)
            .await
    }

    /// `GET /utxo/{address}/`: the confirmed unspent outputs; with
    /// `mempool`, `?mempool=true`: as the mempool sees them (API.md §5).
    pub async fn utxo(
        &self,
        address: &Address,
        mempool: bool,
    ) -> Result<UnspentOutputs, ClientError> {
        let path = if mempool {
            format!("/utxo/{address}/?mempool=true")
        } else {
            format!("/utxo/{address}/")
        };
        self.get(&path, LISTING_ANSWER_LIMIT).await
    }

    /// `GET /addresses/{address}/`.
    pub async fn address(&self, address: &Address) -> Result<AddressInfo, ClientError> {
        self.get(&format!("/addresses/{address}/"), ANSWER_LIMIT)
            .await
    }

    /// `GET /addresses/{address}/mempool/`: in arrival order.
    pub async fn address_mempool(
        &self,
        address: &Address,
    ) -> Result<Vec<AddressMempoolEntry>, ClientError> {
        self.get(
            &format!("/addresses/{address}/mempool/"),
            LISTING_ANSWER_LIMIT,
        )
        .await
    }

    /// `GET /addresses/{address}/transactions/?limit=…[&before=…]`: one page
    /// of the confirmed history, newest first, continuing after `before`.
    pub async fn address_transactions(
        &self,
        address: &Address,
        limit: usize,
        before: Option<&Hash>,
    ) -> Result<Vec<AddressHistoryEntry>, ClientError> {
        let path = match before {
            Some(hash) => format!("/addresses/{address}/transactions/?limit={limit}&before={hash}"),
            None => format!("/addresses/{address}/transactions/?limit={limit}"),
        };
        self.get(&path, ANSWER_LIMIT).await
    }

    /// `GET /mining/template/?address=…`.
    pub async fn template(&self, address: &Address) -> Result<Block, ClientError> {
        self.get(
            &format!("/mining/template/?address={address}"),
            BLOCKS_ANSWER_LIMIT,
        )
        .await
    }

    /// `GET /nodes/`.
    pub async fn nodes(&self) -> Result<Vec<NodeAddr>, ClientError> {
        self.get("/nodes/", ANSWER_LIMIT).await
    }

    /// `GET /nodes/random/`; `None` when the server knows no node.
    pub async fn random_node(&self) -> Result<Option<NodeAddr>, ClientError> {
        not_found_is_none(self.get("/nodes/random/", ANSWER_LIMIT).await)
    }

    /// `POST /nodes/` with `node`: the server's list after the check.
    pub async fn register(&self, node: NodeAddr) -> Result<Vec<NodeAddr>, ClientError> {
        self.post("/nodes/", Self::to_json(&node), ANSWER_LIMIT)
            .await
    }

    /// `POST /` with `node` (announce ourselves): the server's own node.
    pub async fn announce(&self, node: NodeAddr) -> Result<NodeAddr, ClientError> {
        self.post("/", Self::to_json(&node), ANSWER_LIMIT).await
    }

    /// `DELETE /nodes/` with `node`: the server's list after removing it.
    pub async fn remove_node(&self, node: NodeAddr) -> Result<Vec<NodeAddr>, ClientError> {
        self.delete("/nodes/", Self::to_json(&node)).await
    }
}

/// `e` and its sources, as one line (reqwest's own text is often only
/// "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn not_found_is_none<T>(result: Result<T, ClientError>) -> Result<Option<T>, ClientError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(ClientError::Refused { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

// The runtime for these tests comes with the `node` feature.
#[cfg(all(test, feature = "node"))]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    /// A server answering one request with `(status, body)` (`None`: it
    /// reads the request, then hangs up without a word).
    fn serve_once(answer: Option<(u16, &'static str)>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let Ok(clone) = stream.try_clone() else {
                return;
            };
            let mut reader = BufReader::new(clone);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            if let Some((status, body)) = answer {
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        url
    }

    #[tokio::test]
    async fn silence_is_told_apart_from_refusal_and_misbehaviour() {
        // Nothing listens on port 1: never sent.
        let e = Client::new("127.0.0.1:1").health().await.unwrap_err();
        assert!(matches!(e, ClientError::Unreachable { .. }), "{e}");
        assert!(e.is_silence() && !e.is_misbehaviour());

        // Read, then no answer: perhaps sent.
        let e = Client::new(&serve_once(None)).health().await.unwrap_err();
        assert!(matches!(e, ClientError::Interrupted { .. }), "{e}");
        assert!(e.is_silence() && !e.is_misbehaviour());

        let refusal = r#"{"error":"bad_request","message":"no"}"#;
        let e = Client::new(&serve_once(Some((400, refusal))))
            .health()
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), e.status()),
            (Some("bad_request"), Some(400)),
            "{e}"
        );
        assert!(!e.is_silence() && !e.is_misbehaviour());

        let e = Client::new(&serve_once(Some((502, "bad gateway"))))
            .health()
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ClientError::UnexplainedRefusal { status: 502, text, .. } if text == "bad gateway"),
            "{e}"
        );
        assert!(e.is_misbehaviour());
    }

    #[tokio::test]
    async fn address_answers_are_typed() {
        let answer = r#"{"address":"0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79","balance":1,"unconfirmed_balance":-0.5,"received":2,"sent":1,"transaction_count":3}"#;
        let info = Client::new(&serve_once(Some((200, answer))))
            .address(&Address([1; 20]))
            .await
            .expect("an address answer");
        assert_eq!(info.unconfirmed_balance.units(), -50_000_000);
        assert_eq!(info.transaction_count, 3);
    }
}
