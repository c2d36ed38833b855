//! The API's JSON shapes (API.md), defined once: the handlers write them,
//! the typed client ([`crate::client`]), the wallet, the seed and the tests
//! read them. Protocol objects (blocks, transactions) are in [`crate::types`].

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use primitive_types::U256;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::types::{Address, Amount, Hash, Target, TransactionHeader};

/// The header naming the node that relays a block or transaction (API.md §8).
pub const NODE_HEADER: &str = "X-Cinder-Node";

/// A node of the network: `{"ip_address": "127.0.0.1", "port": 50123}`
/// (API.md §1). The IP is an address, never a host name; the port is 1–65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeAddr(pub SocketAddr);

impl NodeAddr {
    pub fn new(ip: IpAddr, port: u16) -> NodeAddr {
        NodeAddr(SocketAddr::new(ip, port))
    }

    pub fn ip(&self) -> IpAddr {
        self.0.ip()
    }

    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// `http://ip:port`, the base of the node's API.
    pub fn url(&self) -> String {
        format!("http://{}", self.0)
    }
}

impl fmt::Display for NodeAddr {
    /// `ip:port` (`[v6]:port`), as `X-Cinder-Node` carries it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a node's address is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeAddrError {
    #[error("{0:?} is not ip:port (a host name is not accepted)")]
    Malformed(String),
    #[error("port 0 is not a port a node listens on")]
    PortZero,
}

impl FromStr for NodeAddr {
    type Err = NodeAddrError;

    /// `ip:port` as in `--dns 127.0.0.1:42020` or `X-Cinder-Node`.
    fn from_str(text: &str) -> Result<NodeAddr, NodeAddrError> {
        let addr: SocketAddr = text
            .trim()
            .parse()
            .map_err(|_| NodeAddrError::Malformed(text.to_string()))?;
        if addr.port() == 0 {
            return Err(NodeAddrError::PortZero);
        }
        Ok(NodeAddr(addr))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeJson {
    ip_address: String,
    port: u64,
}

impl Serialize for NodeAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        NodeJson {
            ip_address: self.ip().to_string(),
            port: u64::from(self.port()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for NodeAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<NodeAddr, D::Error> {
        use serde::de::Error;
        let json = NodeJson::deserialize(deserializer)?;
        let ip: IpAddr = json.ip_address.parse().map_err(|_| {
            D::Error::custom(format!(
                "ip_address {:?} is not an IP address (host names are not accepted)",
                json.ip_address
            ))
        })?;
        let port = u16::try_from(json.port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| D::Error::custom(format!("port {} is not 1–65535", json.port)))?;
        Ok(NodeAddr::new(ip, port))
    }
}

/// Cumulative work as API.md writes it: a decimal string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Work(pub U256);

impl Serialize for Work {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Work {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Work, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom(format!(
                "total_work {text:?} is not a decimal number"
            )));
        }
        U256::from_dec_str(&text)
            .map(Work)
            .map_err(|_| serde::de::Error::custom(format!("total_work {text:?} is out of range")))
    }
}

/// One entry of the rich list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RichEntry {
    pub address: Address,
    pub balance: Amount,
}

/// `GET /blockchain/` (API.md §2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockchainInfo {
    pub name: String,
    pub height: u64,
    pub total_transactions: u64,
    pub total_addresses: u64,
    pub block_time: u64,
    pub block_reward: Amount,
    pub rich_list: Vec<RichEntry>,
    pub best_hash: Hash,
    pub target: Target,
    pub total_work: Work,
    pub genesis_hash: Hash,
    pub mempool_size: u64,
}

/// `GET /health/` (API.md §7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub height: u64,
    pub peers: u64,
    pub syncing: bool,
}

/// How an accepted block changed the chain (API.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockStatus {
    Connected,
    SideChain,
    Reorganized,
}

impl BlockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockStatus::Connected => "connected",
            BlockStatus::SideChain => "side_chain",
            BlockStatus::Reorganized => "reorganized",
        }
    }
}

/// `200` of `POST /blocks/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockAccepted {
    pub status: BlockStatus,
    pub hash: Hash,
    pub height: u64,
}

/// `GET /transactions/` and `GET /blocks/{bid}/transactions/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionList {
    pub transaction_count: u64,
    pub transaction_headers: Vec<TransactionHeader>,
}

/// The body of every non-200 answer (API.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<Hash>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_json_is_strict() {
        let ok: NodeAddr = serde_json::from_str(r#"{"ip_address":"127.0.0.1","port":50123}"#)
            .expect("a valid node");
        assert_eq!(ok.to_string(), "127.0.0.1:50123");
        assert_eq!(
            serde_json::to_string(&ok).expect("serialises"),
            r#"{"ip_address":"127.0.0.1","port":50123}"#
        );
        for bad in [
            r#"{"ip_address":"localhost","port":50123}"#,
            r#"{"ip_address":"127.0.0.1","port":0}"#,
            r#"{"ip_address":"127.0.0.1","port":65536}"#,
            r#"{"ip_address":"127.0.0.1","port":-1}"#,
            r#"{"ip_address":"127.0.0.1"}"#,
            r#"{"ip_address":"127.0.0.1","port":1,"extra":1}"#,
        ] {
            assert!(serde_json::from_str::<NodeAddr>(bad).is_err(), "{bad}");
        }
        assert_eq!(
            "127.0.0.1:0".parse::<NodeAddr>(),
            Err(NodeAddrError::PortZero)
        );
        assert!("example.com:80".parse::<NodeAddr>().is_err());
        assert_eq!(
            "[::1]:8".parse::<NodeAddr>().map(|n| n.url()),
            Ok("http://[::1]:8".to_string())
        );
    }

    #[test]
    fn work_is_a_decimal_string() {
        let w = Work(U256::from(1u64) << 200);
        let text = serde_json::to_string(&w).expect("serialises");
        assert_eq!(serde_json::from_str::<Work>(&text).expect("parses"), w);
        assert!(serde_json::from_str::<Work>(r#""-1""#).is_err());
        assert!(serde_json::from_str::<Work>(r#""0x10""#).is_err());
        assert!(serde_json::from_str::<Work>("12").is_err());
    }
}
