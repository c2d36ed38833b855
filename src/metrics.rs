//! Prometheus metrics (API.md §7): one registry per server, so several
//! nodes run in one process (tests, the simulator) without sharing a
//! series. Counters are counted where the events already flow (intake,
//! relay, sync, the HTTP middleware); gauges of state are read when
//! `/metrics` is asked, from what the node already holds (no polling task).

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Buckets of `cinder_http_request_duration_seconds`: most answers take
/// well under a millisecond, a block's intake up to seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `route` label of a request no route took (bounded: never the raw
/// path, which a stranger chooses).
pub const UNMATCHED_ROUTE: &str = "unmatched";

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name} is well formed: {e}"))
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name} is well formed: {e}"))
}

fn register(registry: &Registry, collector: impl prometheus::core::Collector + 'static) {
    // Names are fixed here and each registered once per registry: a
    // failure is a bug of this file.
    if let Err(e) = registry.register(Box::new(collector)) {
        panic!("metrics registered twice in one registry: {e}");
    }
}

/// The HTTP metrics every server has (by route pattern and status).
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    fn new() -> HttpMetrics {
        HttpMetrics {
            requests: counter_vec(
                "cinder_http_requests_total",
                "HTTP requests answered, by route pattern and status",
                &["route", "status"],
            ),
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "cinder_http_request_duration_seconds",
                    "Time to answer an HTTP request (to the answer's head), by route pattern",
                )
                .buckets(DURATION_BUCKETS.to_vec()),
                &["route"],
            )
            .unwrap_or_else(|e| panic!("histogram is well formed: {e}")),
        }
    }

    /// One answered request. `route` is the pattern the router matched
    /// (`/blocks/{bid}`) or [`UNMATCHED_ROUTE`].
    pub fn observe(&self, route: &str, status: &str, elapsed: Duration) {
        self.requests.with_label_values(&[route, status]).inc();
        self.duration
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }
}

/// A server's registry: its HTTP metrics and the process's.
pub struct ServerMetrics {
    registry: Registry,
    pub http: HttpMetrics,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        ServerMetrics::new()
    }
}

impl ServerMetrics {
    pub fn new() -> ServerMetrics {
        let registry = Registry::new();
        let http = HttpMetrics::new();
        register(&registry, http.requests.clone());
        register(&registry, http.duration.clone());
        #[cfg(target_os = "linux")]
        register(
            &registry,
            prometheus::process_collector::ProcessCollector::for_self(),
        );
        ServerMetrics { registry, http }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Registers more of the server's metrics.
    pub fn add(&self, collector: impl prometheus::core::Collector + 'static) {
        register(&self.registry, collector);
    }

    /// The text format of every metric of this registry.
    pub fn render(&self) -> Result<String, String> {
        let mut out = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| format!("metrics: {e}"))?;
        String::from_utf8(out).map_err(|e| format!("metrics are not UTF-8: {e}"))
    }
}

/// The seed's own gauge (API.md §7).
#[derive(Clone)]
pub struct SeedMetrics {
    pub nodes: IntGauge,
}

impl SeedMetrics {
    /// Registers `cinder_seed_nodes` in `server`.
    pub fn register(server: &ServerMetrics) -> SeedMetrics {
        let nodes = gauge("cinder_seed_nodes", "Nodes the seed knows");
        server.add(nodes.clone());
        SeedMetrics { nodes }
    }
}

/// What a node counts and shows (API.md §7). Counters are moved by the
/// node's intake, relay and sync; the gauges of state are set by
/// [`NodeMetrics::set_state`] when `/metrics` is asked.
#[derive(Clone)]
pub struct NodeMetrics {
    pub blocks: IntCounterVec,
    pub transactions: IntCounterVec,
    pub reorganizations: IntCounter,
    pub relay_posts: IntCounterVec,
    pub sync_active: IntGauge,
    pub sync_target_height: IntGauge,
    pub chain_height: IntGauge,
    pub best_timestamp: IntGauge,
    pub peers: IntGaugeVec,
    pub peers_banned: IntGauge,
    pub mempool_transactions: IntGauge,
    pub mempool_bytes: IntGauge,
    pub database_bytes: IntGauge,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        NodeMetrics::new()
    }
}

/// What [`NodeMetrics::set_state`] shows.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeState {
    pub height: u64,
    pub best_timestamp: u64,
    pub chosen_peers: usize,
    pub announced_peers: usize,
    pub banned: usize,
    pub mempool_transactions: usize,
    pub mempool_bytes: usize,
    pub database_bytes: u64,
}

fn as_gauge<T: TryInto<i64>>(value: T) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

