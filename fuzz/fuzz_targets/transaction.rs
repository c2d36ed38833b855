//! A transaction (PROTOCOL.md §4) parsed from arbitrary bytes as
//! `POST /transactions/` parses its body: no panic; what parses writes
//! canonical JSON that parses back to the same value with the same
//! canonical bytes (§2), and the rules run on it without panicking.
#![no_main]

use cinder::consensus::transaction::{check_context_free, check_signatures};
use cinder::types::Transaction;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(tx) = cinder::api::parse_json::<Transaction>(data) else {
        return;
    };
    let text = cinder_fuzz::json_round_trip(&tx);
    let again: Transaction = serde_json::from_str(&text).expect("round trip");
    // The canonical bytes (§2) are those of the value, whatever the text.
    let body = tx.body();
    assert_eq!(body, again.body());
    assert_eq!(
        body.len(),
        Transaction::body_len(tx.inputs.len(), tx.outputs.len())
    );
    assert_eq!(tx.size(), body.len() + 65 * tx.inputs.len());
    let sighash = tx.sighash();
    assert_eq!(tx.hash_with_sighash(&sighash), again.compute_hash());
    cinder_fuzz::json_round_trip(&tx.header());
    let checked = check_context_free(&tx);
    if let Ok(s) = &checked {
        assert_eq!(*s, sighash, "the checks' sighash");
        assert_eq!(
            tx.compute_hash(),
            tx.hash,
            "passed bad_hash with another hash"
        );
    }
    // Signatures of arbitrary bytes: recovery must refuse, never panic.
    if tx.inputs.len() <= 8 {
        let _ = check_signatures(&tx, &sighash);
    }
});
