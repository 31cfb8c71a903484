#!/usr/bin/env bash
# tests/chaos/chaos.sh — faults under a steady mixed load through HAProxy, then a
# check that every acknowledged write is in PostgreSQL and visible through the API
# exactly once (see tests/chaos/chaos.py for the load, the faults and the checks).
#
#   tests/chaos/chaos.sh                  # about 2 minutes; exit status 0 = passed
#   tests/chaos/chaos.sh --rate 300       # arguments go to chaos.py (--threads, --gap, ...)
#
# The topology is deploy/cluster.sh's (2 gateways, workers persist:2 fanout:2 notify:1
# likes:1, HAProxy on 127.0.0.1:8000). By default on the dedicated "cluster" stack
# (CHIRP_CLUSTER_STACK=cluster: its own ports, so restarting its broker and flushing
# its Redis disturbs nobody); CHIRP_CLUSTER_STACK=run uses the run stack instead.
# A cluster that is already up is used as it is and left running; otherwise it is
# started here (with CHIRP_LIKES_FLUSH_AGE_MS=5000 unless set, so that the like
# batcher's writes can be checked within seconds) and stopped at the end, stack
# included if this script started it. Loopback only; bounded by CHIRP_CHAOS_TIMEOUT
# (600 s) for the Python part.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$TOP"
export CHIRP_CLUSTER_STACK=${CHIRP_CLUSTER_STACK:-cluster}
CLUSTER=$TOP/deploy/cluster.sh
started=0

# shellcheck disable=SC2317 # (runs from the EXIT trap)
finish() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ $started -eq 1 ]]; then bash "$CLUSTER" stop || true; fi
  echo "chaos: exit status $rc"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in python3 psql redis-cli curl haproxy; do
  command -v "$tool" >/dev/null || { echo "chaos: ERROR: $tool is not installed" >&2; exit 1; }
done
if bash "$CLUSTER" status >/dev/null 2>&1; then
  echo "chaos: using the running cluster (left running at the end)"
else
  started=1
  CHIRP_LIKES_FLUSH_AGE_MS=${CHIRP_LIKES_FLUSH_AGE_MS:-5000} CHIRP_LOG_LEVEL=${CHIRP_LOG_LEVEL:-warn} \
    bash "$CLUSTER" start
fi
timeout "${CHIRP_CHAOS_TIMEOUT:-600}" python3 "$TOP/tests/chaos/chaos.py" "$@"
