//! A header list (`GET /headers/`'s answer, what sync reads) parsed from
//! arbitrary bytes: no panic; what parses writes canonical JSON that parses
//! back to the same list; each header's bytes (§2) are those of the value,
//! and the nonce-only hasher agrees with the full hash.
#![no_main]

use cinder::types::{BlockHeader, HEADER_LEN, HeaderHasher};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(headers) = serde_json::from_slice::<Vec<BlockHeader>>(data) else {
        return;
    };
    let text = cinder_fuzz::json_round_trip(&headers);
    let again: Vec<BlockHeader> = serde_json::from_str(&text).expect("round trip");
    for (h, a) in headers.iter().zip(&again) {
        let bytes = h.bytes();
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(bytes, a.bytes());
        let hash = h.compute_hash();
        assert_eq!(HeaderHasher::new(h).hash(h.nonce), hash);
        let one = cinder_fuzz::json_round_trip(h);
        let parsed: BlockHeader = serde_json::from_str(&one).expect("one header");
        assert_eq!(parsed.compute_hash(), hash);
    }
});
