//! The API's JSON shapes (API.md), defined once: the handlers write them,
//! the typed client ([`crate::client`]), the wallet, the seed and the tests
//! read them. Protocol objects (blocks, transactions) are in [`crate::types`].

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use primitive_types::U256;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::types::{Address, Amount, Hash, SignedAmount, Target, TransactionHeader};

/// The header naming the node that relays a block or transaction (API.md §8).
pub const NODE_HEADER: &str = "X-Cinder-Node";

/// A node of the network: `{"ip_address": "127.0.0.1", "port": 50123}`
/// (API.md §1). The IP is an address, never a host name; the port is 1–65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeAddr(pub SocketAddr);

impl NodeAddr {
    /// The node at `ip:port`, its IP in canonical form (API.md §1: an
    /// IPv4-mapped IPv6 address is its IPv4 address), so one node is never
    /// two entries of a list or a ban.
    pub fn new(ip: IpAddr, port: u16) -> NodeAddr {
        NodeAddr(SocketAddr::new(ip.to_canonical(), port))
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
        Ok(NodeAddr::new(addr.ip(), addr.port()))
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
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct RichEntry {
    pub address: Address,
    pub balance: Amount,
}

/// `GET /blockchain/` (API.md §2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    pub height: u64,
    pub peers: u64,
    pub syncing: bool,
}

/// How an accepted block changed the chain (API.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct BlockAccepted {
    pub status: BlockStatus,
    pub hash: Hash,
    pub height: u64,
}

/// `GET /transactions/` and `GET /blocks/{bid}/transactions/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct TransactionList {
    pub transaction_count: u64,
    pub transaction_headers: Vec<TransactionHeader>,
}

/// Where a transaction is, as `GET /transactions/{hash}/status/` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub enum TransactionState {
    Mempool,
    Confirmed,
    Unknown,
}

/// `GET /transactions/{hash}/status/` (API.md §4): `block_height` and
/// `confirmations` only when confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct TransactionStatus {
    pub status: TransactionState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_height: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u64>,
}

impl TransactionStatus {
    pub fn mempool() -> TransactionStatus {
        TransactionStatus {
            status: TransactionState::Mempool,
            block_height: None,
            confirmations: None,
        }
    }

    pub fn unknown() -> TransactionStatus {
        TransactionStatus {
            status: TransactionState::Unknown,
            block_height: None,
            confirmations: None,
        }
    }

    /// Confirmed at `block_height` on a chain whose tip is at `tip`.
    pub fn confirmed(block_height: u64, tip: u64) -> TransactionStatus {
        TransactionStatus {
            status: TransactionState::Confirmed,
            block_height: Some(block_height),
            confirmations: Some(tip.saturating_sub(block_height) + 1),
        }
    }
}

/// An unspent output as `GET /utxo/{address}/[?mempool=true]` lists it
/// (API.md §5). `block_height` and `transaction_index` are `None` for an
/// output of a mempool transaction; `coinbase` outputs mature counting from
/// `block_height`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct UnspentOutput {
    pub block_height: Option<u64>,
    pub transaction_hash: Hash,
    pub transaction_index: Option<u32>,
    pub output_index: u32,
    pub value: Amount,
    pub coinbase: bool,
}

/// `GET /utxo/{address}/[?mempool=true]`: the unspent outputs and their sum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct UnspentOutputs {
    pub utxo_outputs: Vec<UnspentOutput>,
    pub balance: Amount,
}

/// `GET /addresses/{address}/` (API.md §5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
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

/// One entry of `GET /addresses/{address}/mempool/`: a mempool transaction
/// and the signed change it makes to the address's balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct AddressMempoolEntry {
    pub hash: Hash,
    pub timestamp: u64,
    pub delta: SignedAmount,
}

/// One entry of `GET /addresses/{address}/transactions/`: a confirmed
/// transaction and the signed change it made to the address's balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct AddressHistoryEntry {
    pub hash: Hash,
    pub block_height: u64,
    pub timestamp: u64,
    pub delta: SignedAmount,
}

/// The body of every non-200 answer (API.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
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
    fn address_shapes_read_what_the_node_writes() {
        let utxo: UnspentOutputs = serde_json::from_str(
            r#"{"utxo_outputs":[
                {"block_height":3,"transaction_hash":"11111111111111111111111111111111111111111111111111111111111111aa","transaction_index":0,"output_index":0,"value":1.5,"coinbase":true},
                {"block_height":null,"transaction_hash":"22222222222222222222222222222222222222222222222222222222222222bb","transaction_index":null,"output_index":1,"value":0.00000001,"coinbase":false}
            ],"balance":1.50000001}"#,
        )
        .expect("a utxo answer");
        assert_eq!(utxo.utxo_outputs.len(), 2);
        assert_eq!(utxo.utxo_outputs[0].value, Amount::from_units(150_000_000));
        assert_eq!(utxo.utxo_outputs[1].block_height, None);
        assert_eq!(utxo.utxo_outputs[1].transaction_index, None);
        assert_eq!(utxo.balance, Amount::from_units(150_000_001));
        let text = serde_json::to_string(&utxo.utxo_outputs[1]).expect("serialises");
        assert!(
            text.contains(r#""block_height":null"#) && text.contains(r#""value":0.00000001"#),
            "{text}"
        );

        let history: Vec<AddressHistoryEntry> = serde_json::from_str(
            r#"[{"hash":"11111111111111111111111111111111111111111111111111111111111111aa","block_height":4,"timestamp":5,"delta":-1.2}]"#,
        )
        .expect("a history page");
        assert_eq!(history[0].delta.units(), -120_000_000);
        assert!(
            serde_json::to_string(&history[0])
                .expect("serialises")
                .ends_with(r#""delta":-1.2}"#)
        );

        let mempool: Vec<AddressMempoolEntry> = serde_json::from_str(
            r#"[{"hash":"11111111111111111111111111111111111111111111111111111111111111aa","timestamp":5,"delta":0.5}]"#,
        )
        .expect("a mempool listing");
        assert_eq!(mempool[0].delta.units(), 50_000_000);

        // The mempool may spend more than the confirmed balance shows.
        let info: AddressInfo = serde_json::from_str(
            r#"{"address":"0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79","balance":0,"unconfirmed_balance":-0.5,"received":3,"sent":3,"transaction_count":2}"#,
        )
        .expect("an address answer");
        assert_eq!(info.unconfirmed_balance.units(), -50_000_000);
        assert_eq!(info.transaction_count, 2);
        assert!(
            serde_json::from_str::<AddressInfo>(
                r#"{"address":"0x3a2d4145a4f098523b3e8127f1da87cfc55b8e79","balance":-1,"unconfirmed_balance":0,"received":0,"sent":0,"transaction_count":0}"#,
            )
            .is_err(),
            "a confirmed balance is never negative"
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
