#!/usr/bin/env bash
# tests/bench/bench_tweets.sh — the tweet benchmark: prints figures, each beside
# its reference measured in the same run on the same machine and servers.
# It is not a timed test and never fails on a figure (only on a broken run).
#
#   POST /api/v1/tweets (202 after the broker's confirm), wrk -c CONNS
#     reference: confirm_publisher, a bare C publisher with batched confirms,
#     persistent 300-byte messages, CONNS in flight (the most the gateway can
#     have with CONNS connections), on the same RabbitMQ.  Target >= 0.5.
#     Also shown: the same publisher with 1024 in flight (its best case).
#   GET /api/v1/tweets/{id} on a warm Redis (anonymous), wrk -c CONNS
#     reference: nginx serving a static file holding the same JSON bytes.
#     Target >= 0.5 (the long-term goal 0.7).  Also beside the bare ulfius server (tests/bench/
#     bare_ulfius.c: the same bytes from memory, the gateway's MHD settings
#     and thread count): the framework's ceiling.  Target >= 0.8.
#   Beside each gateway figure: Redis commands per request (INFO
#   commandstats delta, Lua's inner calls included, INFO itself excluded)
#   and Redis CPU microseconds per request (INFO cpu delta).
#
#   tests/bench/bench_tweets.sh
#   CHIRP_BENCH_THREADS="4 8 16 32 64" tests/bench/bench_tweets.sh  # sweep
#
# Settings (environment):
#   CHIRP_BENCH_THREADS      gateway CHIRP_HTTP_THREADS values, one round each (32)
#   CHIRP_BENCH_DURATION     seconds of each wrk run (10)
#   CHIRP_BENCH_CONNECTIONS  wrk connections (64); wrk threads: CHIRP_BENCH_WRK_THREADS (2)
#   CHIRP_BENCH_REF_SECONDS  seconds of each reference publisher run (5)
#   CHIRP_BENCH_ROLES        worker roles started, one worker each (as in
#                            deploy/run.sh: "persist fanout notify likes")
#   CHIRP_BENCH_WORKERS      persist workers (1)
#   CHIRP_BENCH_NGINX_WORKERS  nginx worker_processes (auto)
#   CHIRP_BENCH_STACK        bench (default), run or test. "bench" is a
#                            dedicated stack: deploy/stack.sh copied under
#                            var/bench/stack/ and run with the "test" settings
#                            on its own ports (PostgreSQL 54323, Redis 63793,
#                            AMQP 56723, dist 56733, epmd 56743, CLI
#                            56771-56780), so other people's tests (which stop
#                            and start the test stack's broker) cannot disturb
#                            it. Any stack is started (and stopped at the end)
#                            only if it was not already up.  Its ports move
#                            with CHIRP_BENCH_PG_PORT, _REDIS_PORT, _AMQP_PORT,
#                            _DIST_PORT, _EPMD_PORT, _CTL_PORT_MIN/MAX and
#                            CHIRP_BENCH_NODE (two people benchmarking at once).
#   CHIRP_BENCH_PHASES       which of "post get" to run (both)
#   CHIRP_BENCH_PORT         first port tried for the gateway and nginx (28480)
#   CHIRP_BENCH_BUILD=0      skip `cmake --build build`
#   CHIRP_BENCH_GATEWAY_BIN / CHIRP_BENCH_WORKER_BIN  other binaries to
#                            measure (e.g. a saved build of another commit)
#   CHIRP_BENCH_REV=REV      benchmark a git revision (e.g. HEAD) instead of the
#                            working tree: exported with `git archive` into
#                            var/bench/src-<commit>/ and built (RelWithDebInfo)
#                            in var/bench/build-<commit>/; `build` is untouched
#
# The gateway runs with CHIRP_LOG_LEVEL=warn, CHIRP_PWHASH=min and rate limits
# raised out of reach (CHIRP_RATE_READ/WRITE/LOGIN=100000000: every request is
# still counted in Redis, none is refused).
# Everything listens on 127.0.0.1. Files: var/bench/ (logs in var/bench/log/).
# Each round signs up a fresh account and leaves its tweets in the stack's
# database and Redis (the test stack keeps nothing on disk across restarts of
# Redis; PostgreSQL keeps them).
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$TOP"
THREADS_LIST=${CHIRP_BENCH_THREADS:-32}
DURATION=${CHIRP_BENCH_DURATION:-10}
CONNS=${CHIRP_BENCH_CONNECTIONS:-64}
WRK_THREADS=${CHIRP_BENCH_WRK_THREADS:-2}
REF_SECONDS=${CHIRP_BENCH_REF_SECONDS:-5}
REF_WINDOW_MAX=1024
WORKERS=${CHIRP_BENCH_WORKERS:-1}
ROLES=${CHIRP_BENCH_ROLES:-persist fanout notify likes}
NGINX_WORKERS=${CHIRP_BENCH_NGINX_WORKERS:-auto}
STACK=${CHIRP_BENCH_STACK:-bench}
FIRST_PORT=${CHIRP_BENCH_PORT:-28480}
PHASES=" ${CHIRP_BENCH_PHASES:-post get} "
phase() { [[ $PHASES == *" $1 "* ]]; }
DRAIN_WAIT=120 # seconds to wait for the persist worker to store every 202
BENCH=$TOP/var/bench
LOG=$BENCH/log
LUA=$TOP/tests/bench/wrk_status.lua

