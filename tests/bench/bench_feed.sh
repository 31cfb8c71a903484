#!/usr/bin/env bash
# tests/bench/bench_feed.sh — the home-feed benchmark.  Prints each figure
# beside its reference measured in the same run on the same machine, as a
# ratio, and a PASS/FAIL against its target.  It never fails on a figure,
# only on a broken run.
#
#   1. Memory: Redis bytes per feed entry — INFO used_memory before/after
#      1 250 lists x 800 entries (decimal snowflake ids, one LPUSH each, the
#      encoding chirp_feed_push leaves).  Target <= 16.
#   2. Feed reads: GET /api/v1/feed?limit=20 (20 hydrated items, warm Redis)
#      for one user following 200 accounts (1 000 tweets; the feed built by
#      the rebuild on the first read), wrk -c CONNS — beside nginx serving a
#      static file of the same bytes and the bare ulfius server
#      (tests/bench/bare_ulfius.c) answering them from memory with the
#      gateway's thread count (each before and after; ref = mean).
#      Targets: >= 0.25 of nginx's req/s, >= 0.5 of bare ulfius, p99 < 15 ms;
#      beside them Redis commands and CPU microseconds per request.  One round per
#      gateway thread count in CHIRP_BENCH_THREADS.
#   3. Fan-out: one tweet (POST /api/v1/tweets) to 100 000 followers, two
#      fanout workers, CHIRP_HUGE_THRESHOLD above that: feed entries written
#      per second from the 202 until all 100 000 lists hold the tweet (the
#      median of 3 such tweets) —
#      beside redis-benchmark -t lpush -P 16 on the same Redis (before and
#      after; ref = mean).  Target >= 0.5.
#   4. Freshness: POST /api/v1/tweets open-loop at 1 000/s for 20 s by 200
#      authors of 100 followers each (99 of them with full 800-entry feeds;
#      one following only that author, probed); post -> visible in that follower's feed
#      list (the Redis list GET /feed pages from; the tweet is cached before
#      its id is pushed), p50 and p99.  Target p99 < 100 ms (and the rate
#      reached).  Then again at 200/s, for comparison.
#
#   tests/bench/bench_feed.sh
#   CHIRP_BENCH_THREADS="4 8 16 32" tests/bench/bench_feed.sh   # sweep (2.)
#
# The page of a viewer with 1 000 blocks (and mutes) beside the plain page:
# tests/bench/bench_feed_blocks.sh (same stack and helpers).
#
# Settings (environment):
#   CHIRP_BENCH_THREADS        gateway CHIRP_HTTP_THREADS for the feed-read rounds ("8 32")
#   CHIRP_BENCH_WRITE_THREADS  gateway threads for fan-out and freshness (32)
#   CHIRP_BENCH_DURATION       seconds of each wrk run (10)
#   CHIRP_BENCH_CONNECTIONS    wrk connections (64); CHIRP_BENCH_WRK_THREADS (2)
#   CHIRP_BENCH_FANOUT_FOLLOWERS (100000), CHIRP_BENCH_FANOUT_WORKERS (2),
#   CHIRP_BENCH_FANOUT_REPEAT (3 tweets, one after the other; the median counts)
#   CHIRP_BENCH_FRESH_RATES ("1000 200": one run each; the second shows the
#   latency at a rate the fan-out keeps up with), CHIRP_BENCH_FRESH_SECONDS (20),
#   CHIRP_BENCH_FRESH_CONNS (64), CHIRP_BENCH_FRESH_POLL_US (2000)
#   CHIRP_BENCH_MEM_FEEDS (1250), CHIRP_BENCH_MEM_ENTRIES (800)
#   CHIRP_BENCH_PHASES         which of "mem read fanout fresh" to run (all)
#   CHIRP_BENCH_PERF=1         perf record the gateway during each feed-read
#                              run (DWARF call graphs) and note the big callers
#   and those of tests/bench/feed_lib.sh (build, ports, stack).
#
# Everything listens on 127.0.0.1, on a dedicated stack (see feed_lib.sh)
# that is emptied at the start.  Files: var/bench/ (logs in var/bench/fl-log/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=tests/bench/feed_lib.sh
source tests/bench/feed_lib.sh
# shellcheck source=tests/bench/cost_lib.sh
source tests/bench/cost_lib.sh

