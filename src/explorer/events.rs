//! `GET /explorer/events/`: server-sent events of the node's own events
//! (API.md §9): `block` with `{"height", "hash"}` of each new tip (and of
//! the tip on connecting, so a page that reconnects after a restart sees
//! what it missed), `transaction` with `{"hash"}` of each transaction the
//! mempool takes; a comment every 15 s keeps proxies from closing the
//! stream, and `retry:` tells the browser to come back within a second.
//!
//! One thread of the explorer listens to the node's events and puts each
//! one's text, a few dozen bytes, on the explorer's own channel
//! ([`FEED_CAPACITY`] of them at most); every stream reads that channel,
//! so a client that never reads holds no block of the node. A stream whose
//! client reads too slowly lags, skips what it missed and goes on from the
//! current tip.
//!
//! Bounded: at most [`MAX_STREAMS`] streams at once and
//! [`MAX_STREAMS_PER_IP`] from one IP (`503` beyond), each for at most
//! [`MAX_STREAM_AGE`] (then it ends and the browser reconnects by itself,
//! as after a restart). `HEAD` answers the head alone, taking no place.
//! The streams end when the server stops, so open pages never hold a
//! graceful stop.

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use tokio::sync::{broadcast, watch};

use super::gate::{Gate, Pass};
use super::{Explorer, PageError};
use crate::api::AppState;
use crate::node::{Node, NodeEvent};
use crate::types::Hash;

/// Event streams open at once, at most.
pub const MAX_STREAMS: usize = 256;
/// Event streams open at once from one IP (loopback included), at most:
/// enough for a browser's tabs.
pub const MAX_STREAMS_PER_IP: usize = 16;
/// How long one stream lasts; the browser then reconnects (`retry:`).
pub const MAX_STREAM_AGE: Duration = Duration::from_secs(10 * 60);
/// Events the explorer's channel holds for its slowest stream.
pub const FEED_CAPACITY: usize = 256;
/// Time between two keep-alive comments.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// What the browser waits before reconnecting (the `retry:` field).
const RETRY_MS: u64 = 1_000;

/// The event streams: their places, their feed, and the signal that ends
/// them.
#[derive(Clone)]
pub struct Streams {
    gate: Gate,
    feed: broadcast::Sender<Bytes>,
    closing: Arc<watch::Sender<bool>>,
    max_age: Duration,
}

impl Streams {
    /// The streams of `node`'s explorer, and the thread that feeds them
    /// (it ends with the node).
    pub fn new(node: &Arc<Node>) -> Streams {
        let feed = broadcast::channel(FEED_CAPACITY).0;
        let events = node.subscribe();
        let (weak, sender) = (Arc::downgrade(node), feed.clone());
        if let Err(e) = std::thread::Builder::new()
            .name("explorer-events".into())
            .spawn(move || forward(weak, events, sender))
        {
            tracing::error!("explorer: no thread for the event streams: {e}");
        }
        Streams::fed_by(feed)
    }

    /// Streams reading `feed`.
    fn fed_by(feed: broadcast::Sender<Bytes>) -> Streams {
        Streams {
            gate: Gate::new("event streams", MAX_STREAMS, MAX_STREAMS_PER_IP),
            feed,
            closing: Arc::new(watch::channel(false).0),
            max_age: MAX_STREAM_AGE,
        }
    }

    /// Ends every stream, now and for good (the server is stopping).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.gate.open()
    }
}

/// The explorer's thread: each event of the node that a stream sends, as
/// its text, on the explorer's channel, until the node is gone.
fn forward(
    node: Weak<Node>,
    mut events: broadcast::Receiver<NodeEvent>,
    feed: broadcast::Sender<Bytes>,
) {
    loop {
        let text = match events.blocking_recv() {
            Ok(NodeEvent::TipChanged { tip, .. }) => block_event(tip.height, &tip.hash),
            Ok(NodeEvent::TransactionAdmitted { tx, .. }) => transaction_event(&tx.hash),
            Ok(_) => continue,
            // What was missed is gone; the tip says where the chain is now.
            Err(broadcast::error::RecvError::Lagged(_)) => match node.upgrade() {
                Some(node) => tip_event(&node),
                None => return,
            },
            Err(broadcast::error::RecvError::Closed) => return,
        };
        // No stream open is not an error.
        let _ = feed.send(text);
    }
}

