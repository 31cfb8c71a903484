#!/usr/bin/env bash
# tests/bench/bench_likes.sh — the like benchmark.  Prints each figure beside
# its reference measured in the same run, as a ratio, with PASS/FAIL against
# its target.  It never fails on a figure, only on a broken run.
#
#   Likes accepted per second at the gateway on ONE hot tweet:
#   POST /api/v1/tweets/{id}/like by many distinct users (accounts and
#   sessions made with psql; wrk rotates their tokens so that no user likes
#   twice in a run), counting the 202s — beside POST /api/v1/tweets measured
#   with wrk in the same round (before and after; ref = mean).
#   Target: likes/s >= tweet posts/s.
#
#   Database statements per 10 000 likes: the delta of
#   chirp_likes_statements_total over the likes the batcher flushed
#   (chirp_worker_events_total{role="likes",result="processed"}), both from
#   /metrics, with the default CHIRP_LIKES_FLUSH_COUNT (10).  Target <= 100.
#
#   tests/bench/bench_likes.sh
#   CHIRP_BENCH_THREADS="8 32" tests/bench/bench_likes.sh   # one round each
#
# Settings (environment):
#   CHIRP_BENCH_THREADS       gateway CHIRP_HTTP_THREADS, one round each (32)
#   CHIRP_BENCH_DURATION      seconds of each wrk run (10)
#   CHIRP_BENCH_CONNECTIONS   wrk connections (64); CHIRP_BENCH_WRK_THREADS (2)
#   CHIRP_BENCH_LIKE_USERS    distinct users (80000; a run that needs more
#                             wraps around and gets 200s, shown as INVALID)
#   CHIRP_BENCH_COLD_SESSIONS=1  do not put the sessions in Redis first (each
#                             user's first request then reads PostgreSQL)
#   CHIRP_LIKES_FLUSH_COUNT / CHIRP_LIKES_FLUSH_AGE_MS are passed through
#   and those of tests/bench/feed_lib.sh (build, ports, stack).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=tests/bench/feed_lib.sh
source tests/bench/feed_lib.sh

THREADS_LIST=${CHIRP_BENCH_THREADS:-32}
DURATION=${CHIRP_BENCH_DURATION:-10}
CONNS=${CHIRP_BENCH_CONNECTIONS:-64}
WRK_THREADS=${CHIRP_BENCH_WRK_THREADS:-2}
USERS=${CHIRP_BENCH_LIKE_USERS:-80000}
for v in DURATION CONNS WRK_THREADS USERS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v} must be a positive integer"
done
for t in $THREADS_LIST; do [[ $t =~ ^[1-9][0-9]*$ ]] || die "CHIRP_BENCH_THREADS: \"$t\" is not a number"; done

AUTHOR=4 POSTER=5
U_LO=200001 U_HI=$((200000 + USERS))
NROUNDS=$(wc -w <<<"$THREADS_LIST")

fl_build
fl_stack_up
fl_reset
say "stack emptied; building the data set with psql"

