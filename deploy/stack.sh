#!/usr/bin/env bash
# deploy/stack.sh — private, loopback-only PostgreSQL 15, Redis 7 and RabbitMQ 3.10
# for one Chirp stack. Two stacks ("run" and "test") can run side by side.
#
#   deploy/stack.sh run|test start|stop|status|env|start-rabbit|stop-rabbit|start-pg|stop-pg
#
#   start         start whatever is not running; wait until each accepts connections
#   stop          stop the three servers this stack started (by pid file / own command)
#   status        print each server up/down (exit 0 only if all three are up)
#   env           print `export CHIRP_*_URL=...` lines for this stack
#   stop-rabbit   stop only RabbitMQ (tests use it to simulate a broker outage)
#   start-rabbit  start only RabbitMQ again
#   stop-pg       stop only PostgreSQL (tests use it to simulate a database outage)
#   start-pg      start only PostgreSQL again
#
# State lives in var/NAME/ of the checkout, logs in var/NAME/log/. Ports can be
# overridden with CHIRP_STACK_PG_PORT, CHIRP_STACK_REDIS_PORT, CHIRP_STACK_AMQP_PORT,
# CHIRP_STACK_DIST_PORT, CHIRP_STACK_EPMD_PORT, CHIRP_STACK_CTL_PORT_MIN/_MAX,
# CHIRP_STACK_NODE; CHIRP_STACK_TIMEOUT bounds each wait (default 60 s).
set -euo pipefail

usage() {
  echo "usage: $0 run|test start|stop|status|env|start-rabbit|stop-rabbit|start-pg|stop-pg" >&2
  exit 2
}
[[ $# -eq 2 ]] || usage
NAME=$1 CMD=$2

# ---- configuration ----------------------------------------------------------
case $NAME in
  run)  d_pg=54321 d_redis=63791 d_amqp=56721 d_dist=56731 d_epmd=56741 d_ctl=56751 ;;
  test) d_pg=54322 d_redis=63792 d_amqp=56722 d_dist=56732 d_epmd=56742 d_ctl=56761 ;;
  *) usage ;;
esac
PG_PORT=${CHIRP_STACK_PG_PORT:-$d_pg}
REDIS_PORT=${CHIRP_STACK_REDIS_PORT:-$d_redis}
AMQP_PORT=${CHIRP_STACK_AMQP_PORT:-$d_amqp}
DIST_PORT=${CHIRP_STACK_DIST_PORT:-$d_dist}
EPMD_PORT=${CHIRP_STACK_EPMD_PORT:-$d_epmd}
CTL_PORT_MIN=${CHIRP_STACK_CTL_PORT_MIN:-$d_ctl}
CTL_PORT_MAX=${CHIRP_STACK_CTL_PORT_MAX:-$((CTL_PORT_MIN + 9))}
NODE=${CHIRP_STACK_NODE:-chirp-$NAME@localhost}
WAIT=${CHIRP_STACK_TIMEOUT:-60}

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
VAR=$TOP/var/$NAME
LOG=$VAR/log
RMQ_DIR=$VAR/rabbit
RMQ_PID=$RMQ_DIR/rabbit.pid
REDIS_PID=$VAR/redis/redis.pid

# ---- helpers ----------------------------------------------------------------
say() { echo "stack $NAME: $*"; }

# fail WHAT LOGFILE... — name the server that did not come up, show its log tail.
fail() {
  local f
  echo "stack $NAME: ERROR: $1 did not come up" >&2
  for f in "${@:2}"; do
    if [[ -s $f ]]; then
      echo "----- last lines of $f -----" >&2
      tail -n 30 "$f" >&2
    fi
  done
  exit 1
}

# Seconds since $1 (an $EPOCHREALTIME value), one decimal.
since() {
  local us=$((${EPOCHREALTIME/[.,]/} - ${1/[.,]/}))
  printf '%d.%d s' $((us / 1000000)) $((us % 1000000 / 100000))
}

# Is something listening on 127.0.0.1:$1?
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Our ports lie in Linux's ephemeral range (32768-60999), so a client's outgoing
# connection may take one as its source port while our server is down (seen
# here), and the server then cannot bind it. As root, reserve them
# (net.ipv4.ip_local_reserved_ports): explicit binds still work. Best effort.
reserve_ports() {
  local f=/proc/sys/net/ipv4/ip_local_reserved_ports cur
  [[ $EUID -eq 0 && -w $f ]] || return 0
  cur=$(<"$f")
  echo "${cur:+$cur,}$PG_PORT,$REDIS_PORT,$AMQP_PORT,$DIST_PORT,$EPMD_PORT,$CTL_PORT_MIN-$CTL_PORT_MAX" \
    >"$f" 2>/dev/null || true
}

