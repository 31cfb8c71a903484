#!/usr/bin/env bash
# tests/bench/bench_mixed.sh — a mixed load through HAProxy and two gateways, and in
# the same run the same load through HAProxy over one gateway: sustained req/s,
# p50/p99, the ratio, and afterwards a check that every tweet answered 202 is in
# PostgreSQL. It prints figures and never fails on a figure (only on a broken run
# or a missing tweet).
#
#   tests/bench/bench_mixed.sh
#   CHIRP_BENCH_DURATION=30 CHIRP_BENCH_CONNECTIONS=128 tests/bench/bench_mixed.sh
#
# Load (tests/bench/mixed_wrk.lua): 60 % GET /api/v1/feed (home feed, 20 items),
# 30 % GET /api/v1/accounts/{id}/tweets (user timeline, 20 items), 10 % POST
# /api/v1/tweets, each by a random one of 10 000 accounts with its own token.
# The accounts, their sessions, a power-law follow graph (a few accounts with
# thousands of followers, most with tens or fewer) and 3 seed tweets each are
# written with psql COPY by tests/bench/mixed_setup.py.
#
# Runs, each wrk -t$WRK_THREADS -c$CONNS: a short warm-up (feeds and timelines
# rebuilt into Redis, not reported); then the mixed load for DURATION s through
# HAProxy over both gateways (port 8000) and through a second HAProxy over
# gateway 1 only (port 8001, same configuration); then each kind alone for
# KIND_DURATION s on both, for per-kind latency (wrk reports one latency
# distribution per run, so the per-kind p50/p99 come from these single-kind runs;
# the mixed run gives the sustained rate and its overall p50/p99).
#
# Settings (environment):
#   CHIRP_BENCH_DURATION        seconds of each mixed run (20)
#   CHIRP_BENCH_KIND_DURATION   seconds of each single-kind run (10; 0 skips them)
#   CHIRP_BENCH_CONNECTIONS     wrk connections (64); CHIRP_BENCH_WRK_THREADS (2)
#   CHIRP_BENCH_ACCOUNTS        accounts created (10000)
#   CHIRP_BENCH_WARMUP          seconds of the warm-up (45): every account's feed and
#                               timeline read once, then /healthz until the end
#   CHIRP_CLUSTER_STACK         the cluster's stack (default here: cluster, the
#                               dedicated one; see deploy/cluster.sh)
#   CHIRP_BENCH_ONE_PORT / CHIRP_BENCH_ONE_STATS  the one-gateway HAProxy's port
#                               (8001) and stats address (127.0.0.1:8405); with
#                               CHIRP_CLUSTER_STACK=run, CHIRP_STACK_*_PORT,
#                               CHIRP_CLUSTER_GATEWAYS, CHIRP_LB_PORT and
#                               CHIRP_LB_STATS_BIND move everything else
# A cluster that is already up is used as it is (and left running); otherwise it
# is started here with CHIRP_LOG_LEVEL=warn and CHIRP_LB_LOG_LEVEL=notice (no log
# line per request) and stopped at the end. Files: var/cluster/bench/.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$TOP"
export CHIRP_CLUSTER_STACK=${CHIRP_CLUSTER_STACK:-cluster}
CLUSTER=$TOP/deploy/cluster.sh
DURATION=${CHIRP_BENCH_DURATION:-20}
KIND_DURATION=${CHIRP_BENCH_KIND_DURATION:-10}
CONNS=${CHIRP_BENCH_CONNECTIONS:-64}
WRK_THREADS=${CHIRP_BENCH_WRK_THREADS:-2}
ACCOUNTS=${CHIRP_BENCH_ACCOUNTS:-10000}
WARMUP=${CHIRP_BENCH_WARMUP:-45}
ONE_PORT=${CHIRP_BENCH_ONE_PORT:-8001}
ONE_STATS=${CHIRP_BENCH_ONE_STATS:-127.0.0.1:8405}
DRAIN_WAIT=180
OUT=$TOP/var/cluster/bench
LUA=$TOP/tests/bench/mixed_wrk.lua
# shellcheck source=tests/bench/bench_lib.sh
source "$TOP/tests/bench/bench_lib.sh"

say() { echo "bench: $*"; }
die() {
  echo "bench: ERROR: $*" >&2
  exit 1
}
for v in DURATION KIND_DURATION CONNS WRK_THREADS ACCOUNTS WARMUP; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v} must be a number"
done
for tool in wrk haproxy psql python3 curl; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
rm -rf "$OUT"
mkdir -p "$OUT"

started=0
one_pid=
# shellcheck disable=SC2317 # (runs from the EXIT trap)
finish() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $one_pid ]]; then
    kill -TERM "$one_pid" 2>/dev/null || true
    wait "$one_pid" 2>/dev/null || true
  fi
  if [[ $started -eq 1 ]]; then bash "$CLUSTER" stop >/dev/null || true; fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if bash "$CLUSTER" status >/dev/null 2>&1; then
  say "using the running cluster (left running at the end)"
