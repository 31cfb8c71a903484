#!/usr/bin/env bash
# tests/e2e/run_through_haproxy.sh — the end-to-end suite's HTTP tests through
# HAProxy and deploy/cluster.sh's two gateways, with gateway 1 SIGKILLed halfway
# through the run (it stays down: the second half runs on gateway 2 alone).
#
#   tests/e2e/run_through_haproxy.sh                 # every tests/e2e/test_*.py
#   tests/e2e/run_through_haproxy.sh test_tweets.py  # some files
#
# The harness (chirp_harness.py) starts a gateway and workers of its own per test
# class. Here a small shim, written by this script into var/cluster/, patches the
# harness at run time instead of editing it: Stack.start points the tests at
# HAProxy (port CHIRP_LB_PORT) and starts nothing; the cluster's workers do the
# work. A test that needs a process of its own is skipped, not failed: one that
# calls start_worker / start_gateway / workers_of (SIGSTOP, kill -9 of its own
# worker) or stack_cmd (stops the broker), and a class whose ENV/worker_env asks
# for a setting the cluster does not have. Tests read PostgreSQL and Redis
# through CHIRP_PG_URL / CHIRP_REDIS_URL, exported here as the cluster's.
#
# The cluster runs on its dedicated stack (CHIRP_CLUSTER_STACK=cluster) with the
# test suite's settings: CHIRP_PWHASH=min, CHIRP_LIKES_FLUSH_AGE_MS=500, rate
# budgets of 100000000 (as tests/run.sh gives the suite), CHIRP_TRUST_FORWARDED=1.
# A cluster already running is stopped first (its settings may differ) and the
# one started here is stopped at the end. Exit status 0 only if every file passed.
# CHIRP_E2E_KILL_AFTER (5) seconds into the middle file, gateway 1 is killed.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$TOP"
export CHIRP_CLUSTER_STACK=${CHIRP_CLUSTER_STACK:-cluster}
CLUSTER=$TOP/deploy/cluster.sh
KILL_AFTER=${CHIRP_E2E_KILL_AFTER:-5}
OUT=$TOP/var/cluster/e2e
mkdir -p "$OUT"

if [[ $# -gt 0 ]]; then
  files=()
  for f in "$@"; do files+=("$TOP/tests/e2e/$(basename "$f")"); done
else
  files=("$TOP"/tests/e2e/test_*.py)
fi

# shellcheck disable=SC2317 # (runs from the EXIT trap)
finish() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -z ${killer:-} ]] || kill "$killer" 2>/dev/null || true
  bash "$CLUSTER" stop || true
  echo "e2e via haproxy: exit status $rc"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if bash "$CLUSTER" status >/dev/null 2>&1; then
  echo "e2e via haproxy: stopping the running cluster (it is restarted with the suite's settings)"
  bash "$CLUSTER" stop
fi
CHIRP_PWHASH=min CHIRP_LIKES_FLUSH_AGE_MS=500 CHIRP_LOG_LEVEL=${CHIRP_LOG_LEVEL:-info} \
  CHIRP_RATE_READ=100000000 CHIRP_RATE_WRITE=100000000 CHIRP_RATE_LOGIN=100000000 \
  CHIRP_TRUST_FORWARDED=1 bash "$CLUSTER" start

# The tests' environment: the cluster's settings and URLs.
set -a
# shellcheck disable=SC1091
source "$TOP/var/cluster/env"
set +a
eval "$(bash "$CLUSTER" env)"
export CHIRP_E2E_LB_PORT=${CHIRP_LB_URL##*:}
export CHIRP_E2E_LB_LOG=$TOP/var/cluster/log/haproxy.log
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

cat >"$OUT/via_haproxy.py" <<'EOF'
"""Written by tests/e2e/run_through_haproxy.sh: runs one e2e test file with the
harness pointed at HAProxy (see the script's header)."""
import os
import runpy
import sys
import unittest

sys.dont_write_bytecode = True
test = os.path.abspath(sys.argv[1])
sys.path.insert(0, os.path.dirname(test))
import chirp_harness as h  # noqa: E402

PORT = int(os.environ["CHIRP_E2E_LB_PORT"])


class Balancer:
    """Stands for the harness's gateway process: HAProxy and the cluster."""
    name = "haproxy"
    log = os.environ.get("CHIRP_E2E_LB_LOG", "")
    killed = False
    pid = None
    p = None

    def alive(self):
        return True

    def stop(self, timeout=30):
        return None


def start(self, ready_timeout=15.0):
    wanted = dict(self.extra_env)
    wanted.update(self.worker_env)
    differ = sorted(k for k, v in wanted.items() if os.environ.get(k) != str(v))
    if differ:
        raise unittest.SkipTest("needs its own gateway/workers with %s (not the cluster's "
                                "settings)" % ", ".join("%s=%s" % (k, wanted[k]) for k in differ))
    self.port = PORT
    self.gateway = Balancer()
    self.wait_ready(ready_timeout)
    return self


def own_process(*args, **kwargs):
    raise unittest.SkipTest("controls a gateway, worker or broker of its own: not through HAProxy")


h.Stack.start = start
h.Stack.start_gateway = own_process
h.Stack.start_worker = own_process
h.Stack.workers_of = own_process
h.stack_cmd = own_process
sys.argv = [test] + sys.argv[2:]
runpy.run_path(test, run_name="__main__")
EOF

half=$((${#files[@]} / 2))
declare -a RESULTS=()
rc=0
killer=
for i in "${!files[@]}"; do
  f=${files[$i]}
  name=$(basename "$f" .py)
  if [[ $i -eq $half ]]; then
    echo "e2e via haproxy: gateway 1 will be killed $KILL_AFTER s into $name"
    (sleep "$KILL_AFTER" && bash "$CLUSTER" kill-gateway 1 && echo "e2e via haproxy: gateway 1 killed") &
    killer=$!
  fi
  echo "===== $name"
  t0=$EPOCHREALTIME
  set +e
  timeout 600 python3 "$OUT/via_haproxy.py" "$f" >"$OUT/$name.log" 2>&1
  frc=$?
  set -e
  secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
  ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\}.*/\1/p' "$OUT/$name.log" | tail -n1)
  verdict=$(grep -E '^(OK|FAILED)' "$OUT/$name.log" | tail -n1)
  skipped=$(grep -c '\.\.\. skipped' "$OUT/$name.log" || true)
  [[ $frc -eq 0 ]] || rc=1
  RESULTS+=("$(printf '%-22s %-5s ran %3s, skipped %3s  %4ss  %s' "$name" \
    "$([[ $frc -eq 0 ]] && echo pass || echo FAIL)" "${ran:-?}" "$skipped" "$secs" "${verdict:-exit $frc}")")
  tail -n 3 "$OUT/$name.log"
  if [[ $i -eq $half && -n $killer ]]; then wait "$killer" || true; killer=; fi
done

echo
down=$({ bash "$CLUSTER" status 2>/dev/null || true; } | awk '$NF == "down" { print $2 }' | paste -sd' ')
echo "e2e through HAProxy (gateway 1 killed during file $((half + 1)) of ${#files[@]}; down at the end: ${down:-none}):"
printf '  %s\n' "${RESULTS[@]}"
echo "logs: var/cluster/e2e/<file>.log; HAProxy: var/cluster/log/haproxy.log"
grep -h -E '^(FAIL|ERROR):' "$OUT"/test_*.log 2>/dev/null | sed 's/^/  /' | head -n 40 || true
exit "$rc"
