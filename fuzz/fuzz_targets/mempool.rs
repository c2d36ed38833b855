//! Mempool admission sequences on a real node (regtest, a small valid
//! chain whose coinbases pay the vector keys): transactions spending
//! confirmed, unconfirmed, spent, immature and unknown outputs with the
//! amounts, fees, timestamps and mistakes the input picks, double spends,
//! the same transaction again, blocks mined from the node's own template
//! (which must always be accepted), conflicting blocks and short forks
//! that reorganise (transactions return), under small bounds that force
//! evictions. After each step the oracle (`cinder_fuzz::check_node`): the
//! pool within its bounds, every input an unspent output of the chain or
//! of an earlier pool transaction, nothing spent twice, nothing confirmed,
//! and the chain's state that of a replay. No panic anywhere.
//!
//! The first byte picks the bounds; the rest steers the steps.
#![no_main]

use cinder::node::{DEFAULT_MAX_SIDE_BYTES, MempoolLimits};
use cinder::types::Transaction;
use cinder_fuzz::{Unstructured, World, between, byte, index, pick_address};
use libfuzzer_sys::fuzz_target;

const MAX_STEPS: usize = 32;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let limits = MempoolLimits {
        max_count: [1, 2, 3, 5, 8, 50_000][usize::from(mode % 6)],
        max_size: [600, 1_500, 4_000, 64_000_000][usize::from(mode / 6 % 4)],
    };
    let mut u = Unstructured::new(rest);
    let mut world = World::new(limits, DEFAULT_MAX_SIDE_BYTES);
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        match between(&mut u, 0, 11) {
            0..=5 => {
                if let Some(tx) = world.build_tx(&mut u) {
                    let _ = world.submit_tx(tx);
                }
            }
            6 => {
                if !world.posted.is_empty() {
                    let tx = world.posted[index(&mut u, world.posted.len())].clone();
                    let _ = world.submit_tx(tx);
                }
            }
            7 => world.mine(pick_address(byte(&mut u))),
            8 => {
                // A block on the tip of the input's making: it may confirm,
                // or conflict with, what the pool holds.
                let tip = world.tip().clone();
                if let Some(b) = world.build_block(&mut u, &tip) {
                    let _ = world.submit_block(&b);
                }
            }
            9 | 10 => {
                // A fork of 1–3 blocks from one or two below the tip.
                let back = between(&mut u, 1, 2);
                let mut parent = world.ancestor(world.tip(), back).clone();
                for _ in 0..between(&mut u, 1, 3) {
                    let Some(b) = world.build_block(&mut u, &parent) else {
                        break;
                    };
                    let _ = world.submit_block(&b);
                    parent = b;
                }
            }
            _ => {
                let len = between(&mut u, 0, 2048) as usize;
                let bytes = u.bytes(len).unwrap_or_default();
                if let Ok(tx) = serde_json::from_slice::<Transaction>(bytes) {
                    let _ = world.submit_tx(tx);
                }
            }
        }
    }
});
