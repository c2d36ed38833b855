//! The API's path ids and query parameters (API.md §3, §5; `src/api/
//! params.rs`) from arbitrary bytes: no panic; each parser accepts exactly
//! what a plain reference of the rule accepts (a whole number within u64,
//! `last`, 64 lowercase hex — an id of 64 characters is always a hash —,
//! an address typed lowercase or with its checksum, no parameter twice,
//! ranges never clamped); what parses writes back to a text that parses to
//! the same value. The first byte picks the parser.
#![no_main]

use std::collections::HashMap;

use actix_web::http::Uri;
use actix_web::test::TestRequest;
use cinder::api::params::{
    BlockId, ItemId, parse_address, parse_block_id, parse_hash, parse_item_id, parse_u64,
    query_map, query_u64,
};
use cinder::types::{Address, Hash};
use libfuzzer_sys::fuzz_target;

fn reference_u64(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = text.trim_start_matches('0');
    if significant.len() > 20 {
        return None;
    }
    u64::try_from(significant.parse::<u128>().unwrap_or(0)).ok()
}

fn reference_hash(text: &str) -> Option<Hash> {
    let ok = text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ok.then(|| text.parse().expect("64 lowercase hex"))
}

fn reference_block_id(text: &str) -> Option<BlockId> {
    if text == "last" {
        Some(BlockId::Last)
    } else if text.len() == 64 {
        reference_hash(text).map(BlockId::Hash)
    } else {
        reference_u64(text).map(BlockId::Height)
    }
}

fn write_block_id(id: &BlockId) -> String {
    match id {
        BlockId::Height(h) => h.to_string(),
        BlockId::Last => "last".into(),
        BlockId::Hash(h) => h.to_string(),
    }
}

fn write_item_id(id: &ItemId) -> String {
    match id {
        ItemId::Index(i) => i.to_string(),
        ItemId::Hash(h) => h.to_string(),
    }
}

fn request(query: &str) -> Option<actix_web::HttpRequest> {
    let uri = format!("/blocks/?{query}");
    Uri::try_from(uri.as_str()).ok()?;
    Some(TestRequest::with_uri(&uri).to_http_request())
}

/// `hashes=` and `locator=`: comma-separated hashes, at most `max`.
fn split_hashes(text: &str, max: usize) -> Option<Vec<Hash>> {
    let parts: Vec<&str> = text.split(',').collect();
    if parts.len() > max {
        return None;
    }
    parts.iter().map(|p| parse_hash(p, "hashes").ok()).collect()
}

/// The query parameters the handlers read, with their ranges.
fn check_query(map: &HashMap<String, String>) {
    for (name, default, min, max) in [
        ("from", 0, 0, u64::MAX),
        ("limit", 100, 1, 100),
        ("limit", 2000, 1, 2000),
        ("limit", 50, 1, 1000),
    ] {
        let got = query_u64(map, name, default, min, max).ok();
        let expected = match map.get(name) {
            None => Some(default),
            Some(text) => reference_u64(text).filter(|v| (min..=max).contains(v)),
        };
        assert_eq!(got, expected, "{name}={:?}", map.get(name));
    }
    for (name, max) in [("hashes", 100), ("locator", 64)] {
        if let Some(text) = map.get(name)
            && let Some(hashes) = split_hashes(text, max)
        {
            let written: Vec<String> = hashes.iter().map(Hash::to_string).collect();
            assert_eq!(written.join(","), *text);
        }
    }
    for name in ["address", "before"] {
        if let Some(text) = map.get(name) {
            let _ = parse_address(text);
            let _ = parse_hash(text, name);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 6 {
        0 => {
            let got = parse_u64(text, "id").ok();
            assert_eq!(got, reference_u64(text), "{text:?}");
            if let Some(v) = got {
                assert_eq!(parse_u64(&v.to_string(), "id").ok(), Some(v));
            }
            assert_eq!(
                parse_hash(text, "hash").ok(),
                reference_hash(text),
                "{text:?}"
            );
        }
        1 => {
            let got = parse_block_id(text).ok();
            assert_eq!(got, reference_block_id(text), "{text:?}");
            if let Some(id) = got {
                assert_eq!(parse_block_id(&write_block_id(&id)).ok(), Some(id));
            }
        }
        2 | 3 => {
            let allow_hash = which % 6 == 2;
            let got = parse_item_id(text, "tid", allow_hash).ok();
            let expected = if allow_hash && text.len() == 64 {
                reference_hash(text).map(ItemId::Hash)
            } else {
                reference_u64(text).map(ItemId::Index)
            };
            assert_eq!(got, expected, "{text:?} (hash allowed: {allow_hash})");
            if let Some(id) = got {
                assert_eq!(
                    parse_item_id(&write_item_id(&id), "tid", allow_hash).ok(),
                    Some(id)
                );
            }
        }
        4 => {
            let got = parse_address(text).ok();
            let expected = (text.trim() == text)
                .then(|| Address::parse_checked(text).ok())
                .flatten();
            assert_eq!(got, expected, "{text:?}");
            if let Some(a) = got {
                assert_eq!(parse_address(&a.to_string()).ok(), Some(a));
                assert_eq!(parse_address(&a.to_checksummed()).ok(), Some(a));
            }
        }
        _ => {
            let Some(req) = request(text) else {
                return;
            };
            let got = query_map(&req);
            let pairs: Result<Vec<(String, String)>, _> =
                serde_urlencoded::from_str(req.query_string());
            let expected = pairs.ok().and_then(|pairs| {
                let mut map = HashMap::new();
                for (k, v) in pairs {
                    if map.insert(k, v).is_some() {
                        return None;
                    }
                }
                Some(map)
            });
            assert_eq!(got.as_ref().ok(), expected.as_ref(), "{text:?}");
            let Ok(map) = got else {
                return;
            };
            check_query(&map);
            // Written back (sorted, urlencoded): the same parameters.
            let mut pairs: Vec<(&String, &String)> = map.iter().collect();
            pairs.sort();
            let written = serde_urlencoded::to_string(&pairs).expect("encodes");
            let again = request(&written).expect("an encoded query is a valid URI");
            assert_eq!(query_map(&again).ok(), Some(map), "{written:?}");
        }
    }
});
