//! Cinder: a small, real cryptocurrency network. This library holds the
//! protocol (types, hashes, keys, consensus rules) that the node and the
//! wallet share; with the default `node` feature, also the node itself.

pub mod consensus;
pub mod crypto;
pub mod hash;
pub mod types;
