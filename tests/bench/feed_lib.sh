# shellcheck shell=bash disable=SC2034 # (variables used by the scripts that source this file)
# tests/bench/feed_lib.sh — shared by tests/bench/bench_feed.sh and
# tests/bench/bench_likes.sh (sourced, not run): the build, a dedicated
# loopback stack, process bookkeeping, nginx, wrk and table helpers.
# (Modelled on tests/bench/bench_tweets.sh.)
#
# The stack is deploy/stack.sh copied under var/bench/fl-stack/ and run with
# the "test" settings (no fsync, Redis without persistence) on its own ports:
# PostgreSQL 54325, Redis 63795, AMQP 56725, dist 56735, epmd 56745, CLI
# 56781-56790, node chirp-flbench@localhost (CHIRP_BENCH_FL_PG_PORT, _REDIS_PORT,
# _AMQP_PORT, _DIST_PORT, _EPMD_PORT, _CTL_PORT_MIN/_MAX, CHIRP_BENCH_FL_NODE
# move them).  It is ours alone, so each run
# starts from an empty database, Redis and queues (fl_reset).  It is started
# if down and then stopped at the end (CHIRP_BENCH_KEEP_STACK=1 leaves it up).
#
# Settings common to both scripts:
#   CHIRP_BENCH_BUILD=0       do not (re)build var/bench/fl-build
#   CHIRP_BENCH_PORT          first port tried for the gateway and nginx (28580)
#   CHIRP_BENCH_KEEP_STACK=1  leave the stack running at the end
#   CHIRP_BENCH_GATEWAY_BIN / CHIRP_BENCH_WORKER_BIN  other binaries to
#                             measure (e.g. a patched build), instead of
#                             var/bench/fl-build's

FL_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
BENCH=$FL_TOP/var/bench
LOG=$BENCH/fl-log
FL_BIN=$BENCH/fl-bin
FL_BUILD=$BENCH/fl-build
FL_STACK=$BENCH/fl-stack
# (Moved with CHIRP_BENCH_FL_PG_PORT, _REDIS_PORT, _AMQP_PORT, _DIST_PORT,
# _EPMD_PORT, _CTL_PORT_MIN/MAX and CHIRP_BENCH_FL_NODE.)
FL_PG_PORT=${CHIRP_BENCH_FL_PG_PORT:-54325} FL_REDIS_PORT=${CHIRP_BENCH_FL_REDIS_PORT:-63795}
FL_AMQP_PORT=${CHIRP_BENCH_FL_AMQP_PORT:-56725}
FIRST_PORT=${CHIRP_BENCH_PORT:-28580}
RATE_BIG=100000000

say() { echo "bench: $*" >&2; }
die() {
  echo "bench: ERROR: $*" >&2
  exit 1
}
mkdir -p "$LOG" "$FL_BIN"
# A run's process logs start empty (each start appends: a role started in
# several phases keeps one log), so the warnings noted are this run's.
rm -f "$LOG"/worker-*.log "$LOG"/gateway-*.log "$LOG"/bare-*.log

# ---- processes we start, stopped by pid at exit --------------------------------
declare -A PIDS=()
STACK_STARTED=0
NGINX_CONF=
NGINX_PREFIX=$BENCH/fl-nginx

