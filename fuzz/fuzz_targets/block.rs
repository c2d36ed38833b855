//! A block (PROTOCOL.md §6) parsed from arbitrary bytes as `POST /blocks/`
//! parses its body: no panic; what parses writes canonical JSON that
//! parses back to the same value, its header bytes (§2) are those of the
//! value, the nonce-only hasher agrees with the full hash, and the
//! context-free rules run on it without panicking.
#![no_main]

use cinder::consensus::block::{
    check_block_body, check_block_hash, check_block_shape, check_pow, signature_results,
};
use cinder::types::{Block, BlockHeader, HEADER_LEN, HeaderHasher, NONCE_OFFSET};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(block) = cinder::api::parse_json::<Block>(data) else {
        return;
    };
    let text = cinder_fuzz::json_round_trip(&block);
    let again: Block = serde_json::from_str(&text).expect("round trip");
    let header = block.header();
    let bytes = header.bytes();
    assert_eq!(bytes.len(), HEADER_LEN);
    assert_eq!(bytes, again.header().bytes());
    assert_eq!(
        &bytes[NONCE_OFFSET..NONCE_OFFSET + 8],
        &block.nonce.to_le_bytes()
    );
    let hash = block.compute_hash();
    assert_eq!(HeaderHasher::new(&header).hash(block.nonce), hash);
    let other = block.nonce.wrapping_add(1);
    let mut moved = header.clone();
    moved.nonce = other;
    assert_eq!(HeaderHasher::new(&header).hash(other), moved.compute_hash());
    // The header alone, as /headers/ writes it, and the summary.
    let header_text = cinder_fuzz::json_round_trip(&header);
    let _: BlockHeader = serde_json::from_str(&header_text).expect("header");
    serde_json::to_string(&block.summary()).expect("the summary serialises");
    for tx in &block.transactions {
        cinder_fuzz::json_round_trip(tx);
    }
    let merkle = cinder::hash::merkle_root(
        &block
            .transactions
            .iter()
            .map(|t| t.hash)
            .collect::<Vec<_>>(),
    );
    assert_eq!(block.compute_merkle_root(), merkle);
    // The rules in their order: no panic, and what passes really holds.
    if check_block_shape(&block).is_ok() {
        assert_eq!(block.transaction_count as usize, block.transactions.len());
    }
    if check_block_hash(&block).is_ok() {
        assert_eq!(hash, block.hash);
    }
    if check_pow(&block).is_ok() {
        assert!(block.hash.0 <= block.target.0);
    }
    if let Ok(sighashes) = check_block_body(&block, &cinder_fuzz::params()) {
        assert_eq!(sighashes.len(), block.transactions.len());
        assert_eq!(block.merkle_root, merkle);
        if block.transactions.len() <= 8 {
            let results = signature_results(&block);
            assert_eq!(results.len(), block.transactions.len());
        }
    }
});
