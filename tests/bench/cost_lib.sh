# shellcheck shell=bash
# tests/bench/cost_lib.sh — the cost model printed beside the figures
# (sourced by bench_tweets.sh, bench_feed.sh and bench_mixed_rate.sh): counters read before and
# after a run, divided by what the run did.
#
#   COST_BASE   the gateway's base URL (its /metrics: events published, the
#               AMQP messages they went out in, PostgreSQL statements); several
#               gateways' URLs separated by spaces are added up
#   COST_REDIS  redis-cli arguments for the stack's Redis (an array): INFO
#               commandstats (every command, Lua's inner calls included),
#               INFO cpu, and the workers' counters chirp:m:deliveries:<role>
#               and chirp:m:pg_statements:<role> (workers/loop.c)
#
#   cost_snap              remember the counters now
#   cost_report N UNIT     one line: each counter's growth since cost_snap / N
#                          (and the Redis commands with the most time: the
#                          top CHIRP_BENCH_COST_TOP of them, 5 by default)
declare -A COST0=()

# cost_counters [info_last] — "name value" lines.  Redis's own figures (INFO
# cpu, INFO commandstats) are read first, or last with info_last, so that the
# SCANs and GETs of the counters here fall outside the span between cost_snap
# (info_last) and cost_report (info first) and do not count as the run's.
cost_counters() {
  [[ ${1:-} == info_last ]] || cost_redis_info
  local m k
  m=$(for b in $COST_BASE; do curl -fsS --max-time 10 "$b/metrics" 2>/dev/null || true; done)
  awk '$1 == "chirp_amqp_published_total" || $1 == "chirp_amqp_messages_total" ||
       $1 == "chirp_db_queries_total" { s[$1] += $NF } END { for (k in s) print k, s[k] }' <<<"$m"
  for k in $(timeout 30 redis-cli "${COST_REDIS[@]}" --scan --pattern 'chirp:m:deliveries:*' | tr -d '\r'
    timeout 30 redis-cli "${COST_REDIS[@]}" --scan --pattern 'chirp:m:pg_statements:*' | tr -d '\r'); do
    echo "${k#chirp:m:} $(timeout 30 redis-cli "${COST_REDIS[@]}" GET "$k" | tr -d '\r')"
  done
  [[ ${1:-} != info_last ]] || cost_redis_info
}

cost_redis_info() {
  timeout 30 redis-cli "${COST_REDIS[@]}" INFO cpu | tr -d '\r' |
    awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "redis_cpu_us %.0f\n", s * 1e6 }'
  timeout 30 redis-cli "${COST_REDIS[@]}" INFO commandstats | tr -d '\r' |
    awk -F'[=,:]' '/^cmdstat_/ { n += $3; sub(/^cmdstat_/, "", $1); print "calls:" $1, $3; print "usec:" $1, $5 }
                   END { print "redis_calls", n + 0 }'
}

cost_snap() {
  local k v
  COST0=()
  while read -r k v; do COST0[$k]=$v; done < <(cost_counters info_last)
}

# cost_report N UNIT — e.g. cost_report 5938 "accepted tweet"
cost_report() {
  local n=$1 unit=$2 k v d out=() roles_d=() roles_q=()
  declare -A now=()
  while read -r k v; do now[$k]=$v; done < <(cost_counters)
  per() { awk -v d="$1" -v n="$n" 'BEGIN { if (n > 0) printf "%.3g", d / n; else print "n/a" }'; }
  delta() { echo $((${now[$1]:-0} - ${COST0[$1]:-0})); }
  [[ -z ${now[chirp_amqp_messages_total]:-} ]] ||
    out+=("broker messages $(per "$(delta chirp_amqp_messages_total)") (events $(per "$(delta chirp_amqp_published_total)")) from the gateway")
  local td=0 tq=0
  for k in "${!now[@]}"; do
    d=$(delta "$k")
    case $k in
      deliveries:*) roles_d+=("${k#deliveries:} $(per "$d")") td=$((td + d)) ;;
      pg_statements:*) roles_q+=("${k#pg_statements:} $(per "$d")") tq=$((tq + d)) ;;
    esac
  done
  out+=("queue deliveries $(per "$td") ($(IFS=,; echo "${roles_d[*]}"))")
  [[ -z ${now[chirp_db_queries_total]:-} ]] ||
    out+=("SQL statements: gateway $(per "$(delta chirp_db_queries_total)"), workers $(per "$tq") ($(IFS=,; echo "${roles_q[*]}"))")
  out+=("Redis commands $(per "$(delta redis_calls)") (all processes, Lua's inner calls included), Redis CPU $(per "$(delta redis_cpu_us)") us")
  # Where Redis spends it: the commands with the most time (a script's time
  # includes its inner calls, which are listed too).
  local top
  top=$(for k in "${!now[@]}"; do
    [[ $k == usec:* ]] || continue
    d=$(delta "$k")
    ((d > 0)) && echo "$d ${k#usec:} $(delta "calls:${k#usec:}")"
  done | sort -rn | head -n "${CHIRP_BENCH_COST_TOP:-5}" | while read -r d c nc; do
    echo "$c $(per "$nc") calls $(per "$d") us"
  done | paste -sd ',' -)
  out+=("top Redis commands: $top")
  local IFS=';'
  echo "per $unit: ${out[*]}"
}