stop_pid() { # stop_pid PID — TERM, wait up to 10 s, then KILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || { unset "PIDS[$pid]"; return 0; }
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

stack() {
  CHIRP_STACK_PG_PORT=$FL_PG_PORT CHIRP_STACK_REDIS_PORT=$FL_REDIS_PORT \
    CHIRP_STACK_AMQP_PORT=$FL_AMQP_PORT CHIRP_STACK_DIST_PORT=${CHIRP_BENCH_FL_DIST_PORT:-56735} \
    CHIRP_STACK_EPMD_PORT=${CHIRP_BENCH_FL_EPMD_PORT:-56745} \
    CHIRP_STACK_CTL_PORT_MIN=${CHIRP_BENCH_FL_CTL_PORT_MIN:-56781} \
    CHIRP_STACK_CTL_PORT_MAX=${CHIRP_BENCH_FL_CTL_PORT_MAX:-56790} \
    CHIRP_STACK_NODE=${CHIRP_BENCH_FL_NODE:-chirp-flbench@localhost} bash "$FL_STACK/deploy/stack.sh" test "$1"
}

# shellcheck disable=SC2317 # (runs from the EXIT trap)
fl_cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${!PIDS[@]}"; do stop_pid "$pid"; done
  nginx_stop
  if [[ $STACK_STARTED -eq 1 && ${CHIRP_BENCH_KEEP_STACK:-0} != 1 ]]; then stack stop >&2 || true; fi
  exit "$rc"
}
trap fl_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME LOG CMD... — CMD in the background; its pid in LAST_PID.
start() {
  local name=$1 log=$2
  shift 2
  "$@" >>"$log" 2>&1 &
  PIDS[$!]=$name
  LAST_PID=$!
}
alive() { kill -0 "$1" 2>/dev/null; }
# bare_start THREADS FILE FROM_PORT (BARE_PORT, bare_pid): tests/bench/bench_lib.sh
# shellcheck source=tests/bench/bench_lib.sh
source "$FL_TOP/tests/bench/bench_lib.sh"

# ---- build ---------------------------------------------------------------------
fl_build() {
  for tool in wrk nginx curl psql redis-cli redis-benchmark gcc cmake; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
  done
  if [[ -z ${CHIRP_BENCH_GATEWAY_BIN:-} && ( ${CHIRP_BENCH_BUILD:-1} != 0 || ! -x $FL_BUILD/gateway/chirp-gateway ) ]]; then
    if [[ ! -f $FL_BUILD/CMakeCache.txt ]]; then
      cmake -S "$FL_TOP" -B "$FL_BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g >/dev/null
    fi
    cmake --build "$FL_BUILD" -j2 --target chirp-gateway chirp-worker >"$LOG/build.log" 2>&1 ||
      { tail -n 30 "$LOG/build.log" >&2; die "the build failed (the tree may be mid-edit)"; }
  fi
  GATEWAY=${CHIRP_BENCH_GATEWAY_BIN:-$FL_BUILD/gateway/chirp-gateway}
  WORKER=${CHIRP_BENCH_WORKER_BIN:-$FL_BUILD/workers/chirp-worker}
  [[ -x $GATEWAY && -x $WORKER ]] || die "gateway/worker not built in $FL_BUILD"
  FEED_LOAD=$FL_BIN/feed_load
  if [[ ! -x $FEED_LOAD || $FL_TOP/tests/bench/feed_load.c -nt $FEED_LOAD ]]; then
    gcc -std=c11 -O2 -Wall -Wextra -Wshadow -Werror -o "$FEED_LOAD" \
      "$FL_TOP/tests/bench/feed_load.c" -lhiredis -lrabbitmq -lpthread || die "feed_load.c"
  fi
  BARE=$FL_BIN/bare_ulfius
  if [[ ! -x $BARE || $FL_TOP/tests/bench/bare_ulfius.c -nt $BARE ]]; then
    # shellcheck disable=SC2046 # (pkg-config's words)
    gcc -std=c11 -O2 -Wall -Wextra -Werror -D_DEFAULT_SOURCE -o "$BARE" "$FL_TOP/tests/bench/bare_ulfius.c" \
      $(pkg-config --cflags --libs libulfius libmicrohttpd) -lpthread || die "bare_ulfius.c"
  fi
  SOURCE="gateway $GATEWAY, worker $WORKER; working tree at $(git -C "$FL_TOP" rev-parse --short HEAD) ($(git -C "$FL_TOP" status --porcelain -uno | wc -l) modified file(s)), Release -O3 -g"
}

