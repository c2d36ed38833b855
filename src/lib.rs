//! Cinder: a small, real cryptocurrency network. This library holds the
//! protocol (types, hashes, keys, consensus rules) that the node and the
//! wallet share; with the default `node` feature, also the node itself; with `p2p` alone,
//! the peer book and node endpoints the seed serves.

#[cfg(feature = "client")]
pub mod client;
pub mod consensus;
pub mod crypto;
#[cfg(feature = "p2p")]
pub mod datadir;
#[cfg(feature = "node")]
pub mod explorer;
pub mod hash;
#[cfg(feature = "p2p")]
pub mod logging;
pub mod mempool;
#[cfg(feature = "p2p")]
pub mod metrics;
#[cfg(feature = "node")]
pub mod miner;
pub mod types;
pub mod wire;

#[cfg(feature = "p2p")]
pub mod api;
#[cfg(feature = "node")]
pub mod app;
#[cfg(feature = "node")]
pub mod node;
#[cfg(feature = "client")]
pub mod p2p;
#[cfg(feature = "node")]
pub mod state;
