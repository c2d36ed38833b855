//! Tagged hashes (PROTOCOL.md §2): `H(tag, bytes) = SHA-256(tag ‖ 0x00 ‖ bytes)`.

use sha2::{Digest, Sha256};

use crate::types::Hash;

pub const TAG_OUTPUT: &str = "cinder-output";
pub const TAG_SIGHASH: &str = "cinder-sighash";
pub const TAG_TX: &str = "cinder-tx";
pub const TAG_MERKLE: &str = "cinder-merkle";
pub const TAG_BLOCK: &str = "cinder-block";

/// Plain SHA-256.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A SHA-256 state that has already absorbed `tag ‖ 0x00`.
pub fn tagged_hasher(tag: &str) -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update(tag.as_bytes());
    hasher.update([0u8]);
    hasher
}

/// `H(tag, part_0 ‖ part_1 ‖ …)`.
pub fn tagged_hash(tag: &str, parts: &[&[u8]]) -> Hash {
    let mut hasher = tagged_hasher(tag);
    for part in parts {
        hasher.update(part);
    }
    Hash(hasher.finalize().into())
}

/// Merkle root of transaction hashes in block order (PROTOCOL.md §2): pairs
/// are hashed level by level, an odd last node moves up unchanged. An empty
/// list has the zero hash (a valid block always has a coinbase).
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::ZERO;
    }
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        let next = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => tagged_hash(TAG_MERKLE, &[&l.0, &r.0]),
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two"),
            })
            .collect();
        level = next;
    }
    level[0]
}
