//! Which node to ask when `--node` is not given, for `wallet` and
//! `testing`: the seed at `--dns` is asked once for its list
//! (`GET /nodes/`, API.md §1: at most 50 nodes), which is shuffled; up to
//! [`SEED_CANDIDATES`] distinct nodes of it are tried in turn, then the
//! default node ([`DEFAULT_NODE`], or [`DEFAULT_NODE_ENV`]). A node is
//! tried with `GET /health/` within [`ANSWER_TIMEOUT`], and the first that
//! answers is used. So a node that just stopped, which the seed still lists
//! until its next check (up to a minute), costs a refused connection (at
//! worst 2 s), not the command; a seed that is down costs nothing more than
//! the default node.
//!
//! The decision ([`choose`]) is apart from the sockets ([`find_node`]): it
//! takes what the seed said and a closure that tries one node, so it is
//! tested without a network.

use std::fmt;
use std::time::Duration;

use cinder::client::{Client, normalize_url};
use cinder::wire::NodeAddr;
use rand::seq::SliceRandom;

use crate::node::{NodeError, sanitize};

/// How many distinct nodes of the seed's list are tried before the default node.
pub const SEED_CANDIDATES: usize = 3;
/// The node tried last: a full node's default address (README "Running a node").
pub const DEFAULT_NODE: &str = "http://127.0.0.1:50000";
/// When set (and not empty), the node tried last instead of
/// [`DEFAULT_NODE`]. The tests point it at a closed port, so that they never
/// reach a developer's node on the default port.
pub const DEFAULT_NODE_ENV: &str = "CINDER_DEFAULT_NODE";
/// The time a node has to answer `GET /health/`.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// The time the seed has to answer `GET /nodes/`.
pub const SEED_TIMEOUT: Duration = Duration::from_secs(2);

/// What the seed said when asked for its nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedAnswer {
    /// The nodes it listed (`http://ip:port`), in the order to try them.
    Nodes(Vec<String>),
    /// No list: why (the seed did not answer, or not with a list).
    Unavailable(String),
}

/// A node that was tried and did not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Silent {
    /// `http://ip:port`.
    pub url: String,
    /// Why, in a few words (`unreachable`, `/health/: no answer in time`).
    pub reason: String,
}

/// Every node tried failed to answer: the error names each of them and
/// what the seed said.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct NoNodeAnswered {
    /// The seed asked (`--dns`).
    pub seed: String,
    /// What it said.
    pub seed_answer: SeedAnswer,
    /// The nodes tried, in order (never empty: the default node is always tried).
    pub tried: Vec<Silent>,
}

impl fmt::Display for NoNodeAnswered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no node answered: tried ")?;
        let count = self.tried.len();
        for (i, silent) in self.tried.iter().enumerate() {
            if i > 0 {
                f.write_str(if i + 1 == count { " and " } else { ", " })?;
            }
            write!(f, "{} ({})", silent.url, silent.reason)?;
        }
        match &self.seed_answer {
            SeedAnswer::Nodes(nodes) if nodes.is_empty() => {
                write!(f, "; seed {} listed no node", self.seed)
            }
            SeedAnswer::Nodes(nodes) => {
                let plural = if nodes.len() == 1 { "" } else { "s" };
                write!(
                    f,
                    "; seed {} listed {} node{plural}",
                    self.seed,
                    nodes.len()
                )
            }
            SeedAnswer::Unavailable(reason) => {
                write!(f, "; seed {} did not answer ({reason})", self.seed)
            }
        }
    }
}

