//! Every file of the shared vectors (kept in `docs/vectors/`) reproduced
//! exactly by the library.

use cinder::consensus::ChainParams;
use cinder::consensus::block::{check_block_body, check_block_header_free};
use cinder::consensus::difficulty::required_target;
use cinder::consensus::transaction::{check_context_free, check_signatures};
use cinder::crypto::{self, HdAccount, KeyChain};
use cinder::hash::merkle_root;
use cinder::types::{Address, Amount, Block, Hash, Target, Transaction};
use serde_json::Value;

fn load(text: &str) -> Value {
    serde_json::from_str(text).expect("vector file is JSON")
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string in vector")
}

fn u(v: &Value) -> u64 {
    v.as_u64().expect("integer in vector")
}

#[test]
fn amounts() {
    let v = load(include_str!("../docs/vectors/amounts.json"));
    let valid = v["valid"].as_array().unwrap();
    assert!(valid.len() >= 10);
    for case in valid {
        let a: Amount =
            serde_json::from_str(s(&case["json"])).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(a.units(), u(&case["units"]), "{case}");
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            s(&case["canonical"]),
            "{case}"
        );
        assert_eq!(a.to_string(), s(&case["canonical"]));
    }
    let invalid = v["invalid"].as_array().unwrap();
    assert!(invalid.len() >= 10);
    for case in invalid {
        assert!(
            serde_json::from_str::<Amount>(s(case)).is_err(),
            "{case} accepted"
        );
    }
}

#[test]
fn keys() {
    let v = load(include_str!("../docs/vectors/keys.json"));
    let seed = crypto::mnemonic_to_seed(s(&v["mnemonic"]), s(&v["passphrase"])).unwrap();
    assert_eq!(hex::encode(*seed), s(&v["seed"]));
    let account = HdAccount::from_seed(&*seed).unwrap();
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4);
    for k in keys {
        let path = s(&k["path"]);
        let (by_path, _) = crypto::derive_path(&*seed, path).unwrap();
        let (chain, index) = path
            .rsplit_once('/')
            .map(|(p, i)| (p, i.parse::<u32>().unwrap()))
            .unwrap();
        let chain = if chain.ends_with("/0") {
            KeyChain::Receive
        } else {
            KeyChain::Change
        };
        assert_eq!(HdAccount::path(chain, index), path);
        let key = account.key(chain, index).unwrap();
        for key in [&by_path, &key] {
            assert_eq!(hex::encode(*key.to_bytes()), s(&k["private_key"]), "{path}");
            assert_eq!(hex::encode(key.public_key()), s(&k["public_key"]), "{path}");
            assert_eq!(key.address().to_string(), s(&k["address"]), "{path}");
            assert_eq!(
                key.address().to_checksummed(),
                s(&k["display_address"]),
                "{path}"
            );
        }
        assert_eq!(
            Address::parse_checked(s(&k["display_address"])),
            Ok(key.address())
        );
    }
}

#[test]
fn bip39_official() {
    let v = load(include_str!("../docs/vectors/bip39_official.json"));
    let passphrase = s(&v["passphrase"]);
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let entropy = hex::decode(s(&case["entropy"])).unwrap();
        let mnemonic = crypto::mnemonic_from_entropy(&entropy).unwrap();
        assert_eq!(mnemonic.as_str(), s(&case["mnemonic"]));
        assert_eq!(*crypto::mnemonic_to_entropy(&mnemonic).unwrap(), entropy);
        let seed = crypto::mnemonic_to_seed(&mnemonic, passphrase).unwrap();
        assert_eq!(hex::encode(*seed), s(&case["seed"]));
    }
}

#[test]
fn bip32_official() {
    let v = load(include_str!("../docs/vectors/bip32_official.json"));
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let seed = hex::decode(s(&case["seed"])).unwrap();
        let (key, chain_code) = crypto::derive_path(&seed, s(&case["path"])).unwrap();
        assert_eq!(
            hex::encode(*key.to_bytes()),
            s(&case["private_key"]),
            "{case}"
        );
        assert_eq!(hex::encode(chain_code), s(&case["chain_code"]), "{case}");
    }
}

#[test]
fn merkle() {
    let v = load(include_str!("../docs/vectors/merkle.json"));
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let leaves: Vec<Hash> = case["leaves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| s(l).parse().unwrap())
            .collect();
        assert_eq!(merkle_root(&leaves).to_string(), s(&case["root"]));
    }
}

fn params_match(p: &ChainParams, v: &Value) {
    assert_eq!(p.name, s(&v["name"]));
    assert_eq!(p.block_time, u(&v["block_time"]));
    assert_eq!(p.block_reward.units(), u(&v["block_reward"]));
    assert_eq!(p.halving_interval, u(&v["halving_interval"]));
    assert_eq!(p.retarget_interval, u(&v["retarget_interval"]));
    assert_eq!(p.pow_limit.to_string(), s(&v["pow_limit"]));
    assert_eq!(p.coinbase_maturity, u(&v["coinbase_maturity"]));
    assert_eq!(p.genesis_timestamp, u(&v["genesis_timestamp"]));
}

fn block_from(v: &Value) -> Block {
    serde_json::from_str(&v.to_string()).expect("vector block parses")
}

