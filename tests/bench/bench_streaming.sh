#!/usr/bin/env bash
# tests/bench/bench_streaming.sh — the live-updates benchmark (prints
# figures; not part of the test command).
#
#   1. CHIRP_BENCH_STREAMS (2 000) streams open on one gateway, one per
#      reader: the gateway's threads before and after (no thread per
#      stream), its RSS delta per stream, its CPU while they idle.
#   2. CHIRP_BENCH_RATE (200) tweets/s for CHIRP_BENCH_SECONDS (20) by
#      CHIRP_BENCH_AUTHORS (40) authors, each followed by STREAMS/AUTHORS of
#      the readers (all online): from the POST to the tweet's arrival in a
#      stream, p50/p99 per delivery and for all followers of the tweet
#      (the last one's arrival), and the gateway's CPU meanwhile.
#
# Runs on the test stack (deploy/stack.sh test, with your CHIRP_STACK_*
# ports): started and stopped here unless CHIRP_TEST_STACK=1 says one is up
# with its environment exported.  Binaries from CHIRP_BENCH_BUILD (build/).
# The load generator (Python) shares the machine's cores with the gateway,
# the workers and the servers: the latencies include that contention.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD=${CHIRP_BENCH_BUILD:-build}
STREAMS=${CHIRP_BENCH_STREAMS:-2000}
AUTHORS=${CHIRP_BENCH_AUTHORS:-40}
RATE=${CHIRP_BENCH_RATE:-200}
SECS=${CHIRP_BENCH_SECONDS:-20}
FANOUT_WORKERS=${CHIRP_BENCH_FANOUT_WORKERS:-2}
for v in STREAMS AUTHORS RATE SECS FANOUT_WORKERS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v=${!v} must be a positive integer" >&2; exit 2; }
done
GATEWAY=$BUILD/gateway/chirp-gateway
WORKER=$BUILD/workers/chirp-worker
[[ -x $GATEWAY && -x $WORKER ]] || { echo "bench: build first (cmake --build $BUILD)" >&2; exit 2; }

LOGS=$(mktemp -d /tmp/chirp-bench-stream.XXXXXX)
PIDS=()
STACK_STARTED=0
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ $STACK_STARTED == 1 ]] && deploy/stack.sh test stop >/dev/null 2>&1 || true
  echo "bench: logs in $LOGS" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ ${CHIRP_TEST_STACK:-0} != 1 ]]; then
  deploy/stack.sh test start >&2
  STACK_STARTED=1
  eval "$(deploy/stack.sh test env)"
  deploy/migrate.sh >/dev/null
fi
export CHIRP_PG_URL CHIRP_REDIS_URL CHIRP_AMQP_URL
export CHIRP_PWHASH=min CHIRP_RATE_READ=100000000 CHIRP_RATE_WRITE=100000000 CHIRP_RATE_LOGIN=100000000
export CHIRP_LOG_LEVEL=warn
ulimit -n "$(ulimit -Hn)"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CHIRP_HTTP_PORT=$PORT CHIRP_HTTP_BIND=127.0.0.1 "$GATEWAY" >"$LOGS/gateway.log" 2>&1 &
GW=$!
PIDS+=("$GW")
start_worker() { "$WORKER" --role "$1" >>"$LOGS/worker-$1.log" 2>&1 & PIDS+=("$!"); }
start_worker persist
start_worker notify
start_worker likes
for _ in $(seq "$FANOUT_WORKERS"); do start_worker fanout; done
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "bench: gateway $GW on port $PORT; $STREAMS streams, $AUTHORS authors, $RATE tweets/s for $SECS s" >&2
python3 tests/bench/stream_load.py "$PORT" "$GW" "$STREAMS" "$AUTHORS" "$RATE" "$SECS"
