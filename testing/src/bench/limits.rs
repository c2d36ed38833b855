//! The raw limits the node's figures are compared with, measured in the
//! same run: public-key recoveries of real signatures, and SHA-256 over
//! the header bytes, beside the miner's own hashing loop.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cinder::consensus::ChainParams;
use cinder::hash::TAG_BLOCK;
use cinder::types::{Address, Hash, HeaderHasher, NONCE_OFFSET, Signature, Target};
use sha2::{Digest, Sha256};

use super::Sizes;
use super::chain::{Coin, address, owner, par_map, spend};

/// Real signatures: (sighash, signature, signer) of distinct one-input
/// transactions.
pub fn signature_samples(n: usize) -> Vec<(Hash, Signature, Address)> {
    let key = owner();
    let jobs: Vec<u64> = (0..n as u64).collect();
    par_map(&jobs, |i| {
        let coin = Coin {
            tx: Hash([(*i % 251) as u8; 32]),
            index: *i as u32,
            value: 100_000,
        };
        let tx = spend(&key, &[coin], &[(address(9, *i), 90_000)], 1_800_000_000);
        (tx.sighash(), tx.inputs[0].signature, key.address())
    })
}

/// Signatures checked per second (`cinder::crypto::verify`: recover the
/// public key, hash it to the address, compare) on `threads` threads for
/// about `duration`.
pub fn recoveries_per_second(
    samples: &[(Hash, Signature, Address)],
    threads: usize,
    duration: Duration,
) -> f64 {
    let start = Instant::now();
    let done: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut n = 0usize;
                    let mut i = t;
                    while start.elapsed() < duration {
                        for _ in 0..16 {
                            let (h, sig, a) = &samples[i % samples.len()];
                            assert!(cinder::crypto::verify(h, sig, a), "a real signature");
                            i += threads;
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a recovery thread panicked"))
            .sum()
    });
    done as f64 / start.elapsed().as_secs_f64()
}

/// Two-thread recoveries measured right before and right after a figure:
/// on a machine shared with other work the limit moves within seconds,
/// and the mean of both brackets the figure's own stretch of time.
pub struct Limit2 {
    pub before: f64,
    pub after: f64,
}

impl Limit2 {
    pub const WHAT: &str = "2-thread recoveries, before+after";

    /// Completes `before` with a measurement taken now.
    pub fn after(before: f64, samples: &[(Hash, Signature, Address)], sizes: &Sizes) -> Limit2 {
        Limit2 {
            before,
            after: recoveries_per_second(samples, 2, sizes.limit_time),
        }
    }

    pub fn mean(&self) -> f64 {
        (self.before + self.after) / 2.0
    }

    pub fn note(&self) -> String {
        format!("limit {:.0} before, {:.0} after", self.before, self.after)
    }
}

/// Nonces tried between two looks at the clock (the miner's `ROUND`).
const ROUND: u64 = 50_000;

/// The header the hashing loops work on: genesis's, with a target no hash
/// meets (so the loop never stops early).
fn header() -> (cinder::types::BlockHeader, Target) {
    (ChainParams::regtest().genesis().header(), Target([0u8; 32]))
}

/// `HeaderHasher::hash(nonce)` and the target check per second on one
/// thread, in rounds as `src/miner.rs` runs them.
pub fn miner_hashes_per_second(duration: Duration) -> f64 {
    let (header, target) = header();
    let hasher = HeaderHasher::new(&header);
    let start = Instant::now();
    let mut nonce = 0u64;
    let mut found = 0u64;
    while start.elapsed() < duration {
        for _ in 0..ROUND {
            if black_box(hasher.hash(nonce)).meets(&target) {
                found += 1;
            }
            nonce = nonce.wrapping_add(1);
        }
    }
    black_box(found);
    nonce as f64 / start.elapsed().as_secs_f64()
}

/// Plain SHA-256 of the whole tagged header bytes (`tag ‖ 0x00 ‖ header`,
/// the nonce written in place) per second on one thread, same loop shape.
pub fn raw_sha256_per_second(duration: Duration) -> f64 {
    let (header, target) = header();
    let mut bytes = TAG_BLOCK.as_bytes().to_vec();
    bytes.push(0);
    let nonce_at = bytes.len() + NONCE_OFFSET;
    bytes.extend_from_slice(&header.bytes());
    let start = Instant::now();
    let mut nonce = 0u64;
    let mut found = 0u64;
    while start.elapsed() < duration {
        for _ in 0..ROUND {
            bytes[nonce_at..nonce_at + 8].copy_from_slice(&nonce.to_le_bytes());
            let digest: [u8; 32] = Sha256::digest(black_box(&bytes)).into();
            if digest <= target.0 {
                found += 1;
            }
            nonce = nonce.wrapping_add(1);
        }
    }
    black_box(found);
    nonce as f64 / start.elapsed().as_secs_f64()
}

/// The length of what [`raw_sha256_per_second`] hashes, for the table.
pub fn tagged_header_len() -> usize {
    TAG_BLOCK.len() + 1 + cinder::types::HEADER_LEN
}
