//! What the wallet asks a node (API.md §2, §4, §5), as the [`NodeClient`]
//! trait, and [`HttpNode`], which asks a real node through cinder's typed
//! client ([`cinder::client::Client`]). The rest of the wallet only sees the
//! trait, so it is tested without a node.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use cinder::client::{Client, ClientError};
use cinder::types::{Address, Hash, Transaction};
use cinder::wire::BlockchainInfo;

use crate::choose::{DEFAULT_NODE, find_node};

pub use cinder::client::normalize_url;
pub use cinder::wire::{AddressHistoryEntry, AddressInfo, AddressMempoolEntry, UnspentOutput};

/// The node's chain: its name (for [`cinder::consensus::ChainParams`]) and tip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainInfo {
    pub name: String,
    pub height: u64,
}

impl From<BlockchainInfo> for ChainInfo {
    fn from(info: BlockchainInfo) -> ChainInfo {
        ChainInfo {
            name: info.name,
            height: info.height,
        }
    }
}

#[derive(Clone, Debug, thiserror::Error)]
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
    /// Neither the nodes the seed listed nor the default node answered.
    #[error(transparent)]
    NoneAnswered(#[from] crate::choose::NoNodeAnswered),
}

impl NodeError {
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            NodeError::Unreachable { .. } | NodeError::NoneAnswered(_)
        )
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
    fn address_mempool(&self, address: &Address) -> Result<Vec<AddressMempoolEntry>, NodeError>;
    /// `GET /addresses/{a}/transactions/`: every confirmed entry, newest first.
    fn address_transactions(
        &self,
        address: &Address,
    ) -> Result<Vec<AddressHistoryEntry>, NodeError>;
    /// `GET /transactions/{hash}/`: a mempool transaction, `None` when not there.
    fn mempool_transaction(&self, hash: &Hash) -> Result<Option<Transaction>, NodeError>;
    /// `POST /transactions/`.
    fn post_transaction(&self, transaction: &Transaction) -> Result<(), NodeError>;
}

/// Page size for `GET /addresses/{a}/transactions/` (the API's maximum).
const HISTORY_PAGE: usize = 1000;
/// At most this many pages of one address's history (10 million entries).
const MAX_HISTORY_PAGES: usize = 10_000;
/// Node-provided text longer than this is cut in messages.
const MAX_MESSAGE_CHARS: usize = 300;
/// The time one request to the node has, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A node reached over HTTP with [`cinder::client::Client`]. The wallet is
/// a synchronous program: each question runs to its end on a runtime of
/// its own thread (so never call it from inside an async runtime).
pub struct HttpNode {
    client: Client,
    runtime: tokio::runtime::Runtime,
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

/// The runtime the client's futures run on: this thread only.
fn current_thread_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

impl HttpNode {
    /// A client of the node at `url` (`ip:port` or `http://ip:port[/]`).
    pub fn new(url: &str) -> Result<HttpNode, NodeError> {
        let client = Client::new(url).with_timeout(REQUEST_TIMEOUT);
        let runtime = current_thread_runtime().map_err(|e| NodeError::Unreachable {
            url: client.base().to_string(),
            reason: format!("cannot start the HTTP runtime: {e}"),
        })?;
        Ok(HttpNode { client, runtime })
    }