THREADS_LIST=${CHIRP_BENCH_THREADS:-8 32}
WRITE_THREADS=${CHIRP_BENCH_WRITE_THREADS:-32}
DURATION=${CHIRP_BENCH_DURATION:-10}
CONNS=${CHIRP_BENCH_CONNECTIONS:-64}
WRK_THREADS=${CHIRP_BENCH_WRK_THREADS:-2}
FAN_N=${CHIRP_BENCH_FANOUT_FOLLOWERS:-100000}
FAN_WORKERS=${CHIRP_BENCH_FANOUT_WORKERS:-2}
FAN_REPEAT=${CHIRP_BENCH_FANOUT_REPEAT:-3}
FRESH_RATES=${CHIRP_BENCH_FRESH_RATES:-1000 200}
FRESH_SECONDS=${CHIRP_BENCH_FRESH_SECONDS:-20}
FRESH_CONNS=${CHIRP_BENCH_FRESH_CONNS:-64}
FRESH_POLL_US=${CHIRP_BENCH_FRESH_POLL_US:-2000}
MEM_FEEDS=${CHIRP_BENCH_MEM_FEEDS:-1250}
MEM_ENTRIES=${CHIRP_BENCH_MEM_ENTRIES:-800}
PHASES=" ${CHIRP_BENCH_PHASES:-mem read fanout fresh} "
FEED_CAP=800
FAN_CHUNK=1000
for v in WRITE_THREADS DURATION CONNS WRK_THREADS FAN_N FAN_WORKERS FAN_REPEAT FRESH_SECONDS \
  FRESH_CONNS FRESH_POLL_US MEM_FEEDS MEM_ENTRIES; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v} must be a positive integer"
done
for t in $FRESH_RATES; do [[ $t =~ ^[1-9][0-9]*$ ]] || die "CHIRP_BENCH_FRESH_RATES: \"$t\" is not a number"; done
for t in $THREADS_LIST; do [[ $t =~ ^[1-9][0-9]*$ ]] || die "CHIRP_BENCH_THREADS: \"$t\" is not a number"; done
phase() { [[ $PHASES == *" $1 "* ]]; }

# Account ids (small numbers; the gateway's own ids are snowflakes, far above):
READER=1 FAN_AUTHOR=2
AUTH_LO=1001 AUTH_HI=1200       # the 200 accounts the reader follows, 5 tweets each
FAN_LO=100001 FAN_HI=$((100000 + FAN_N))
FR_LO=3001 FR_HI=3200           # freshness authors
FRF_LO=5001 FRF_HI=7000         # freshness followers (99 per author, ~10 authors each)
FRS_LO=7001 FRS_HI=7200         # and one "sentinel" follower per author, following only it
MEM_OWNER0=900000000

fl_build
fl_stack_up
fl_reset
say "stack emptied; building the data set with psql"