say() { echo "bench: $*"; }
die() {
  echo "bench: ERROR: $*" >&2
  exit 1
}

for v in DURATION CONNS WRK_THREADS REF_SECONDS WORKERS FIRST_PORT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v} must be a positive integer"
done
for t in $THREADS_LIST; do [[ $t =~ ^[1-9][0-9]*$ ]] || die "CHIRP_BENCH_THREADS: \"$t\" is not a number"; done
[[ $STACK == bench || $STACK == run || $STACK == test ]] || die "CHIRP_BENCH_STACK must be bench, run or test"
for tool in wrk nginx curl psql redis-cli; do command -v "$tool" >/dev/null || die "$tool is not installed (deploy/install-deps.sh)"; done

mkdir -p "$LOG" "$BENCH/bin"

# stack CMD — deploy/stack.sh for the chosen stack.
stack() {
  if [[ $STACK == bench ]]; then
    CHIRP_STACK_PG_PORT=${CHIRP_BENCH_PG_PORT:-54323} CHIRP_STACK_REDIS_PORT=${CHIRP_BENCH_REDIS_PORT:-63793} \
      CHIRP_STACK_AMQP_PORT=${CHIRP_BENCH_AMQP_PORT:-56723} CHIRP_STACK_DIST_PORT=${CHIRP_BENCH_DIST_PORT:-56733} \
      CHIRP_STACK_EPMD_PORT=${CHIRP_BENCH_EPMD_PORT:-56743} CHIRP_STACK_CTL_PORT_MIN=${CHIRP_BENCH_CTL_PORT_MIN:-56771} \
      CHIRP_STACK_CTL_PORT_MAX=${CHIRP_BENCH_CTL_PORT_MAX:-56780} CHIRP_STACK_NODE=${CHIRP_BENCH_NODE:-chirp-bench@localhost} \
      bash "$BENCH/stack/deploy/stack.sh" test "$1"
  else
    bash deploy/stack.sh "$STACK" "$1"
  fi
}
# The stack's state folder (pid files).
stack_var() { if [[ $STACK == bench ]]; then echo "$BENCH/stack/var/test"; else echo "$TOP/var/$STACK"; fi; }
if [[ $STACK == bench ]]; then
  mkdir -p "$BENCH/stack/deploy"
  cp deploy/stack.sh "$BENCH/stack/deploy/stack.sh"
fi

# ---- cleanup: everything we started, by pid ----------------------------------
declare -A PIDS=() # pid -> name
STACK_STARTED=0
NGINX_CONF=
NGINX_PREFIX=

stop_pid() { # stop_pid PID — TERM, wait up to 10 s, then KILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "${PIDS[$pid]:-pid $pid} did not stop in 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  unset "PIDS[$pid]"
}

nginx_stop() {
  [[ -n $NGINX_CONF && -s $NGINX_PREFIX/nginx.pid ]] || return 0
  timeout 10 nginx -p "$NGINX_PREFIX" -c "$NGINX_CONF" -s stop 2>/dev/null || true
  local i
  for ((i = 0; i < 50; i++)); do [[ -e $NGINX_PREFIX/nginx.pid ]] || break; sleep 0.1; done
  NGINX_CONF=
}

# shellcheck disable=SC2317 # (runs from the EXIT trap)
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${!PIDS[@]}"; do stop_pid "$pid"; done
  nginx_stop
  if [[ $STACK_STARTED -eq 1 ]]; then stack stop || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- (a) build ----------------------------------------------------------------
