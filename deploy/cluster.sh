#!/usr/bin/env bash
# deploy/cluster.sh — the production-like topology on one machine, loopback only:
# PostgreSQL, Redis and RabbitMQ (deploy/stack.sh), migrations, N gateways, several
# workers of each role (competing consumers), and HAProxy in front.
#
#   deploy/cluster.sh start                 start what is not running; wait for HAProxy's /readyz
#   deploy/cluster.sh stop                  stop HAProxy, gateways, workers (by pid); the stack
#                                           only if `start` started it
#   deploy/cluster.sh stop-all              the same, and always stop the stack
#   deploy/cluster.sh status                every process up/down, HAProxy's view of the gateways
#   deploy/cluster.sh env                   `export` lines: the stack's URLs and CHIRP_LB_URL
#   deploy/cluster.sh kill-gateway N        SIGKILL gateway N (1-based)
#   deploy/cluster.sh restart-gateway N     (SIGTERM if alive,) start it again, wait until HAProxy
#                                           sees it UP
#   deploy/cluster.sh kill-worker ROLE [I]  SIGKILL worker I (default 1) of ROLE
#   deploy/cluster.sh restart-worker ROLE [I]
#                                           without I: start every worker of ROLE that is not
#                                           running; with I: (SIGTERM and) start worker I
#   deploy/cluster.sh heal                  start every process of the topology that is not running
#   deploy/cluster.sh stack CMD             deploy/stack.sh for the cluster's stack (stop-rabbit,
#                                           start-rabbit, status, env, ...)
#
# Environment (defaults in brackets):
#   CHIRP_CLUSTER_STACK     run: the "run" stack of deploy/stack.sh (ports 54321, 63791, 56721)
#                           cluster: a dedicated stack with the run stack's settings on its own
#                           ports (PostgreSQL 54324, Redis 63794, AMQP 56724, dist 56734, epmd
#                           56744, CLI 56781-56790), state under var/cluster/stack/ — for tests
#                           that restart the broker or FLUSHALL Redis without disturbing anyone
#                           using the run stack  [run]
#   CHIRP_CLUSTER_GATEWAYS  gateway ports, space-separated  ["8081 8082"]
#   CHIRP_CLUSTER_WORKERS   ROLE:COUNT list  ["persist:2 fanout:2 notify:1 likes:1"]
#   CHIRP_CLUSTER_NODE_BASE CHIRP_NODE_ID of gateway i is BASE+i, of worker i of the r-th role
#                           BASE+100+20r+i (r from 0; distinct, and the same after a restart) [100]
#   CHIRP_LB_PORT           HAProxy's frontend on 127.0.0.1  [8000]
#   CHIRP_LB_STATS_BIND     HAProxy's stats page  [127.0.0.1:8404]
#   CHIRP_LB_LOG_LEVEL      info logs every request to var/cluster/log/haproxy.log, notice only
#                           errors and server state changes  [info]
#   CHIRP_GATEWAY_BIN, CHIRP_WORKER_BIN  binaries  [build/gateway/chirp-gateway, ...]
#   CHIRP_READY_TIMEOUT     seconds `start` waits for /readyz through HAProxy  [60]
#   CHIRP_ADMIN_TOKEN       else var/cluster/admin_token (created once, mode 600)
#   CHIRP_TRUST_FORWARDED   the gateways take the client address (rate limits) from
#                           X-Forwarded-For, which HAProxy overwrites  [1]
#   Every other CHIRP_* variable (CHIRP_HTTP_THREADS, CHIRP_LOG_LEVEL, CHIRP_PWHASH, ...) is
#   passed to the gateways and workers as it is, and saved in var/cluster/env (mode 600) by
#   `start`: restart-gateway, restart-worker and heal reuse it (a variable set in their own
#   environment wins). The stack's URLs are always the stack's.
#
# Files: var/cluster/pids/NAME.pid, var/cluster/log/NAME.log (NAME = gateway-N,
# worker-ROLE-I, haproxy), var/cluster/haproxy.cfg (rendered from deploy/haproxy.cfg),
# var/cluster/stack.started (present when `start` started the stack).
# Processes are started in their own session (setsid): Ctrl-C in the terminal that ran
# `start` does not reach them; `stop` ends them by pid (SIGTERM, SIGKILL after 15 s).
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$TOP"
CL=$TOP/var/cluster
PIDS=$CL/pids
LOG=$CL/log
load_saved_env() {
  local line v
  [[ -s $CL/env ]] || return 0
  while IFS= read -r line; do
    v=${line#export }
    v=${v%%=*}
    [[ $v =~ ^CHIRP_[A-Z0-9_]+$ ]] || continue
    [[ -n ${!v+x} ]] || eval "$line"
  done <"$CL/env"
}
# Every command but `start` runs with the settings `start` saved.
[[ ${1:-} == start ]] || load_saved_env

STACK=${CHIRP_CLUSTER_STACK:-run}
read -r -a GW_PORTS <<<"${CHIRP_CLUSTER_GATEWAYS:-8081 8082}"
read -r -a WORKER_SPEC <<<"${CHIRP_CLUSTER_WORKERS:-persist:2 fanout:2 notify:1 likes:1}"
NODE_BASE=${CHIRP_CLUSTER_NODE_BASE:-100}
LB_PORT=${CHIRP_LB_PORT:-8000}
STATS_BIND=${CHIRP_LB_STATS_BIND:-127.0.0.1:8404}
GATEWAY_BIN=${CHIRP_GATEWAY_BIN:-$TOP/build/gateway/chirp-gateway}
WORKER_BIN=${CHIRP_WORKER_BIN:-$TOP/build/workers/chirp-worker}
READY_WAIT=${CHIRP_READY_TIMEOUT:-60}
LB_URL=http://127.0.0.1:$LB_PORT

say() { echo "cluster: $*"; }
die() {
  echo "cluster: ERROR: $*" >&2
  exit 1
}

[[ $STACK == run || $STACK == cluster ]] || die "CHIRP_CLUSTER_STACK must be run or cluster"
[[ ${#GW_PORTS[@]} -ge 1 ]] || die "CHIRP_CLUSTER_GATEWAYS is empty"
for p in "${GW_PORTS[@]}" "$LB_PORT" "$NODE_BASE"; do
  [[ $p =~ ^[0-9]+$ ]] || die "\"$p\" is not a number (CHIRP_CLUSTER_GATEWAYS / CHIRP_LB_PORT / CHIRP_CLUSTER_NODE_BASE)"
done
ROLES=() COUNTS=()
for spec in "${WORKER_SPEC[@]}"; do
  [[ $spec =~ ^(persist|fanout|notify|likes):([0-9]+)$ ]] ||
    die "CHIRP_CLUSTER_WORKERS: \"$spec\" is not ROLE:COUNT (roles persist fanout notify likes)"
  ROLES+=("${BASH_REMATCH[1]}")
  COUNTS+=("${BASH_REMATCH[2]}")
done
((NODE_BASE + ${#GW_PORTS[@]} <= 1023 && NODE_BASE + 100 + 20 * ${#ROLES[@]} <= 1023)) ||
  die "CHIRP_CLUSTER_NODE_BASE=$NODE_BASE leaves node ids above 1023"

# ---- the stack ------------------------------------------------------------------
# stack CMD — deploy/stack.sh for the chosen stack. The dedicated "cluster" stack
# is deploy/stack.sh copied under var/cluster/stack/ (so its state lives there)
# and run with the run stack's settings on its own ports.
stack() {
  if [[ $STACK == cluster ]]; then
    mkdir -p "$CL/stack/deploy"
    cp "$TOP/deploy/stack.sh" "$CL/stack/deploy/stack.sh"
    CHIRP_STACK_PG_PORT=54324 CHIRP_STACK_REDIS_PORT=63794 CHIRP_STACK_AMQP_PORT=56724 \
      CHIRP_STACK_DIST_PORT=56734 CHIRP_STACK_EPMD_PORT=56744 CHIRP_STACK_CTL_PORT_MIN=56781 \
      CHIRP_STACK_CTL_PORT_MAX=56790 CHIRP_STACK_NODE=chirp-cluster@localhost \
      bash "$CL/stack/deploy/stack.sh" run "$1"
  else
    bash "$TOP/deploy/stack.sh" run "$1"
  fi
}

load_stack_env() {
  eval "$(stack env)" # CHIRP_PG_URL, CHIRP_REDIS_URL, CHIRP_AMQP_URL
  export CHIRP_PG_URL CHIRP_REDIS_URL CHIRP_AMQP_URL
}

# ---- processes ----------------------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# comm_of NAME — the process name a live NAME must have.
comm_of() {
  case $1 in
    gateway-*) echo chirp-gateway ;;
    worker-*) echo chirp-worker ;;
    haproxy) echo haproxy ;;
  esac
}

# pid_of NAME — print NAME's pid if it is alive (and is what we started), else fail.
pid_of() {
  local f=$PIDS/$1.pid pid
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  pid=${pid//[^0-9]/}
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == "$(comm_of "$1")" ]] || return 1
  echo "$pid"
}

# wait_gone PID SECONDS
wait_gone() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# launch NAME CMD... — start CMD in its own session, log to var/cluster/log/NAME.log,
# record its pid. The environment is the caller's (set per process by the callers).
launch() {
  local name=$1 pid
  shift
  [[ -x $1 ]] || die "$1 is not built (cmake --build build)"
  echo "---- $(date -u '+%Y-%m-%dT%H:%M:%SZ') cluster.sh starts $name: $*" >>"$LOG/$name.log"
  setsid "$@" </dev/null >>"$LOG/$name.log" 2>&1 &
  pid=$!
  echo "$pid" >"$PIDS/$name.pid"
  say "started $name (pid $pid, log var/cluster/log/$name.log)"
}

# stop_name NAME [SIGNAL] — SIGTERM (or SIGNAL) by pid; SIGKILL after 15 s.
stop_name() {
  local name=$1 sig=${2:-TERM} pid
  if pid=$(pid_of "$name"); then
    kill -"$sig" "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 15; then
      say "$name (pid $pid) did not stop in 15 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || true
    fi
    say "stopped $name (pid $pid, SIG$sig)"
  fi
  rm -f "$PIDS/$name.pid"
}

gw_name() { echo "gateway-$1"; }

start_gateway() { # start_gateway N (1-based)
  local n=$1 port=${GW_PORTS[$(($1 - 1))]} name
  name=$(gw_name "$n")
  pid_of "$name" >/dev/null && return 0
  port_open "$port" && die "port $port (gateway $n) is already used by another process"
  CHIRP_HTTP_BIND=127.0.0.1 CHIRP_HTTP_PORT=$port CHIRP_NODE_ID=$((NODE_BASE + n)) \
    CHIRP_TRUST_FORWARDED=${CHIRP_TRUST_FORWARDED:-1} launch "$name" "$GATEWAY_BIN"
}

start_worker() { # start_worker ROLE I
  local role=$1 i=$2 r name
  name=worker-$role-$i
  pid_of "$name" >/dev/null && return 0
  for r in "${!ROLES[@]}"; do [[ ${ROLES[$r]} == "$role" ]] && break; done
  CHIRP_NODE_ID=$((NODE_BASE + 100 + 20 * r + i)) launch "$name" "$WORKER_BIN" --role "$role"
}

count_of() { # count_of ROLE — workers of ROLE in the topology
  local r
  for r in "${!ROLES[@]}"; do
    if [[ ${ROLES[$r]} == "$1" ]]; then
      echo "${COUNTS[$r]}"
      return 0
    fi
  done
  echo 0
}

render_haproxy() {
  local servers="" n
  for n in "${!GW_PORTS[@]}"; do
    servers+="    server gw$((n + 1)) 127.0.0.1:${GW_PORTS[$n]}"$'\n'
  done
  awk -v servers="$servers" '
    /# gateways: begin/ { print; printf "%s", servers; skip = 1; next }
    /# gateways: end/ { skip = 0 }
    !skip { print }' "$TOP/deploy/haproxy.cfg" >"$CL/haproxy.cfg.new"
  CHIRP_LB_PORT=$LB_PORT CHIRP_LB_STATS_BIND=$STATS_BIND CHIRP_LB_ERRORS=$TOP/deploy/haproxy-errors \
    haproxy -q -c -f "$CL/haproxy.cfg.new" || die "the rendered $CL/haproxy.cfg.new does not pass haproxy -c"
  mv "$CL/haproxy.cfg.new" "$CL/haproxy.cfg"
}

start_haproxy() {
  pid_of haproxy >/dev/null && return 0
  command -v haproxy >/dev/null || die "haproxy is not installed (deploy/install-deps.sh)"
  port_open "$LB_PORT" && die "port $LB_PORT (HAProxy) is already used by another process"
  port_open "${STATS_BIND##*:}" && die "port ${STATS_BIND##*:} (HAProxy stats) is already used"
  render_haproxy
  # -db: stay in the foreground (one process, its pid is ours), log to stderr.
  CHIRP_LB_BIND=127.0.0.1 CHIRP_LB_PORT=$LB_PORT CHIRP_LB_STATS_BIND=$STATS_BIND \
    CHIRP_LB_ERRORS=$TOP/deploy/haproxy-errors launch haproxy "$(command -v haproxy)" -db -f "$CL/haproxy.cfg"
}

# lb_status BACKEND SERVER — HAProxy's status of one server (UP, DOWN, ...).
lb_status() {
  curl -fsS --max-time 2 "http://$STATS_BIND/stats;csv" 2>/dev/null |
    awk -F, -v b="$1" -v s="$2" '$1 == b && $2 == s { print $18 }'
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

all_names() {
  local n r i
  for n in "${!GW_PORTS[@]}"; do gw_name $((n + 1)); done
  for r in "${!ROLES[@]}"; do
    for ((i = 1; i <= COUNTS[r]; i++)); do echo "worker-${ROLES[$r]}-$i"; done
  done
  echo haproxy
}

# A process of ours that died: its name and the end of its log.
check_alive() {
  local name
  for name in $(all_names); do
    if ! pid_of "$name" >/dev/null; then
      echo "cluster: ERROR: $name is not running; last lines of var/cluster/log/$name.log:" >&2
      tail -n 20 "$LOG/$name.log" >&2 || true
      return 1
    fi
  done
}

start_all() {
  local n r i t0=$EPOCHREALTIME
  mkdir -p "$PIDS" "$LOG"
  if stack status >/dev/null 2>&1; then
    say "the $STACK stack is already up: using it (stop leaves it running)"
  else
    # A first RabbitMQ boot here once failed with {error,address} in its
    # distribution-port check and came up at the next try: one more try.
    stack start || { say "the stack did not start; trying once more"; stack start; }
    [[ -e $CL/stack.started ]] || echo "$STACK" >"$CL/stack.started"
  fi
  load_stack_env
  bash "$TOP/deploy/migrate.sh"
  if [[ -z ${CHIRP_ADMIN_TOKEN:-} ]]; then
    if [[ ! -s $CL/admin_token ]]; then
      (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$CL/admin_token")
    fi
    chmod 600 "$CL/admin_token"
    CHIRP_ADMIN_TOKEN=$(<"$CL/admin_token")
  fi
  export CHIRP_ADMIN_TOKEN
  save_env
  for n in "${!GW_PORTS[@]}"; do start_gateway $((n + 1)); done
  for r in "${!ROLES[@]}"; do
    for ((i = 1; i <= COUNTS[r]; i++)); do start_worker "${ROLES[$r]}" "$i"; done
  done
  start_haproxy
  for ((i = 0; i < READY_WAIT * 5; i++)); do
    if http_ok "$LB_URL/readyz"; then
      say "ready at $LB_URL/ in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s" \
        "(${#GW_PORTS[@]} gateways, workers ${WORKER_SPEC[*]}; stats http://$STATS_BIND/stats)"
      return 0
    fi
    check_alive || exit 1
    sleep 0.2
  done
  die "$LB_URL/readyz did not answer 200 within $READY_WAIT s (logs in var/cluster/log/)"
}

stop_all() { # stop_all [always-stack]
  local name
  mkdir -p "$PIDS" "$LOG"
  # HAProxy first (no new requests), then the gateways, then the workers
  # (each finishes the batch in hand; anything unacked is redelivered).
  stop_name haproxy
  for name in $(all_names); do [[ $name == gateway-* ]] && stop_name "$name"; done
  for name in $(all_names); do [[ $name == worker-* ]] && stop_name "$name"; done
  # Anything else we recorded (e.g. from a larger topology started before).
  for f in "$PIDS"/*.pid; do
    [[ -e $f ]] || continue
    stop_name "$(basename "$f" .pid)"
  done
  if [[ ${1:-} == always-stack || -e $CL/stack.started ]]; then
    stack stop
    rm -f "$CL/stack.started"
  else
    say "the $STACK stack was not started by cluster.sh: left running (stop-all stops it)"
  fi
}

status_all() {
  local name pid rc=0 n
  stack status || rc=1
  for name in $(all_names); do
    if pid=$(pid_of "$name"); then
      printf 'cluster: %-18s up    pid %s\n' "$name" "$pid"
    else
      printf 'cluster: %-18s down\n' "$name"
      rc=1
    fi
  done
  if pid_of haproxy >/dev/null; then
    for n in "${!GW_PORTS[@]}"; do
      printf 'cluster: haproxy sees gw%d (127.0.0.1:%s): ready-check %s, alive-check %s\n' $((n + 1)) \
        "${GW_PORTS[$n]}" "$(lb_status gateways gw$((n + 1)))" "$(lb_status gateways_alive gw$((n + 1)))"
    done
    if http_ok "$LB_URL/readyz"; then say "$LB_URL/readyz: 200"; else say "$LB_URL/readyz: not 200"; rc=1; fi
  fi
  return $rc
}

# The CHIRP_* settings `start` ran with (the admin token among them) are kept in
# var/cluster/env (mode 600), so that restart-*, heal and a later start from
# another shell give restarted processes the same configuration. The stack's
# URLs are not kept: they always come from the stack. A variable set in the
# caller's environment wins over the saved one.
save_env() {
  local v
  (
    umask 077
    for v in $(compgen -e | grep '^CHIRP_' || true); do
      case $v in CHIRP_PG_URL | CHIRP_REDIS_URL | CHIRP_AMQP_URL) continue ;; esac
      printf 'export %s=%q\n' "$v" "${!v}"
    done >"$CL/env"
  )
}
gateway_index() { # validate N
  [[ $1 =~ ^[0-9]+$ && $1 -ge 1 && $1 -le ${#GW_PORTS[@]} ]] ||
    die "gateway number must be 1..${#GW_PORTS[@]}"
}

restart_gateway() {
  local n=$1 i st
  gateway_index "$n"
  load_stack_env
  stop_name "$(gw_name "$n")"
  for ((i = 0; i < 50; i++)); do # the port free again (a killed gateway's socket closes with it)
    port_open "${GW_PORTS[$((n - 1))]}" || break
    sleep 0.1
  done
  start_gateway "$n"
  for ((i = 0; i < READY_WAIT * 5; i++)); do
    pid_of "$(gw_name "$n")" >/dev/null || { tail -n 20 "$LOG/$(gw_name "$n").log" >&2; die "gateway $n exited"; }
    if http_ok "http://127.0.0.1:${GW_PORTS[$((n - 1))]}/readyz"; then
      if ! pid_of haproxy >/dev/null; then return 0; fi
      st=$(lb_status gateways "gw$n")
      if [[ $st == UP* ]]; then
        say "gateway $n ready and UP in HAProxy"
        return 0
      fi
    fi
    sleep 0.2
  done
  die "gateway $n not ready (or not UP in HAProxy) within $READY_WAIT s"
}

restart_worker() { # restart_worker ROLE [I]
  local role=$1 i count
  count=$(count_of "$role")
  [[ $count -gt 0 ]] || die "no workers of role \"$role\" in CHIRP_CLUSTER_WORKERS (${WORKER_SPEC[*]})"
  load_stack_env
  if [[ -n ${2:-} ]]; then
    [[ $2 =~ ^[0-9]+$ && $2 -ge 1 && $2 -le $count ]] || die "worker number must be 1..$count"
    stop_name "worker-$role-$2"
    start_worker "$role" "$2"
  else
    for ((i = 1; i <= count; i++)); do start_worker "$role" "$i"; done
  fi
}

heal() {
  local n r i
  mkdir -p "$PIDS" "$LOG"
  load_stack_env
  for n in "${!GW_PORTS[@]}"; do start_gateway $((n + 1)); done
  for r in "${!ROLES[@]}"; do
    for ((i = 1; i <= COUNTS[r]; i++)); do start_worker "${ROLES[$r]}" "$i"; done
  done
  start_haproxy
}

mkdir -p "$PIDS" "$LOG"
case ${1:-} in
  start) start_all ;;
  stop) stop_all ;;
  stop-all) stop_all always-stack ;;
  status) status_all ;;
  env)
    stack env
    echo "export CHIRP_LB_URL=$LB_URL"
    ;;
  kill-gateway)
    [[ $# -eq 2 ]] || die "usage: $0 kill-gateway N"
    gateway_index "$2"
    stop_name "$(gw_name "$2")" KILL
    ;;
  restart-gateway)
    [[ $# -eq 2 ]] || die "usage: $0 restart-gateway N"
    restart_gateway "$2"
    ;;
  kill-worker)
    [[ $# -ge 2 ]] || die "usage: $0 kill-worker ROLE [I]"
    [[ $(count_of "$2") -gt 0 ]] || die "no workers of role \"$2\""
    stop_name "worker-$2-${3:-1}" KILL
    ;;
  restart-worker)
    [[ $# -ge 2 ]] || die "usage: $0 restart-worker ROLE [I]"
    restart_worker "$2" "${3:-}"
    ;;
  heal) heal ;;
  stack)
    [[ $# -eq 2 ]] || die "usage: $0 stack CMD"
    stack "$2"
    ;;
  *)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
