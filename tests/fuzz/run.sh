#!/usr/bin/env bash
# tests/fuzz/run.sh — build the fuzz tree (build-fuzz, clang) and run each
# libFuzzer target of tests/fuzz for a bounded time, one after the other.
#
#   tests/fuzz/run.sh                              # every target, 20 s each
#   CHIRP_FUZZ_SECONDS=3600 tests/fuzz/run.sh      # the longer run: an hour each
#   CHIRP_FUZZ_SECONDS=600 tests/fuzz/run.sh event body   # chosen targets
#
# Inputs that reach new code are kept in build-fuzz/corpus/<target> (the
# seeds in tests/fuzz/corpus/<target> are read, never written), so a second
# run starts where the first stopped.  A crash, a leak, any ASan/UBSan report,
# a timeout (10 s per input) or a failed FUZZ_ASSERT stops that target and
# saves the input as build-fuzz/artifacts/<target>-crash-… (or leak-,
# timeout-…); the other targets still run, and the script exits 1.  Reproduce
# with build-fuzz/tests/fuzz/fuzz_<target> <artifact>; after the fix, copy
# the artifact into tests/fuzz/corpus/<target>/ as a regression seed.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
SECS=${CHIRP_FUZZ_SECONDS:-20}
BUILD=${CHIRP_FUZZ_BUILD:-$TOP/build-fuzz}

CC=clang cmake -S "$TOP" -B "$BUILD" -DCHIRP_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2 >/dev/null

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  targets=()
  for f in "$TOP"/tests/fuzz/fuzz_*.c; do
    t=${f##*/fuzz_}
    targets+=("${t%.c}")
  done
fi

mkdir -p "$BUILD/artifacts" "$BUILD/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${targets[@]}"; do
  bin=$BUILD/tests/fuzz/fuzz_$t
  log=$BUILD/logs/$t.log
  mkdir -p "$BUILD/corpus/$t"
  rc=0
  "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" \
    "$BUILD/corpus/$t" "$TOP/tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  if [[ $rc -ne 0 ]]; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc) after ${runs:-?} inputs; log $log:"
    grep -E -A25 'ERROR: |FUZZ_ASSERT|runtime error' "$log" | head -60 || tail -40 "$log"
  else
    echo "fuzz: $t ok: ${runs:-?} inputs in ${SECS} s, ${cov:-cov ?}, corpus $(ls "$BUILD/corpus/$t" | wc -l)"
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $BUILD/artifacts)"
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets clean"
