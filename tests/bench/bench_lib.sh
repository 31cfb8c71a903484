# shellcheck shell=bash
# tests/bench/bench_lib.sh — helpers of more than one benchmark script, each
# in one home (sourced, not run): today the bare ulfius reference's start,
# used by tests/bench/bench_tweets.sh and, through tests/bench/feed_lib.sh,
# by tests/bench/bench_feed.sh.
#
# The sourcing script provides: die MESSAGE; start NAME LOG CMD... (CMD in
# the background, its pid in LAST_PID); stop_pid PID; alive PID; port_open
# PORT; free_port FROM; and the variables BARE (the bare_ulfius binary) and
# LOG (the log folder).

# bare_start THREADS FILE FROM_PORT — the bare ulfius reference on a free
# port (BARE_PORT, pid in bare_pid); the next port when one cannot be bound
# (a loopback port in the ephemeral range may be held by a closing socket).
bare_start() {
  local p=$3 try i
  for ((try = 0; try < 10; try++)); do
    BARE_PORT=$(free_port "$p")
    start "bare ulfius" "$LOG/bare-t$1.log" "$BARE" "$BARE_PORT" "$1" "$2"
    bare_pid=$LAST_PID
    for ((i = 0; i < 30; i++)); do
      port_open "$BARE_PORT" && return 0
      alive "$bare_pid" || break
      sleep 0.1
    done
    stop_pid "$bare_pid"
    p=$((BARE_PORT + 1))
  done
  die "bare ulfius could not listen (see $LOG/bare-t$1.log)"
}
