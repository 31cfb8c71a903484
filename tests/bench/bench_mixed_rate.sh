#!/usr/bin/env bash
# tests/bench/bench_mixed_rate.sh — the mixed load at a fixed offered rate: the
# highest rate at which every kind of request keeps p99 < 50 ms, and what each
# kind costs.  It prints figures and never fails on a figure (only on a broken
# run, or a tweet answered 202 that is not in PostgreSQL exactly once).
#
#   tests/bench/bench_mixed_rate.sh
#   CHIRP_BENCH_DURATION=20 CHIRP_BENCH_SEARCH_BUDGET=300 tests/bench/bench_mixed_rate.sh
#
# Load: tests/bench/mixed_load (tests/bench/mixed_load.c), an open-loop
# generator: request i is sent at t0 + i/R whatever the server does, over
# CONNS keep-alive connections, and its latency runs from that scheduled
# moment, so a server that falls behind shows its queue in the percentiles
# (wrk's closed loop waits for the answer before the next request, which hides
# it: coordinated omission).  60 % GET /api/v1/feed (own token), 30 % GET
# /api/v1/accounts/{id}/tweets (half of them of the 200 most followed), 10 %
# POST /api/v1/tweets, each by a random one of 10 000 accounts — the same
# population as tests/bench/bench_mixed.sh (tests/bench/mixed_setup.py: a
# power-law follow graph written with COPY), through HAProxy over the
# cluster's gateways (deploy/cluster.sh).
#
# Steps:
#   1. warm-up (wrk with tests/bench/mixed_wrk.lua): every account's feed and
#      timeline once, rebuilt into Redis (not reported; repeated while a round
#      ends before the last account);
#   2. the cost of each kind alone at COST_RATE req/s for COST_DURATION s:
#      Redis commands and Redis CPU us per request (INFO commandstats / INFO
#      cpu deltas), broker messages per accepted tweet, PostgreSQL statements
#      per request (gateway and workers; tests/bench/cost_lib.sh), and CPU us
#      per request of each process group (/proc ticks);
#   3. the search: the mix at RATE_START req/s for DURATION s; a step passes
#      when every kind's p99 < P99_MS and nothing failed (every feed and
#      timeline 200, every post 202, no read error, timeout or request left
#      unsent); the rate is multiplied by RATE_FACTOR while steps pass (divided
#      while they fail), then bisected between the best pass and the lowest
#      failure until they are within RATE_PRECISION %, the rate reaches
#      RATE_MAX, or the next step would overrun SEARCH_BUDGET seconds.  Between
#      steps the workers are let drain (their delivery counters still);
#      Each step also prints how busy the whole machine was and how late the
#      generator itself noticed requests were due (its p99): on a shared machine
#      both say how much of a failure is the neighbours'.  A step that fails
#      while that lateness alone is half the bound or more is void and run
#      again at the same rate (at most VOID_RETRIES times in a row);
#   4. every tweet answered 202 is looked up in PostgreSQL (after the workers
#      drained, up to 180 s): each one there, no text of this run twice.
#
# Settings (environment):
#   CHIRP_BENCH_DURATION        seconds of each step of the search (60)
#   CHIRP_BENCH_P99_MS          the latency bound (50)
#   CHIRP_BENCH_RATE_START      first offered rate, req/s (250)
#   CHIRP_BENCH_RATE_FACTOR     step factor, an integer >= 2 (2)
#   CHIRP_BENCH_RATE_PRECISION  bisect until the bounds are this % apart (10)
#   CHIRP_BENCH_RATE_MIN / _MAX the search's bounds, req/s (10 / 20000)
#   CHIRP_BENCH_SEARCH_BUDGET   seconds the whole search may take (900)
#   CHIRP_BENCH_VOID_RETRIES    reruns of a void step, in a row (2)
#   CHIRP_BENCH_MIX             feed/timeline/post percentages (60/30/10)
#   CHIRP_BENCH_CONNECTIONS     the generator's connections (256)
#   CHIRP_BENCH_TIMEOUT         per-request timeout, s (10)
#   CHIRP_BENCH_COST_RATE       rate of the single-kind cost runs (200)
#   CHIRP_BENCH_COST_DURATION   seconds of each (10; 0 skips them)
#   CHIRP_BENCH_ACCOUNTS        accounts created (10000)
#   CHIRP_BENCH_WARMUP          seconds of a warm-up round (45; 0 skips it); rounds
#                               are repeated until one reaches the last account, at
#                               most CHIRP_BENCH_WARMUP_ROUNDS (4)
#   CHIRP_BENCH_MIXED_LOAD      the generator binary (default: compiled from
#                               tests/bench/mixed_load.c into var/cluster/bench-bin/)
#   CHIRP_CLUSTER_STACK         the cluster's stack (default here: cluster, the
#                               dedicated one); with CHIRP_CLUSTER_STACK=run,
#                               CHIRP_STACK_*_PORT, CHIRP_CLUSTER_GATEWAYS,
#                               CHIRP_LB_PORT and CHIRP_LB_STATS_BIND move
#                               everything (see deploy/cluster.sh)
# A cluster that is already up is used as it is (and left running); otherwise
# it is started here with CHIRP_LOG_LEVEL=warn and CHIRP_LB_LOG_LEVEL=notice and
# stopped at the end.  Files: var/cluster/bench-rate/ (each run's RATE lines in
# load-*.txt).  The machine's other load shows in the figures: the header line
# gives how busy it was.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$TOP"
export CHIRP_CLUSTER_STACK=${CHIRP_CLUSTER_STACK:-cluster}
CLUSTER=$TOP/deploy/cluster.sh
DURATION=${CHIRP_BENCH_DURATION:-60}
P99_MS=${CHIRP_BENCH_P99_MS:-50}
RATE_START=${CHIRP_BENCH_RATE_START:-250}
RATE_FACTOR=${CHIRP_BENCH_RATE_FACTOR:-2}
PRECISION=${CHIRP_BENCH_RATE_PRECISION:-10}
RATE_MIN=${CHIRP_BENCH_RATE_MIN:-10}
RATE_MAX=${CHIRP_BENCH_RATE_MAX:-20000}
BUDGET=${CHIRP_BENCH_SEARCH_BUDGET:-900}
MIX=${CHIRP_BENCH_MIX:-60/30/10}
CONNS=${CHIRP_BENCH_CONNECTIONS:-256}
TIMEOUT=${CHIRP_BENCH_TIMEOUT:-10}
COST_RATE=${CHIRP_BENCH_COST_RATE:-200}
COST_DURATION=${CHIRP_BENCH_COST_DURATION:-10}
ACCOUNTS=${CHIRP_BENCH_ACCOUNTS:-10000}
WARMUP=${CHIRP_BENCH_WARMUP:-45}
WARMUP_ROUNDS=${CHIRP_BENCH_WARMUP_ROUNDS:-4}
VOID_RETRIES=${CHIRP_BENCH_VOID_RETRIES:-2}
DRAIN_WAIT=180
OUT=$TOP/var/cluster/bench-rate
BIN=$TOP/var/cluster/bench-bin