    /// Runs one question to its end; any failure to get an answer is
    /// "unreachable".
    fn ask<T>(
        &self,
        question: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, NodeError> {
        self.runtime
            .block_on(question)
            .map_err(|e| self.question_failed(e))
    }

    fn question_failed(&self, e: ClientError) -> NodeError {
        let url = self.url().to_string();
        match e {
            ClientError::Unreachable { reason, .. } | ClientError::Interrupted { reason, .. } => {
                NodeError::Unreachable {
                    url,
                    reason: sanitize(&reason),
                }
            }
            ClientError::Timeout { timeout, .. } => NodeError::Unreachable {
                url,
                reason: timed_out(timeout),
            },
            ClientError::Refused {
                path, status, body, ..
            } => NodeError::Refused {
                url,
                path,
                status,
                code: sanitize(&body.error),
                message: sanitize(&body.message),
            },
            ClientError::UnexplainedRefusal {
                path, status, text, ..
            } => NodeError::Refused {
                url,
                path,
                status,
                code: "unknown".to_string(),
                message: sanitize(&text),
            },
            ClientError::Malformed { path, reason, .. } => NodeError::BadAnswer {
                url,
                path,
                reason: sanitize(&reason),
            },
            ClientError::TooLarge { path, limit, .. } => NodeError::BadAnswer {
                url,
                path,
                reason: format!("the answer is larger than {} KiB", limit / 1024),
            },
        }
    }
}

fn timed_out(timeout: Duration) -> String {
    format!("timed out after {} ms", timeout.as_millis())
}

impl NodeClient for HttpNode {
    fn url(&self) -> &str {
        self.client.base()
    }

    fn chain_info(&self) -> Result<ChainInfo, NodeError> {
        self.ask(self.client.blockchain()).map(ChainInfo::from)
    }

    fn unspent_outputs(&self, address: &Address) -> Result<Vec<UnspentOutput>, NodeError> {
        self.ask(self.client.utxo(address, true))
            .map(|answer| answer.utxo_outputs)
    }

    fn address_info(&self, address: &Address) -> Result<AddressInfo, NodeError> {
        self.ask(self.client.address(address))
    }

    fn address_mempool(&self, address: &Address) -> Result<Vec<AddressMempoolEntry>, NodeError> {
        self.ask(self.client.address_mempool(address))
    }