else
  started=1
  CHIRP_LOG_LEVEL=${CHIRP_LOG_LEVEL:-warn} CHIRP_LB_LOG_LEVEL=${CHIRP_LB_LOG_LEVEL:-notice} \
    bash "$CLUSTER" start
fi
eval "$(bash "$CLUSTER" env)" # CHIRP_PG_URL, CHIRP_LB_URL, ...
LB2=$CHIRP_LB_URL
LB1=http://127.0.0.1:$ONE_PORT

# ---- the population -----------------------------------------------------------
python3 "$TOP/tests/bench/mixed_setup.py" "$CHIRP_PG_URL" "$OUT" --accounts "$ACCOUNTS" | sed 's/^/bench: /'

# ---- HAProxy over gateway 1 only: the cluster's configuration, one server --------
awk '/^[[:space:]]*server gw[0-9]+ / && $2 != "gw1" { next } { print }' \
  "$TOP/var/cluster/haproxy.cfg" >"$OUT/haproxy-1gw.cfg"
export CHIRP_LB_ERRORS=$TOP/deploy/haproxy-errors
CHIRP_LB_BIND=127.0.0.1 CHIRP_LB_PORT=$ONE_PORT CHIRP_LB_STATS_BIND=$ONE_STATS CHIRP_LB_LOG_LEVEL=notice \
  haproxy -q -c -f "$OUT/haproxy-1gw.cfg" || die "haproxy-1gw.cfg does not pass haproxy -c"
(exec 3<>"/dev/tcp/127.0.0.1/$ONE_PORT") 2>/dev/null && die "port $ONE_PORT is already in use"
CHIRP_LB_BIND=127.0.0.1 CHIRP_LB_PORT=$ONE_PORT CHIRP_LB_STATS_BIND=$ONE_STATS CHIRP_LB_LOG_LEVEL=notice \
  haproxy -db -f "$OUT/haproxy-1gw.cfg" >"$OUT/haproxy-1gw.log" 2>&1 &
one_pid=$!
for ((i = 0; i < 50; i++)); do
  curl -fsS -o /dev/null --max-time 2 "$LB1/readyz" 2>/dev/null && break
  sleep 0.2
done
curl -fsS -o /dev/null --max-time 2 "$LB1/readyz" || die "HAProxy over gateway 1 ($LB1) is not ready"

# ---- runs ------------------------------------------------------------------------
kv() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<"$1" | head -n1; }

