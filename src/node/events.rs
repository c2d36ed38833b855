//! What happened in the node, published for whoever listens: relay, the
//! miner, metrics, the explorer. Each event names its origin, so relay can
//! skip the peer a block or transaction came from.

use std::sync::Arc;

use crate::types::{Block, Transaction};
use crate::wire::{BlockStatus, NodeAddr};

/// Where a block or transaction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `POST` from a client that did not name itself a node.
    Api,
    /// `POST` from a node naming itself with `X-Cinder-Node`.
    Peer(NodeAddr),
    /// This node's miner.
    Miner,
    /// A sync run of this node.
    Sync,
    /// The node itself, opening its data directory.
    Restart,
    /// A transaction of a block a reorganisation disconnected, back in the
    /// pool.
    Returned,
}

impl Origin {
    /// The `origin` label of `cinder_blocks_total` (API.md §7).
    pub fn block_label(&self) -> &'static str {
        match self {
            Origin::Api => "api",
            Origin::Peer(_) => "peer",
            Origin::Miner => "miner",
            Origin::Sync => "sync",
            Origin::Restart => "restart",
            Origin::Returned => "reorg",
        }
    }

    /// The `origin` label of `cinder_transactions_total` (API.md §7): a
    /// sync's transactions come from the mempool merge.
    pub fn transaction_label(&self) -> &'static str {
        match self {
            Origin::Sync => "merge",
            other => other.block_label(),
        }
    }

    /// The peer to skip when relaying.
    pub fn peer(&self) -> Option<NodeAddr> {
        match self {
            Origin::Peer(p) => Some(*p),
            _ => None,
        }
    }
}

/// One thing that happened.
#[derive(Clone, Debug)]
pub enum NodeEvent {
    /// A transaction entered the mempool from outside (not one returning
    /// from a disconnected block).
    TransactionAdmitted {
        tx: Arc<Transaction>,
        origin: Origin,
    },
    /// A block joined the active chain (each block of a reorganisation too).
    BlockConnected { block: Arc<Block>, origin: Origin },
    /// A block left the active chain (reorganisation), tip first.
    BlockDisconnected { block: Arc<Block> },
    /// One intake moved the tip: to `tip` by connecting it, or by a
    /// reorganisation ending at it.
    TipChanged {
        tip: Arc<Block>,
        status: BlockStatus,
        origin: Origin,
    },
    /// A sync run ended on `tip` (its blocks are not relayed one by one;
    /// this tip is), synced from `from`.
    SyncFinished {
        tip: Arc<Block>,
        from: Option<NodeAddr>,
    },
}