# ---- data ------------------------------------------------------------------------
TEXT="lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim"
t0=$EPOCHREALTIME
{
  echo "BEGIN;"
  sql_accounts $READER $FAN_AUTHOR
  sql_accounts $AUTH_LO $AUTH_HI 0
  sql_accounts $FR_LO $FR_HI
  sql_accounts $FRF_LO $FRF_HI 0
  sql_accounts $FRS_LO $FRS_HI 0
  sql_accounts $FAN_LO $FAN_HI 0
  cat <<EOF
INSERT INTO follows (follower_id, followee_id, active, event_id, changed_at)
  SELECT $READER, a, true, $(snowflake "$SQL_NOW_MS - 7200000" a), now()
  FROM generate_series($AUTH_LO, $AUTH_HI) a;
INSERT INTO tweets (id, author_id, text, created_at)
  SELECT $(snowflake ms a), a, 'Tweet ' || k || ' by @u' || a || ': $TEXT', to_timestamp(ms / 1000.0)
  FROM generate_series($AUTH_LO, $AUTH_HI) a, generate_series(0, 4) k,
  LATERAL (SELECT $SQL_NOW_MS - 3600000 + ((a - $AUTH_LO) * 5 + k) * 1000 AS ms) t;
INSERT INTO follows (follower_id, followee_id, active, event_id, changed_at)
  SELECT f, $FAN_AUTHOR, true, $(snowflake "$SQL_NOW_MS - 7200000" f), now()
  FROM generate_series($FAN_LO, $FAN_HI) f;
INSERT INTO follows (follower_id, followee_id, active, event_id, changed_at)
  SELECT $FRF_LO + ((a - $FR_LO) * 100 % ($FRF_HI - $FRF_LO + 1)) + k, a, true,
         $(snowflake "$SQL_NOW_MS - 7200000" "a * 100 + k"), now()
  FROM generate_series($FR_LO, $FR_HI) a, generate_series(0, 98) k;
INSERT INTO follows (follower_id, followee_id, active, event_id, changed_at)
  SELECT $FRS_LO + a - $FR_LO, a, true, $(snowflake "$SQL_NOW_MS - 7200000" "a * 100 + 99"), now()
  FROM generate_series($FR_LO, $FR_HI) a;
EOF
  echo "$SQL_COUNTS"
  echo "COMMIT;"
} >"$BENCH/fl-feed-data.sql"
psql_f -f "$BENCH/fl-feed-data.sql" >/dev/null || die "loading the data set failed"
read -r n_acc n_fol n_tw <<<"$(psql_q "select (select count(*) from accounts), (select count(*) from follows), (select count(*) from tweets)" | tr '|' ' ')"
say "data: $n_acc accounts, $n_fol follows, $n_tw tweets in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
[[ $(psql_q "select following_count from accounts where id = $READER") == 200 ]] || die "reader follow count is off"
[[ $(psql_q "select followers_count from accounts where id = $FAN_AUTHOR") == "$FAN_N" ]] || die "fan-out follower count is off"

# ---- 1. memory ------------------------------------------------------------------
if phase mem; then
  say "---- memory: $MEM_FEEDS feeds x $MEM_ENTRIES entries ----"
  mem=$("$FEED_LOAD" fill -r "127.0.0.1:$FL_REDIS_PORT" -f "$MEM_FEEDS" -e "$MEM_ENTRIES" -b $MEM_OWNER0) ||
    die "the memory fill failed"
  say "$mem"
  bpe=$(kv "$mem" bytes_per_entry)
  opl=$(kv "$mem" one_list_per_entry)
  row "Redis bytes per feed entry ($(kv "$mem" entries) entries)" "$bpe" "MEMORY USAGE one list / entries" "$opl" \
    "$(ratio "$bpe" "$opl")" "<=16" "$(le "$bpe" 16)"
  NOTES+=("memory: used_memory $(kv "$mem" used_before) -> $(kv "$mem" used_after) B over $(kv "$mem" entries) entries; one list of $(kv "$mem" one_list_len): MEMORY USAGE $(kv "$mem" one_list_usage) B = $(kv "$mem" one_list_per_entry) B/entry, encoding $(kv "$mem" encoding), list-max-listpack-size $(kv "$mem" list_max_listpack_size)")
fi

# ---- workers (shared by the phases below) ---------------------------------------------
WENV=("CHIRP_HUGE_THRESHOLD=$((FAN_N * 10 + 1000000))" "CHIRP_FEED_CAP=$FEED_CAP" "CHIRP_FANOUT_CHUNK=$FAN_CHUNK")
worker_start persist 1 "${WENV[@]}"
worker_start fanout "$FAN_WORKERS" "${WENV[@]}"
procs_of_stack() {
  local p=()
  [[ -z $REDIS_PID ]] || p+=("redis:$REDIS_PID")
  [[ -z $RABBIT_PID ]] || p+=("rabbitmq:$RABBIT_PID")
  echo "${p[@]}"
}

