//! What the wallet asks a node (API.md §2, §4, §5), as the [`NodeClient`]
//! trait, and [`HttpNode`], which asks a real node over HTTP. The rest of
//! the wallet only sees the trait, so it is tested without a node.

use std::collections::HashSet;
use std::io::Read;
use std::time::Duration;

use cinder::types::{Address, Amount, Hash, Transaction};
use serde::Deserialize;

use crate::SignedAmount;

/// The node's chain: its name (for [`cinder::consensus::ChainParams`]) and tip.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ChainInfo {
    pub name: String,
    pub height: u64,
}

/// An unspent output as `GET /utxo/{address}/?mempool=true` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct UnspentOutput {
    /// `None` for an output of a mempool transaction.
    pub block_height: Option<u64>,
    pub transaction_hash: Hash,
    pub transaction_index: Option<u32>,
    pub output_index: u32,
    pub value: Amount,
    pub coinbase: bool,
}

#[derive(Deserialize)]
struct UtxoAnswer {
    utxo_outputs: Vec<UnspentOutput>,
}

/// `GET /addresses/{address}/`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AddressInfo {
    pub address: Address,
    /// Confirmed balance, immature coinbase outputs included.
    pub balance: Amount,
    /// `balance` plus the mempool's net effect: negative while the
    /// mempool spends more than the confirmed balance holds.
    pub unconfirmed_balance: SignedAmount,
    pub received: Amount,
    pub sent: Amount,
    pub transaction_count: u64,
}

impl AddressInfo {
    /// The answer for an address that never received anything.
    pub fn unused(address: Address) -> AddressInfo {
        AddressInfo {
            address,
            balance: Amount::ZERO,
            unconfirmed_balance: SignedAmount::ZERO,
            received: Amount::ZERO,
            sent: Amount::ZERO,
            transaction_count: 0,
        }
    }
}

/// One entry of `GET /addresses/{address}/mempool/`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct MempoolEntry {
    pub hash: Hash,
    pub timestamp: u64,
    pub delta: SignedAmount,
}

/// One entry of `GET /addresses/{address}/transactions/`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct HistoryEntry {
    pub hash: Hash,
    pub block_height: u64,
    pub timestamp: u64,
    pub delta: SignedAmount,
}

/// The error body of every non-200 answer (API.md).
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("node {url} unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("node rejected the transaction: {code}: {message}")]
    RejectedTransaction { code: String, message: String },
    #[error("node {url} answered {status} to {path}: {code}: {message}")]
    Refused {
        url: String,
        path: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("node {url} sent an unexpected answer to {path}: {reason}")]
    BadAnswer {
        url: String,
        path: String,
        reason: String,
    },
    /// The request may have reached the node: the transaction may be in its
    /// mempool although no answer said so.
    #[error(
        "posting transaction {hash} to node {url} failed after it may have been sent ({reason}): \
         it may have been accepted, so check GET /transactions/{hash}/status/ before paying again"
    )]
    PostUncertain {
        url: String,
        hash: Hash,
        reason: String,
    },
}

impl NodeError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, NodeError::Unreachable { .. })
    }
}

/// The questions the wallet asks a node. Addresses go out lowercase.
pub trait NodeClient {
    /// Where the answers come from, for messages (`http://127.0.0.1:50000`).
    fn url(&self) -> &str;
    /// `GET /blockchain/`: chain name and tip height.
    fn chain_info(&self) -> Result<ChainInfo, NodeError>;
    /// `GET /utxo/{a}/?mempool=true`: unspent outputs as the mempool sees them.
    fn unspent_outputs(&self, address: &Address) -> Result<Vec<UnspentOutput>, NodeError>;
    /// `GET /addresses/{a}/`.
    fn address_info(&self, address: &Address) -> Result<AddressInfo, NodeError>;
    /// `GET /addresses/{a}/mempool/`.
    fn address_mempool(&self, address: &Address) -> Result<Vec<MempoolEntry>, NodeError>;
    /// `GET /addresses/{a}/transactions/`: every confirmed entry, newest first.
    fn address_transactions(&self, address: &Address) -> Result<Vec<HistoryEntry>, NodeError>;
    /// `GET /transactions/{hash}/`: a mempool transaction, `None` when not there.
    fn mempool_transaction(&self, hash: &Hash) -> Result<Option<Transaction>, NodeError>;
    /// `POST /transactions/`.
    fn post_transaction(&self, transaction: &Transaction) -> Result<(), NodeError>;
}