impl NodeMetrics {
    /// The node's metrics, not yet in any registry ([`Self::register`]).
    pub fn new() -> NodeMetrics {
        let peers = IntGaugeVec::new(
            Opts::new("cinder_peers", "Known peers, by kind of slot"),
            &["kind"],
        )
        .unwrap_or_else(|e| panic!("cinder_peers is well formed: {e}"));
        let relay_posts = counter_vec(
            "cinder_relay_posts_total",
            "Posts of relayed transactions and blocks to peers, by how they ended",
            &["kind", "outcome"],
        );
        // Every series of these two exists from the start (API.md §7).
        for kind in ["chosen", "announced"] {
            peers.with_label_values(&[kind]).set(0);
        }
        for kind in ["transaction", "block"] {
            for outcome in ["accepted", "refused", "silent"] {
                relay_posts.with_label_values(&[kind, outcome]);
            }
        }
        NodeMetrics {
            blocks: counter_vec(
                "cinder_blocks_total",
                "Blocks taken in, by where they came from and the intake's answer",
                &["origin", "result"],
            ),
            transactions: counter_vec(
                "cinder_transactions_total",
                "Transactions taken in, by where they came from and the intake's answer",
                &["origin", "result"],
            ),
            reorganizations: IntCounter::new(
                "cinder_reorganizations_total",
                "Moves of the active chain to a heavier branch",
            )
            .unwrap_or_else(|e| panic!("counter is well formed: {e}")),
            relay_posts,
            sync_active: gauge("cinder_sync_active", "1 while a sync run fetches blocks"),
            sync_target_height: gauge(
                "cinder_sync_target_height",
                "Height the last sync run aimed at (its peer's claim)",
            ),
            chain_height: gauge("cinder_chain_height", "Height of the active chain's tip"),
            best_timestamp: gauge(
                "cinder_chain_best_timestamp_seconds",
                "Timestamp of the active chain's tip (Unix seconds)",
            ),
            peers,
            peers_banned: gauge("cinder_peers_banned", "Bans in force"),
            mempool_transactions: gauge(
                "cinder_mempool_transactions",
                "Transactions in the mempool",
            ),
            mempool_bytes: gauge(
                "cinder_mempool_bytes",
                "Bytes of the mempool's transactions",
            ),
            database_bytes: gauge(
                "cinder_database_bytes",
                "Bytes of the chain database on disk (with its write-ahead log)",
            ),
        }
    }

    /// Puts every metric of the node into `server`'s registry.
    pub fn register(&self, server: &ServerMetrics) {
        server.add(self.blocks.clone());
        server.add(self.transactions.clone());
        server.add(self.reorganizations.clone());
        server.add(self.relay_posts.clone());
        server.add(self.sync_active.clone());
        server.add(self.sync_target_height.clone());
        server.add(self.chain_height.clone());
        server.add(self.best_timestamp.clone());
        server.add(self.peers.clone());
        server.add(self.peers_banned.clone());
        server.add(self.mempool_transactions.clone());
        server.add(self.mempool_bytes.clone());
        server.add(self.database_bytes.clone());
    }

    /// Sets the gauges of state.
    pub fn set_state(&self, state: &NodeState) {
        self.chain_height.set(as_gauge(state.height));
        self.best_timestamp.set(as_gauge(state.best_timestamp));
        self.peers
            .with_label_values(&["chosen"])
            .set(as_gauge(state.chosen_peers));
        self.peers
            .with_label_values(&["announced"])
            .set(as_gauge(state.announced_peers));
        self.peers_banned.set(as_gauge(state.banned));
        self.mempool_transactions
            .set(as_gauge(state.mempool_transactions));
        self.mempool_bytes.set(as_gauge(state.mempool_bytes));
        self.database_bytes.set(as_gauge(state.database_bytes));
    }

    /// One block's intake: `result` is its status or its error code.
    pub fn block(&self, origin: &str, result: &str) {
        self.blocks.with_label_values(&[origin, result]).inc();
    }

    /// One transaction's intake: `accepted` or its error code.
    pub fn transaction(&self, origin: &str, result: &str) {
        self.transactions.with_label_values(&[origin, result]).inc();
    }

    /// One relay post ended: `outcome` is `accepted`, `refused` or `silent`.
    pub fn relay_post(&self, block: bool, outcome: &str) {
        let kind = if block { "block" } else { "transaction" };
        self.relay_posts.with_label_values(&[kind, outcome]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_servers_in_one_process_keep_their_own_series() {
        let (a, b) = (ServerMetrics::new(), ServerMetrics::new());
        let (na, nb) = (NodeMetrics::new(), NodeMetrics::new());
        na.register(&a);
        nb.register(&b);
        na.block("api", "connected");
        a.http.observe("/health", "200", Duration::from_millis(1));
        let (ta, tb) = (a.render().expect("a"), b.render().expect("b"));
        assert!(
            ta.contains(r#"cinder_blocks_total{origin="api",result="connected"} 1"#),
            "{ta}"
        );
        assert!(!tb.contains(r#"result="connected""#), "{tb}");
        assert!(ta.contains(r#"cinder_http_requests_total{route="/health",status="200"} 1"#));
        assert!(!tb.contains(r#"route="/health""#));
    }

    #[test]
    fn peers_and_relay_series_exist_from_the_start() {
        let server = ServerMetrics::new();
        NodeMetrics::new().register(&server);
        let text = server.render().expect("render");
        for series in [
            r#"cinder_peers{kind="chosen"} 0"#,
            r#"cinder_peers{kind="announced"} 0"#,
            r#"cinder_relay_posts_total{kind="block",outcome="silent"} 0"#,
            r#"cinder_relay_posts_total{kind="transaction",outcome="accepted"} 0"#,
        ] {
            assert!(text.contains(series), "{series} missing:\n{text}");
        }
    }
}
