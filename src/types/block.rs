//! Blocks (PROTOCOL.md §6), their header bytes and hash (§2).

use serde::{Deserialize, Serialize};

use super::{Address, Amount, Hash, Target, Transaction, TransactionHeader};
use crate::hash::{TAG_BLOCK, merkle_root, tagged_hash, tagged_hasher};

/// A whole block as it travels in JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct Block {
    pub timestamp: u64,
    pub height: u64,
    pub creator: Address,
    pub reward: Amount,
    pub fees: Amount,
    pub nonce: u64,
    pub target: Target,
    pub merkle_root: Hash,
    pub transaction_count: u32,
    pub transactions: Vec<Transaction>,
    pub hash: Hash,
    pub prev_hash: Hash,
}

/// A block without its transactions: what `/headers/` serves, and what
/// the block hash covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "p2p", derive(utoipa::ToSchema))]
pub struct BlockHeader {
    pub timestamp: u64,
    pub height: u64,
    pub creator: Address,
    pub reward: Amount,
    pub fees: Amount,
    pub nonce: u64,
    pub target: Target,
    pub merkle_root: Hash,
    pub transaction_count: u32,
    pub hash: Hash,
    pub prev_hash: Hash,
}

/// The header with the transactions' summaries: `GET /blocks/{bid}/`.
/// Only written (a flattened struct cannot be parsed strictly).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockSummary {
    #[serde(flatten)]
    pub header: BlockHeader,
    pub transaction_headers: Vec<TransactionHeader>,
}

/// Length of the header bytes (PROTOCOL.md §2).
pub const HEADER_LEN: usize = 8 + 32 + 32 + 8 + 32 + 8 + 20 + 8 + 8 + 4;
/// Offset of the nonce in the header bytes.
pub const NONCE_OFFSET: usize = 8 + 32 + 32 + 8 + 32;

impl BlockHeader {
    /// `u64 height ‖ prev_hash ‖ merkle_root ‖ u64 timestamp ‖ target ‖
    /// u64 nonce ‖ creator ‖ u64 reward ‖ u64 fees ‖ u32 transaction_count`.
    pub fn bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        let mut at = 0;
        let mut put = |part: &[u8]| {
            b[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        };
        put(&self.height.to_le_bytes());
        put(&self.prev_hash.0);
        put(&self.merkle_root.0);
        put(&self.timestamp.to_le_bytes());
        put(&self.target.0);
        put(&self.nonce.to_le_bytes());
        put(&self.creator.0);
        put(&self.reward.units().to_le_bytes());
        put(&self.fees.units().to_le_bytes());
        put(&self.transaction_count.to_le_bytes());
        b
    }

    /// The hash this header must carry: `H("cinder-block", header bytes)`.
    pub fn compute_hash(&self) -> Hash {
        tagged_hash(TAG_BLOCK, &[&self.bytes()])
    }
}

/// Hashes a header again and again with only the nonce changing, without
/// re-serialising anything: the tag and the bytes before the nonce are
/// absorbed once.
pub struct HeaderHasher {
    prefix: sha2::Sha256,
    suffix: [u8; HEADER_LEN - NONCE_OFFSET - 8],
}

impl HeaderHasher {
    pub fn new(header: &BlockHeader) -> HeaderHasher {
        use sha2::Digest;
        let bytes = header.bytes();
        let mut prefix = tagged_hasher(TAG_BLOCK);
        prefix.update(&bytes[..NONCE_OFFSET]);
        let mut suffix = [0u8; HEADER_LEN - NONCE_OFFSET - 8];
        suffix.copy_from_slice(&bytes[NONCE_OFFSET + 8..]);
        HeaderHasher { prefix, suffix }
    }

    /// The block hash with `nonce` in place.
    pub fn hash(&self, nonce: u64) -> Hash {
        use sha2::Digest;
        let mut h = self.prefix.clone();
        h.update(nonce.to_le_bytes());
        h.update(self.suffix);
        Hash(h.finalize().into())
    }
}

impl Block {
    pub fn header(&self) -> BlockHeader {
        BlockHeader {
            timestamp: self.timestamp,
            height: self.height,
            creator: self.creator,
            reward: self.reward,
            fees: self.fees,
            nonce: self.nonce,
            target: self.target,
            merkle_root: self.merkle_root,
            transaction_count: self.transaction_count,
            hash: self.hash,
            prev_hash: self.prev_hash,
        }
    }

    pub fn summary(&self) -> BlockSummary {
        BlockSummary {
            header: self.header(),
            transaction_headers: self.transactions.iter().map(Transaction::header).collect(),
        }
    }

    pub fn compute_hash(&self) -> Hash {
        self.header().compute_hash()
    }

    /// Merkle root of the block's transaction hashes, as they are written.
    pub fn compute_merkle_root(&self) -> Hash {
        let hashes: Vec<Hash> = self.transactions.iter().map(|t| t.hash).collect();
        merkle_root(&hashes)
    }

    /// A block at `height` on `prev_hash` holding a coinbase that pays
    /// `creator` the `reward` plus the fees of `transactions`, which follow
    /// it; sealed with nonce 0. `None` if reward + fees overflow.
    pub fn assemble(
        prev_hash: Hash,
        height: u64,
        timestamp: u64,
        target: Target,
        creator: Address,
        reward: Amount,
        transactions: Vec<Transaction>,
    ) -> Option<Block> {
        let fees = transactions
            .iter()
            .try_fold(Amount::ZERO, |sum, t| sum.checked_add(t.fee))?;
        let coinbase = Transaction::coinbase(height, timestamp, creator, reward.checked_add(fees)?);
        let mut all = Vec::with_capacity(transactions.len() + 1);
        all.push(coinbase);
        all.extend(transactions);
        let mut block = Block {
            timestamp,
            height,
            creator,
            reward,
            fees,
            nonce: 0,
            target,
            merkle_root: Hash::ZERO,
            transaction_count: 0,
            transactions: all,
            hash: Hash::ZERO,
            prev_hash,
        };
        block.seal();
        Some(block)
    }

    /// Recomputes `transaction_count`, `merkle_root` and `hash` from the
    /// transactions and header fields.
    pub fn seal(&mut self) {
        self.transaction_count = self.transactions.len() as u32;
        self.merkle_root = self.compute_merkle_root();
        self.hash = self.compute_hash();
    }

    /// Tries nonces from 0 up to `max_tries` until the hash meets the
    /// block's target; sets `nonce` and `hash` and returns true when found.
    /// (Regtest's target is met within a few tries; real mining is the
    /// miner's loop, which also watches the tip.)
    pub fn solve(&mut self, max_tries: u64) -> bool {
        let hasher = HeaderHasher::new(&self.header());
        for nonce in 0..max_tries {
            let hash = hasher.hash(nonce);
            if hash.meets(&self.target) {
                self.nonce = nonce;
                self.hash = hash;
                return true;
            }
        }
        false
    }

    /// Sum of the transactions' sizes (PROTOCOL.md §4), what the block limit counts.
    pub fn transactions_size(&self) -> usize {
        self.transactions.iter().map(Transaction::size).sum()
    }
}
