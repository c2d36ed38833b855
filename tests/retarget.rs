//! Difficulty through the node (PROTOCOL.md §7): on test_blockchain the
//! node requires, at every 10th block, the target retargeted from its own
//! branch's timestamps, and refuses a block that keeps the old one.

use cinder::consensus::difficulty::required_target;
use cinder::consensus::{ChainParams, RuleError};
use cinder::node::{Accepted, MempoolLimits, Node, Rejected};
use cinder::types::{Address, Block};

fn mined(parent: &Block, spacing: u64, target: cinder::types::Target, creator: Address) -> Block {
    let params = ChainParams::test_blockchain();
    let height = parent.height + 1;
    let mut b = Block::assemble(
        parent.hash,
        height,
        parent.timestamp + spacing,
        target,
        creator,
        params.subsidy(height),
        Vec::new(),
    )
    .expect("no overflow");
    // 2^240 targets take about 65,536 tries.
    assert!(b.solve(50_000_000), "found a nonce");
    b
}

#[test]
fn the_node_requires_the_retargeted_target_at_every_tenth_block() {
    let params = ChainParams::test_blockchain();
    let dir = tempfile::tempdir().expect("temp dir");
    let node =
        Node::open(dir.path(), params.clone(), MempoolLimits::default()).expect("node opens");
    let me = Address([7; 20]);
    // Blocks twice too fast: 150 s apart instead of 300.
    let mut chain = vec![params.genesis()];
    for _ in 1..10 {
        let parent = chain.last().expect("a parent");
        let b = mined(parent, 150, params.pow_limit, me);
        assert_eq!(
            node.submit_block(&b).expect("accepted"),
            Accepted::Connected
        );
        chain.push(b);
    }
    // Block 10 retargets from timestamps 9 and 0 of this branch.
    let span = chain[9].timestamp as i64 - chain[0].timestamp as i64;
    let expected = required_target(&params, 10, &params.pow_limit, || span);
    assert!(
        expected < params.pow_limit,
        "faster blocks make work harder"
    );
    assert_eq!(node.next_target(), expected);

    let stale = mined(&chain[9], 150, params.pow_limit, me);
    match node.submit_block(&stale) {
        Err(Rejected::Rule { error, .. }) => {
            assert!(
                matches!(error.error, RuleError::BadTarget { expected: e } if e == expected),
                "{error}"
            );
        }
        other => panic!("expected bad_target, got {other:?}"),
    }
    let good = mined(&chain[9], 150, expected, me);
    assert_eq!(
        node.submit_block(&good).expect("accepted"),
        Accepted::Connected
    );
    // Block 11 keeps block 10's target.
    assert_eq!(node.next_target(), expected);
}

#[test]
fn timestamps_must_pass_the_median_of_the_last_eleven() {
    let params = ChainParams::regtest();
    let dir = tempfile::tempdir().expect("temp dir");
    let node =
        Node::open(dir.path(), params.clone(), MempoolLimits::default()).expect("node opens");
    let me = Address([7; 20]);
    let mut chain = vec![params.genesis()];
    for _ in 0..12 {
        let parent = chain.last().expect("a parent");
        let b = mined_regtest(parent, parent.timestamp + 10, me);
        node.submit_block(&b).expect("accepted");
        chain.push(b);
    }
    // The median of timestamps 2..=12 is block 7's.
    let median = chain[7].timestamp;
    let tip = chain.last().expect("tip");
    let at_median = mined_regtest(tip, median, me);
    match node.submit_block(&at_median) {
        Err(Rejected::Rule { error, .. }) => assert_eq!(error.error.code(), "timestamp_too_old"),
        other => panic!("expected timestamp_too_old, got {other:?}"),
    }
    let above = mined_regtest(tip, median + 1, me);
    assert_eq!(
        node.submit_block(&above).expect("accepted"),
        Accepted::Connected
    );
}

fn mined_regtest(parent: &Block, timestamp: u64, creator: Address) -> Block {
    let params = ChainParams::regtest();
    let height = parent.height + 1;
    let mut b = Block::assemble(
        parent.hash,
        height,
        timestamp,
        params.pow_limit,
        creator,
        params.subsidy(height),
        Vec::new(),
    )
    .expect("no overflow");
    assert!(b.solve(1_000), "regtest is easy");
    b
}