/// Page size for `GET /addresses/{a}/transactions/` (the API's maximum).
const HISTORY_PAGE: usize = 1000;
/// At most this many pages of one address's history (10 million entries).
const MAX_HISTORY_PAGES: usize = 10_000;
/// The largest answer body read from a node.
const MAX_BODY: u64 = 32 * 1024 * 1024;
/// Node-provided text longer than this is cut in messages.
const MAX_MESSAGE_CHARS: usize = 300;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A node reached over HTTP with `reqwest::blocking` (never inside an async runtime).
pub struct HttpNode {
    url: String,
    client: reqwest::blocking::Client,
    /// [`MAX_BODY`]; smaller in tests.
    max_body: u64,
}

/// How an exchange with the node failed.
enum ExchangeError {
    /// No connection was made: the request was certainly not sent.
    Connect(reqwest::Error),
    /// The request may have been sent (timeout, connection lost, error
    /// reading the answer).
    AfterSend(String),
    /// An answer larger than the bound.
    TooLarge,
}

/// `text` from a node as one printable line: control characters (newlines,
/// escape sequences…) become spaces, and a long text is cut.
pub fn sanitize(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(MAX_MESSAGE_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// `ip:port` or `http://ip:port[/]` as `http://ip:port`.
pub fn normalize_url(text: &str) -> String {
    let trimmed = text.trim().trim_end_matches('/');
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    }
}

impl HttpNode {
    pub fn new(url: &str) -> Result<HttpNode, NodeError> {
        let url = normalize_url(url);
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| NodeError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        Ok(HttpNode {
            url,
            client,
            max_body: MAX_BODY,
        })
    }

    fn describe(e: &reqwest::Error) -> String {
        if e.is_timeout() {
            "timed out".to_string()
        } else if e.is_connect() {
            "connection failed".to_string()
        } else {
            sanitize(&e.to_string())
        }
    }

    /// Sends a request; returns the status and body.
    fn try_exchange(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), ExchangeError> {
        let response = request.send().map_err(|e| {
            if e.is_connect() {
                ExchangeError::Connect(e)
            } else {
                ExchangeError::AfterSend(Self::describe(&e))
            }
        })?;
        let status = response.status().as_u16();
        if response.content_length().is_some_and(|n| n > self.max_body) {
            return Err(ExchangeError::TooLarge);
        }
        let mut body = Vec::new();
        response
            .take(self.max_body.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|e| ExchangeError::AfterSend(sanitize(&e.to_string())))?;
        if body.len() as u64 > self.max_body {
            return Err(ExchangeError::TooLarge);
        }
        Ok((status, body))
    }

    /// [`Self::try_exchange`] for a question: any failure to get an answer
    /// is "unreachable".
    fn exchange(
        &self,
        path: &str,
        request: reqwest::blocking::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), NodeError> {
        self.try_exchange(request).map_err(|e| match e {
            ExchangeError::Connect(e) => NodeError::Unreachable {
                url: self.url.clone(),
                reason: Self::describe(&e),
            },
            ExchangeError::AfterSend(reason) => NodeError::Unreachable {
                url: self.url.clone(),
                reason,
            },
            ExchangeError::TooLarge => self.too_large(path),
        })
    }

    fn too_large(&self, path: &str) -> NodeError {
        NodeError::BadAnswer {
            url: self.url.clone(),
            path: path.to_string(),
            reason: format!("the answer is larger than {} KiB", self.max_body / 1024),
        }
    }

    fn refused(&self, path: &str, status: u16, body: &[u8]) -> NodeError {
        let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => (sanitize(&b.error), sanitize(&b.message)),
            Err(_) => (
                "unknown".to_string(),
                sanitize(&String::from_utf8_lossy(body)),
            ),
        };
        NodeError::Refused {
            url: self.url.clone(),
            path: path.to_string(),
            status,
            code,
            message,
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &[u8],
    ) -> Result<T, NodeError> {
        serde_json::from_slice(body).map_err(|e| NodeError::BadAnswer {
            url: self.url.clone(),
            path: path.to_string(),
            reason: sanitize(&e.to_string()),
        })
    }

    /// `GET path`, 200 parsed as `T`, anything else an error.
    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, NodeError> {
        let (status, body) = self.exchange(path, self.client.get(format!("{}{path}", self.url)))?;
        if status != 200 {
            return Err(self.refused(path, status, &body));
        }
        self.parse(path, &body)
    }
}

impl NodeClient for HttpNode {
    fn url(&self) -> &str {
        &self.url
    }

    fn chain_info(&self) -> Result<ChainInfo, NodeError> {
        self.get("/blockchain/")
    }

    fn unspent_outputs(&self, address: &Address) -> Result<Vec<UnspentOutput>, NodeError> {
        let answer: UtxoAnswer = self.get(&format!("/utxo/{address}/?mempool=true"))?;
        Ok(answer.utxo_outputs)
    }

    fn address_info(&self, address: &Address) -> Result<AddressInfo, NodeError> {
        self.get(&format!("/addresses/{address}/"))
    }

    fn address_mempool(&self, address: &Address) -> Result<Vec<MempoolEntry>, NodeError> {
        self.get(&format!("/addresses/{address}/mempool/"))
    }

    fn address_transactions(&self, address: &Address) -> Result<Vec<HistoryEntry>, NodeError> {
        let mut all: Vec<HistoryEntry> = Vec::new();
        // The last hash of every page so far: a node whose `before` does not
        // advance would otherwise be asked forever.
        let mut page_ends: HashSet<Hash> = HashSet::new();
        for _ in 0..MAX_HISTORY_PAGES {
            let mut path = format!("/addresses/{address}/transactions/?limit={HISTORY_PAGE}");
            if let Some(last) = all.last() {
                path.push_str(&format!("&before={}", last.hash));
            }
            let page: Vec<HistoryEntry> = self.get(&path)?;
            let full = page.len() == HISTORY_PAGE;
            if let Some(last) = page.last()
                && !page_ends.insert(last.hash)
            {
                return Err(NodeError::BadAnswer {
                    url: self.url.clone(),
                    path,
                    reason: format!("the history repeats itself (page ending at {})", last.hash),
                });
            }
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
        Err(NodeError::BadAnswer {
            url: self.url.clone(),
            path: format!("/addresses/{address}/transactions/"),
            reason: format!("the history goes on for more than {MAX_HISTORY_PAGES} pages"),
        })
    }

    fn mempool_transaction(&self, hash: &Hash) -> Result<Option<Transaction>, NodeError> {
        let path = format!("/transactions/{hash}/");
        let (status, body) =
            self.exchange(&path, self.client.get(format!("{}{path}", self.url)))?;
        match status {
            200 => self.parse(&path, &body).map(Some),
            404 => Ok(None),
            _ => Err(self.refused(&path, status, &body)),
        }
    }

    fn post_transaction(&self, transaction: &Transaction) -> Result<(), NodeError> {
        let path = "/transactions/";
        let body = serde_json::to_vec(transaction).map_err(|e| NodeError::BadAnswer {
            url: self.url.clone(),
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        let request = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body);
        let (status, body) = self.try_exchange(request).map_err(|e| match e {
            ExchangeError::Connect(e) => NodeError::Unreachable {
                url: self.url.clone(),
                reason: Self::describe(&e),
            },
            // Sent, or perhaps sent: the node may hold the transaction now.
            ExchangeError::AfterSend(reason) => NodeError::PostUncertain {
                url: self.url.clone(),
                hash: transaction.hash,
                reason,
            },
            ExchangeError::TooLarge => NodeError::PostUncertain {
                url: self.url.clone(),
                hash: transaction.hash,
                reason: "its answer was too large".to_string(),
            },
        })?;
        if status == 200 {
            return Ok(());
        }
        match self.refused(path, status, &body) {
            NodeError::Refused { code, message, .. } => {
                Err(NodeError::RejectedTransaction { code, message })
            }
            other => Err(other),
        }
    }
}

/// An [`HttpNode`] chosen on first use (`--node`, else the seed, else the
/// default), so commands that never reach a node never ask the seed.
pub struct LazyNode {
    node: Option<String>,
    dns: String,
    chosen: std::cell::OnceCell<Result<HttpNode, String>>,
}

impl LazyNode {
    pub fn new(node: Option<String>, dns: String) -> LazyNode {
        LazyNode {
            node,
            dns,
            chosen: std::cell::OnceCell::new(),
        }
    }

    fn node(&self) -> Result<&HttpNode, NodeError> {
        let chosen = self.chosen.get_or_init(|| {
            let url = choose_node_url(self.node.as_deref(), &self.dns);
            HttpNode::new(&url).map_err(|e| e.to_string())
        });
        chosen.as_ref().map_err(|reason| NodeError::Unreachable {
            url: self
                .node
                .clone()
                .unwrap_or_else(|| FALLBACK_NODE.to_string()),
            reason: reason.clone(),
        })
    }
}

impl NodeClient for LazyNode {
    fn url(&self) -> &str {
        match self.node() {
            Ok(node) => node.url(),
            Err(_) => FALLBACK_NODE,
        }
    }

    fn chain_info(&self) -> Result<ChainInfo, NodeError> {
        self.node()?.chain_info()
    }

    fn unspent_outputs(&self, address: &Address) -> Result<Vec<UnspentOutput>, NodeError> {
        self.node()?.unspent_outputs(address)
    }

    fn address_info(&self, address: &Address) -> Result<AddressInfo, NodeError> {
        self.node()?.address_info(address)
    }

    fn address_mempool(&self, address: &Address) -> Result<Vec<MempoolEntry>, NodeError> {
        self.node()?.address_mempool(address)
    }

    fn address_transactions(&self, address: &Address) -> Result<Vec<HistoryEntry>, NodeError> {
        self.node()?.address_transactions(address)
    }

    fn mempool_transaction(&self, hash: &Hash) -> Result<Option<Transaction>, NodeError> {
        self.node()?.mempool_transaction(hash)
    }

    fn post_transaction(&self, transaction: &Transaction) -> Result<(), NodeError> {
        self.node()?.post_transaction(transaction)
    }
}

#[derive(Deserialize)]
struct SeedNode {
    ip_address: String,
    port: u16,
}

/// The default node when neither `--node` nor the seed gives one.
pub const FALLBACK_NODE: &str = "http://127.0.0.1:50000";

/// The node to use: `--node` when given; else a random node from the DNS
/// seed at `dns` (`GET /nodes/random/`, short timeout) when it answers; else
/// [`FALLBACK_NODE`].
pub fn choose_node_url(node: Option<&str>, dns: &str) -> String {
    if let Some(node) = node {
        return normalize_url(node);
    }
    ask_seed(dns).unwrap_or_else(|| FALLBACK_NODE.to_string())
}

fn ask_seed(dns: &str) -> Option<String> {
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let response = client
        .get(format!("{}/nodes/random/", normalize_url(dns)))
        .send()
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let mut body = Vec::new();
    response.take(64 * 1024).read_to_end(&mut body).ok()?;
    let node: SeedNode = serde_json::from_slice(&body).ok()?;
    Some(format!("http://{}:{}", node.ip_address, node.port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_node_shapes() {
        let utxo: UtxoAnswer = serde_json::from_str(
            r#"{"utxo_outputs":[
                {"block_height":3,"transaction_hash":"11111111111111111111111111111111111111111111111111111111111111aa","transaction_index":0,"output_index":0,"value":1.5,"coinbase":true},
                {"block_height":null,"transaction_hash":"22222222222222222222222222222222222222222222222222222222222222bb","transaction_index":null,"output_index":1,"value":0.00000001,"coinbase":false}
            ],"balance":1.50000001}"#,
        )
        .unwrap();
        assert_eq!(utxo.utxo_outputs.len(), 2);
        assert_eq!(utxo.utxo_outputs[0].value, Amount::from_units(150_000_000));
        assert_eq!(utxo.utxo_outputs[1].block_height, None);
        assert_eq!(utxo.utxo_outputs[1].value, Amount::from_units(1));

        let history: Vec<HistoryEntry> = serde_json::from_str(
            r#"[{"hash":"11111111111111111111111111111111111111111111111111111111111111aa","block_height":4,"timestamp":5,"delta":-1.2}]"#,
        )
        .unwrap();
        assert_eq!(history[0].delta.units(), -120_000_000);

        let info: AddressInfo = serde_json::from_str(
            r#"{"address":"0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79","balance":3,"unconfirmed_balance":2.5,"received":3,"sent":0,"transaction_count":2}"#,
        )
        .unwrap();
        assert_eq!(info.transaction_count, 2);
        // The mempool may spend more than the confirmed balance shows.
        let info: AddressInfo = serde_json::from_str(
            r#"{"address":"0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79","balance":0,"unconfirmed_balance":-0.5,"received":3,"sent":3,"transaction_count":2}"#,
        )
        .unwrap();
        assert_eq!(info.unconfirmed_balance.units(), -50_000_000);

        let chain: ChainInfo = serde_json::from_str(
            r#"{"name":"regtest","height":7,"total_transactions":3,"block_reward":1.5,"rich_list":[]}"#,
        )
        .unwrap();
        assert_eq!(
            chain,
            ChainInfo {
                name: "regtest".into(),
                height: 7
            }
        );
    }

    #[test]
    fn urls() {
        assert_eq!(normalize_url("127.0.0.1:5"), "http://127.0.0.1:5");
        assert_eq!(normalize_url("http://127.0.0.1:5/"), "http://127.0.0.1:5");
        assert_eq!(
            choose_node_url(Some("10.0.0.1:1"), "127.0.0.1:1"),
            "http://10.0.0.1:1"
        );
    }

    /// A one-thread HTTP server answering `(status, body)` by request line
    /// (status 0: hang up without answering).
    fn serve(answer: fn(&str) -> (u16, String), requests: usize) -> String {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut length = 0usize;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).unwrap();
                let (status, body) = answer(request_line.trim());
                if status == 0 {
                    // Read the request, then hang up without answering.
                    continue;
                }
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(response.as_bytes()).unwrap();
            }
        });
        url
    }

    #[test]
    fn http_node_parses_answers_and_errors() {
        let url = serve(
            |line| {
                match line.split(' ').nth(1).unwrap_or("") {
                "/blockchain/" => (200, r#"{"name":"regtest","height":3,"mempool_size":0}"#.into()),
                p if p.starts_with("/transactions/") && line.starts_with("GET") => {
                    (404, r#"{"error":"not_found","message":"no such transaction"}"#.into())
                }
                "/transactions/" => (
                    400,
                    r#"{"error":"fee_too_low","message":"pays 1 units for 300 bytes"}"#.into(),
                ),
                p if p.contains("/transactions/?limit=1000") => (
                    200,
                    r#"[{"hash":"11111111111111111111111111111111111111111111111111111111111111aa","block_height":2,"timestamp":1,"delta":-0.5}]"#.into(),
                ),
                _ => (400, r#"{"error":"bad_request","message":"what"}"#.into()),
            }
            },
            5,
        );
        let node = HttpNode::new(&url).unwrap();
        assert_eq!(node.chain_info().unwrap().height, 3);
        assert_eq!(node.mempool_transaction(&Hash([1; 32])).unwrap(), None);
        let history = node.address_transactions(&Address([1; 20])).unwrap();
        assert_eq!(history[0].delta.units(), -50_000_000);
        let tx = Transaction::coinbase(1, 1, Address([1; 20]), Amount::from_units(1));
        let err = node.post_transaction(&tx).unwrap_err();
        assert_eq!(
            err.to_string(),
            "node rejected the transaction: fee_too_low: pays 1 units for 300 bytes"
        );
        let err = node
            .address_info(&Address([1; 20]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad_request: what"), "{err}");
    }

    #[test]
    fn unreachable_node_names_its_url() {
        // Port 1 on loopback: nothing listens there.
        let node = HttpNode::new("http://127.0.0.1:1").unwrap();
        let err = node.chain_info().unwrap_err();
        assert!(err.is_unreachable(), "{err}");
        assert!(
            err.to_string()
                .contains("node http://127.0.0.1:1 unreachable"),
            "{err}"
        );
        // And the seed falls back to the default node.
        assert_eq!(choose_node_url(None, "127.0.0.1:1"), FALLBACK_NODE);
    }

    #[test]
    fn post_without_an_answer_names_the_hash_and_may_have_been_accepted() {
        let url = serve(|_| (0, String::new()), 1);
        let node = HttpNode::new(&url).unwrap();
        let tx = Transaction::coinbase(1, 1, Address([1; 20]), Amount::from_units(1));
        let err = node.post_transaction(&tx).unwrap_err();
        assert!(matches!(err, NodeError::PostUncertain { .. }), "{err}");
        assert!(!err.is_unreachable());
        let text = err.to_string();
        assert!(text.contains(&tx.hash.to_string()), "{text}");
        assert!(text.contains("may have been accepted"), "{text}");
        assert!(
            text.contains(&format!("/transactions/{}/status/", tx.hash)),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
        // Nothing listening: certainly not sent, plainly unreachable.
        let node = HttpNode::new("http://127.0.0.1:1").unwrap();
        assert!(node.post_transaction(&tx).unwrap_err().is_unreachable());
    }

    #[test]
    fn node_text_is_printed_without_control_characters() {
        assert_eq!(sanitize("a\nb\u{1b}[31mc\r\td"), "a b [31mc  d");
        assert_eq!(sanitize(&"x".repeat(1000)).chars().count(), 301);
        let url = serve(
            |line| {
                if line.starts_with("POST") {
                    (
                        400,
                        "{\"error\":\"bad\\u001b[2J\",\"message\":\"line one\\nline two\\u0007\"}"
                            .into(),
                    )
                } else {
                    (500, "oops\n\u{1b}[31mred".into())
                }
            },
            2,
        );
        let node = HttpNode::new(&url).unwrap();
        let tx = Transaction::coinbase(1, 1, Address([1; 20]), Amount::from_units(1));
        let err = node.post_transaction(&tx).unwrap_err().to_string();
        assert_eq!(
            err,
            "node rejected the transaction: bad [2J: line one line two "
        );
        let err = node.chain_info().unwrap_err().to_string();
        assert!(err.ends_with("unknown: oops  [31mred"), "{err:?}");
        assert!(!err.chars().any(char::is_control), "{err:?}");
    }

    #[test]
    fn history_pages_that_do_not_advance_stop() {
        // Every page is the same full page, whatever `before` says.
        let url = serve(
            |_| {
                let entries: Vec<String> = (0..HISTORY_PAGE)
                    .map(|i| {
                        format!(
                            r#"{{"hash":"{}","block_height":2,"timestamp":1,"delta":1}}"#,
                            Hash([i as u8; 32])
                        )
                    })
                    .collect();
                (200, format!("[{}]", entries.join(",")))
            },
            3,
        );
        let node = HttpNode::new(&url).unwrap();
        let err = node.address_transactions(&Address([1; 20])).unwrap_err();
        assert!(matches!(err, NodeError::BadAnswer { .. }), "{err}");
        assert!(err.to_string().contains("repeats"), "{err}");
    }

    #[test]
    fn answers_larger_than_the_bound_are_refused() {
        let url = serve(
            |_| {
                (
                    200,
                    format!(r#"{{"name":"{}","height":3}}"#, "r".repeat(4000)),
                )
            },
            2,
        );
        let mut node = HttpNode::new(&url).unwrap();
        node.max_body = 1024;
        let err = node.chain_info().unwrap_err();
        assert!(matches!(err, NodeError::BadAnswer { .. }), "{err}");
        assert!(err.to_string().contains("larger than"), "{err}");
        node.max_body = MAX_BODY;
        assert_eq!(node.chain_info().unwrap().height, 3);
    }
}