/// One stream's state between two events.
struct Subscriber {
    node: Arc<Node>,
    feed: broadcast::Receiver<Bytes>,
    closing: watch::Receiver<bool>,
    keep_alive: tokio::time::Interval,
    /// When the stream ends ([`MAX_STREAM_AGE`] after it opened).
    ends: Pin<Box<tokio::time::Sleep>>,
    /// What goes out before anything else: `retry:` and the current tip.
    first: Option<Bytes>,
    _pass: Pass,
}

fn block_event(height: u64, hash: &Hash) -> Bytes {
    Bytes::from(format!(
        "event: block\ndata: {{\"height\":{height},\"hash\":\"{hash}\"}}\n\n"
    ))
}

fn transaction_event(hash: &Hash) -> Bytes {
    Bytes::from(format!(
        "event: transaction\ndata: {{\"hash\":\"{hash}\"}}\n\n"
    ))
}

fn tip_event(node: &Node) -> Bytes {
    let info = &node.snapshot().info;
    block_event(info.height, &info.best_hash)
}

impl Subscriber {
    /// A stream of `streams` for `node`, holding `pass`.
    fn new(node: Arc<Node>, streams: &Streams, pass: Pass) -> Subscriber {
        // Subscribed before the tip is read: no block falls between the two.
        let feed = streams.feed.subscribe();
        let mut first = format!("retry: {RETRY_MS}\n\n").into_bytes();
        first.extend_from_slice(&tip_event(&node));
        let now = tokio::time::Instant::now();
        let mut keep_alive = tokio::time::interval_at(now + KEEP_ALIVE, KEEP_ALIVE);
        keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Subscriber {
            node,
            feed,
            closing: streams.closing.subscribe(),
            keep_alive,
            ends: Box::pin(tokio::time::sleep_until(now + streams.max_age)),
            first: Some(Bytes::from(first)),
            _pass: pass,
        }
    }

    /// The next bytes of the stream; `None` ends it.
    async fn next(mut self) -> Option<(Result<Bytes, std::convert::Infallible>, Subscriber)> {
        if let Some(first) = self.first.take() {
            return Some((Ok(first), self));
        }
        loop {
            if *self.closing.borrow() {
                return None;
            }
            let bytes = tokio::select! {
                // In this order: the end first, then events, then the
                // keep-alive.
                biased;
                changed = self.closing.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    continue;
                }
                _ = &mut self.ends => return None,
                event = self.feed.recv() => match event {
                    Ok(text) => text,
                    // Too slow: what was missed is gone; the tip says where
                    // the chain is now.
                    Err(broadcast::error::RecvError::Lagged(_)) => tip_event(&self.node),
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.keep_alive.tick() => Bytes::from_static(b": keep-alive\n\n"),
            };
            return Some((Ok(bytes), self));
        }
    }
}

/// The head of an event stream's answer.
fn stream_head() -> HttpResponseBuilder {
    let mut head = HttpResponse::Ok();
    head.insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"));
    head
}

/// `GET /explorer/events/`.
pub async fn events(
    state: web::Data<AppState>,
    explorer: web::Data<Explorer>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let streams = &explorer.streams;
    if *streams.closing.borrow() {
        return Err(PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The node is shutting down.",
        ));
    }
    let pass = streams.gate.enter(req.peer_addr().map(|a| a.ip()))?;
    let subscriber = Subscriber::new(state.node.clone(), streams, pass);
    let body = futures_util::stream::unfold(subscriber, Subscriber::next);
    Ok(stream_head().streaming(body))
}