# run NAME URL KIND SECONDS — one wrk run; prints its BENCH line.
run() {
  local name=$1 url=$2 kind=$3 secs=$4 out line
  out=$OUT/wrk-$name.txt
  MIXED_ACCOUNTS=$OUT/accounts.lua MIXED_KIND=$kind MIXED_THREADS=$WRK_THREADS MIXED_IDS=$OUT/ids-$name \
    timeout $((secs + 60)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${secs}s" --timeout 10s --latency \
    -s "$LUA" "$url" >"$out" 2>&1 &
  WRK_PID=$!
  sleep 1
  # shellcheck disable=SC2046 # (one word per group:pid)
  ticks_by_group $(our_pids) "wrk:$(pgrep -P "${WRK_PID:-0}" wrk | head -n1)" >"$OUT/ticks-$name.a"
  local t0=$EPOCHREALTIME
  sleep $((secs - 2))
  # shellcheck disable=SC2046 # (one word per group:pid)
  ticks_by_group $(our_pids) "wrk:$(pgrep -P "${WRK_PID:-0}" wrk | head -n1)" >"$OUT/ticks-$name.b"
  cpu_share "$OUT/ticks-$name.a" "$OUT/ticks-$name.b" \
    "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" >"$OUT/cpu-$name.txt"
  cpu_total "$OUT/ticks-$name.a" "$OUT/ticks-$name.b" \
    "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" >"$OUT/cputotal-$name.txt"
  wait "$WRK_PID" || { cat "$out" >&2; die "wrk $name failed"; }
  line=$(grep '^BENCH ' "$out" | tail -n1)
  [[ -n $line ]] || { cat "$out" >&2; die "wrk $name printed no summary"; }
  echo "$line"
}

# The cluster's processes and the second HAProxy (CPU by group: tests/bench/bench_lib.sh).
our_pids() {
  cluster_pids
  echo "haproxy:$one_pid"
}

declare -A R=()
# Warm-up: every account's home feed and timeline read once (rebuilt from
# PostgreSQL into Redis, as after a Redis loss), then the figures are steady state.
say "warm-up: every account's feed and timeline once, ${WARMUP} s (not reported)"
run warmup "$LB2" warm "$WARMUP" >/dev/null
for target in 2:"$LB2" 1:"$LB1"; do
  n=${target%%:*} url=${target#*:}
  read -r b0 t0 < <(cpu_busy)
  R[mixed$n]=$(run "mixed-${n}gw" "$url" mixed "$DURATION")
  read -r b1 t1 < <(cpu_busy)
  R[cpu$n]=$(awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" -v n="$(nproc)" -v ours="$(<"$OUT/cputotal-mixed-${n}gw.txt")" \
    'BEGIN { printf "%.0f%% of %d CPUs; ours %d%% of one core, others about %.0f%%", 100 * b / t, n, ours, 100 * n * b / t - ours }')
  say "mixed, $n gateway(s): ${R[mixed$n]} (machine busy ${R[cpu$n]})"
  say "  CPU (100% = one core): $(<"$OUT/cpu-mixed-${n}gw.txt")"
done
if [[ $KIND_DURATION -gt 0 ]]; then
  for kind in feed timeline post; do
    for target in 2:"$LB2" 1:"$LB1"; do
      n=${target%%:*} url=${target#*:}
      R[$kind$n]=$(run "$kind-${n}gw" "$url" "$kind" "$KIND_DURATION")
      say "$kind alone, $n gateway(s): ${R[$kind$n]}"
    done
  done
fi

# ---- every 202 in PostgreSQL --------------------------------------------------------
cat "$OUT"/ids-*.txt 2>/dev/null | sort -u >"$OUT/accepted.txt" || true
accepted=$(wc -l <"$OUT/accepted.txt")
posts_seen=0
for k in "${!R[@]}"; do
  [[ $k == cpu* ]] && continue
  posts_seen=$((posts_seen + $(kv "${R[$k]}" posts)))
done
warm_posts=$(kv "$(grep '^BENCH ' "$OUT/wrk-warmup.txt")" posts)
posts_seen=$((posts_seen + warm_posts))
t0=$EPOCHREALTIME
missing=$accepted
for ((i = 0; i < DRAIN_WAIT; i++)); do
  missing=$(
    {
      echo "CREATE TEMP TABLE a (id bigint);"
      echo "COPY a FROM STDIN;"
      cat "$OUT/accepted.txt"
      echo '\.'
      echo "SELECT count(*) FROM a WHERE NOT EXISTS (SELECT 1 FROM tweets t WHERE t.id = a.id);"
    } | psql -X -q -tA -v ON_ERROR_STOP=1 -d "$CHIRP_PG_URL"
  )
  [[ $missing -eq 0 ]] && break
  sleep 1
done
drain=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

# ---- the table ------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
valid() {
  local l=$1 bad=() k
  [[ $(kv "$l" unexpected) == 0 ]] || bad+=("statuses $(kv "$l" statuses)")
  for k in connect read write timeout; do
    [[ $(kv "$l" "errors_$k") == 0 ]] || bad+=("$k errors $(kv "$l" "errors_$k")")
  done
  if [[ ${#bad[@]} -eq 0 ]]; then echo ok; else
    local IFS=';'
    echo "INVALID(${bad[*]})"
  fi
}
echo
echo "Chirp mixed benchmark — $(date -u '+%Y-%m-%d %H:%M:%SZ'), $(nproc) CPUs shared by wrk, HAProxy, gateways, workers and servers"
sed -n 1,2p "$OUT/population.txt"
echo "wrk -t$WRK_THREADS -c$CONNS; mixed runs ${DURATION} s, single-kind runs ${KIND_DURATION} s; gateways CHIRP_HTTP_THREADS=${CHIRP_HTTP_THREADS:-32 (default)}; workers $(bash "$CLUSTER" status 2>/dev/null | grep -c 'worker-.* up ')"
echo
FMT='%-34s %10s %9s %9s %9s  %s\n'
# shellcheck disable=SC2059 # (the format is ours)
printf "$FMT" "run" "req/s" "p50 ms" "p99 ms" "ratio" "statuses / validity"
for kind in mixed feed timeline post; do
  [[ -n ${R[${kind}2]:-} ]] || continue
  for n in 2 1; do
    l=${R[$kind$n]}
    label="$kind, HAProxy over $n gateway(s)"
    [[ $kind == mixed ]] && label="mixed 60/30/10, $n gateway(s)"
    r=""
    [[ $n == 2 ]] && r=$(ratio "$(kv "$l" rps)" "$(kv "${R[${kind}1]}" rps)")
    # shellcheck disable=SC2059
    printf "$FMT" "$label" "$(kv "$l" rps)" "$(kv "$l" p50_ms)" "$(kv "$l" p99_ms)" "${r:-}" \
      "$(kv "$l" statuses) $(valid "$l")"
  done
done
echo
echo "ratio = req/s through HAProxy over 2 gateways / over 1 gateway, same run, same machine."
echo "machine CPU busy during the mixed runs: 2 gateways ${R[cpu2]}, 1 gateway ${R[cpu1]}."
echo "CPU by process group, mixed over 2 gateways (100% = one core): $(<"$OUT/cpu-mixed-2gw.txt")"
echo "CPU by process group, mixed over 1 gateway: $(<"$OUT/cpu-mixed-1gw.txt")"
echo "tweets answered 202: $accepted ids recorded (wrk counted $posts_seen); missing in PostgreSQL: $missing (checked until ${drain} s after the runs)"
[[ $missing -eq 0 ]] || die "$missing tweets answered 202 are not in PostgreSQL after $DRAIN_WAIT s"
