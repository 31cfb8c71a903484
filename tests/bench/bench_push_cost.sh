#!/usr/bin/env bash
# tests/bench/bench_push_cost.sh — Redis CPU per pushed feed entry: a fixed
# workload through chirp_feed_push_many (tests/bench/push_cost.c), with
# INFO commandstats / INFO cpu deltas per phase (new, repeat, late,
# repost), each divided by the entries pushed.  The feeds are refilled to
# the same full state before each phase, so runs compare.
#
#   tests/bench/bench_push_cost.sh [owners=100] [tweets=200] [batch=20] [cap=800]
#
# Uses the stack in CHIRP_REDIS_URL if set, else starts the test stack
# (deploy/stack.sh; source your env file first) and stops it after.
# CHIRP_BENCH_BUILD: the build directory (build).  To compare with another
# version of the push code, build push_cost.c against that version's
# shared/chirp_feed.c and run both on the same stack, interleaved (the
# figures in docs/decisions.md are the best of 5 such runs).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${CHIRP_BENCH_BUILD:-build}/tests/bench/push_cost
[[ -x $bin ]] || { echo "build $bin first (cmake --build build)" >&2; exit 1; }
started=0
if [[ -z ${CHIRP_REDIS_URL:-} ]]; then
  deploy/stack.sh test start >/dev/null
  started=1
  trap 'deploy/stack.sh test stop >/dev/null' EXIT
  eval "$(deploy/stack.sh test env)"
fi
"$bin" "$CHIRP_REDIS_URL" "${1:-100}" "${2:-200}" "${3:-20}" "${4:-800}"