BUILD=build
if [[ -n ${CHIRP_BENCH_REV:-} ]]; then
  rev=$(git rev-parse --verify -q "${CHIRP_BENCH_REV}^{commit}") || die "no revision $CHIRP_BENCH_REV"
  BUILD=$BENCH/build-$rev
  SOURCE="commit $rev"
  if [[ ! -d $BENCH/src-$rev ]]; then
    mkdir -p "$BENCH/src-$rev.tmp"
    git archive "$rev" | tar -x -C "$BENCH/src-$rev.tmp"
    mv "$BENCH/src-$rev.tmp" "$BENCH/src-$rev"
  fi
  if [[ ${CHIRP_BENCH_BUILD:-1} != 0 || ! -f $BUILD/CMakeCache.txt ]]; then
    cmake -S "$BENCH/src-$rev" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j2
  fi
else
  SOURCE="working tree at $(git rev-parse --short HEAD) with $(git status --porcelain -uno | wc -l) modified file(s)"
  if [[ ${CHIRP_BENCH_BUILD:-1} != 0 ]]; then
    [[ -f build/CMakeCache.txt ]] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    cmake --build build -j2
  fi
fi
GATEWAY=${CHIRP_BENCH_GATEWAY_BIN:-$BUILD/gateway/chirp-gateway}
WORKER=${CHIRP_BENCH_WORKER_BIN:-$BUILD/workers/chirp-worker}
for f in "$GATEWAY" "$WORKER"; do
  [[ -x $f ]] || die "$f is not built"
done
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt")
# The reference publisher: from the CMake tree when tests/bench is wired in,
# else compiled here.
PUBLISHER=build/tests/bench/confirm_publisher
if [[ ! -x $PUBLISHER || tests/bench/confirm_publisher.c -nt $PUBLISHER ]]; then
  PUBLISHER=$BENCH/bin/confirm_publisher
  if [[ ! -x $PUBLISHER || tests/bench/confirm_publisher.c -nt $PUBLISHER ]]; then
    cc -std=c11 -O2 -Wall -Wextra -Wstrict-prototypes -Wwrite-strings -Wshadow -Werror \
      tests/bench/confirm_publisher.c -o "$PUBLISHER" -lrabbitmq
  fi
fi

BARE=$BUILD/tests/bench/bare_ulfius
if [[ ! -x $BARE || tests/bench/bare_ulfius.c -nt $BARE ]]; then
  BARE=$BENCH/bin/bare_ulfius
  if [[ ! -x $BARE || tests/bench/bare_ulfius.c -nt $BARE ]]; then
    # shellcheck disable=SC2046 # (pkg-config's words)
    cc -std=c11 -O2 -Wall -Wextra -Werror -D_DEFAULT_SOURCE tests/bench/bare_ulfius.c -o "$BARE" \
      $(pkg-config --cflags --libs libulfius libmicrohttpd) -lpthread
  fi
fi

# ---- (b) the stack ------------------------------------------------------------
if stack status >/dev/null 2>&1; then
  say "using the $STACK stack, already up (left running at the end)"
else
  STACK_STARTED=1
  stack start
fi
eval "$(stack env)" # CHIRP_PG_URL, CHIRP_REDIS_URL, CHIRP_AMQP_URL
export CHIRP_PG_URL CHIRP_REDIS_URL CHIRP_AMQP_URL
if [[ -n ${CHIRP_BENCH_REV:-} ]]; then # that revision's migrations
  bash "$BENCH/src-$rev/deploy/migrate.sh"
else
  bash deploy/migrate.sh
fi

# ---- helpers ------------------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # free_port FROM — the first port >= FROM nobody listens on
  local p=$1
  while port_open "$p"; do p=$((p + 1)); done
  echo "$p"
}

# start NAME LOG CMD... — run CMD in the background (env CHIRP_* inherited).
start() {
  local name=$1 log=$2
  shift 2
  "$@" >>"$log" 2>&1 &
  PIDS[$!]=$name
  LAST_PID=$!
}

alive() { kill -0 "$1" 2>/dev/null; }

# kv LINE KEY — the value of KEY=value in LINE.
kv() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p; s/^$2=\([^[:space:]]*\).*/\1/p" <<<"$1" | head -n1; }

# ratio A B — A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# passes A B MIN — PASS when A/B >= MIN.
passes() { awk -v a="$1" -v b="$2" -v m="$3" 'BEGIN { print (b > 0 && a / b >= m) ? "PASS" : "FAIL" }'; }

