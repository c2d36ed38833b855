//! The typed HTTP client of the API (API.md), over the shapes of
//! [`crate::wire`]: what relay, sync, the peer book, the seed, the tests
//! and the benches say to a node. Every answer is read within a size bound
//! and a timeout, and parsed strictly: a peer cannot make us buffer or wait
//! without limit, and a malformed answer is told apart from a refusal (sync
//! bans for the first, never for the second).

use std::time::Duration;

use crate::types::{Address, Block, BlockHeader, Hash, Transaction};
use crate::wire::{
    BlockAccepted, BlockchainInfo, ErrorBody, Health, NODE_HEADER, NodeAddr, TransactionList,
};

/// Bound of an answer the API does not bound otherwise (API.md §8).
pub const ANSWER_LIMIT: usize = 2 * 1024 * 1024;
/// Bound of an answer holding whole blocks (`GET /blocks/?…`: 16 MiB,
/// API.md §3), and of a mempool listing.
pub const BLOCKS_ANSWER_LIMIT: usize = 16 * 1024 * 1024;
/// Default time for one request, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The time a node has to answer "the check" (API.md §1).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a request got no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("{url} unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url}{path}: no answer within {} ms", timeout.as_millis())]
    Timeout {
        url: String,
        path: String,
        timeout: Duration,
    },
    #[error("{url}{path} answered {status}: {}: {}", body.error, body.message)]
    Refused {
        url: String,
        path: String,
        status: u16,
        body: Box<ErrorBody>,
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
            ClientError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The peer broke the API (malformed or oversized answer): a reason to
    /// ban it (API.md §8 "Bad peers"). Silence and refusals are not.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            ClientError::Malformed { .. } | ClientError::TooLarge { .. }
        )
    }

    /// No answer at all (down, or too slow).
    pub fn is_silence(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. } | ClientError::Timeout { .. }
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
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(8)
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

    /// Names this node on every post (`X-Cinder-Node`, API.md §8).
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

    fn unreachable(&self, e: &reqwest::Error) -> ClientError {
        let reason = if e.is_connect() {
            "connection refused or failed".to_string()
        } else {
            e.to_string()
        };
        ClientError::Unreachable {
            url: self.base.clone(),
            reason,
        }
    }

    fn transport(&self, path: &str, e: reqwest::Error) -> ClientError {
        if e.is_timeout() {
            ClientError::Timeout {
                url: self.base.clone(),
                path: path.to_string(),
                timeout: self.timeout,
            }
        } else {
            self.unreachable(&e)
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
            Err(_) => Err(malformed(format!("status {status} without an error body"))),
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
        self.get("/blockchain/", ANSWER_LIMIT).await
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

fn not_found_is_none<T>(result: Result<T, ClientError>) -> Result<Option<T>, ClientError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(ClientError::Refused { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