# pid_of FILE COMM — print the pid in FILE if that process is alive and is COMM.
pid_of() {
  local pid
  [[ -s $1 ]] || return 1
  pid=$(<"$1")
  pid=${pid//[^0-9]/}
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] || return 1
  echo "$pid"
}

# wait_gone PID SECONDS — wait for a process to exit.
wait_gone() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# wait_until SECONDS CMD... — poll CMD every 0.2 s until it succeeds.
wait_until() {
  local i n=$1
  shift
  for ((i = 0; i < n * 5; i++)); do
    "$@" && return 0
    sleep 0.2
  done
  return 1
}

# ---- PostgreSQL -------------------------------------------------------------
# initdb/postgres refuse root: as root, run them as `postgres`, from / so that
# an unreadable current folder does not bother them.
as_pg() {
  if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

find_pgbin() {
  local d
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [[ -x $d/pg_ctl ]]; then PGBIN=$d; return 0; fi
  done
  echo "stack $NAME: ERROR: PostgreSQL binaries not found (run deploy/install-deps.sh)" >&2
  exit 1
}

# PGROOT holds data/, sock/ and postgres.log. Normally var/NAME/pg; but when
# `postgres` cannot reach that folder (e.g. a checkout under /root, mode 700) or
# the socket path would be too long, it is a mktemp folder under /tmp whose
# path is kept in var/NAME/pgdata.path so that later starts and stops reuse it.
pg_locate() {
  if [[ -s $VAR/pgdata.path ]]; then PGROOT=$(<"$VAR/pgdata.path"); else PGROOT=$VAR/pg; fi
}

pg_prepare() {
  pg_locate
  if [[ -s $VAR/pgdata.path ]]; then
    if [[ ! -d $PGROOT ]]; then
      say "recorded PostgreSQL folder $PGROOT is gone; creating it anew"
      mkdir -p "$PGROOT"
    fi
  else
    mkdir -p "$PGROOT"
    [[ $EUID -ne 0 ]] || chown postgres:postgres "$PGROOT"
    local sock="$PGROOT/sock/.s.PGSQL.$PG_PORT.lock"
    if ! as_pg test -w "$PGROOT" -a -x "$PGROOT" || ((${#sock} > 100)); then
      rmdir "$PGROOT" 2>/dev/null || true
      PGROOT=$(mktemp -d "/tmp/chirp-pg-$NAME.XXXXXX")
      echo "$PGROOT" >"$VAR/pgdata.path"
      say "PostgreSQL cannot live under $VAR; using $PGROOT (recorded in $VAR/pgdata.path)"
    fi
  fi
  [[ $EUID -ne 0 ]] || chown postgres:postgres "$PGROOT"
  chmod 700 "$PGROOT"
  ln -sfn "$PGROOT/postgres.log" "$LOG/postgres.log"
}

pg_running() { [[ -s $PGROOT/data/PG_VERSION ]] && as_pg "$PGBIN/pg_ctl" -D "$PGROOT/data" status >/dev/null 2>&1; }
pg_ready() { "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U chirp -d postgres; }
pg_psql() { "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U chirp "$@"; }

pg_start() {
  local t0=$EPOCHREALTIME data
  find_pgbin
  pg_prepare
  data=$PGROOT/data
  if [[ ! -s $data/PG_VERSION ]]; then
    say "initdb PostgreSQL in $data"
    as_pg mkdir -p -m 700 "$data" "$PGROOT/sock"
    as_pg "$PGBIN/initdb" -D "$data" -U chirp --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$LOG/initdb.log" 2>&1 || fail "PostgreSQL (initdb)" "$LOG/initdb.log"
    # Appended settings win over the defaults above them (port is given at start).
    {
      echo "# --- chirp $NAME stack (deploy/stack.sh) ---"
      echo "listen_addresses = '127.0.0.1'"
      echo "unix_socket_directories = '$PGROOT/sock'"
      echo "max_connections = 300"
      if [[ $NAME == test ]]; then
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
      fi
    } >>"$data/postgresql.conf"
  fi
  if pg_running; then
    say "PostgreSQL already running"
  else
    if port_open "$PG_PORT"; then
      echo "stack $NAME: port $PG_PORT is already used by another process" >&2
      fail "PostgreSQL" "$PGROOT/postgres.log"
    fi
    as_pg "$PGBIN/pg_ctl" -D "$data" -l "$PGROOT/postgres.log" -o "-p $PG_PORT" \
      -w -t "$WAIT" start >"$LOG/pg_ctl.log" 2>&1 || fail "PostgreSQL" "$PGROOT/postgres.log" "$LOG/pg_ctl.log"
  fi
  wait_until "$WAIT" pg_ready || fail "PostgreSQL" "$PGROOT/postgres.log"
  if [[ -z $(pg_psql -d postgres -tAc "select 1 from pg_database where datname = 'chirp'") ]]; then
    "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U chirp chirp
  fi
  say "PostgreSQL up on 127.0.0.1:$PG_PORT ($(since "$t0"))"
}

pg_stop() {
  find_pgbin
  pg_locate
  if pg_running; then
    as_pg "$PGBIN/pg_ctl" -D "$PGROOT/data" -m fast -w -t "$WAIT" stop >/dev/null ||
      as_pg "$PGBIN/pg_ctl" -D "$PGROOT/data" -m immediate -w -t "$WAIT" stop >/dev/null
    say "PostgreSQL stopped"
  fi
}

# ---- Redis ------------------------------------------------------------------
redis_ready() { pid_of "$REDIS_PID" redis-server >/dev/null && [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

redis_start() {
  local t0=$EPOCHREALTIME persist
  mkdir -p "$VAR/redis"
  if pid_of "$REDIS_PID" redis-server >/dev/null; then
    say "Redis already running"
  else
    if port_open "$REDIS_PORT"; then
      echo "stack $NAME: port $REDIS_PORT is already used by another process" >&2
      fail "Redis" "$LOG/redis.log"
    fi
    if [[ $NAME == test ]]; then persist=(--save "" --appendonly no); else persist=(--appendonly yes); fi
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$VAR/redis" \
      --daemonize yes --pidfile "$REDIS_PID" --logfile "$LOG/redis.log" \
      "${persist[@]}" || fail "Redis" "$LOG/redis.log"
  fi
  wait_until "$WAIT" redis_ready || fail "Redis" "$LOG/redis.log"
  say "Redis up on 127.0.0.1:$REDIS_PORT ($(since "$t0"))"
}

redis_stop() {
  local pid
  if pid=$(pid_of "$REDIS_PID" redis-server); then
    kill -TERM "$pid"
    wait_gone "$pid" "$WAIT" || kill -KILL "$pid" 2>/dev/null || true
    say "Redis stopped"
  fi
}

# ---- RabbitMQ ---------------------------------------------------------------
find_rmq() {
  local d
  RMQ_SBIN=
  for d in /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin; do
    [[ -x $d/rabbitmq-server ]] && RMQ_SBIN=$d # the glob sorts; keep the last
  done
  if [[ -z $RMQ_SBIN ]]; then
    echo "stack $NAME: ERROR: RabbitMQ not found (run deploy/install-deps.sh)" >&2
    exit 1
  fi
}

# rmq_env — export this stack's RabbitMQ environment. The node is set up
# entirely by environment variables (the /usr/sbin wrappers would switch to the
# rabbitmq user and lose them), listens on loopback only, and ignores
# /etc/rabbitmq/rabbitmq-env.conf.
rmq_env() {
  export HOME=$VAR/rabbit-home
  export RABBITMQ_NODENAME=$NODE
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$AMQP_PORT
  export RABBITMQ_DIST_PORT=$DIST_PORT
  export ERL_EPMD_PORT=$EPMD_PORT
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_CTL_DIST_PORT_MIN=$CTL_PORT_MIN
  export RABBITMQ_CTL_DIST_PORT_MAX=$CTL_PORT_MAX
  export RABBITMQ_MNESIA_BASE=$RMQ_DIR/mnesia
  export RABBITMQ_LOG_BASE=$LOG/rabbit
  export RABBITMQ_PID_FILE=$RMQ_PID
  export RABBITMQ_CONFIG_FILE=$RMQ_DIR/rabbitmq.conf
  export RABBITMQ_ENABLED_PLUGINS_FILE=$RMQ_DIR/enabled_plugins
  export RABBITMQ_CONF_ENV_FILE=/dev/null
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

# rmq SECONDS CMD... — run CMD (bounded by SECONDS) in this stack's RabbitMQ environment.
rmq() {
  local secs=$1
  shift
  (rmq_env && exec timeout "$secs" "$@")
}

rabbit_ready() { pid_of "$RMQ_PID" beam.smp >/dev/null && port_open "$AMQP_PORT"; }

rabbit_start() {
  local t0=$EPOCHREALTIME cookie=$VAR/rabbit-home/.erlang.cookie
  find_rmq
  mkdir -p "$RMQ_DIR/mnesia" "$LOG/rabbit" "$VAR/rabbit-home"
  if [[ ! -s $cookie ]]; then # Erlang cookie for this stack's node and CLI
    (umask 077 && od -An -N20 -tx1 /dev/urandom | tr -d ' \n' >"$cookie")
    chmod 400 "$cookie"
  fi
  # guest stays loopback-only (the default); only the resource alarms change.
  printf '%s\n' 'vm_memory_high_watermark.relative = 0.4' \
    'disk_free_limit.absolute = 50MB' >"$RMQ_DIR/rabbitmq.conf"
  echo '[].' >"$RMQ_DIR/enabled_plugins"
  local server=0 waiter logs=("$LOG/rabbit/ctl.log" "$LOG/rabbit/server.out" "$LOG/rabbit/$NODE.log")
  if pid_of "$RMQ_PID" beam.smp >/dev/null; then
    say "RabbitMQ already running"
  else
    local p
    for p in "$AMQP_PORT" "$DIST_PORT"; do
      if port_open "$p"; then
        echo "stack $NAME: port $p is already used by another process" >&2
        fail "RabbitMQ" "$LOG/rabbit/$NODE.log"
      fi
    done
    rm -f "$RMQ_PID"
    # New session, no stdin: Ctrl-C in the caller's terminal does not reach it.
    (rmq_env && exec setsid nohup "$RMQ_SBIN/rabbitmq-server") </dev/null >>"$LOG/rabbit/server.out" 2>&1 &
    server=$!
  fi
  # `rabbitmqctl wait` (bounded); give up at once if the server we started dies.
  rmq $((WAIT + 15)) "$RMQ_SBIN/rabbitmqctl" -n "$NODE" -q wait "$RMQ_PID" --timeout "$WAIT" \
    >>"$LOG/rabbit/ctl.log" 2>&1 &
  waiter=$!
  while kill -0 "$waiter" 2>/dev/null; do
    if [[ $server -ne 0 ]] && ! kill -0 "$server" 2>/dev/null; then
      kill "$waiter" 2>/dev/null || true
      echo "stack $NAME: the RabbitMQ server process exited during start-up" >&2
      fail "RabbitMQ" "${logs[@]}"
    fi
    sleep 0.2
  done
  wait "$waiter" || fail "RabbitMQ" "${logs[@]}"
  wait_until "$WAIT" rabbit_ready || fail "RabbitMQ" "$LOG/rabbit/server.out" "$LOG/rabbit/$NODE.log"
  say "RabbitMQ up on 127.0.0.1:$AMQP_PORT ($(since "$t0"))"
}

rabbit_stop() {
  local pid
  find_rmq
  if pid=$(pid_of "$RMQ_PID" beam.smp); then
    if ! rmq $((WAIT + 15)) "$RMQ_SBIN/rabbitmqctl" -n "$NODE" -q stop "$RMQ_PID" >>"$LOG/rabbit/ctl.log" 2>&1; then
      kill -TERM "$pid" 2>/dev/null || true
      wait_gone "$pid" "$WAIT" || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait_gone "$pid" "$WAIT" || true
    say "RabbitMQ stopped"
  fi
  # epmd (started by the node or by rabbitmqctl on this stack's port) outlives it.
  rmq 10 epmd -kill >/dev/null 2>&1 || true
}

# ---- commands -----------------------------------------------------------------
status() {
  local rc=0
  find_pgbin
  pg_locate
  if pg_running && pg_ready; then say "postgres up   127.0.0.1:$PG_PORT (data $PGROOT/data)"; else say "postgres down"; rc=1; fi
  if redis_ready; then say "redis    up   127.0.0.1:$REDIS_PORT"; else say "redis    down"; rc=1; fi
  if rabbit_ready; then say "rabbitmq up   127.0.0.1:$AMQP_PORT (node $NODE)"; else say "rabbitmq down"; rc=1; fi
  return $rc
}

case $CMD in
  start)
    T0=$EPOCHREALTIME
    mkdir -p "$LOG"
    reserve_ports
    pg_start
    redis_start
    rabbit_start
    say "started in $(since "$T0")"
    ;;
  stop)
    T0=$EPOCHREALTIME
    mkdir -p "$LOG"
    rc=0
    rabbit_stop || rc=1
    redis_stop || rc=1
    pg_stop || rc=1
    say "stopped in $(since "$T0")"
    exit $rc
    ;;
  start-rabbit)
    mkdir -p "$LOG"
    reserve_ports
    rabbit_start
    ;;
  stop-rabbit)
    mkdir -p "$LOG"
    rabbit_stop
    ;;
  start-pg)
    mkdir -p "$LOG"
    reserve_ports
    pg_start
    ;;
  stop-pg)
    mkdir -p "$LOG"
    pg_stop
    ;;
  status) status ;;
  env)
    printf 'export %s\n' \
      "CHIRP_PG_URL=postgresql://chirp@127.0.0.1:$PG_PORT/chirp" \
      "CHIRP_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" \
      "CHIRP_AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f"
    ;;
  *) usage ;;
esac