    fn address_transactions(
        &self,
        address: &Address,
    ) -> Result<Vec<AddressHistoryEntry>, NodeError> {
        let mut all: Vec<AddressHistoryEntry> = Vec::new();
        // The last hash of every page so far: a node whose `before` does not
        // advance would otherwise be asked forever.
        let mut page_ends: HashSet<Hash> = HashSet::new();
        for _ in 0..MAX_HISTORY_PAGES {
            let before = all.last().map(|entry| entry.hash);
            let page = self.ask(self.client.address_transactions(
                address,
                HISTORY_PAGE,
                before.as_ref(),
            ))?;
            let full = page.len() == HISTORY_PAGE;
            if let Some(last) = page.last()
                && !page_ends.insert(last.hash)
            {
                return Err(NodeError::BadAnswer {
                    url: self.url().to_string(),
                    path: format!("/addresses/{address}/transactions/"),
                    reason: format!("the history repeats itself (page ending at {})", last.hash),
                });
            }
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
        Err(NodeError::BadAnswer {
            url: self.url().to_string(),
            path: format!("/addresses/{address}/transactions/"),
            reason: format!("the history goes on for more than {MAX_HISTORY_PAGES} pages"),
        })
    }

    fn mempool_transaction(&self, hash: &Hash) -> Result<Option<Transaction>, NodeError> {
        self.ask(self.client.mempool_transaction(hash))
    }

    fn post_transaction(&self, transaction: &Transaction) -> Result<(), NodeError> {
        let uncertain = |reason: String| NodeError::PostUncertain {
            url: self.url().to_string(),
            hash: transaction.hash,
            reason,
        };
        match self
            .runtime
            .block_on(self.client.post_transaction(transaction))
        {
            Ok(_) => Ok(()),
            Err(ClientError::Refused { body, .. }) => Err(NodeError::RejectedTransaction {
                code: sanitize(&body.error),
                message: sanitize(&body.message),
            }),
            Err(ClientError::UnexplainedRefusal { text, .. }) => {
                Err(NodeError::RejectedTransaction {
                    code: "unknown".to_string(),
                    message: sanitize(&text),
                })
            }
            // Certainly not sent.
            Err(e @ ClientError::Unreachable { .. }) => Err(self.question_failed(e)),
            // Sent, or perhaps sent: the node may hold the transaction now.
            Err(ClientError::Timeout { timeout, .. }) => Err(uncertain(timed_out(timeout))),
            Err(ClientError::Interrupted { reason, .. }) => Err(uncertain(sanitize(&reason))),
            Err(ClientError::TooLarge { .. }) => {
                Err(uncertain("its answer was too large".to_string()))
            }
            Err(ClientError::Malformed { reason, .. }) => Err(uncertain(format!(
                "its answer was malformed: {}",
                sanitize(&reason)
            ))),
        }
    }
}

/// An [`HttpNode`] chosen on first use by [`find_node`] (`--node`, else
/// the first node of the seed's list that answers, else the default node),
/// so commands that never reach a node never ask the seed.
pub struct LazyNode {
    node: Option<String>,
    dns: String,
    chosen: std::cell::OnceCell<Result<HttpNode, NodeError>>,
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
        self.chosen
            .get_or_init(|| {
                find_node(self.node.as_deref(), &self.dns).and_then(|url| HttpNode::new(&url))
            })
            .as_ref()
            .map_err(NodeError::clone)
    }
}

impl NodeClient for LazyNode {
    fn url(&self) -> &str {
        match self.node() {
            Ok(node) => node.url(),
            Err(_) => self.node.as_deref().unwrap_or(DEFAULT_NODE),
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

    fn address_mempool(&self, address: &Address) -> Result<Vec<AddressMempoolEntry>, NodeError> {
        self.node()?.address_mempool(address)
    }

    fn address_transactions(
        &self,
        address: &Address,
    ) -> Result<Vec<AddressHistoryEntry>, NodeError> {
        self.node()?.address_transactions(address)
    }

    fn mempool_transaction(&self, hash: &Hash) -> Result<Option<Transaction>, NodeError> {
        self.node()?.mempool_transaction(hash)
    }

    fn post_transaction(&self, transaction: &Transaction) -> Result<(), NodeError> {
        self.node()?.post_transaction(transaction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cinder::types::Amount;

    /// A `GET /blockchain/` answer of a regtest node at `height`.
    fn blockchain_json(height: u64) -> String {
        format!(
            r#"{{"name":"regtest","height":{height},"total_transactions":3,"total_addresses":1,"block_time":10,"block_reward":1.5,"rich_list":[],"best_hash":"{h}","target":"{h}","total_work":"12","genesis_hash":"{h}","mempool_size":0}}"#,
            h = "ab".repeat(32)
        )
    }

    #[test]
    fn urls() {
        assert_eq!(normalize_url("127.0.0.1:5"), "http://127.0.0.1:5");
        assert_eq!(normalize_url("http://127.0.0.1:5/"), "http://127.0.0.1:5");
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
                // The client may hang up first (an answer it will not read).
                let _ = stream.write_all(response.as_bytes());
            }
        });
        url
    }

    #[test]
    fn http_node_parses_answers_and_errors() {
        let url = serve(
            |line| {
                match line.split(' ').nth(1).unwrap_or("") {
                "/blockchain/" => (200, blockchain_json(3)),
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
            |line| {
                if line.contains("/utxo/") {
                    // A listing is bounded more loosely: many coins are fine.
                    let output = format!(
                        r#"{{"block_height":3,"transaction_hash":"{}","transaction_index":0,"output_index":0,"value":1.5,"coinbase":false}}"#,
                        "ab".repeat(32)
                    );
                    let outputs = vec![output; 20_000].join(",");
                    (
                        200,
                        format!(r#"{{"utxo_outputs":[{outputs}],"balance":1}}"#),
                    )
                } else {
                    let name = "r".repeat(cinder::client::ANSWER_LIMIT);
                    (200, format!(r#"{{"name":"{name}","height":3}}"#))
                }
            },
            2,
        );
        let node = HttpNode::new(&url).unwrap();
        let err = node.chain_info().unwrap_err();
        assert!(matches!(err, NodeError::BadAnswer { .. }), "{err}");
        assert!(err.to_string().contains("larger than"), "{err}");
        let outputs = node.unspent_outputs(&Address([1; 20])).unwrap();
        assert_eq!(outputs.len(), 20_000);
    }
}
