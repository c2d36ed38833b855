#!/usr/bin/env bash
# Writes the committed seed corpora, fuzz/corpus/<target>/, from the shared
# vectors (docs/vectors/): transactions, blocks, headers, amounts, keys and
# addresses, plus hand-written ids, queries and nodes, and a few fixed
# pseudo-random inputs for the step-driven targets. Deterministic: run it
# again after the vectors change (it replaces what it wrote before).
set -euo pipefail
cd "$(dirname "$0")"
rm -rf corpus
python3 - <<'PY'
import decimal, hashlib, json, os, random

V = "../docs/vectors"

def load(name):
    # Amounts keep their exact text: never a binary float.
    with open(os.path.join(V, name)) as f:
        return json.load(f, parse_float=decimal.Decimal)

def dump(v):
    """Compact JSON, numbers as written in the vectors."""
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k) + ":" + dump(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dump(x) for x in v) + "]"
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    return json.dumps(v)

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)

chain = load("chain_regtest.json")
txv = load("transaction.json")
genesis = load("genesis.json")
amounts = load("amounts.json")
keys = load("keys.json")

blocks = chain["blocks"] + [genesis[n]["block"] for n in ("regtest", "test_blockchain")]
invalid_blocks = [c["block"] for c in chain["invalid_at_height_3"] + chain["invalid_at_height_5"]]
transactions = [txv["transaction"]] + [c["transaction"] for c in txv["invalid"] if "transaction" in c]
transactions += [t for b in blocks for t in b["transactions"]]
# Cases only raw text can hold (an integer written 0.0, a duplicate key).
raw_transactions = [c["text"] for c in txv["invalid"] if "text" in c]

def header(b):
    return {k: v for k, v in b.items() if k != "transactions"}

for t in transactions:
    put("transaction", dump(t))
for t in raw_transactions:
    put("transaction", t)
for b in blocks + invalid_blocks:
    put("block", dump(b))
put("headers", dump([header(b) for b in chain["blocks"]]))
for b in blocks + invalid_blocks:
    put("headers", dump([header(b)]))

for a in amounts["valid"]:
    put("amount", a["json"])
    put("amount", a["canonical"])
    put("amount", "-" + a["canonical"])
for a in amounts["invalid"]:
    put("amount", a)
put("amount", '"1234567890123456789012345678901234567890"')  # total_work

first = txv["transaction"]
for k in keys["keys"]:
    put("address", b"\x00" + k["address"].encode())
    put("address", b"\x04" + k["display_address"].encode())
    put("address", b"\x05" + json.dumps(k["address"]).encode())
put("address", b"\x01" + chain["expected"]["best_hash"].encode())
put("address", b"\x02" + first["inputs"][0]["signature"].encode())
put("address", b"\x03" + chain["blocks"][0]["target"].encode())

best = chain["expected"]["best_hash"]
hashes = [b["hash"] for b in chain["blocks"]]
shown = keys["keys"][0]["display_address"]
for sel, text in [
    (0, "42"), (0, "18446744073709551615"), (0, "18446744073709551616"), (0, "007"),
    (1, "last"), (1, best), (1, "3"), (2, best), (2, "0"), (3, "12"),
    (4, shown), (4, keys["keys"][1]["address"]),
    (5, "from=3&limit=5"), (5, "hashes=" + ",".join(hashes)),
    (5, "locator=" + ",".join(reversed(hashes)) + "&limit=2000"),
    (5, "address=" + shown + "&mempool=true"), (5, "limit=50&before=" + best),
    (5, "limit=1&limit=2"), (5, "from=%31"),
]:
    put("api_params", bytes([sel]) + text.encode())

for text in ["127.0.0.1:50000", "[::1]:8000", "[::ffff:1.2.3.4]:80", "10.0.0.1:0",
             '{"ip_address":"127.0.0.1","port":50000}', '{"ip_address":"::1","port":8000}',
             '[{"ip_address":"1.2.3.4","port":1},{"ip_address":"2a00::1","port":65535}]',
             '{"known":[{"ip_address":"1.2.3.4","port":8000}],"banned":[{"node":{"ip_address":"5.6.7.8","port":9},"until":1763800000000,"reason":"invalid_block: 00ab"}]}']:
    put("node_addr", text)

# block_intake: an invalid vector block posted to the node (which holds the
# vector chain and more) as it is, then repaired (coinbase, fees, count,
# merkle root, hash and work); the valid blocks again (already known).
for b in invalid_blocks:
    put("block_intake", b"\x00" + dump(b).encode())
    put("block_intake", b"\x18" + dump(b).encode())
put("block_intake", b"\x00" + dump(chain["blocks"][1:]).encode())

rng = random.Random(31)
for target, n, lo in [("block_intake", 8, 0x80), ("mempool", 12, 0), ("sync_decisions", 12, 0), ("peer_book", 12, 0)]:
    for i in range(n):
        data = bytes([rng.randrange(lo, 256)]) + bytes(rng.randrange(256) for _ in range(rng.randrange(16, 200)))
        put(target, data)
PY
du -sh corpus
for d in corpus/*; do printf '%s %s\n' "$(ls "$d" | wc -l)" "$d"; done
