//! A node's address (API.md §1) from arbitrary bytes: as `ip:port` (the
//! `X-Cinder-Node` header, `--dns`), as the JSON body of `POST /nodes/`
//! and as a node list (`GET /nodes/`, the seed's file): no panic; what
//! parses is canonical (an IPv4-mapped IPv6 address is its IPv4 address,
//! never port 0) and writes back to text and JSON that parse to the same
//! node.
#![no_main]

use std::net::SocketAddr;

use cinder::p2p::SavedPeers;
use cinder::wire::NodeAddr;
use libfuzzer_sys::fuzz_target;

fn canonical(node: &NodeAddr) {
    assert_eq!(node.ip(), node.ip().to_canonical(), "{node} not canonical");
    assert_ne!(node.port(), 0);
    let text = node.to_string();
    assert_eq!(text.parse::<NodeAddr>(), Ok(*node), "{text}");
    let json = cinder_fuzz::json_round_trip(node);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["port"], u64::from(node.port()));
    assert_eq!(v["ip_address"], node.ip().to_string());
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let parsed = text.parse::<NodeAddr>();
        let reference = text
            .trim()
            .parse::<SocketAddr>()
            .ok()
            .filter(|a| a.port() != 0)
            .map(|a| NodeAddr::new(a.ip(), a.port()));
        assert_eq!(parsed.as_ref().ok(), reference.as_ref(), "{text:?}");
        if let Ok(node) = parsed {
            canonical(&node);
        }
    }
    match cinder::api::nodes::parse_node(data) {
        Ok(Some(node)) => {
            canonical(&node);
            assert_eq!(serde_json::from_slice::<NodeAddr>(data).ok(), Some(node));
        }
        Ok(None) => assert!(data.iter().all(u8::is_ascii_whitespace)),
        Err(_) => assert!(serde_json::from_slice::<NodeAddr>(data).is_err()),
    }
    if let Ok(list) = serde_json::from_slice::<Vec<NodeAddr>>(data) {
        list.iter().for_each(canonical);
        cinder_fuzz::json_round_trip(&list);
    }
    if let Ok(saved) = serde_json::from_slice::<SavedPeers>(data) {
        saved.known.iter().for_each(canonical);
        saved.banned.iter().for_each(|b| canonical(&b.node));
        cinder_fuzz::json_round_trip(&saved);
    }
});