# ---- the dedicated stack, emptied ----------------------------------------------
fl_stack_up() {
  mkdir -p "$FL_STACK/deploy"
  cp "$FL_TOP/deploy/stack.sh" "$FL_STACK/deploy/stack.sh"
  if stack status >/dev/null 2>&1; then
    say "using the bench stack already up on PostgreSQL $FL_PG_PORT / Redis $FL_REDIS_PORT / AMQP $FL_AMQP_PORT"
  else
    STACK_STARTED=1
    stack start >&2
  fi
  eval "$(stack env)"
  export CHIRP_PG_URL CHIRP_REDIS_URL CHIRP_AMQP_URL
  REDIS_PID=$(tr -dc '0-9' <"$FL_STACK/var/test/redis/redis.pid" 2>/dev/null || true)
  RABBIT_PID=$(tr -dc '0-9' <"$FL_STACK/var/test/rabbit/rabbit.pid" 2>/dev/null || true)
}

rcli() { timeout 60 redis-cli -h 127.0.0.1 -p "$FL_REDIS_PORT" "$@"; }
psql_q() { PGCONNECT_TIMEOUT=10 psql -X -q -tA -v ON_ERROR_STOP=1 -d "$CHIRP_PG_URL" -c "$1"; }
psql_f() { PGCONNECT_TIMEOUT=10 psql -X -q -tA -v ON_ERROR_STOP=1 -d "$CHIRP_PG_URL" "$@"; }
QUEUES=(chirp.persist chirp.fanout chirp.notify chirp.likes chirp.dead)

# fl_reset — empty database (re-migrated), Redis and queues (deleted: the
# processes declare them afresh, with this version's arguments).  Called
# before any Chirp process of the run starts.
fl_reset() {
  local admin=${CHIRP_PG_URL%/*}/postgres
  PGCONNECT_TIMEOUT=10 psql -X -q -d "$admin" -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS chirp WITH (FORCE)" -c "CREATE DATABASE chirp" >/dev/null ||
    die "cannot recreate the database"
  bash "$FL_TOP/deploy/migrate.sh" >"$LOG/migrate.log" 2>&1 || { cat "$LOG/migrate.log" >&2; die "migrations failed"; }
  rcli FLUSHALL >/dev/null
  "$FEED_LOAD" delete -a "$CHIRP_AMQP_URL" "${QUEUES[@]}" >"$LOG/purge.log" 2>&1 ||
    { cat "$LOG/purge.log" >&2; die "cannot delete the queues"; }
}

# SQL pieces.  Tokens are 43 characters of [a-z0-9] (well-formed base64url),
# stored as the hex SHA-256 like chirp_session_create does.
TOKEN_SQL="'bench' || lpad(i::text, 38, '0')"
token_of() { printf 'bench%038d' "$1"; }

# sql_accounts LO HI [SESSIONS=1] — accounts LO..HI (ids), with sessions.
sql_accounts() {
  cat <<EOF
INSERT INTO accounts (id, username, email, password_hash, display_name)
  SELECT i, 'u' || i, 'u' || i || '@bench.invalid', 'x', 'Bench user ' || i
  FROM generate_series($1, $2) i;
EOF
  if [[ ${3:-1} == 1 ]]; then
    cat <<EOF
INSERT INTO sessions (token_hash, account_id, expires_at)
  SELECT encode(sha256(convert_to($TOKEN_SQL, 'UTF8')), 'hex'), i, now() + interval '30 days'
  FROM generate_series($1, $2) i;
EOF
  fi
}
# A time-ordered event/tweet id for unix ms expression MS and a low part.
snowflake() { echo "((($1) - 1704067200000) << 22 | (($2) % 4194304))"; }
SQL_NOW_MS="(extract(epoch from now()) * 1000)::bigint"
# The follow counts, from the follows table (as the fan-out worker keeps them).
SQL_COUNTS="UPDATE accounts a SET followers_count = s.c FROM
  (SELECT followee_id, count(*) c FROM follows WHERE active GROUP BY 1) s WHERE a.id = s.followee_id;
UPDATE accounts a SET following_count = s.c FROM
  (SELECT follower_id, count(*) c FROM follows WHERE active GROUP BY 1) s WHERE a.id = s.follower_id;
ANALYZE;"

# ---- helpers -------------------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p=$1
  while port_open "$p"; do p=$((p + 1)); done
  echo "$p"
}
kv() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p; s/^$2=\([^[:space:]]*\).*/\1/p" <<<"$1" | head -n1; }
# The cost in Redis of a run: redis_snap prints "commands cpu_us" (every
# command INFO commandstats counts, Lua's inner calls included, INFO itself
# excluded; used_cpu_sys + used_cpu_user in microseconds); redis_cost SNAP
# REQUESTS prints commands and CPU microseconds per request since SNAP.
redis_snap() {
  rcli INFO commandstats | tr -d '\r' |
    awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" { n += $3 } END { printf "%d ", n }'
  rcli INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ { t += $2 } END { printf "%.0f\n", t * 1e6 }'
}
redis_cost() {
  local now
  now=$(redis_snap)
  awk -v a="$1" -v b="$now" -v n="$2" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    if (n > 0) printf "%.2f %.1f", (y[1] - x[1]) / n, (y[2] - x[2]) / n; else print "n/a n/a" }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mean() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a + b) / 2 }'; }