# run_wrk NAME URL METHOD EXPECT [BODYFILE TOKEN] — prints the BENCH line.
run_wrk() {
  local name=$1 url=$2 method=$3 expect=$4 body=${5:-} token=${6:-} out line
  out=$LOG/wrk-$name.txt
  if ! BENCH_METHOD=$method BENCH_EXPECT=$expect BENCH_BODY_FILE=$body BENCH_TOKEN=$token \
    timeout $((DURATION + 30)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s \
    --latency -s "$LUA" "$url" >"$out" 2>&1; then
    cat "$out" >&2
    die "wrk $name failed"
  fi
  line=$(grep '^BENCH ' "$out" | tail -n1)
  [[ -n $line ]] || { cat "$out" >&2; die "wrk $name printed no summary"; }
  echo "$line"
}

# valid LINE — "ok" when no unexpected status and no socket error, else what went wrong.
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

psql_q() { PGCONNECT_TIMEOUT=10 psql -X -q -tA -d "$CHIRP_PG_URL" -c "$1"; }

# The cost in Redis of a run: redis_snap prints "commands cpu_us" (every
# command counted by INFO commandstats, Lua's inner calls included, INFO
# itself excluded; used_cpu_sys + used_cpu_user in microseconds);
# redis_cost SNAP REQUESTS prints commands and CPU microseconds per request
# since SNAP.
redis_snap() {
  timeout 10 redis-cli -u "$CHIRP_REDIS_URL" INFO commandstats 2>/dev/null | tr -d '\r' |
    awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" { n += $3 } END { printf "%d ", n }'
  timeout 10 redis-cli -u "$CHIRP_REDIS_URL" INFO cpu 2>/dev/null | tr -d '\r' |
    awk -F: '/^used_cpu_(sys|user):/ { t += $2 } END { printf "%.0f\n", t * 1e6 }'
}
redis_cost() {
  local now
  now=$(redis_snap)
  awk -v a="$1" -v b="$now" -v n="$2" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    if (n > 0) printf "%.2f %.1f", (y[1] - x[1]) / n, (y[2] - x[2]) / n; else print "n/a n/a" }'
}

# queue_backlog BASE — messages waiting in the role queues (chirp_queue_depth of
# the gateway's /metrics, chirp.dead excluded); 0 when /metrics does not say.
queue_backlog() {
  { curl -fsS --max-time 5 "$1/metrics" 2>/dev/null || true; } |
    awk '/^chirp_queue_depth/ && !/chirp\.dead/ { n += $NF } END { print n + 0 }'
}
# dead_letters BASE — messages in chirp.dead ("?" when /metrics does not say).
dead_letters() {
  { curl -fsS --max-time 5 "$1/metrics" 2>/dev/null || true; } |
    awk '/^chirp_queue_depth\{queue="chirp\.dead"\}/ { d = $NF } END { print (d == "" ? "?" : d) }'
}

# CPU use during a run, from /proc: cpu_snap NAME:PID... records each
# process's user+system ticks and the machine's busy ticks; cpu_report prints
# how much of one CPU each used since the snapshot (100% = one core busy).
declare -A CPU0=()
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
cpu_snap() {
  local np
  CPU0=([_busy]=$(busy) [_t]=$EPOCHREALTIME)
  CPU_PIDS=("$@")
  for np in "$@"; do CPU0[$np]=$(ticks "${np#*:}"); done
}
cpu_report() {
  local np hz secs out=()
  hz=$(getconf CLK_TCK)
  secs=$(awk -v a="${CPU0[_t]}" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
  for np in "${CPU_PIDS[@]}"; do
    out+=("${np%%:*} $(awk -v d="$(($(ticks "${np#*:}") - CPU0[$np]))" -v h="$hz" -v s="$secs" \
      'BEGIN { printf "%.0f%%", 100 * d / h / s }')")
  done
  out+=("whole machine $(awk -v d="$(($(busy) - CPU0[_busy]))" -v h="$hz" -v s="$secs" -v n="$(nproc)" \
    'BEGIN { printf "%.0f%% of %d CPUs", 100 * d / h / s / n, n }')")
  local IFS=,
  echo "${out[*]}"
}

# bare_start: tests/bench/bench_lib.sh
# shellcheck source=tests/bench/bench_lib.sh
source "$TOP/tests/bench/bench_lib.sh"

# ---- nginx, the GET reference -------------------------------------------------
NGINX_PREFIX=$BENCH/nginx
NGINX_PORT=$(free_port "$FIRST_PORT")
mkdir -p "$NGINX_PREFIX/www" "$NGINX_PREFIX/tmp" "$NGINX_PREFIX/logs"
# Workers of a master started as root run as `user`: make it us, so that a
# checkout under a private folder (e.g. /root) is still readable.
nginx_user=
if [[ $EUID -eq 0 ]]; then nginx_user="user root root;"; fi
cat >"$NGINX_PREFIX/nginx.conf" <<EOF
# Written by tests/bench/bench_tweets.sh: the static-file reference.
$nginx_user
worker_processes $NGINX_WORKERS;
pid $NGINX_PREFIX/nginx.pid;
error_log $NGINX_PREFIX/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $NGINX_PREFIX/tmp/body;
  proxy_temp_path $NGINX_PREFIX/tmp/proxy;
  fastcgi_temp_path $NGINX_PREFIX/tmp/fastcgi;
  uwsgi_temp_path $NGINX_PREFIX/tmp/uwsgi;
  scgi_temp_path $NGINX_PREFIX/tmp/scgi;
  default_type application/json;
  sendfile on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $NGINX_PREFIX/www;
  }
}
EOF
NGINX_CONF=$NGINX_PREFIX/nginx.conf
echo '{}' >"$NGINX_PREFIX/www/tweet.json"
rm -f "$NGINX_PREFIX/nginx.pid"
timeout 10 nginx -p "$NGINX_PREFIX" -c "$NGINX_CONF" -e "$NGINX_PREFIX/logs/error.log" \
  || { NGINX_CONF=; die "nginx did not start (see $NGINX_PREFIX/logs/error.log)"; }
