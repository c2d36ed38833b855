//! The thin driver of [`super::relay`]: listens to the node's events, asks
//! the relay what to post, posts it with the one client, and reports how
//! each post ended. Posts run on tasks of their own: never on the request
//! that caused them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::relay::{Item, Outcome, Relay};
use crate::client::Client;
use crate::node::{Node, NodeEvent, Origin};
use crate::wire::{BlockStatus, NodeAddr};

/// The peers to relay to, asked at each decision (the address book).
pub type PeerSource = Arc<dyn Fn() -> Vec<NodeAddr> + Send + Sync>;

/// Relays until the node's event channel closes. `client` names this node
/// (`X-Cinder-Node`) on every post.
pub async fn run(node: Arc<Node>, client: Client, peers: PeerSource) {
    let mut events = node.subscribe();
    let metrics = node.metrics().clone();
    drop(node);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(NodeAddr, Outcome)>();
    let mut relay = Relay::new();
    // Wakes paused peers up when their pause ends.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    if let Some((item, from)) = relayed(event) {
                        let targets = peers();
                        tracing::debug!(
                            hash = %item.hash(),
                            block = item.is_block(),
                            from = ?from,
                            peers = targets.len(),
                            "relay: queued"
                        );
                        relay.announce(item, from, &targets, Instant::now());
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "relay fell behind the node's events; some items are not relayed");
                }
                Err(RecvError::Closed) => return,
            },
            Some((peer, outcome)) = done_rx.recv() => {
                relay.finished(peer, outcome, Instant::now());
            }
            _ = tick.tick() => {
                relay.retain_peers(&peers());
            }
        }
        for post in relay.next_posts(Instant::now()) {
            let client = client.to(post.peer).with_timeout(post.item.timeout());
            let done = done_tx.clone();
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let hash = post.item.hash();
                let result = match &post.item {
                    Item::Block(b) => client.post_block(b).await.map(|_| ()),
                    Item::Transaction(t) => client.post_transaction(t).await.map(|_| ()),
                };
                let (outcome, counted) = match &result {
                    Ok(()) => (Outcome::Answered, "accepted"),
                    Err(e) if e.is_silence() => (Outcome::Silent, "silent"),
                    Err(_) => (Outcome::Answered, "refused"),
                };
                metrics.relay_post(post.item.is_block(), counted);
                match result {
                    Ok(()) => tracing::debug!(peer = %post.peer, %hash, "relay: posted"),
                    Err(e) => tracing::debug!(peer = %post.peer, %hash, "relay: {e}"),
                }
                let _ = done.send((post.peer, outcome));
            });
        }
    }
}

/// What an event asks relay to send, and the peer it came from: admitted
/// transactions, and blocks that moved the tip (connected or reorganised;
/// not side branches, not blocks of a sync run, whose tip is relayed when
/// the run ends).
fn relayed(event: NodeEvent) -> Option<(Item, Option<NodeAddr>)> {
    match event {
        NodeEvent::TransactionAdmitted { tx, origin } => {
            Some((Item::Transaction(tx), origin.peer()))
        }
        NodeEvent::TipChanged {
            tip,
            status: BlockStatus::Connected | BlockStatus::Reorganized,
            origin,
        } if origin != Origin::Sync => Some((Item::Block(tip), origin.peer())),
        NodeEvent::SyncFinished { tip, from } => Some((Item::Block(tip), from)),
        _ => None,
    }
}
