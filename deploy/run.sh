#!/usr/bin/env bash
# deploy/run.sh — build Chirp and run it locally: the "run" stack (PostgreSQL,
# Redis, RabbitMQ), migrations, the gateway and the workers. Ctrl-C (or SIGTERM)
# stops the gateway, the workers and the stack.
#
#   deploy/run.sh
#   CHIRP_HTTP_PORT=9090 CHIRP_WORKER_ROLES="persist" CHIRP_LOG_LEVEL=debug deploy/run.sh
#
# Logs: var/run/log/. Admin token: $CHIRP_ADMIN_TOKEN, else var/run/admin_token.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$TOP"
RUN=$TOP/var/run
LOG=$RUN/log
HTTP_PORT=${CHIRP_HTTP_PORT:-8080}
WORKER_ROLES=${CHIRP_WORKER_ROLES:-persist fanout notify likes} # space-separated, one worker per role
READY_WAIT=${CHIRP_READY_TIMEOUT:-60}       # seconds to wait for /readyz
URL=http://127.0.0.1:$HTTP_PORT/

if (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null; then
  echo "run: ERROR: port $HTTP_PORT is already in use (set CHIRP_HTTP_PORT)" >&2
  exit 1
fi

bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2

# Children we start: pid -> name (for messages) and log file.
declare -A NAMES=() LOGS=()

# gone_within PID SECONDS — wait for PID to exit.
# shellcheck disable=SC2317 # (these two run from the EXIT trap)
gone_within() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# shellcheck disable=SC2317
stop_all() {
  local pid
  trap - EXIT INT TERM
  for pid in "${!NAMES[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${!NAMES[@]}"; do
    if ! gone_within "$pid" 10; then
      echo "run: ${NAMES[$pid]} did not stop in 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  if [[ ${#NAMES[@]} -gt 0 ]]; then echo "run: gateway and workers stopped"; fi
  deploy/stack.sh run stop || true
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

deploy/stack.sh run start
eval "$(deploy/stack.sh run env)" # exports CHIRP_PG_URL, CHIRP_REDIS_URL, CHIRP_AMQP_URL
deploy/migrate.sh

if [[ -z ${CHIRP_ADMIN_TOKEN:-} ]]; then
  token_file=$RUN/admin_token
  if [[ ! -s $token_file ]]; then
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$token_file")
  fi
  chmod 600 "$token_file"
  CHIRP_ADMIN_TOKEN=$(<"$token_file")
  echo "run: admin token in $token_file"
fi
export CHIRP_ADMIN_TOKEN CHIRP_HTTP_PORT=$HTTP_PORT

# start NAME LOGFILE CMD... — run CMD in the background, logging to LOGFILE.
start() {
  local name=$1 log=$2
  shift 2
  [[ -x $1 ]] || { echo "run: ERROR: $1 not built" >&2; exit 1; }
  "$@" >>"$log" 2>&1 &
  NAMES[$!]=$name
  LOGS[$!]=$log
  echo "run: started $name (pid $!, log $log)"
}

# died PID — report a child that exited and show the end of its log.
died() {
  echo "run: ERROR: ${NAMES[$1]} exited; last lines of ${LOGS[$1]}:" >&2
  tail -n 30 "${LOGS[$1]}" >&2
}

start gateway "$LOG/gateway.log" build/gateway/chirp-gateway
for role in $WORKER_ROLES; do
  start "worker $role" "$LOG/worker-$role.log" build/workers/chirp-worker --role "$role"
done

# Wait (bounded) until the gateway says it is ready; stop if a child dies.
ready=0
for ((i = 0; i < READY_WAIT * 5; i++)); do
  if curl -fsS -o /dev/null --max-time 2 "${URL}readyz" 2>/dev/null; then ready=1; break; fi
  for pid in "${!NAMES[@]}"; do
    kill -0 "$pid" 2>/dev/null || { died "$pid"; exit 1; }
  done
  sleep 0.2
done
if [[ $ready -eq 0 ]]; then
  echo "run: ERROR: ${URL}readyz not ready after $READY_WAIT s" >&2
  tail -n 30 "$LOG/gateway.log" >&2
  exit 1
fi
echo "run: Chirp is ready at $URL (Ctrl-C to stop)"

# Run until a signal (traps above) or until one of the children exits.
wait -n -p gone "${!NAMES[@]}" || true
died "$gone"
exit 1