for ((i = 0; i < 50; i++)); do port_open "$NGINX_PORT" && break; sleep 0.1; done
port_open "$NGINX_PORT" || die "nginx is not listening on 127.0.0.1:$NGINX_PORT"
say "nginx (worker_processes $NGINX_WORKERS) on 127.0.0.1:$NGINX_PORT"

# ---- the rounds: one per gateway thread count ---------------------------------
# Each reference is measured just before and just after its figure, and the
# ratio uses their mean: other load on the machine then shows as a spread
# between the two rather than as a silently wrong ratio.
GW_PORT=$(free_port $((NGINX_PORT + 1)))
TEXT=$(printf 'Benchmark tweet: %s' "$(printf 'lorem ipsum dolor sit amet, %.0s' {1..7})")
TEXT=${TEXT:0:200}
printf '{"text": "%s"}' "$TEXT" >"$BENCH/post_body.json"

# background_load — % of the machine busy over 1 s (before a run: load that is
# not ours makes the figures noisy).
background_load() {
  local b0 b1 hz
  hz=$(getconf CLK_TCK)
  b0=$(busy)
  sleep 1
  b1=$(busy)
  awk -v d="$((b1 - b0))" -v h="$hz" -v n="$(nproc)" 'BEGIN { printf "%.0f%%", 100 * d / h / n }'
}

# reference_publisher WINDOW — runs confirm_publisher, prints its rate.
reference_publisher() {
  local out
  out=$("$PUBLISHER" -u "$CHIRP_AMQP_URL" -n 0 -t "$REF_SECONDS" -w "$1") ||
    die "the reference publisher failed"
  say "reference publisher, $1 in flight: $out" >&2
  kv "$out" rate
}
mean() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a + b) / 2 }'; }
# shellcheck source=tests/bench/cost_lib.sh
source "$TOP/tests/bench/cost_lib.sh"
COST_REDIS=(-u "$CHIRP_REDIS_URL")

ref_max=$(reference_publisher "$REF_WINDOW_MAX")