# ---- 2. feed reads ----------------------------------------------------------------------
if phase read; then
  nginx_start
  say "nginx on 127.0.0.1:$NGINX_PORT"
  READER_TOKEN=$(token_of $READER)
  for T in $THREADS_LIST; do
    say "---- feed reads: CHIRP_HTTP_THREADS=$T ----"
    gateway_start "$T" "${WENV[@]}"
    url="$BASE/api/v1/feed?limit=20"
    # The first read rebuilds the feed from PostgreSQL and fills the caches.
    code=$(curl -sS --max-time 30 -o "$BENCH/fl-feed.json" -w '%{http_code}' \
      -H "Authorization: Bearer $READER_TOKEN" "$url")
    [[ $code == 200 ]] || die "GET /feed answered $code: $(head -c 300 "$BENCH/fl-feed.json")"
    items=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["items"]), sum(1 for i in d["items"] if "author" in i and "like_count" in i))' "$BENCH/fl-feed.json")
    [[ $items == "20 20" ]] || die "GET /feed gave (items, hydrated) = ($items), not 20 hydrated items"
    flen=$(rcli LLEN "chirp:f:{$READER}")
    curl -fsS --max-time 10 -o "$BENCH/fl-feed.json" -H "Authorization: Bearer $READER_TOKEN" "$url"
    cp "$BENCH/fl-feed.json" "$NGINX_PREFIX/www/feed.json"
    size=$(wc -c <"$BENCH/fl-feed.json")
    nsize=$(curl -fsS --max-time 10 "http://127.0.0.1:$NGINX_PORT/feed.json" | wc -c)
    [[ $nsize -eq $size ]] || die "nginx serves $nsize bytes, the gateway $size"
    say "feed list holds $flen ids; the page is $size bytes"
    bare_start "$T" "$BENCH/fl-feed.json" $((NGINX_PORT + 20))
    bsize=$(curl -fsS --max-time 10 "http://127.0.0.1:$BARE_PORT/feed.json" | wc -c)
    [[ $bsize -eq $size ]] || die "bare ulfius serves $bsize bytes, the gateway $size"
    # warm-up (not measured)
    run_wrk "feed-warm-t$T" "$url" 3 BENCH_TOKEN="$READER_TOKEN" >/dev/null
    bg=$(background_load)
    na=$(run_wrk "nginx-a-t$T" "http://127.0.0.1:$NGINX_PORT/feed.json" "$DURATION")
    say "nginx: $na"
    ba=$(run_wrk "bare-a-t$T" "http://127.0.0.1:$BARE_PORT/feed.json" "$DURATION")
    say "bare ulfius: $ba"
    q0=$(metric chirp_db_queries_total)
    rsnap=$(redis_snap)
    # shellcheck disable=SC2046
    cpu_snap "gateway:$GW_PID" $(procs_of_stack)
    perf_pid=
    if [[ ${CHIRP_BENCH_PERF:-0} == 1 ]] && command -v perf >/dev/null; then
      # Sampled from 1 s into the run for DURATION-2 s, with DWARF call graphs.
      (sleep 1 && exec timeout $((DURATION + 20)) perf record -q -F 299 --call-graph dwarf,8192 \
        -p "$GW_PID" -o "$LOG/perf-feed-t$T.data" -- sleep $((DURATION > 3 ? DURATION - 2 : 1))) \
        >"$LOG/perf-feed-t$T.log" 2>&1 &
      perf_pid=$!
      PIDS[$perf_pid]="perf record"
    fi
    g=$(run_wrk "feed-t$T" "$url" "$DURATION" BENCH_TOKEN="$READER_TOKEN")
    rcost=$(redis_cost "$rsnap" "$(kv "$g" requests)")
    gcpu=$(cpu_report)
    if [[ -n $perf_pid ]]; then
      wait "$perf_pid" 2>/dev/null || true
      unset "PIDS[$perf_pid]"
      perf report -i "$LOG/perf-feed-t$T.data" --children --sort symbol --stdio -g none 2>/dev/null |
        grep -E ' (dispatch|h_feed|gw_hydrate_tweets|gw_hydrate_page|json_loadb|json_dumps|json_pack|redisGetReply|redisvFormatCommand|redisAppendCommand|chirp_redis_eval|chirp_feed_page|gw_stats_[a-z]+|gw_guard_rate|authenticate|chirp_session_lookup|finalize|author_json|tweet_json|malloc|free)( |$)' |
        awk '!seen[$4]++ { printf "%s %s; ", $4, $1 }' >"$LOG/perf-feed-t$T.txt"
      NOTES+=("feed t=$T perf (share of gateway samples incl. callees): $(cat "$LOG/perf-feed-t$T.txt") data in $LOG/perf-feed-t$T.data")
    fi
    q1=$(metric chirp_db_queries_total)
    say "gateway: $g"
    say "CPU: $gcpu"
    nb=$(run_wrk "nginx-b-t$T" "http://127.0.0.1:$NGINX_PORT/feed.json" "$DURATION")
    say "nginx: $nb"
    bb=$(run_wrk "bare-b-t$T" "http://127.0.0.1:$BARE_PORT/feed.json" "$DURATION")
    say "bare ulfius: $bb"
    stop_pid "$bare_pid"
    alive "$GW_PID" || { tail -n 30 "$GW_LOG" >&2; die "the gateway died during the feed run"; }
    w=$(warnings "$GW_LOG")
    [[ -z $w ]] || NOTES+=("threads=$T: $w")
    stop_pid "$GW_PID"
    nref=$(mean "$(kv "$na" rps)" "$(kv "$nb" rps)")
    np99=$(mean "$(kv "$na" p99_ms)" "$(kv "$nb" p99_ms)")
    grps=$(kv "$g" rps) gp99=$(kv "$g" p99_ms)
    row "GET /feed 20 items ${size}B, t=$T req/s" "$grps" "nginx static ${size}B ($(kv "$na" rps)/$(kv "$nb" rps))" \
      "$nref" "$(ratio "$grps" "$nref")" ">=0.25" "$(ge "$(ratio "$grps" "$nref")" 0.25) $(valid "$g")"
    bref=$(mean "$(kv "$ba" rps)" "$(kv "$bb" rps)")
    row "  (same) vs. bare ulfius" "$grps" "bare ulfius t=$T ($(kv "$ba" rps)/$(kv "$bb" rps))" \
      "$bref" "$(ratio "$grps" "$bref")" ">=0.50" "$(ge "$(ratio "$grps" "$bref")" 0.5)"
    row "GET /feed t=$T p99 ms" "$gp99" "nginx p99 ms" "$np99" "$(ratio "$gp99" "$np99")" "<15ms" "$(lt "$gp99" 15)"
    read -r rcmd rcpu <<<"$rcost"
    row "  (same) Redis commands/req" "$rcmd" "Redis CPU us/req" "$rcpu" "" "" "info"
    NOTES+=("feed t=$T: machine load before (not ours) $bg; CPU during the gateway run: $gcpu; PostgreSQL statements during it: $((q1 - q0)) (0 = all from Redis); p50 $(kv "$g" p50_ms) ms")
  done
  nginx_stop
