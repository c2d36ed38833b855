#!/usr/bin/env bash
# The Cinder walkthrough, end to end, from a fresh clone:
#   build; start a DNS seed and node 1; fill node 1's chain with `testing`;
#   start node 2 knowing nothing but the seed and wait until it has node 1's
#   chain; pay wallet B from the testing wallet with `wallet send`; mine the
#   payment on node 2 and see it confirmed on both nodes.
# Every process it starts is stopped at the end, also on failure or Ctrl-C,
# and all its data lives in one temporary directory, removed at the end.
# Exit 0 only when node 2 matched node 1 and the payment confirmed on both.
#
#   bash testing/demo.sh                        # builds the release binaries first
#   CINDER_DEMO_SKIP_BUILD=1 bash testing/demo.sh   # uses them as built
set -euo pipefail

started=$(date +%s)
cd "$(dirname "$0")/.."
repo=$(pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cinder-demo.XXXXXX")
pids=()
finished=0

elapsed() { echo $(($(date +%s) - started)); }

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    # A node finishes the block it is writing; killed if it takes over 20 s.
    for _ in $(seq 200); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$finished" != 1 ] && [ -d "$tmp" ]; then
    for log in "$tmp"/*.log; do
      [ -s "$log" ] || continue
      echo "--- last lines of $(basename "$log") ---" >&2
      tail -n 15 "$log" >&2
    done
  fi
  rm -rf "$tmp"
  if [ "$finished" = 1 ] && [ "$status" = 0 ]; then
    echo "== demo passed in $(elapsed) s"
  else
    [ "$status" = 0 ] && status=1
    echo "== demo FAILED (status $status) after $(elapsed) s" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "demo: $*" >&2
  exit 1
}

# A JSON string or number field of a one-line answer (no jq needed).
field() {
  sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p" | head -n 1
}

# Polls `command` every 0.5 s until it succeeds; fails after $1 seconds.
wait_until() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$(($(date +%s) + seconds))
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "gave up after ${seconds} s waiting for $what"
    sleep 0.5
  done
}

# Starts a server in the background; its URL is in $url once it printed
# `listening on http://IP:PORT`.
url=
start_server() {
  local name=$1
  shift
  # Created here: the background job's redirection may come after the
  # first look below.
  : >"$tmp/$name.out"
  "$@" >>"$tmp/$name.out" 2>"$tmp/$name.log" &
  pids+=($!)
  local pid=$!
  local deadline=$(($(date +%s) + 30))
  url=
  while [ -z "$url" ]; do
    url=$(sed -n '1s/^listening on \(http:\/\/.*\)$/\1/p' "$tmp/$name.out")
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || fail "$name exited before listening"
    [ "$(date +%s)" -lt "$deadline" ] || fail "$name did not print its URL within 30 s"
    sleep 0.1
  done
  echo "$name: $url (pid $pid)"
}

get() { curl -sS --max-time 10 "$1$2"; }

if [ "${CINDER_DEMO_SKIP_BUILD:-0}" != 1 ]; then
  echo "== build: cargo build --release -p cinder -p dns_seed -p wallet -p testing"
  cargo build --release -p cinder -p dns_seed -p wallet -p testing
fi
bin="${CARGO_TARGET_DIR:-$repo/target}/release"
for b in full-node dns-server wallet testing; do
  [ -x "$bin/$b" ] || fail "$bin/$b is missing: build it first"
done
build_done=$(elapsed)

cd "$tmp"
export CINDER_WALLET_PASSWORD="cinder demo password"
# Short intervals so that the network settles in seconds.
net=(--update-interval 1 --sync-interval 1)

echo "== 1. the DNS seed and node 1 (data in $tmp)"
start_server dns-server "$bin/dns-server" -d "$tmp/.dns_server" -p 0 -u 2
seed=${url#http://}
start_server node1 "$bin/full-node" -d "$tmp/.full_node" -p 0 --dns "$seed" "${net[@]}"
node1=$url
seed_knows_node1() { get "http://$seed" /nodes/ | grep -q "\"port\":${node1##*:}"; }
wait_until 30 "node 1 to register with the seed" seed_knows_node1
echo "the seed lists: $(get "http://$seed" /nodes/)"

echo
echo "== 2. testing --dns $seed: mine to a test wallet, send 20 payments, confirm them"
"$bin/testing" --dns "$seed" -d "$tmp/.testing" --transactions 20

echo
echo "== 3. node 2, knowing only the seed, syncs node 1's chain"
start_server node2 "$bin/full-node" -d "$tmp/.full_node2" -p 0 --dns "$seed" "${net[@]}"
node2=$url
best1=$(get "$node1" /blockchain/ | field best_hash)
[ -n "$best1" ] || fail "node 1 gave no best_hash"
same_tip() { [ "$(get "$node2" /blockchain/ | field best_hash)" = "$best1" ]; }
wait_until 60 "node 2 to reach node 1's best hash $best1" same_tip
echo "node 2 reached node 1's best hash $best1"
for n in 1 2; do
  u=node$n
  echo "-- node $n ${!u}/blockchain/"
  get "${!u}" /blockchain/
  echo
  echo "-- node $n ${!u}/blocks/last/"
  get "${!u}" /blocks/last/
  echo
done

echo
echo "== 4. wallet send: from the testing wallet to a new wallet B"
"$bin/wallet" -w "$tmp/.wallet_b/wallet.json" new >/dev/null
address_b=$("$bin/wallet" -w "$tmp/.wallet_b/wallet.json" --node "$node1" --json address | field address)
[ -n "$address_b" ] || fail "wallet B gave no address"
echo "wallet B: $address_b"
echo "\$ wallet -w .testing/wallet.json --node $node1 send --to $address_b --amount 1.25"
tx=$("$bin/wallet" -w "$tmp/.testing/wallet.json" --node "$node1" send --to "$address_b" --amount 1.25)
echo "$tx"
status_is() { get "$1" "/transactions/$tx/status/" | grep -q "\"status\":\"$2\""; }
wait_until 30 "node 2 to receive the payment" status_is "$node2" mempool
echo "node 2 has it in its mempool: $(get "$node2" "/transactions/$tx/status/")"

echo
echo "== 5. mine one block on node 2; the payment is confirmed on both nodes"
"$bin/testing" --node "$node2" -d "$tmp/.testing" --mine-only 1
wait_until 30 "node 2 to confirm the payment" status_is "$node2" confirmed
wait_until 30 "node 1 to confirm the payment" status_is "$node1" confirmed
echo "node 1 $node1/transactions/$tx/status/: $(get "$node1" "/transactions/$tx/status/")"
echo "node 2 $node2/transactions/$tx/status/: $(get "$node2" "/transactions/$tx/status/")"
echo "\$ wallet -w .wallet_b/wallet.json --node $node2 balance"
"$bin/wallet" -w "$tmp/.wallet_b/wallet.json" --node "$node2" balance

echo
echo "build: ${build_done} s, network demo: $(($(elapsed) - build_done)) s"
finished=1
