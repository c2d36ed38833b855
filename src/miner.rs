//! A simple miner: one background thread mining on the node's own
//! templates. It hashes only the nonce (no JSON per try), starts over when
//! the node's events say the tip or the mempool changed, and connects what
//! it finds as if it had been posted (origin: miner, so relay sends it on).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::TryRecvError;

use crate::node::{Node, NodeEvent, Origin};
use crate::types::{Address, HeaderHasher};

/// The miner's info line comes at most this often; a block it finds sooner
/// than this after its previous one is logged at debug only (mining flat
/// out, API.md §8 "Progress"), the summary counting it.
pub(crate) const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// Nonces tried between two looks at the tip and the mempool.
const ROUND: u64 = 50_000;

pub struct Miner {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Miner {
    /// Starts mining to `address`, at most one block per `interval` (the
    /// regtest target is so easy that an unpaced miner would flood the
    /// chain; 0 mines as fast as the proof of work allows).
    pub fn spawn(node: Arc<Node>, address: Address, interval: Duration) -> std::io::Result<Miner> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("miner".into())
            .spawn(move || mine(&node, &address, interval, &flag))?;
        Ok(Miner {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it (a block being connected is finished).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether anything happened since the template was built that a new
/// template would see: the tip moved, or the pool gained a transaction.
fn template_stale(events: &mut tokio::sync::broadcast::Receiver<NodeEvent>) -> bool {
    let mut stale = false;
    loop {
        match events.try_recv() {
            Ok(NodeEvent::TipChanged { .. } | NodeEvent::TransactionAdmitted { .. }) => {
                stale = true
            }
            Ok(_) => {}
            Err(TryRecvError::Lagged(_)) => stale = true,
            Err(TryRecvError::Empty) => return stale,
            Err(TryRecvError::Closed) => return true,
        }
    }
}

fn mine(node: &Node, address: &Address, interval: Duration, stop: &AtomicBool) {
    let mut last_found: Option<Instant> = None;
    let mut events = node.subscribe();
    // One info line per block when blocks are rare, a summary when frequent.
    let mut summary = (Instant::now(), 0u64);
    while !stop.load(Ordering::Acquire) {
        if let Some(t) = last_found {
            let elapsed = t.elapsed();
            if elapsed < interval {
                std::thread::sleep((interval - elapsed).min(Duration::from_millis(200)));
                continue;
            }
        }
        // What happened before this template is in it.
        template_stale(&mut events);
        let mut block = match node.block_template(address) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("miner: no template: {e}");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let hasher = HeaderHasher::new(&block.header());
        let mut nonce = 0u64;
        let found = 'search: loop {
            for _ in 0..ROUND {
                let hash = hasher.hash(nonce);
                if hash.meets(&block.target) {
                    break 'search Some((nonce, hash));
                }
                nonce = nonce.wrapping_add(1);
            }
            if stop.load(Ordering::Acquire) || template_stale(&mut events) {
                break None;
            }
            // Keep the timestamp fresh on long searches.
            if node.now() > block.timestamp + 60 {
                break None;
            }
        };
        let Some((nonce, hash)) = found else { continue };
        block.nonce = nonce;
        block.hash = hash;
        match node.submit_block_from(&block, Origin::Miner) {
            Ok(status) => {
                last_found = Some(Instant::now());
                summary.1 += 1;
                tracing::debug!(
                    height = block.height,
                    hash = %block.hash,
                    transactions = block.transactions.len(),
                    "mined a block ({})",
                    status.as_str()
                );
                if summary.0.elapsed() >= SUMMARY_EVERY {
                    tracing::info!(
                        height = block.height,
                        hash = %block.hash,
                        "mined {} block(s) in the last {} s",
                        summary.1,
                        summary.0.elapsed().as_secs()
                    );
                    summary = (Instant::now(), 0);
                }
            }
            Err(e) => tracing::warn!("mined block {} refused: {e}", block.hash),
        }
    }
}