# ge A B — PASS when A >= B; lt A B — PASS when A < B (numbers).
ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "" && a + 0 >= b + 0) ? "PASS" : "FAIL" }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "" && a >= 0 && a + 0 < b + 0) ? "PASS" : "FAIL" }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "" && a >= 0 && a + 0 <= b + 0) ? "PASS" : "FAIL" }'; }

# CPU use during a run, from /proc (100% = one core busy).
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
background_load() {
  local b0 b1 hz
  hz=$(getconf CLK_TCK)
  b0=$(busy)
  sleep 1
  b1=$(busy)
  awk -v d="$((b1 - b0))" -v h="$hz" -v n="$(nproc)" 'BEGIN { printf "%.0f%%", 100 * d / h / n }'
}

# ---- gateway and workers ---------------------------------------------------------
GW_PORT=
# gateway_start THREADS [ENV=VALUE...] — a gateway on GW_PORT; pid in GW_PID.
gateway_start() {
  local t=$1 i
  shift
  GW_PORT=$(free_port $((FIRST_PORT + 1)))
  GW_LOG=$LOG/gateway-t$t.log
  : >"$GW_LOG"
  start "gateway" "$GW_LOG" env CHIRP_HTTP_PORT="$GW_PORT" CHIRP_HTTP_BIND=127.0.0.1 \
    CHIRP_HTTP_THREADS="$t" CHIRP_LOG_LEVEL=warn CHIRP_PWHASH=min CHIRP_RATE_READ=$RATE_BIG \
    CHIRP_RATE_WRITE=$RATE_BIG CHIRP_RATE_LOGIN=$RATE_BIG CHIRP_ADMIN_TOKEN=bench-admin-token-0123456789 \
    "$@" "$GATEWAY"
  GW_PID=$LAST_PID
  BASE=http://127.0.0.1:$GW_PORT
  for ((i = 0; i < 300; i++)); do
    curl -fsS -o /dev/null --max-time 2 "$BASE/readyz" 2>/dev/null && return 0
    alive "$GW_PID" || { tail -n 20 "$GW_LOG" >&2; die "the gateway exited at start-up"; }
    sleep 0.2
  done
  tail -n 20 "$GW_LOG" >&2
  die "the gateway was not ready in 60 s"
}

