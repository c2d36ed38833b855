//! Block intake on a real node (SQLite in a temporary directory, regtest)
//! that starts from a small valid chain: arbitrary and mutated blocks —
//! on the tip, on older blocks (side branches, reorganisations), with
//! transactions spending real, spent, immature or unknown outputs — then
//! after each one the oracle: the snapshot is the store's, the store's
//! tip, work, counts, balances, rich list and unspent outputs are those a
//! replay of the active chain gives, the mempool holds only what the new
//! chain allows, and the chain's work never goes down. No panic anywhere.
//!
//! The first byte picks the form of the rest. Below 0x80: a block or a
//! JSON array of blocks (what the vectors seed), repaired by the byte's
//! low five bits (`cinder_fuzz::fix_block`) so that mutations reach the
//! deeper rules. From 0x80: a sequence of steps the input steers.
#![no_main]

use cinder::node::{DEFAULT_MAX_SIDE_BYTES, MempoolLimits};
use cinder::types::Block;
use cinder_fuzz::{Unstructured, World, between, byte, fix_block, index, pick_address};
use libfuzzer_sys::fuzz_target;

const MAX_STEPS: usize = 24;

fn json_blocks(mode: u8, rest: &[u8]) {
    let blocks: Vec<Block> = match serde_json::from_slice::<Vec<Block>>(rest) {
        Ok(blocks) => blocks,
        Err(_) => match serde_json::from_slice::<Block>(rest) {
            Ok(block) => vec![block],
            Err(_) => return,
        },
    };
    let mut world = World::new(MempoolLimits::default(), DEFAULT_MAX_SIDE_BYTES);
    for mut block in blocks.into_iter().take(MAX_STEPS) {
        fix_block(&mut block, mode & 0x1f);
        let _ = world.submit_block(&block);
    }
}

fn steps(mode: u8, rest: &[u8]) {
    let mut u = Unstructured::new(rest);
    let max_side_bytes = match mode & 3 {
        0 => DEFAULT_MAX_SIDE_BYTES,
        1 => 0,
        2 => 4_000,
        _ => 30_000,
    };
    let mut world = World::new(MempoolLimits::default(), max_side_bytes);
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        match between(&mut u, 0, 9) {
            0..=4 => {
                let parent = world.pick_block(&mut u).clone();
                if let Some(b) = world.build_block(&mut u, &parent) {
                    let _ = world.submit_block(&b);
                }
            }
            5 => {
                // A branch of 1–3 blocks from below the tip.
                let back = between(&mut u, 0, 4);
                let mut parent = world.ancestor(world.tip(), back).clone();
                for _ in 0..between(&mut u, 1, 3) {
                    let Some(b) = world.build_block(&mut u, &parent) else {
                        break;
                    };
                    let _ = world.submit_block(&b);
                    parent = b;
                }
            }
            6 => {
                // A stored block again (already known, or its own error
                // again if marked invalid since, or a pruned side block).
                let b = world.blocks[index(&mut u, world.blocks.len())].clone();
                let _ = world.submit_block(&b);
            }
            7 => {
                if let Some(tx) = world.build_tx(&mut u) {
                    let _ = world.submit_tx(tx);
                }
            }
            8 => world.mine(pick_address(byte(&mut u))),
            _ => {
                let len = between(&mut u, 0, 4096) as usize;
                let bytes = u.bytes(len).unwrap_or_default();
                if let Ok(mut block) = serde_json::from_slice::<Block>(bytes) {
                    fix_block(&mut block, byte(&mut u));
                    let _ = world.submit_block(&block);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode < 0x80 {
        json_blocks(mode, rest);
    } else {
        steps(mode, rest);
    }
});
