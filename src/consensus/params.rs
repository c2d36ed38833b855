//! Chain parameters (PROTOCOL.md §8), the genesis block, subsidy and work.

use primitive_types::{U256, U512};

use crate::hash::merkle_root;
use crate::types::{Address, Amount, Block, Hash, Target, Transaction};

/// The parameters of one chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainParams {
    pub name: &'static str,
    /// Seconds between blocks the difficulty aims at.
    pub block_time: u64,
    pub block_reward: Amount,
    pub halving_interval: u64,
    /// Blocks between retargets; 0: never.
    pub retarget_interval: u64,
    pub pow_limit: Target,
    pub coinbase_maturity: u64,
    pub genesis_timestamp: u64,
    /// The nonce that makes genesis meet `pow_limit`.
    pub genesis_nonce: u64,
    /// Genesis is hard-coded by its hash.
    pub genesis_hash: Hash,
}

const fn hash_from_hex(text: &str) -> [u8; 32] {
    let b = text.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("not lowercase hex"),
    }
}

impl ChainParams {
    /// Local networks, demos and tests: 10 s blocks, easy work, no retarget.
    pub const fn regtest() -> ChainParams {
        let mut limit = [0xffu8; 32];
        limit[0] = 0x7f;
        ChainParams {
            name: "regtest",
            block_time: 10,
            block_reward: Amount::from_units(150_000_000),
            halving_interval: 150,
            retarget_interval: 0,
            pow_limit: Target(limit),
            coinbase_maturity: 2,
            genesis_timestamp: 1_763_769_600,
            genesis_nonce: 0,
            genesis_hash: Hash(hash_from_hex(
                "5eb986af1c3c67bde3e106a9422db6960db80825a906f1b4eff114a7f155c6af",
            )),
        }
    }

    /// A long-running network: 300 s blocks, retarget every 10 blocks.
    pub const fn test_blockchain() -> ChainParams {
        let mut limit = [0xffu8; 32];
        limit[0] = 0;
        limit[1] = 0;
        ChainParams {
            name: "test_blockchain",
            block_time: 300,
            block_reward: Amount::from_units(150_000_000),
            halving_interval: 210_000,
            retarget_interval: 10,
            pow_limit: Target(limit),
            coinbase_maturity: 10,
            genesis_timestamp: 1_763_769_600,
            genesis_nonce: 169_962,
            genesis_hash: Hash(hash_from_hex(
                "0000406f42514abc2d5d460547273ea8fc60a1ea02e7a86b1f21bdeaa445ec6c",
            )),
        }
    }

    /// The parameters of a chain by name.
    pub fn by_name(name: &str) -> Option<ChainParams> {
        match name {
            "regtest" => Some(Self::regtest()),
            "test_blockchain" => Some(Self::test_blockchain()),
            _ => None,
        }
    }

    /// `block_reward >> (height / halving_interval)`, 0 after 64 halvings.
    pub fn subsidy(&self, height: u64) -> Amount {
        let halvings = height / self.halving_interval.max(1);
        if halvings >= 64 {
            Amount::ZERO
        } else {
            Amount::from_units(self.block_reward.units() >> halvings)
        }
    }

    /// The genesis block built from the parameters (PROTOCOL.md §8); its
    /// hash must be `genesis_hash`.
    pub fn genesis(&self) -> Block {
        let coinbase =
            Transaction::coinbase(0, self.genesis_timestamp, Address::ZERO, self.block_reward);
        let mut block = Block {
            timestamp: self.genesis_timestamp,
            height: 0,
            creator: Address::ZERO,
            reward: self.block_reward,
            fees: Amount::ZERO,
            nonce: self.genesis_nonce,
            target: self.pow_limit,
            merkle_root: merkle_root(&[coinbase.hash]),
            transaction_count: 1,
            transactions: vec![coinbase],
            hash: Hash::ZERO,
            prev_hash: Hash::ZERO,
        };
        block.hash = block.compute_hash();
        block
    }
}

/// `floor(2^256 / (target + 1))` (PROTOCOL.md §7).
pub fn block_work(target: &Target) -> U256 {
    let denominator = U512::from(target.to_u256()) + U512::one();
    let work = (U512::one() << 256) / denominator;
    // target ≥ 0 gives work ≤ 2^256; only target 0 reaches 2^256 itself,
    // which no valid block has (required targets are at least 1).
    U256::try_from(work).unwrap_or(U256::MAX)
}