# worker_start ROLE N [ENV=VALUE...] — N workers; pids appended to WORKER_PIDS.
WORKER_PIDS=()
worker_start() {
  local role=$1 n=$2 w
  shift 2
  for ((w = 1; w <= n; w++)); do
    start "$role worker $w" "$LOG/worker-$role-$w.log" env CHIRP_LOG_LEVEL=warn CHIRP_NODE_ID=$((900 + ${#WORKER_PIDS[@]})) \
      "$@" "$WORKER" --role "$role"
    WORKER_PIDS+=("$role:$LAST_PID")
  done
}

# warnings LOG — what a process logged at warn/error, condensed.
warnings() {
  local n
  n=$(grep -c -iE 'warn|error' "$1" 2>/dev/null || true)
  [[ ${n:-0} -gt 0 ]] || return 0
  echo "$(basename "$1"): $n warning/error line(s): $(grep -iE 'warn|error' "$1" | cut -d' ' -f2- |
    sed 's/[0-9]\{6,\}/N/g' | sort | uniq -c | sort -rn | head -n 3 | sed 's/^ *//' | paste -sd '|')"
}

# metric NAME — a value from the gateway's /metrics (first matching line).
metric() {
  curl -fsS --max-time 10 "$BASE/metrics" | awk -v m="$1" 'index($0, m) == 1 { print $NF; exit }'
}

# ---- nginx, the static-file reference --------------------------------------------
nginx_start() {
  local i nginx_user=
  NGINX_PORT=$(free_port "$FIRST_PORT")
  mkdir -p "$NGINX_PREFIX/www" "$NGINX_PREFIX/tmp" "$NGINX_PREFIX/logs"
  if [[ $EUID -eq 0 ]]; then nginx_user="user root root;"; fi
  cat >"$NGINX_PREFIX/nginx.conf" <<EOF
# Written by tests/bench/feed_lib.sh: the static-file reference.
$nginx_user
worker_processes ${CHIRP_BENCH_NGINX_WORKERS:-auto};
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
  rm -f "$NGINX_PREFIX/nginx.pid"
  timeout 10 nginx -p "$NGINX_PREFIX" -c "$NGINX_CONF" -e "$NGINX_PREFIX/logs/error.log" ||
    { NGINX_CONF=; die "nginx did not start (see $NGINX_PREFIX/logs/error.log)"; }
  for ((i = 0; i < 50; i++)); do port_open "$NGINX_PORT" && break; sleep 0.1; done
  port_open "$NGINX_PORT" || die "nginx is not listening on 127.0.0.1:$NGINX_PORT"
}

# ---- wrk ---------------------------------------------------------------------------
WRK_LUA=$FL_TOP/tests/bench/feed_wrk.lua
# run_wrk NAME URL SECONDS [ENV=VALUE...] — the BENCH summary line of
# feed_wrk.lua (env: BENCH_METHOD, BENCH_EXPECT, BENCH_BODY_FILE,
# BENCH_TOKEN, BENCH_TOKENS_FILE).
run_wrk() {
  local name=$1 url=$2 secs=$3 out line
  shift 3
  out=$LOG/wrk-$name.txt
  if ! env BENCH_THREADS="$WRK_THREADS" "$@" timeout $((secs + 30)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${secs}s" --timeout 5s \
    --latency -s "$WRK_LUA" "$url" >"$out" 2>&1; then
    cat "$out" >&2
    die "wrk $name failed"
  fi
  line=$(grep '^BENCH ' "$out" | tail -n1)
  [[ -n $line ]] || { cat "$out" >&2; die "wrk $name printed no summary"; }
  echo "$line"
}
# valid LINE — "ok" or what went wrong (unexpected statuses, socket errors).
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

# ---- the table ------------------------------------------------------------------------
ROW_FMT='%-44s %12s  %-36s %12s %7s  %-9s %s\n'
ROWS=()
NOTES=()
row() { # row FIGURE VALUE REFERENCE REFVALUE RATIO TARGET RESULT
  # shellcheck disable=SC2059
  ROWS+=("$(printf "$ROW_FMT" "$@")")
}
print_table() {
  # shellcheck disable=SC2059
  printf "$ROW_FMT" figure value reference "ref value" ratio target result
  local r n
  for r in "${ROWS[@]}"; do printf '%s\n' "$r"; done
  echo
  for n in "${NOTES[@]}"; do echo "note: $n"; done
}
