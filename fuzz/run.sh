#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (issue 31) for SECONDS each and prints one
# line per target: executions, libFuzzer's coverage (`cov:` edges, `ft:`
# features) from its last stats line, the corpus, and the crashes found.
# Exits non-zero when a build failed or any target found a crash (or a
# timeout, or ran out of memory).
#
#   bash fuzz/run.sh SECONDS [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). Works on the
# stable toolchain, no nightly and no RUSTC_BOOTSTRAP: `-s none` builds
# without a sanitizer, and the flags cargo-fuzz passes then
# (`-Cpasses=sancov-module`, `-Cllvm-args=-sanitizer-coverage-*`,
# `--cfg fuzzing`) are all stable; libfuzzer-sys compiles libFuzzer itself
# with the C++ compiler (g++ or clang++). `-a` turns debug assertions (and
# so overflow checks) on in every crate: an overflow panics, as in tests.
# The first build takes minutes (the whole dependency tree, instrumented,
# release, one codegen unit; about 9.5 min on 2 cores); later ones rebuild
# only what changed.
#
# Inputs: the committed seeds in fuzz/corpus/<target>/ (written by
# fuzz/seed_corpus.sh from docs/vectors), read only. What a run finds new
# goes to a scratch corpus, $FUZZ_SCRATCH/<target>/ (default: a temporary
# directory removed at the end; set FUZZ_SCRATCH to keep and grow one
# across runs). Crashing inputs go to fuzz/artifacts/<target>/ (ignored
# by git); each is replayed with
#   cargo fuzz run -s none -a TARGET fuzz/artifacts/TARGET/crash-…
# and becomes a test before its fix.
set -uo pipefail
cd "$(dirname "$0")"

if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: bash fuzz/run.sh SECONDS [TARGET...]" >&2
  exit 2
fi
seconds=$1
shift
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 2
fi

flags=(-s none -a)
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

# Built once; the runs below start the binaries themselves, so that an
# edit of the sources meanwhile does not rebuild in the middle of a run.
triple=$(rustc -vV | sed -n 's/^host: //p')
bin=target/$triple/release
if [ -n "${FUZZ_SKIP_BUILD:-}" ]; then
  echo "== FUZZ_SKIP_BUILD: the binaries of the last build, in fuzz/$bin"
else
  echo "== building ${#targets[@]} fuzz targets (cargo fuzz build ${flags[*]})"
  start=$(date +%s)
  if ! cargo fuzz build "${flags[@]}"; then
    echo "fuzz: the build failed" >&2
    exit 1
  fi
  echo "== built in $(($(date +%s) - start)) s; ${seconds} s per target"
fi

# The nodes' directories of the node targets (in memory when it can): a
# crashing input leaves its own behind, removed with this one at the end.
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
export CINDER_FUZZ_TMP
CINDER_FUZZ_TMP=$(mktemp -d "$shm/cinder-fuzz-run.XXXXXX")
if [ -n "${FUZZ_SCRATCH:-}" ]; then
  scratch=$FUZZ_SCRATCH
  trap 'rm -rf "$CINDER_FUZZ_TMP"' EXIT
else
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch" "$CINDER_FUZZ_TMP"' EXIT
fi
logs=$scratch/logs
mkdir -p "$logs"

failed=0
summary=()
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "corpus/$t" "artifacts/$t"
  extra=()
  case "$t" in
    # Step-driven targets: a longer input is a longer story; no need to
    # grow the length limit slowly.
    block_intake | mempool | sync_decisions | peer_book) extra=(-len_control=0) ;;
  esac
  before=$(ls "artifacts/$t" | wc -l)
  echo "== $t"
  # What `cargo fuzz run ${flags[*]} $t` runs, without its build step.
  "$bin/$t" -artifact_prefix="artifacts/$t/" \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 "${extra[@]}" "$scratch/$t" "corpus/$t" >"$logs/$t.log" 2>&1
  status=$?
  after=$(ls "artifacts/$t" | wc -l)
  log=$logs/$t.log
  last=$(grep -aE '^#[0-9]+' "$log" | grep -a 'cov:' | tail -1)
  runs=$(grep -aoE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  rate=$(grep -aoE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  added=$(grep -aoE 'stat::new_units_added: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+')
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+')
  corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$last" | cut -d' ' -f2)
  if [ -z "$runs" ]; then
    runs=$(grep -oE '^#[0-9]+' <<<"$last" | tr -d '#')
  fi
  found=$((after - before))
  line="$t: ${runs:-?} runs (${rate:-?}/s), cov: ${cov:-?}, ft: ${ft:-?}, corpus: ${corp:-?} (+${added:-?}), crashes: $found"
  if [ "$status" != 0 ]; then
    failed=1
    why=$(grep -a -m1 -E "panicked at|ERROR: libFuzzer|SUMMARY" -A2 "$log" | tr '\n' ' ' | cut -c1-300)
    line="$line — FAILED (exit $status): $why"
    [ "$found" = 0 ] && line="$line (no artifact: see the log below)"
    tail -40 "$log"
    for f in $(ls -t "artifacts/$t" | head -"$found"); do
      echo "    artifacts/$t/$f, base64 (first 4 KiB): $(head -c 4096 "artifacts/$t/$f" | base64 -w0)"
    done
  fi
  echo "$line"
  summary+=("$line")
done

echo "== fuzz summary (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
exit "$failed"