/// The nodes to try, in order: the first [`SEED_CANDIDATES`] distinct
/// nodes the seed listed, then `default_node` (unless it is one of them).
pub fn candidates(seed_answer: &SeedAnswer, default_node: &str) -> Vec<String> {
    let mut urls: Vec<String> = Vec::with_capacity(SEED_CANDIDATES + 1);
    if let SeedAnswer::Nodes(nodes) = seed_answer {
        for url in nodes.iter().map(|n| normalize_url(n)) {
            if urls.len() == SEED_CANDIDATES {
                break;
            }
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    let default_node = normalize_url(default_node);
    if !urls.contains(&default_node) {
        urls.push(default_node);
    }
    urls
}

/// The first of [`candidates`] for which `try_node` succeeds (`Err` holds
/// why the node did not answer); when none does, an error naming the seed
/// and every node tried. Each attempt is logged at debug.
pub fn choose(
    seed: &str,
    seed_answer: &SeedAnswer,
    default_node: &str,
    mut try_node: impl FnMut(&str) -> Result<(), String>,
) -> Result<String, NoNodeAnswered> {
    let mut tried = Vec::new();
    for url in candidates(seed_answer, default_node) {
        match try_node(&url) {
            Ok(()) => {
                tracing::debug!(node = %url, "the node answered: using it");
                return Ok(url);
            }
            Err(reason) => {
                tracing::debug!(node = %url, "the node did not answer: {reason}");
                tried.push(Silent { url, reason });
            }
        }
    }
    Err(NoNodeAnswered {
        seed: seed.to_string(),
        seed_answer: seed_answer.clone(),
        tried,
    })
}

/// The node tried last: [`DEFAULT_NODE_ENV`] when set, else [`DEFAULT_NODE`].
pub fn default_node() -> String {
    match std::env::var(DEFAULT_NODE_ENV) {
        Ok(url) if !url.trim().is_empty() => normalize_url(&url),
        _ => DEFAULT_NODE.to_string(),
    }
}

/// The node to ask: `--node` when given (not checked here: a failure to
/// reach it names it), else [`choose`] over the list of the seed at `dns`,
/// each node tried with `GET /health/`. Blocking: never call it from inside
/// an async runtime.
pub fn find_node(node: Option<&str>, dns: &str) -> Result<String, NodeError> {
    if let Some(node) = node {
        let url = normalize_url(node);
        tracing::debug!(node = %url, "using the node --node names");
        return Ok(url);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| NodeError::Unreachable {
            url: normalize_url(dns),
            reason: format!("cannot start the HTTP runtime: {e}"),
        })?;
    let seed_answer = runtime.block_on(ask_seed(dns));
    let chosen = choose(dns, &seed_answer, &default_node(), |url| {
        let client = Client::new(url).with_timeout(ANSWER_TIMEOUT);
        // Why it failed is logged once, by `choose`.
        runtime
            .block_on(client.health())
            .map(|_| ())
            .map_err(|e| e.own_summary())
    })?;
    Ok(chosen)
}

/// The seed's list, shuffled.
async fn ask_seed(dns: &str) -> SeedAnswer {
    let seed = Client::new(dns).with_timeout(SEED_TIMEOUT);
    match seed.nodes().await {
        Ok(mut nodes) => {
            nodes.shuffle(&mut rand::rng());
            let plural = if nodes.len() == 1 { "" } else { "s" };
            tracing::debug!(seed = %dns, "the seed listed {} node{plural}", nodes.len());
            SeedAnswer::Nodes(nodes.iter().map(NodeAddr::url).collect())
        }
        Err(e) => {
            tracing::debug!(seed = %dns, "the seed gave no list: {}", sanitize(&e.to_string()));
            SeedAnswer::Unavailable(e.own_summary())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "127.0.0.1:42020";

    fn urls(ports: &[u16]) -> Vec<String> {
        ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect()
    }

    /// Runs [`choose`] with nodes that answer when their URL is in
    /// `answering`; gives back the result and the URLs tried, in order.
    fn run(
        seed_answer: &SeedAnswer,
        answering: &[String],
    ) -> (Result<String, NoNodeAnswered>, Vec<String>) {
        let mut tried = Vec::new();
        let result = choose(SEED, seed_answer, DEFAULT_NODE, |url| {
            tried.push(url.to_string());
            if answering.iter().any(|a| a == url) {
                Ok(())
            } else {
                Err("unreachable".to_string())
            }
        });
        (result, tried)
    }

    #[test]
    fn the_first_node_that_answers_is_used_alone() {
        let listed = urls(&[1001, 1002, 1003]);
        let (chosen, tried) = run(&SeedAnswer::Nodes(listed.clone()), &listed);
        assert_eq!(chosen.unwrap(), listed[0]);
        assert_eq!(tried, [listed[0].clone()]);
    }

    #[test]
    fn a_silent_node_is_passed_over_for_the_next() {
        let listed = urls(&[1001, 1002, 1003]);
        let (chosen, tried) = run(&SeedAnswer::Nodes(listed.clone()), &listed[1..]);
        assert_eq!(chosen.unwrap(), listed[1]);
        assert_eq!(tried, listed[..2]);
    }

    #[test]
    fn when_all_are_silent_the_error_names_the_seed_and_every_node() {
        let listed = urls(&[1001, 1002, 1003, 1004, 1005]);
        let (chosen, tried) = run(&SeedAnswer::Nodes(listed.clone()), &[]);
        // Three from the seed, then the default node.
        let mut expected = listed[..SEED_CANDIDATES].to_vec();
        expected.push(DEFAULT_NODE.to_string());
        assert_eq!(tried, expected);
        let error = chosen.unwrap_err();
        assert_eq!(
            error.to_string(),
            "no node answered: tried http://127.0.0.1:1001 (unreachable), \
             http://127.0.0.1:1002 (unreachable), http://127.0.0.1:1003 (unreachable) \
             and http://127.0.0.1:50000 (unreachable); seed 127.0.0.1:42020 listed 5 nodes"
        );
        // The default node answers last.
        let (chosen, _) = run(&SeedAnswer::Nodes(listed), &[DEFAULT_NODE.to_string()]);
        assert_eq!(chosen.unwrap(), DEFAULT_NODE);
    }

    #[test]
    fn when_the_seed_is_down_the_default_node_is_tried() {
        let down = SeedAnswer::Unavailable("unreachable".to_string());
        let (chosen, tried) = run(&down, &[DEFAULT_NODE.to_string()]);
        assert_eq!(chosen.unwrap(), DEFAULT_NODE);
        assert_eq!(tried, [DEFAULT_NODE]);

        let (chosen, tried) = run(&down, &[]);
        assert_eq!(tried, [DEFAULT_NODE]);
        assert_eq!(
            chosen.unwrap_err().to_string(),
            "no node answered: tried http://127.0.0.1:50000 (unreachable); \
             seed 127.0.0.1:42020 did not answer (unreachable)"
        );
        // A seed that knows no node: the default node alone, too.
        let (chosen, tried) = run(&SeedAnswer::Nodes(Vec::new()), &[]);
        assert_eq!(tried, [DEFAULT_NODE]);
        assert!(
            chosen
                .unwrap_err()
                .to_string()
                .ends_with("; seed 127.0.0.1:42020 listed no node")
        );
    }

    #[test]
    fn candidates_are_distinct_and_the_default_node_is_tried_once() {
        let listed = vec![
            "127.0.0.1:1001".to_string(),
            "http://127.0.0.1:1001/".to_string(),
            "http://127.0.0.1:50000".to_string(),
            "127.0.0.1:1002".to_string(),
            "127.0.0.1:1003".to_string(),
        ];
        assert_eq!(
            candidates(&SeedAnswer::Nodes(listed), DEFAULT_NODE),
            urls(&[1001, 50000, 1002])
        );
        assert_eq!(
            candidates(&SeedAnswer::Nodes(urls(&[7])), "127.0.0.1:8"),
            urls(&[7, 8])
        );
    }

    #[test]
    fn a_given_node_is_used_as_it_is() {
        // No seed is asked, no node is tried.
        assert_eq!(
            find_node(Some("10.0.0.1:1/"), "127.0.0.1:1").unwrap(),
            "http://10.0.0.1:1"
        );
    }
}