#[test]
fn genesis() {
    let v = load(include_str!("../docs/vectors/genesis.json"));
    for (name, params) in [
        ("test_blockchain", ChainParams::test_blockchain()),
        ("regtest", ChainParams::regtest()),
    ] {
        params_match(&params, &v[name]["params"]);
        let expected = block_from(&v[name]["block"]);
        let genesis = params.genesis();
        assert_eq!(genesis, expected, "{name}");
        assert_eq!(genesis.compute_hash(), expected.hash);
        assert_eq!(genesis.hash, params.genesis_hash);
        assert!(genesis.hash.meets(&genesis.target));
        // The node writes genesis back byte for byte as the vector has it.
        assert_eq!(serde_json::to_value(&genesis).unwrap(), v[name]["block"]);
        assert_eq!(ChainParams::by_name(name), Some(params));
    }
}

#[test]
fn difficulty() {
    let v = load(include_str!("../docs/vectors/difficulty.json"));
    let params = ChainParams::by_name(s(&v["params"])).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let spacings: Vec<i64> = case["spacings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        let targets: Vec<Target> = case["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| s(t).parse().unwrap())
            .collect();
        assert_eq!(targets.len(), spacings.len() + 2);
        let mut timestamps = vec![params.genesis_timestamp as i64];
        for sp in &spacings {
            timestamps.push(timestamps.last().unwrap() + sp);
        }
        let mut target = required_target(&params, 0, &params.pow_limit, || 0);
        assert_eq!(target, targets[0]);
        for h in 1..targets.len() {
            let start = h.saturating_sub(params.retarget_interval as usize);
            target = required_target(&params, h as u64, &target, || {
                timestamps[h - 1] - timestamps[start]
            });
            assert_eq!(target, targets[h], "{} at height {h}", s(&case["case"]));
        }
    }
}

/// Steps 1–9 and 15 of a vector transaction: parse errors are `malformed`.
fn context_free_code(text: &str) -> Result<(), String> {
    let tx: Transaction = serde_json::from_str(text).map_err(|_| "malformed".to_string())?;
    let sighash = check_context_free(&tx).map_err(|e| e.code().to_string())?;
    check_signatures(&tx, &sighash).map_err(|e| e.code().to_string())
}

#[test]
fn transaction() {
    let v = load(include_str!("../docs/vectors/transaction.json"));
    let tx: Transaction = serde_json::from_str(&v["transaction"].to_string()).unwrap();
    assert_eq!(hex::encode(tx.body()), s(&v["tx_body"]));
    assert_eq!(tx.sighash().to_string(), s(&v["sighash"]));
    let output_hashes: Vec<String> = tx
        .outputs
        .iter()
        .map(|o| o.compute_hash().to_string())
        .collect();
    let expected: Vec<&str> = v["output_hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    assert_eq!(output_hashes, expected);
    assert_eq!(tx.compute_hash().to_string(), s(&v["hash"]));
    assert_eq!(context_free_code(&v["transaction"].to_string()), Ok(()));
    assert_eq!(serde_json::to_value(&tx).unwrap(), v["transaction"]);
    assert_eq!(tx.size(), s(&v["tx_body"]).len() / 2 + 65 * tx.inputs.len());

    let invalid = v["invalid"].as_array().unwrap();
    assert!(invalid.len() >= 20);
    for case in invalid {
        let text = match case.get("text") {
            Some(t) => s(t).to_string(),
            None => case["transaction"].to_string(),
        };
        assert_eq!(
            context_free_code(&text),
            Err(s(&case["error"]).to_string()),
            "{}",
            s(&case["why"])
        );
    }
}

/// The context-free steps (1, 2, 4, 9–13) of chain_regtest.json: the valid
/// blocks pass; the invalid cases whose rule is context-free fail with it.
/// (The contextual cases are checked through a real node in `tests/`.)
#[test]
fn chain_regtest_context_free() {
    let v = load(include_str!("../docs/vectors/chain_regtest.json"));
    let params = ChainParams::regtest();
    let blocks: Vec<Block> = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(block_from)
        .collect();
    assert_eq!(blocks[0], params.genesis());
    for b in &blocks {
        check_block_header_free(b).unwrap();
        check_block_body(b, &params).unwrap();
    }
    let mut checked = 0;
    for case in v["invalid_at_height_3"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["invalid_at_height_5"].as_array().unwrap())
    {
        let code = s(&case["error"]);
        let Ok(block) = serde_json::from_str::<Block>(&case["block"].to_string()) else {
            assert_eq!(code, "malformed");
            checked += 1;
            continue;
        };
        let result = check_block_header_free(&block)
            .map_err(|e| (e.code(), None))
            .and_then(|()| {
                check_block_body(&block, &params)
                    .map(|_| ())
                    .map_err(|e| (e.error.code(), e.transaction))
            });
        let context_free = [
            "malformed",
            "bad_hash",
            "bad_pow",
            "bad_merkle_root",
            "bad_reward",
            "bad_fees",
            "bad_coinbase",
        ];
        if context_free.contains(&code) || (code == "bad_output_hash") {
            let (got, index) = result.expect_err(code);
            assert_eq!(got, code, "{}", s(&case["why"]));
            if let Some(i) = case.get("index") {
                assert_eq!(index, Some(u(i) as usize));
            }
            checked += 1;
        }
    }
    assert!(checked >= 8);
}