# ---- data: users with sessions, one hot tweet per round ---------------------------
TEXT="lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim"
t0=$EPOCHREALTIME
{
  echo "BEGIN;"
  sql_accounts $AUTHOR $POSTER
  sql_accounts $U_LO $U_HI
  cat <<EOF
INSERT INTO tweets (id, author_id, text, created_at)
  SELECT $(snowflake ms k), $AUTHOR, 'Hot tweet ' || k || ': $TEXT', to_timestamp(ms / 1000.0)
  FROM generate_series(1, $NROUNDS) k, LATERAL (SELECT $SQL_NOW_MS - 600000 + k * 1000 AS ms) t;
ANALYZE;
EOF
  echo "COMMIT;"
} >"$BENCH/fl-likes-data.sql"
psql_f -f "$BENCH/fl-likes-data.sql" >/dev/null || die "loading the data set failed"
mapfile -t HOT < <(psql_q "select id from tweets where author_id = $AUTHOR order by id")
[[ ${#HOT[@]} -eq $NROUNDS ]] || die "expected $NROUNDS hot tweets"
seq $U_LO $U_HI | awk '{ printf "bench%038d\n", $1 }' >"$BENCH/fl-like-tokens.txt"
if [[ ${CHIRP_BENCH_COLD_SESSIONS:-0} != 1 ]]; then
  # What chirp_session_lookup caches after a user's first request.
  psql_q "select 'SET chirp:s:{' || token_hash || '} ' || account_id || ' PX 86400000' from sessions" |
    rcli --pipe >"$LOG/sessions-pipe.log" 2>&1 || { cat "$LOG/sessions-pipe.log" >&2; die "caching the sessions failed"; }
  grep -q 'errors: 0' "$LOG/sessions-pipe.log" || { cat "$LOG/sessions-pipe.log" >&2; die "caching the sessions failed"; }
fi
say "data: $USERS users with sessions, $NROUNDS hot tweet(s) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
printf '{"text": "%s"}' "Benchmark tweet: $TEXT" >"$BENCH/fl-post.json"

# ---- workers: the like batcher, and persist + fanout for the posted tweets ------------
LENV=()
[[ -z ${CHIRP_LIKES_FLUSH_COUNT:-} ]] || LENV+=(CHIRP_LIKES_FLUSH_COUNT="$CHIRP_LIKES_FLUSH_COUNT")
[[ -z ${CHIRP_LIKES_FLUSH_AGE_MS:-} ]] || LENV+=(CHIRP_LIKES_FLUSH_AGE_MS="$CHIRP_LIKES_FLUSH_AGE_MS")
worker_start likes 1 "${LENV[@]}"
LIKES_PID=${WORKER_PIDS[-1]#*:}
worker_start persist 1
worker_start fanout 1

# counters — "received statements processed" of the like batcher, from /metrics.
counters() {
  local m
  m=$(curl -fsS --max-time 10 "$BASE/metrics") || die "GET /metrics failed"
  awk '/^chirp_likes_received_total / { r = $2 } /^chirp_likes_statements_total / { s = $2 }
       /^chirp_worker_events_total\{role="likes",result="processed"\}/ { p = $2 }
       END { print r + 0, s + 0, p + 0 }' <<<"$m"
}

r=0
for T in $THREADS_LIST; do
  H=${HOT[$r]}
  r=$((r + 1))
  say "---- round: CHIRP_HTTP_THREADS=$T, hot tweet $H ----"
  gateway_start "$T" "${LENV[@]}"
  curl -fsS --max-time 10 -o /dev/null "$BASE/api/v1/tweets/$H" || die "GET of the hot tweet failed"
  poster=$(token_of $POSTER)
  procs=("gateway:$GW_PID")
  for w in "${WORKER_PIDS[@]}"; do procs+=("$w"); done
  [[ -z $REDIS_PID ]] || procs+=("redis:$REDIS_PID")
  [[ -z $RABBIT_PID ]] || procs+=("rabbitmq:$RABBIT_PID")

  bg=$(background_load)
  pa=$(run_wrk "post-a-t$T" "$BASE/api/v1/tweets" "$DURATION" BENCH_METHOD=POST BENCH_EXPECT=202 \
    BENCH_BODY_FILE="$BENCH/fl-post.json" BENCH_TOKEN="$poster")
  say "POST /tweets: $pa"
  read -r rc0 st0 pr0 <<<"$(counters)"
  q0=$(metric chirp_db_queries_total)
  cpu_snap "${procs[@]}"
  lk=$(run_wrk "like-t$T" "$BASE/api/v1/tweets/$H/like" "$DURATION" BENCH_METHOD=POST BENCH_EXPECT=202 \
    BENCH_TOKENS_FILE="$BENCH/fl-like-tokens.txt")
  lcpu=$(cpu_report)
  q1=$(metric chirp_db_queries_total)
  say "POST /like: $lk"
  say "CPU: $lcpu"
  accepted=$(kv "$lk" expected)
  # Every accepted like reaches the batcher; wait (bounded, 120 s) until it
  # has flushed all but at most FLUSH_COUNT of them (those wait for their
  # age) or makes no progress for 3 s.
  t_wait=$EPOCHREALTIME
  flush_count=${CHIRP_LIKES_FLUSH_COUNT:-10}
  prev=-1 still=0 t_done=$EPOCHREALTIME
  for ((i = 0; i < 240; i++)); do
    read -r rc1 st1 pr1 <<<"$(counters)"
    if [[ $((rc1 - rc0)) -ge $accepted && $((rc1 - pr1)) -le $flush_count ]]; then
      t_done=$EPOCHREALTIME
      break
    fi
    if [[ $pr1 -eq $prev ]]; then still=$((still + 1)); else still=0 t_done=$EPOCHREALTIME; fi
    [[ $still -lt 6 ]] || break
    prev=$pr1
    sleep 0.5
  done
  drain=$(awk -v a="$t_wait" -v b="$t_done" 'BEGIN { printf "%.1f", b - a }')
  pb=$(run_wrk "post-b-t$T" "$BASE/api/v1/tweets" "$DURATION" BENCH_METHOD=POST BENCH_EXPECT=202 \
    BENCH_BODY_FILE="$BENCH/fl-post.json" BENCH_TOKEN="$poster")
  say "POST /tweets: $pb"
  alive "$GW_PID" || { tail -n 30 "$GW_LOG" >&2; die "the gateway died"; }
  alive "$LIKES_PID" || die "the likes worker died"
  w=$(warnings "$GW_LOG")
  [[ -z $w ]] || NOTES+=("threads=$T: $w")
  stop_pid "$GW_PID"
  # The posted tweets' other queues are not this benchmark's business.
  "$FEED_LOAD" purge -a "$CHIRP_AMQP_URL" chirp.notify >/dev/null

  received=$((rc1 - rc0)) stmts=$((st1 - st0)) flushed=$((pr1 - pr0))
  per10k=$(awk -v s="$stmts" -v f="$flushed" 'BEGIN { if (f > 0) printf "%.1f", s * 10000 / f; else print "n/a" }')
  pg_count=$(psql_q "select coalesce((select likes from tweet_counts where tweet_id = $H), 0)")
  post=$(mean "$(kv "$pa" ok_rps)" "$(kv "$pb" ok_rps)")
  likes=$(kv "$lk" ok_rps)
  row "Likes accepted/s, 1 hot tweet, t=$T" "$likes" "POST /tweets 202/s ($(kv "$pa" ok_rps)/$(kv "$pb" ok_rps))" \
    "$post" "$(ratio "$likes" "$post")" ">=1.00" "$(ge "$(ratio "$likes" "$post")" 1) $(valid "$lk") post:$(valid "$pa")/$(valid "$pb")"
  row "  like p99 ms (POST /tweets p99)" "$(kv "$lk" p99_ms)" "POST /tweets p99 ms" \
    "$(mean "$(kv "$pa" p99_ms)" "$(kv "$pb" p99_ms)")" "-" "info" ""
  drain_rate=$(awk -v f="$flushed" -v d="$DURATION" -v x="$drain" 'BEGIN { printf "%.1f", f / (d + x) }')
  row "  likes flushed/s (run + ${drain}s drain)" "$drain_rate" "likes accepted/s" "$likes" "$(ratio "$drain_rate" "$likes")" "info" \
    "$(awk -v x="$drain" 'BEGIN { if (x > 3) print "batcher falls behind" }')"
  row "DB statements per 10 000 likes, t=$T" "$per10k" "-" "-" "-" "<=100" "$(le "$per10k" 100)"
  NOTES+=("threads=$T: $accepted likes accepted, $received received by the batcher, $flushed flushed in $stmts statement(s) (mean $(awk -v s="$stmts" -v f="$flushed" 'BEGIN { if (s > 0) printf "%.1f", f / s; else print "-" }') likes each), drained ${drain} s after the run; tweet_counts.likes = $pg_count; gateway PostgreSQL statements during the like run: $((q1 - q0))")
  NOTES+=("threads=$T: machine load before (not ours) $bg; CPU during the like run: $lcpu")
done

for w in "$LOG"/worker-*.log; do
  n=$(warnings "$w")
  [[ -z $n ]] || NOTES+=("$n")
done

echo
echo "Chirp like benchmark — $(date -u '+%Y-%m-%d %H:%M:%SZ'), $(nproc) CPUs; $SOURCE"
echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s on loopback; dedicated stack (PostgreSQL $FL_PG_PORT, Redis $FL_REDIS_PORT, AMQP $FL_AMQP_PORT); workers: likes, persist, fanout (1 each)."
echo "CHIRP_LIKES_FLUSH_COUNT=${CHIRP_LIKES_FLUSH_COUNT:-10 (default)}, CHIRP_LIKES_FLUSH_AGE_MS=${CHIRP_LIKES_FLUSH_AGE_MS:-60000 (default)}; sessions $([[ ${CHIRP_BENCH_COLD_SESSIONS:-0} == 1 ]] && echo cold || echo "cached in Redis beforehand")."
echo "References measured in the same round (before/after the figure; ref = mean). Rates per second, latencies in ms."
echo
print_table