fi

# ---- the gateway for writes ---------------------------------------------------------
if phase fanout || phase fresh; then
  gateway_start "$WRITE_THREADS" "${WENV[@]}"
  printf '{"text": "%s"}' "Benchmark tweet: $TEXT" >"$BENCH/fl-post.json"
fi

# redis_lpush_ref — redis-benchmark -t lpush -P 16 on our Redis: its rps.
redis_lpush_ref() {
  local out r
  out=$(timeout 120 redis-benchmark -h 127.0.0.1 -p "$FL_REDIS_PORT" -t lpush -P 16 -n 2000000 -q 2>&1 |
    tr '\r' '\n' | grep -a 'LPUSH' | tail -n1)
  rcli DEL mylist >/dev/null
  r=$(sed -n 's/.*LPUSH: \([0-9.]*\) requests per second.*/\1/p' <<<"$out")
  [[ -n $r ]] || die "redis-benchmark printed no LPUSH rate: $out"
  say "redis-benchmark: $out"
  echo "$r"
}

# ---- 3. fan-out ---------------------------------------------------------------------------
if phase fanout; then
  say "---- fan-out: one tweet to $FAN_N followers, $FAN_WORKERS fanout workers ----"
  ref_a=$(redis_lpush_ref)
  events=$((1 + (FAN_N + FAN_CHUNK - 1) / FAN_CHUNK))
  # shellcheck disable=SC2046
  cpu_snap "gateway:$GW_PID" $(printf '%s\n' "${WORKER_PIDS[@]}" | grep '^fanout:') $(procs_of_stack)
  eps_all=() fo_notes=()
  COST_BASE=$BASE COST_REDIS=(-h 127.0.0.1 -p "$FL_REDIS_PORT")
  cost_snap
  for ((k = 1; k <= FAN_REPEAT; k++)); do
    fo=$("$FEED_LOAD" fanout -g "127.0.0.1:$GW_PORT" -t "$(token_of $FAN_AUTHOR)" -B "$BENCH/fl-post.json" \
      -r "127.0.0.1:$FL_REDIS_PORT" -c chirp:m:events:fanout:processed -x "$events" \
      -F $FAN_LO -n "$FAN_N" -T 300) || { say "$fo"; die "the fan-out did not complete in 300 s"; }
    say "$fo"
    eps_all+=("$(kv "$fo" entries_per_s)")
    fo_notes+=("#$k: POST $(kv "$fo" post_ms) ms, $events events done $(kv "$fo" events_s) s and all $FAN_N lists seen $(kv "$fo" all_seen_s) s after the 202")
    sleep 1
  done
  focpu=$(cpu_report)
  say "CPU: $focpu"
  focost=$(cost_report $((FAN_N * FAN_REPEAT)) "feed entry")
  say "cost: $focost"
  NOTES+=("fan-out cost $focost")
  ref_b=$(redis_lpush_ref)
  ref=$(mean "$ref_a" "$ref_b")
  eps=$(printf '%s\n' "${eps_all[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  row "Fan-out entries/s (1 tweet, $FAN_N followers)" "$eps" "redis-benchmark lpush -P16 ($ref_a/$ref_b)" \
    "$ref" "$(ratio "$eps" "$ref")" ">=0.50" "$(ge "$(ratio "$eps" "$ref")" 0.5)"
  NOTES+=("fan-out: median of $FAN_REPEAT tweets (entries/s: ${eps_all[*]}); $(IFS=';'; echo "${fo_notes[*]}"); the lists held 0, 1, ... entries before (no LTRIM)")
  NOTES+=("fan-out CPU (all $FAN_REPEAT, with 1 s pauses): $focpu")
  # The 100 000 one-entry lists are not needed any more.
  rcli EVAL "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do redis.call('DEL', 'chirp:f:{' .. string.format('%d', i) .. '}') end return 1" 0 $FAN_LO $FAN_HI >/dev/null
fi

# ---- 4. freshness ---------------------------------------------------------------------------
if phase fresh; then
  # The followers' feeds hold a full 800 entries, as in use (pushes then trim).
  "$FEED_LOAD" fill -r "127.0.0.1:$FL_REDIS_PORT" -f $((FRF_HI - FRF_LO + 1)) -e $FEED_CAP -b $FRF_LO -k >/dev/null
  # token and the sentinel follower: its list holds this author's tweets
  # only (short: a cheap probe); the highest id, so pushed last in its chunk
  for ((a = FR_LO; a <= FR_HI; a++)); do
    echo "$(token_of $a) $((FRS_LO + a - FR_LO))"
  done >"$BENCH/fl-fresh-authors.txt"
  for R in $FRESH_RATES; do
    say "---- freshness: $R tweets/s for $FRESH_SECONDS s, 100 followers each ----"
    # A backlog left by an earlier rate is not this run's: drop it, let the
    # workers finish the batches they hold.
    "$FEED_LOAD" purge -a "$CHIRP_AMQP_URL" chirp.fanout chirp.persist chirp.notify >/dev/null
    sleep 5
    p0=$(rcli GET chirp:m:events:fanout:processed)
    COST_BASE=$BASE COST_REDIS=(-h 127.0.0.1 -p "$FL_REDIS_PORT")
    cost_snap
    bg=$(background_load)
    # shellcheck disable=SC2046
    cpu_snap "gateway:$GW_PID" "${WORKER_PIDS[@]}" $(procs_of_stack)
    tf0=$EPOCHREALTIME
    fr=$("$FEED_LOAD" fresh -g "127.0.0.1:$GW_PORT" -A "$BENCH/fl-fresh-authors.txt" -B "$BENCH/fl-post.json" \
      -r "127.0.0.1:$FL_REDIS_PORT" -R "$R" -d "$FRESH_SECONDS" -C "$FRESH_CONNS" \
      -p "$FRESH_POLL_US" -W 30) || die "the freshness run failed"
    frcpu=$(cpu_report)
    p1=$(rcli GET chirp:m:events:fanout:processed)
    fan_rate=$(awk -v n="$((p1 - p0))" -v a="$tf0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", n / (b - a) }')
    depth=$("$FEED_LOAD" depth -a "$CHIRP_AMQP_URL" chirp.fanout chirp.persist | paste -sd ' ')
    say "$fr"
    say "CPU: $frcpu"
    rate=$(kv "$fr" achieved_rate) p50=$(kv "$fr" vis_p50_ms) p99=$(kv "$fr" vis_p99_ms)
    row "Freshness @$R/s: posts/s reached" "$rate" "target rate" "$R" "$(ratio "$rate" "$R")" ">=0.95" \
      "$(ge "$(ratio "$rate" "$R")" 0.95)"
    row "Freshness @$R/s: post->visible p50 ms" "$p50" "POST /tweets p50 ms (same run)" "$(kv "$fr" post_p50_ms)" \
      "$(ratio "$p50" "$(kv "$fr" post_p50_ms)")" "info" ""
    row "Freshness @$R/s: post->visible p99 ms" "$p99" "POST /tweets p99 ms (same run)" "$(kv "$fr" post_p99_ms)" \
      "$(ratio "$p99" "$(kv "$fr" post_p99_ms)")" "<100ms" \
      "$(lt "$p99" 100)$([[ $(kv "$fr" missing) == 0 ]] || echo " ($(kv "$fr" missing) never seen)")"
    NOTES+=("freshness @$R/s: $(kv "$fr" accepted)/$(kv "$fr" posted) posts accepted (failed: $(kv "$fr" failed_statuses)), $(kv "$fr" late_starts) sent >5 ms late; POST p50 $(kv "$fr" post_p50_ms) ms p99 $(kv "$fr" post_p99_ms) ms; visible from the 202: p50 $(kv "$fr" vis202_p50_ms) p99 $(kv "$fr" vis202_p99_ms) ms, max from send $(kv "$fr" vis_max_ms) ms; poll every $FRESH_POLL_US us (the oldest 64 unseen; up to 10x slower while none shows); at most $(kv "$fr" max_unseen) accepted tweets unseen at once; fanout workers processed $((p1 - p0)) events ($fan_rate/s over the run and its wait); queue depths after: $depth")
    NOTES+=("freshness @$R/s: machine load before (not ours) $bg; CPU: $frcpu")
    frcost=$(cost_report "$(kv "$fr" accepted)" "accepted tweet (100 followers)")
    say "cost: $frcost"
    NOTES+=("freshness @$R/s cost $frcost")
  done
fi

for w in "$LOG"/worker-*.log; do
  n=$(warnings "$w")
  [[ -z $n ]] || NOTES+=("$n")
done
[[ -z ${GW_LOG:-} ]] || { n=$(warnings "$GW_LOG"); [[ -z $n ]] || NOTES+=("$n"); }

echo
echo "Chirp feed benchmark — $(date -u '+%Y-%m-%d %H:%M:%SZ'), $(nproc) CPUs; $SOURCE"
echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s on loopback; dedicated stack (PostgreSQL $FL_PG_PORT, Redis $FL_REDIS_PORT, AMQP $FL_AMQP_PORT); 1 persist + $FAN_WORKERS fanout workers."
echo "References measured in the same run (before/after the figure; ref = mean). Rates per second, latencies in ms."
echo
print_table