say() { echo "bench: $*"; }
die() {
  echo "bench: ERROR: $*" >&2
  exit 1
}
# shellcheck source=tests/bench/bench_lib.sh
source "$TOP/tests/bench/bench_lib.sh"
# shellcheck source=tests/bench/cost_lib.sh
source "$TOP/tests/bench/cost_lib.sh"

for v in DURATION P99_MS RATE_START RATE_FACTOR PRECISION RATE_MIN RATE_MAX BUDGET CONNS TIMEOUT \
  COST_RATE COST_DURATION ACCOUNTS WARMUP WARMUP_ROUNDS VOID_RETRIES; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v} must be a number"
done
((DURATION > 0 && RATE_START > 0 && RATE_FACTOR >= 2 && PRECISION > 0 && RATE_MIN > 0 && RATE_MAX >= RATE_START)) ||
  die "need DURATION > 0, RATE_START > 0, RATE_FACTOR >= 2, PRECISION > 0, 0 < RATE_MIN, RATE_START <= RATE_MAX"
[[ $MIX =~ ^[0-9]+/[0-9]+/[0-9]+$ ]] || die "CHIRP_BENCH_MIX=$MIX is not F/T/P"
for tool in psql python3 curl redis-cli gcc; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
((WARMUP == 0)) || command -v wrk >/dev/null || die "wrk is not installed (the warm-up; CHIRP_BENCH_WARMUP=0 skips it)"