ROW_FMT='%-7s %-32s %9s %8s  %-26s %9s %8s %17s %5s %6s  %s\n'
declare -a ROWS=() NOTES=()
best_post_t='' best_post=0 best_get_t='' best_get=0
for T in $THREADS_LIST; do
  say "---- round: CHIRP_HTTP_THREADS=$T ----"
  gwlog=$LOG/gateway-t$T.log
  : >"$gwlog"
  CHIRP_HTTP_PORT=$GW_PORT CHIRP_HTTP_BIND=127.0.0.1 CHIRP_HTTP_THREADS=$T \
    CHIRP_LOG_LEVEL=warn CHIRP_PWHASH=min CHIRP_RATE_READ=100000000 \
    CHIRP_RATE_WRITE=100000000 CHIRP_RATE_LOGIN=100000000 \
    start gateway "$gwlog" "$GATEWAY"
  gw_pid=$LAST_PID
  worker_pids=() worker_logs=()
  for role in $ROLES; do
    n=1
    [[ $role != persist ]] || n=$WORKERS
    for ((w = 1; w <= n; w++)); do
      worker_logs+=("$LOG/worker-t$T-$role-$w.log")
      : >"${worker_logs[-1]}"
      CHIRP_LOG_LEVEL=warn start "$role worker $w" "${worker_logs[-1]}" "$WORKER" --role "$role"
      worker_pids+=("$LAST_PID")
    done
  done
  base=http://127.0.0.1:$GW_PORT
  procs=("gateway:$gw_pid")
  for pid in "${worker_pids[@]}"; do procs+=("${PIDS[$pid]%% *}:$pid"); done
  rabbit_pid=$(tr -dc '0-9' <"$(stack_var)/rabbit/rabbit.pid" 2>/dev/null || true)
  redis_pid=$(tr -dc '0-9' <"$(stack_var)/redis/redis.pid" 2>/dev/null || true)
  [[ -z $rabbit_pid ]] || procs+=("rabbitmq:$rabbit_pid")
  [[ -z $redis_pid ]] || procs+=("redis:$redis_pid")
  ready=0
  for ((i = 0; i < 300; i++)); do
    if curl -fsS -o /dev/null --max-time 2 "$base/readyz" 2>/dev/null; then ready=1; break; fi
    alive "$gw_pid" || { tail -n 20 "$gwlog" >&2; die "the gateway exited at start-up"; }
    sleep 0.2
  done
  [[ $ready -eq 1 ]] || { tail -n 20 "$gwlog" >&2; die "the gateway was not ready in 60 s"; }
  sleep 0.5
  for ((w = 0; w < ${#worker_pids[@]}; w++)); do
    alive "${worker_pids[w]}" || { tail -n 20 "${worker_logs[w]}" >&2; die "${PIDS[${worker_pids[w]}]} exited at start-up"; }
  done

  # (d) a fresh account
  user=bench_${T}_$$_$RANDOM
  signup=$(curl -sS --max-time 10 -w '\n%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"username\":\"$user\",\"email\":\"$user@bench.invalid\",\"password\":\"bench-password-1\"}" \
    "$base/api/v1/accounts")
  [[ ${signup##*$'\n'} == 201 ]] || die "sign-up answered ${signup##*$'\n'}: ${signup%$'\n'*}"
  [[ $signup =~ \"token\":\"([^\"]+)\" ]] || die "no token in the sign-up answer: $signup"
  token=${BASH_REMATCH[1]}
  [[ $signup =~ \"account\":\{\"id\":\"?([0-9]+) ]] || die "no account id in: $signup"
  account=${BASH_REMATCH[1]}

  if phase post; then
    # (e) reference publisher, POST, reference publisher
    bg_post=$(background_load)
    ref_a=$(reference_publisher "$CONNS")
    COST_BASE=$base
    cost_snap
    cpu_snap "${procs[@]}"
    post=$(run_wrk "post-t$T" "$base/api/v1/tweets" POST 202 "$BENCH/post_body.json" "$token")
    post_cpu=$(cpu_report)
    say "POST: $post"
    say "POST CPU: $post_cpu"
    alive "$gw_pid" || { tail -n 30 "$gwlog" >&2; die "the gateway died during the POST run"; }

    # Every 202 must end up in PostgreSQL: wait (bounded) for the workers until
    # the count reaches the 202s wrk saw and stops growing (wrk does not see
    # the answers to the requests in flight when it stops, up to one per
    # connection, so a few more may be stored) and, when /metrics tells queue
    # depths, every role's queue is empty.
    accepted=$(kv "$post" statuses | tr ',' '\n' | sed -n 's/^202://p')
    accepted=${accepted:-0}
    t0=$EPOCHREALTIME stored=0 prev=-1 drain_t=$EPOCHREALTIME backlog=0
    for ((i = 0; i < DRAIN_WAIT * 2; i++)); do
      stored=$(psql_q "select count(*) from tweets where author_id = $account")
      backlog=$(queue_backlog "$base")
      if [[ $stored -ne $prev ]]; then
        prev=$stored drain_t=$EPOCHREALTIME
      elif [[ $stored -ge $accepted && $backlog -eq 0 ]]; then
        break
      fi
      sleep 0.5
    done
    drain=$(awk -v a="$t0" -v b="$drain_t" 'BEGIN { printf "%.1f", b - a }')
    say "persisted $stored of $accepted accepted tweets ${drain} s after the POST run; $backlog message(s) left in the role queues"
    dead=$(dead_letters "$base")
    post_cost=$(cost_report "$stored" "stored tweet (POST and every worker, until drained)")
    say "POST cost: $post_cost"
    ref_b=$(reference_publisher "$CONNS")

  fi
  # (f) one tweet, warmed, then GET against nginx and bare ulfius serving the same bytes
  if phase get; then
  created=$(curl -sS --max-time 10 -w '\n%{http_code}' -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $token" --data-binary @"$BENCH/post_body.json" "$base/api/v1/tweets")
  [[ ${created##*$'\n'} == 202 ]] || die "creating the GET tweet answered ${created##*$'\n'}"
  [[ $created =~ \"id\":\"?([0-9]+) ]] || die "no tweet id in: $created"
  tid=${BASH_REMATCH[1]}
  curl -fsS --max-time 10 -o "$BENCH/tweet.json" "$base/api/v1/tweets/$tid" ||
    die "GET of tweet $tid failed"
  cp "$BENCH/tweet.json" "$NGINX_PREFIX/www/tweet.json"
  size=$(wc -c <"$BENCH/tweet.json")
  nsize=$(curl -fsS --max-time 10 "http://127.0.0.1:$NGINX_PORT/tweet.json" | wc -c)
  [[ $nsize -eq $size ]] || die "nginx serves $nsize bytes, the gateway $size"
  bare_start "$T" "$BENCH/tweet.json" $((GW_PORT + 1))
  bsize=$(curl -fsS --max-time 10 "http://127.0.0.1:$BARE_PORT/tweet.json" | wc -c)
  [[ $bsize -eq $size ]] || die "bare ulfius serves $bsize bytes, the gateway $size"
  for ((i = 0; i < 3; i++)); do curl -fsS -o /dev/null "$base/api/v1/tweets/$tid"; done
  bg_get=$(background_load)
  nget_a=$(run_wrk "nginx-a-t$T" "http://127.0.0.1:$NGINX_PORT/tweet.json" GET 200)
  say "GET (nginx, $nsize-byte file): $nget_a"
  bget_a=$(run_wrk "bare-a-t$T" "http://127.0.0.1:$BARE_PORT/tweet.json" GET 200)
  say "GET (bare ulfius, $bsize bytes): $bget_a"
  cpu_snap "${procs[@]}"
  rsnap=$(redis_snap)
  get=$(run_wrk "get-t$T" "$base/api/v1/tweets/$tid" GET 200)
  get_cost=$(redis_cost "$rsnap" "$(kv "$get" requests)")
  get_cpu=$(cpu_report)
  say "GET (gateway, $size-byte body): $get"
  say "GET Redis per request: $get_cost (commands, CPU us)"
  say "GET CPU: $get_cpu"
  alive "$gw_pid" || { tail -n 30 "$gwlog" >&2; die "the gateway died during the GET run"; }
  nget_b=$(run_wrk "nginx-b-t$T" "http://127.0.0.1:$NGINX_PORT/tweet.json" GET 200)
  say "GET (nginx, $nsize-byte file): $nget_b"
  bget_b=$(run_wrk "bare-b-t$T" "http://127.0.0.1:$BARE_PORT/tweet.json" GET 200)
  say "GET (bare ulfius, $bsize bytes): $bget_b"
  stop_pid "$bare_pid"
  fi

  # Problems logged under load (timestamps cut, repeats counted).
  for f in "$gwlog" "${worker_logs[@]}"; do
    warns=$(grep -c -iE 'warn|error' "$f" || true)
    if [[ $warns -gt 0 ]]; then
      NOTES+=("threads=$T: $(basename "$f" .log) logged $warns warning/error line(s): $(grep -iE 'warn|error' "$f" |
        cut -d' ' -f2- | sort | uniq -c | sort -rn | head -n 3 | sed 's/^ *//' | paste -sd '|')")
    fi
  done
  rss=$(awk '/VmRSS/ { print $2 " kB" }' "/proc/$gw_pid/status" 2>/dev/null || echo "?")
  stop_pid "$gw_pid"
  for pid in "${worker_pids[@]}"; do stop_pid "$pid"; done

  if phase post; then
  ref=$(mean "$ref_a" "$ref_b")
  post_rps=$(kv "$post" rps)
  # shellcheck disable=SC2059 # (the format is ours)
  ROWS+=("$(printf "$ROW_FMT" "$T" "POST /api/v1/tweets -> 202" "$post_rps" "$(kv "$post" p99_ms)" \
    "confirm_publisher w=$CONNS" "$ref" "-" "($ref_a/$ref_b)" "$(ratio "$post_rps" "$ref")" ">=0.50" \
    "$(passes "$post_rps" "$ref" 0.5) $(valid "$post")")")
  # shellcheck disable=SC2059
  ROWS+=("$(printf "$ROW_FMT" "" "  (same, vs. best case)" "$post_rps" "" \
    "confirm_publisher w=$REF_WINDOW_MAX" "$ref_max" "-" "" "$(ratio "$post_rps" "$ref_max")" "info" "")")
  NOTES+=("threads=$T: CPU during POST: $post_cpu")
  NOTES+=("threads=$T: POST $post_cost")
  NOTES+=("threads=$T: persisted $stored/$accepted accepted tweets, the last ${drain} s after the run; $backlog left queued; chirp.dead holds $dead")
  if awk -v a="$post_rps" -v b="$best_post" 'BEGIN { exit !(a > b) }'; then best_post=$post_rps best_post_t=$T; fi
  fi
  if phase get; then
  get_rps=$(kv "$get" rps)
  nget=$(mean "$(kv "$nget_a" rps)" "$(kv "$nget_b" rps)")
  nget_p99=$(mean "$(kv "$nget_a" p99_ms)" "$(kv "$nget_b" p99_ms)")
  bget=$(mean "$(kv "$bget_a" rps)" "$(kv "$bget_b" rps)")
  bget_p99=$(mean "$(kv "$bget_a" p99_ms)" "$(kv "$bget_b" p99_ms)")
  # shellcheck disable=SC2059
  ROWS+=("$(printf "$ROW_FMT" "" "GET /api/v1/tweets/{id} ${size}B" "$get_rps" "$(kv "$get" p99_ms)" \
    "nginx static, wp=$NGINX_WORKERS" "$nget" "$nget_p99" "($(kv "$nget_a" rps)/$(kv "$nget_b" rps))" \
    "$(ratio "$get_rps" "$nget")" ">=0.50" \
    "$(passes "$get_rps" "$nget" 0.5) $(valid "$get") nginx:$(valid "$nget_a")/$(valid "$nget_b")")")
  # shellcheck disable=SC2059
  ROWS+=("$(printf "$ROW_FMT" "" "  (same, vs. bare ulfius)" "$get_rps" "" \
    "bare ulfius, threads=$T" "$bget" "$bget_p99" "($(kv "$bget_a" rps)/$(kv "$bget_b" rps))" \
    "$(ratio "$get_rps" "$bget")" ">=0.80" \
    "$(passes "$get_rps" "$bget" 0.8) bare:$(valid "$bget_a")/$(valid "$bget_b")")")
  read -r gcmd gcpu <<<"$get_cost"
  # shellcheck disable=SC2059
  ROWS+=("$(printf "$ROW_FMT" "" "  (same: Redis cmds/req, CPU us/req)" "$gcmd" "" "" "$gcpu" "" "" "" "info" "")")
  NOTES+=("threads=$T: CPU during GET: $get_cpu")
  if awk -v a="$get_rps" -v b="$best_get" 'BEGIN { exit !(a > b) }'; then best_get=$get_rps best_get_t=$T; fi
  fi
  NOTES+=("threads=$T: machine load before the runs (not ours): ${bg_post:-} before POST, ${bg_get:-} before GET; gateway RSS $rss at the end")
done
nginx_stop

# ---- (g) the table -------------------------------------------------------------
echo
echo "Chirp tweet benchmark — $(date -u '+%Y-%m-%d %H:%M:%SZ'), $(nproc) CPUs; $SOURCE, build type $BUILD_TYPE"
echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s on loopback; workers: $ROLES ($WORKERS persist); $STACK stack; nginx worker_processes $NGINX_WORKERS."
echo "Reference publisher: ${REF_SECONDS}-s runs of persistent 300-byte messages, before and after the POST run (ref = mean)."
echo "nginx: before and after the gateway's GET run (ref = mean). Rates in req/s or msg/s, p99 in ms."
echo "\"ok\" = every answer had the expected status and no socket error; otherwise the figure is INVALID."
echo
# shellcheck disable=SC2059
printf "$ROW_FMT" threads figure "req/s" "p99 ms" reference "ref/s" "ref p99" "(before/after)" ratio target result
for r in "${ROWS[@]}"; do printf '%s\n' "$r"; done
echo
for n in "${NOTES[@]}"; do echo "note: $n"; done
echo "best gateway thread count: POST $best_post_t ($best_post req/s), GET $best_get_t ($best_get req/s)"