/// `HEAD /explorer/events/`: the head of the stream, no stream (actix
/// writes no body for `HEAD` but would keep polling one, holding its place
/// whether the client is gone or not).
pub async fn events_head() -> HttpResponse {
    stream_head().streaming(futures_util::stream::empty::<
        Result<Bytes, std::convert::Infallible>,
    >())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::ChainParams;
    use crate::node::MempoolLimits;

    fn node() -> (tempfile::TempDir, Arc<Node>) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let node = Node::open(dir.path(), ChainParams::regtest(), MempoolLimits::default())
            .expect("opens");
        (dir, Arc::new(node))
    }

    fn pass(streams: &Streams) -> Pass {
        streams
            .gate
            .enter(Some("127.0.0.1".parse().expect("ip")))
            .expect("a place")
    }

    #[test]
    fn events_are_server_sent_events() {
        let hash = Hash([0xab; 32]);
        assert_eq!(
            block_event(7, &hash),
            Bytes::from(format!(
                "event: block\ndata: {{\"height\":7,\"hash\":\"{hash}\"}}\n\n"
            ))
        );
        assert_eq!(
            transaction_event(&hash),
            Bytes::from(format!(
                "event: transaction\ndata: {{\"hash\":\"{hash}\"}}\n\n"
            ))
        );
    }

    #[test]
    fn streams_are_bounded_per_ip() {
        let streams = Streams::fed_by(broadcast::channel(4).0);
        let ip = Some("127.0.0.1".parse().expect("ip"));
        let passes: Vec<Pass> = (0..MAX_STREAMS_PER_IP)
            .map(|_| streams.gate.enter(ip).expect("a place"))
            .collect();
        assert!(streams.gate.enter(ip).is_err(), "one more from that IP");
        let other = streams
            .gate
            .enter(Some("127.0.0.2".parse().expect("ip")))
            .expect("another IP");
        assert_eq!(streams.open(), MAX_STREAMS_PER_IP + 1);
        drop((passes, other));
        assert_eq!(streams.open(), 0);
    }

    /// The tip first; then the feed's events; a stream that lags gets the
    /// tip; it ends at its age, its place freed.
    #[tokio::test(flavor = "current_thread")]
    async fn a_stream_lags_to_the_tip_and_ends_at_its_age() {
        let (_dir, node) = node();
        let feed = broadcast::channel(2).0;
        let mut streams = Streams::fed_by(feed.clone());
        streams.max_age = Duration::from_millis(300);
        let opened = std::time::Instant::now();
        let subscriber = Subscriber::new(node.clone(), &streams, pass(&streams));
        assert_eq!(streams.open(), 1);
        let tip = tip_event(&node);
        let (first, subscriber) = subscriber.next().await.expect("the first bytes");
        let first = first.expect("bytes");
        assert!(first.starts_with(b"retry: 1000\n\n") && first.ends_with(&tip));
        let hash = Hash([9; 32]);
        feed.send(transaction_event(&hash))
            .expect("a stream listens");
        let (next, subscriber) = subscriber.next().await.expect("an event");
        assert_eq!(next.expect("bytes"), transaction_event(&hash));
        // Three events into a channel of two: the oldest is lost.
        for n in 0..3 {
            feed.send(transaction_event(&Hash([n; 32]))).expect("sent");
        }
        let (lagged, subscriber) = subscriber.next().await.expect("the tip");
        assert_eq!(lagged.expect("bytes"), tip);
        let (kept, subscriber) = subscriber.next().await.expect("an event");
        assert_eq!(kept.expect("bytes"), transaction_event(&Hash([1; 32])));
        let (kept, subscriber) = subscriber.next().await.expect("an event");
        assert_eq!(kept.expect("bytes"), transaction_event(&Hash([2; 32])));
        // Nothing more until its age: then it ends.
        assert!(subscriber.next().await.is_none());
        let lasted = opened.elapsed();
        assert!(
            lasted >= Duration::from_millis(300) && lasted < Duration::from_secs(10),
            "{lasted:?}"
        );
        assert_eq!(streams.open(), 0, "its place freed");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn closing_ends_every_stream() {
        let (_dir, node) = node();
        let streams = Streams::fed_by(broadcast::channel(2).0);
        let subscriber = Subscriber::new(node, &streams, pass(&streams));
        let (_, subscriber) = subscriber.next().await.expect("the first bytes");
        streams.close();
        assert!(subscriber.next().await.is_none());
        assert_eq!(streams.open(), 0);
    }

    /// The explorer's thread turns the node's events into text, and ends
    /// with the node.
    #[test]
    fn the_feed_carries_text_and_ends_with_the_node() {
        let (_dir, node) = node();
        let streams = Streams::new(&node);
        let mut feed = streams.feed.subscribe();
        let tx = Arc::new(
            crate::types::Transaction::unsigned(
                1,
                vec![crate::types::Input::spending(
                    Hash([3; 32]),
                    0,
                    crate::types::Address([4; 20]),
                    crate::types::Amount::from_units(10_000),
                )],
                &[(
                    crate::types::Address([5; 20]),
                    crate::types::Amount::from_units(1_000),
                )],
            )
            .expect("a transaction"),
        );
        node.publish(NodeEvent::TransactionAdmitted {
            tx: tx.clone(),
            origin: crate::node::Origin::Api,
        });
        assert_eq!(
            feed.blocking_recv().expect("the event"),
            transaction_event(&tx.hash)
        );
        // The node gone, the thread ends and drops its sender.
        drop((node, streams));
        assert!(matches!(
            feed.blocking_recv(),
            Err(broadcast::error::RecvError::Closed)
        ));
    }
}
