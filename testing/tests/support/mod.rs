//! Helpers shared by the network tests: small fake peers.
#![allow(dead_code)]

pub mod fake_peer;
