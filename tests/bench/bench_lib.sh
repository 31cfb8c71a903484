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

# ---- CPU by process group, for the scripts that run deploy/cluster.sh -------------
# (tests/bench/bench_mixed.sh, tests/bench/bench_mixed_rate.sh; they set TOP,
# CHIRP_CLUSTER_STACK and CHIRP_PG_URL.)

# cluster_pids — "group:pid" lines: the cluster's processes (gateway,
# worker-ROLE, haproxy, from var/cluster/pids), the stack's Redis and RabbitMQ,
# PostgreSQL's postmaster and its backends.
cluster_pids() {
  local f name vs pm pid
  for f in "$TOP"/var/cluster/pids/*.pid; do
    [[ -s $f ]] || continue
    name=$(basename "$f" .pid)
    echo "${name%%-[0-9]*}:$(<"$f")"
  done
  if [[ $CHIRP_CLUSTER_STACK == cluster ]]; then vs=$TOP/var/cluster/stack/var/run; else vs=$TOP/var/run; fi
  [[ -s $vs/redis/redis.pid ]] && echo "redis:$(tr -dc 0-9 <"$vs/redis/redis.pid")"
  [[ -s $vs/rabbit/rabbit.pid ]] && echo "rabbitmq:$(tr -dc 0-9 <"$vs/rabbit/rabbit.pid")"
  pm=$(ss -ltnp 2>/dev/null | awk -v p=":$(sed -E 's#.*:([0-9]+)/.*#\1#' <<<"$CHIRP_PG_URL")" '$4 ~ p "$" { print }' |
    sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1)
  if [[ -n $pm && $pm != 0 ]]; then
    echo "postgres:$pm"
    for pid in $(pgrep -P "$pm"); do echo "postgres:$pid"; done
  fi
  return 0
}
# ticks_by_group GROUP:PID... — "group ticks" lines (user+system CPU ticks so far).
ticks_by_group() {
  local gp g p
  for gp in "$@"; do
    g=${gp%%:*} p=${gp#*:}
    [[ $p =~ ^[0-9]+$ && -r /proc/$p/stat ]] || continue
    awk -v g="$g" '{ sub(/^.*\) /, ""); print g, $12 + $13 }' "/proc/$p/stat"
  done | awk '{ t[$1] += $2 } END { for (g in t) print g, t[g] }'
}
# cpu_share BEFORE AFTER SECONDS — "group NN%" of one CPU, largest first.
cpu_share() {
  awk -v s="$3" -v hz="$(getconf CLK_TCK)" 'NR == FNR { b[$1] = $2; next }
    { d = $2 - b[$1]; if (d > 0) printf "%s %.0f%%\n", $1, 100 * d / hz / s }' "$1" "$2" |
    sort -k2 -rn | paste -sd, | sed 's/,/, /g'
}
# cpu_total BEFORE AFTER SECONDS — the groups' CPU in % of one core.
cpu_total() {
  awk -v s="$3" -v hz="$(getconf CLK_TCK)" 'NR == FNR { b[$1] = $2; next }
    { d = $2 - b[$1]; if (d > 0) t += d } END { printf "%.0f", 100 * t / hz / s }' "$1" "$2"
}
# cpu_busy — "busy total" ticks of the whole machine so far.
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