LOAD=${CHIRP_BENCH_MIXED_LOAD:-$BIN/mixed_load}
if [[ -z ${CHIRP_BENCH_MIXED_LOAD:-} && (! -x $LOAD || $TOP/tests/bench/mixed_load.c -nt $LOAD) ]]; then
  mkdir -p "$BIN"
  gcc -std=c11 -O2 -Wall -Wextra -Wshadow -Werror -o "$LOAD" "$TOP/tests/bench/mixed_load.c" ||
    die "tests/bench/mixed_load.c does not compile"
fi
[[ -x $LOAD ]] || die "no load generator at $LOAD"
rm -rf "$OUT"
mkdir -p "$OUT"

started=0
# shellcheck disable=SC2317 # (runs from the EXIT trap)
finish() {
  local rc=$?
  trap - EXIT INT TERM
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
eval "$(bash "$CLUSTER" env)" # CHIRP_PG_URL, CHIRP_REDIS_URL, CHIRP_LB_URL, ...
[[ -s $TOP/var/cluster/env ]] && eval "$(grep '^export CHIRP_CLUSTER_GATEWAYS=' "$TOP/var/cluster/env" || true)"
LB=${CHIRP_LB_URL#http://}
LB=${LB%%/*}
COST_BASE=
for p in ${CHIRP_CLUSTER_GATEWAYS:-8081 8082}; do COST_BASE+="http://127.0.0.1:$p "; done
COST_REDIS=(-u "$CHIRP_REDIS_URL")
T_START=$(date -u '+%Y-%m-%d %H:%M:%S+00')

# ---- the population -----------------------------------------------------------
python3 "$TOP/tests/bench/mixed_setup.py" "$CHIRP_PG_URL" "$OUT" --accounts "$ACCOUNTS" | sed 's/^/bench: /'

kv() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<"$1" | head -n1; }
secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }

# quiesce — wait (up to 60 s) until the workers' delivery counters stand still
# for 2 s: the previous run's fan-out and persistence are done.
quiesce() {
  local last=-1 now i still=0
  for ((i = 0; i < 60; i++)); do
    now=$(for k in $(timeout 10 redis-cli "${COST_REDIS[@]}" --scan --pattern 'chirp:m:deliveries:*' | tr -d '\r'); do
      timeout 10 redis-cli "${COST_REDIS[@]}" GET "$k" | tr -d '\r'
    done | awk '{ s += $1 } END { print s + 0 }')
    if [[ $now == "$last" ]]; then
      still=$((still + 1))
      ((still >= 2)) && return 0
    else still=0; fi
    last=$now
    sleep 1
  done
  say "the workers were still busy after 60 s"
}

# load NAME RATE SECONDS MIX — one generator run; its RATE lines in
# $OUT/load-NAME.txt, the cost line (per answered request, or per accepted
# tweet when only posts) in $OUT/cost-NAME.txt, CPU us per request by process
# group in $OUT/cpu-NAME.txt, the machine's busy share in $OUT/busy-NAME.txt.
load() {
  local name=$1 r=$2 secs=$3 mix=$4 lf=$OUT/load-$1.txt t0 b0 t_0 b1 t_1 n unit groups
  mapfile -t groups < <(cluster_pids)
  cost_snap
  ticks_by_group "${groups[@]}" >"$OUT/ticks-$name.a"
  read -r b0 t_0 < <(cpu_busy)
  t0=$EPOCHREALTIME
  "$LOAD" -u "$LB" -R "$r" -d "$secs" -c "$CONNS" -t "$TIMEOUT" -a "$OUT/accounts.lua" -m "$mix" \
    -o "$OUT/accepted-raw.txt" -s "$RANDOM" >"$lf" 2>"$OUT/load-$name.err" ||
    { cat "$OUT/load-$name.err" >&2; die "the generator failed ($name)"; }
  local wall
  wall=$(secs_since "$t0")
  read -r b1 t_1 < <(cpu_busy)
  ticks_by_group "${groups[@]}" >"$OUT/ticks-$name.b"
  awk -v b="$((b1 - b0))" -v t="$((t_1 - t_0))" -v n="$(nproc)" \
    'BEGIN { printf "%.0f%% of %d CPUs\n", (t > 0 ? 100 * b / t : 0), n }' >"$OUT/busy-$name.txt"
  grep -q '^RATE kind=all ' "$lf" || { cat "$lf" "$OUT/load-$name.err" >&2; die "the generator printed no summary ($name)"; }
  echo "$(<"$OUT/busy-$name.txt"), generator late p99 $(kv "$(grep '^RATE kind=all ' "$lf")" late_p99_ms) ms" \
    >"$OUT/busy-$name.txt"
  if [[ $mix == 0/0/100 ]]; then
    n=$(kv "$(grep '^RATE kind=post ' "$lf")" statuses | tr ',' '\n' | sed -n 's/^202://p')
    unit="accepted tweet"
  else
    n=$(kv "$(grep '^RATE kind=all ' "$lf")" "done")
    unit="request"
  fi
  n=${n:-0}
  cost_report "$n" "$unit" >"$OUT/cost-$name.txt"
  awk -v n="$n" -v hz="$(getconf CLK_TCK)" -v w="$wall" 'NR == FNR { b[$1] = $2; next }
    { d = $2 - b[$1]; if (d > 0 && n > 0) printf "%s %.0f\n", $1, d / hz * 1e6 / n }' \
    "$OUT/ticks-$name.a" "$OUT/ticks-$name.b" | sort -k2 -rn |
    awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 } END { print "" }' >"$OUT/cpu-$name.txt"
}

# verdict NAME — "pass" or "fail: why" for a step of the search.
verdict() {
  local f=$OUT/load-$1.txt l k why=() bad
  while read -r l; do
    k=$(kv "$l" kind)
    [[ $k == all ]] && continue
    awk -v a="$(kv "$l" p99_ms)" -v b="$P99_MS" 'BEGIN { exit !(a >= 0 && a < b) }' ||
      why+=("$k p99 $(kv "$l" p99_ms) ms")
    bad=$(($(kv "$l" unexpected) + $(kv "$l" errors_read) + $(kv "$l" errors_timeout) + $(kv "$l" unsent)))
    ((bad == 0)) || why+=("$k: $bad failed (statuses $(kv "$l" statuses), read errors $(kv "$l" errors_read), timeouts $(kv "$l" errors_timeout), unsent $(kv "$l" unsent))")
  done < <(grep '^RATE ' "$f")
  l=$(grep '^RATE kind=all ' "$f")
  [[ $(kv "$l" errors_connect) == 0 ]] || why+=("connect errors $(kv "$l" errors_connect)")
  if [[ ${#why[@]} -eq 0 ]]; then echo pass; else
    local IFS=';'
    echo "fail: ${why[*]}"
  fi
}

# ---- 1. warm-up ------------------------------------------------------------------------
# A round that ran out of time before the last account is run again (the
# accounts warmed already answer fast): a cold feed is rebuilt from PostgreSQL
# on its first read, hundreds of ms that are not the steady state measured.
if ((WARMUP > 0)); then
  for ((round = 1; round <= WARMUP_ROUNDS; round++)); do
    say "warm-up round $round: every account's feed and timeline once, ${WARMUP} s (not reported)"
    MIXED_ACCOUNTS=$OUT/accounts.lua MIXED_KIND=warm MIXED_THREADS=2 MIXED_IDS='' \
      timeout $((WARMUP + 60)) wrk -t2 -c64 -d"${WARMUP}s" --timeout 10s -s "$TOP/tests/bench/mixed_wrk.lua" \
      "$CHIRP_LB_URL" >"$OUT/wrk-warmup-$round.txt" 2>&1 || { cat "$OUT/wrk-warmup-$round.txt" >&2; die "the warm-up failed"; }
    n=$(kv "$(grep '^BENCH ' "$OUT/wrk-warmup-$round.txt")" requests)
    ((${n:-0} >= 2 * ACCOUNTS)) && break
    say "  it read $n of $((2 * ACCOUNTS)) feeds and timelines"
  done
  ((${n:-0} >= 2 * ACCOUNTS)) || say "the warm-up did not reach every account: some first reads in the figures are cold"
fi

# ---- 2. the cost of each kind alone ----------------------------------------------------
KINDS=(feed timeline post)
declare -A KMIX=([feed]=100/0/0 [timeline]=0/100/0 [post]=0/0/100)
if ((COST_DURATION > 0)); then
  for k in "${KINDS[@]}"; do
    quiesce
    load "cost-$k" "$COST_RATE" "$COST_DURATION" "${KMIX[$k]}"
    l=$(grep "^RATE kind=$k " "$OUT/load-cost-$k.txt")
    say "$k alone at $COST_RATE req/s: p50 $(kv "$l" p50_ms) ms, p99 $(kv "$l" p99_ms) ms, statuses $(kv "$l" statuses)"
    say "  $(<"$OUT/cost-cost-$k.txt")"
    say "  CPU us per request: $(<"$OUT/cpu-cost-$k.txt")"
  done
fi

# ---- 3. the search ---------------------------------------------------------------------
declare -a STEPS=()
best=0 best_name='' lo_fail=0 voids=0
r=$RATE_START
search_t0=$SECONDS
stop_why="bounds within ${PRECISION} %"
step=0
while :; do
  elapsed=$((SECONDS - search_t0))
  if ((elapsed + DURATION + TIMEOUT > BUDGET)); then
    stop_why="search budget (${BUDGET} s) spent"
    break
  fi
  step=$((step + 1))
  quiesce
  name=step$step
  load "$name" "$r" "$DURATION" "$MIX"
  v=$(verdict "$name")
  line=$(grep '^RATE kind=all ' "$OUT/load-$name.txt")
  # A failure while the generator itself was starved (its lateness alone
  # half the bound) says nothing about Chirp: the same rate once more.
  if [[ $v != pass ]] && ((voids < VOID_RETRIES)) &&
    awk -v a="$(kv "$line" late_p99_ms)" -v b="$P99_MS" 'BEGIN { exit !(a >= b / 2) }'; then
    voids=$((voids + 1))
    v="void (the generator itself late p99 $(kv "$line" late_p99_ms) ms): run again; ${v}"
  else
    voids=0
  fi
  ks=""
  for k in "${KINDS[@]}"; do
    kl=$(grep "^RATE kind=$k " "$OUT/load-$name.txt" || true)
    [[ -n $kl ]] && ks+=" $k $(awk -v v="$(kv "$kl" p99_ms)" 'BEGIN { printf "%.1f", v }') ms,"
  done
  STEPS+=("$r|$(kv "$line" achieved_rps)|${ks%,}|$(<"$OUT/busy-$name.txt")|$v")
  say "step $step: $r req/s offered, $(kv "$line" achieved_rps) answered/s;${ks%,} (machine $(<"$OUT/busy-$name.txt")) -> $v"
  [[ $v == void* ]] && continue
  if [[ $v == pass ]]; then
    best=$r best_name=$name
  elif ((lo_fail == 0 || r < lo_fail)); then
    lo_fail=$r
  fi
  # the next rate
  if ((lo_fail == 0)); then
    ((r >= RATE_MAX)) && { stop_why="RATE_MAX ($RATE_MAX req/s) passed"; break; }
    r=$((r * RATE_FACTOR))
    ((r > RATE_MAX)) && r=$RATE_MAX
  elif ((best == 0)); then
    ((r <= RATE_MIN)) && { stop_why="even RATE_MIN ($RATE_MIN req/s) failed"; break; }
    r=$((r / RATE_FACTOR))
    ((r < RATE_MIN)) && r=$RATE_MIN
  else
    ((lo_fail * 100 <= best * (100 + PRECISION))) && break
    r=$(((best + lo_fail) / 2))
    ((r > best && r < lo_fail)) || break
  fi
done

# ---- 4. every 202 in PostgreSQL, once ------------------------------------------------
quiesce
touch "$OUT/accepted-raw.txt"
sort "$OUT/accepted-raw.txt" >"$OUT/accepted-sorted.txt"
accepted=$(wc -l <"$OUT/accepted-sorted.txt")
dup_ids=$(uniq -d "$OUT/accepted-sorted.txt" | wc -l)
sort -u "$OUT/accepted-sorted.txt" >"$OUT/accepted.txt"
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
drain=$(secs_since "$t0")
dup_texts=$(psql -X -q -tA -v ON_ERROR_STOP=1 -d "$CHIRP_PG_URL" -c \
  "SELECT count(*) FROM (SELECT text FROM tweets WHERE text LIKE 'bench rate %' AND created_at >= '$T_START'
   GROUP BY text HAVING count(*) > 1) d")

# ---- the table --------------------------------------------------------------------------
echo
echo "Chirp mixed fixed-rate benchmark — $(date -u '+%Y-%m-%d %H:%M:%SZ'), $(nproc) CPUs shared by the generator, HAProxy, gateways, workers and servers (and whatever else runs on the machine)"
sed -n 1,2p "$OUT/population.txt"
echo "mix feed/timeline/post $MIX through HAProxy over $(wc -w <<<"$COST_BASE") gateway(s); open loop (tests/bench/mixed_load), $CONNS connections, latency from each request's scheduled send; steps of ${DURATION} s"
echo
echo "search (pass: every kind p99 < ${P99_MS} ms and nothing failed):"
FMT='  %10s %11s  %-50s %-46s %s\n'
# shellcheck disable=SC2059 # (the format is ours)
printf "$FMT" "offered/s" "answered/s" "p99 by kind" "machine busy, generator late" "result"
for s in "${STEPS[@]}"; do
  IFS='|' read -r a b c d e <<<"$s"
  # shellcheck disable=SC2059
  printf "$FMT" "$a" "$b" "${c# }" "$d" "${e:0:90}"
done
echo "  (stopped: $stop_why)"
echo
if ((best > 0)); then
  bound=""
  ((lo_fail > 0)) && bound=" (the lowest rate that failed: $lo_fail req/s)"
  echo "HIGHEST RATE with p99 < ${P99_MS} ms for every kind: $best req/s$bound"
  echo
  echo "at $best req/s, by kind:"
  FMT2='  %-9s %10s %11s %8s %8s %9s %8s %8s  %s\n'
  # shellcheck disable=SC2059
  printf "$FMT2" kind "offered/s" "answered/s" "p50 ms" "p99 ms" "p99.9 ms" "max ms" errors statuses
  while read -r l; do
    e=$(($(kv "$l" unexpected) + $(kv "$l" errors_read) + $(kv "$l" errors_timeout) + $(kv "$l" unsent)))
    # shellcheck disable=SC2059
    printf "$FMT2" "$(kv "$l" kind)" "$(kv "$l" offered_rps)" "$(kv "$l" achieved_rps)" "$(kv "$l" p50_ms)" \
      "$(kv "$l" p99_ms)" "$(kv "$l" p999_ms)" "$(kv "$l" max_ms)" "$e" "$(kv "$l" statuses)"
  done < <(grep '^RATE ' "$OUT/load-$best_name.txt")
  echo "  cost of the mix at that rate, $(<"$OUT/cost-$best_name.txt")"
  echo "  CPU us per request of the mix: $(<"$OUT/cpu-$best_name.txt")"
else
  echo "HIGHEST RATE with p99 < ${P99_MS} ms for every kind: none found ($stop_why)"
fi
if ((COST_DURATION > 0)); then
  echo
  echo "cost per request, each kind alone at $COST_RATE req/s for $COST_DURATION s (per accepted tweet for post):"
  FMT3='  %-9s %10s %12s %12s %10s %12s  %s\n'
  # shellcheck disable=SC2059
  printf "$FMT3" kind "Redis cmds" "Redis CPU us" "broker msgs" "SQL gw" "SQL workers" "CPU us by process group"
  for k in "${KINDS[@]}"; do
    c=$(<"$OUT/cost-cost-$k.txt")
    # shellcheck disable=SC2059
    printf "$FMT3" "$k" "$(sed -n 's/.*Redis commands \([^ ]*\) .*/\1/p' <<<"$c")" \
      "$(sed -n 's/.*Redis CPU \([^ ]*\) us.*/\1/p' <<<"$c")" \
      "$(sed -n 's/.*broker messages \([^ ]*\) .*/\1/p' <<<"$c")" \
      "$(sed -n 's/.*SQL statements: gateway \([^,]*\),.*/\1/p' <<<"$c")" \
      "$(sed -n 's/.*SQL statements: gateway [^,]*, workers \([^ ]*\) .*/\1/p' <<<"$c")" \
      "$(<"$OUT/cpu-cost-$k.txt")"
  done
  echo "  (Redis commands count Lua's inner calls; broker messages are the gateway's AMQP messages; SQL workers"
  echo "   are the workers' statements for what the requests caused; full lines in $OUT/cost-cost-*.txt)"
fi
echo
echo "tweets answered 202: $accepted (ids given twice: $dup_ids); missing in PostgreSQL: $missing (checked until ${drain} s after the runs); texts of this run stored twice: $dup_texts"
[[ $missing -eq 0 ]] || die "$missing tweets answered 202 are not in PostgreSQL after $DRAIN_WAIT s"
[[ $dup_ids -eq 0 && $dup_texts -eq 0 ]] || die "tweets stored more than once (ids $dup_ids, texts $dup_texts)"
