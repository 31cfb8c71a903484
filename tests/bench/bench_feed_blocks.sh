#!/usr/bin/env bash
# tests/bench/bench_feed_blocks.sh — the home feed of a viewer who blocks
# 1 000 accounts, and of a viewer whose feed is reposts, beside the plain page
# of a viewer with none, with Redis commands and PostgreSQL statements per
# page (the figures that matter: filtering and reposts must not add round
# trips; rates on a shared machine are noisy).
#
#   plain:   reader 1 follows 200 accounts (5 tweets each)
#   blocks:  reader 3 follows the same 200 and blocks 1 000 other accounts
#   +mutes:  reader 4 as reader 3, and mutes 50 of the 200 it follows (their
#            tweets stay in its feed list and are skipped at read time: the
#            page reads on until it holds 20 items)
#   reposts: reader 5 follows 201 accounts that only repost: each of the 200
#            authors' 5 tweets reposted by one of them, and each author's
#            first tweet also by a second one (collapsed: shown once)
#
#   tests/bench/bench_feed_blocks.sh
#   CHIRP_BENCH_DURATION=5 tests/bench/bench_feed_blocks.sh
#
# Settings: CHIRP_BENCH_DURATION (5 s per wrk run), CHIRP_BENCH_CONNECTIONS
# (16), CHIRP_BENCH_WRK_THREADS (2), CHIRP_BENCH_THREADS (gateway threads, 8),
# and those of tests/bench/feed_lib.sh (build, ports, stack).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=tests/bench/feed_lib.sh
source tests/bench/feed_lib.sh

DURATION=${CHIRP_BENCH_DURATION:-5}
CONNS=${CHIRP_BENCH_CONNECTIONS:-16}
WRK_THREADS=${CHIRP_BENCH_WRK_THREADS:-2}
T=${CHIRP_BENCH_THREADS:-8}
for v in DURATION CONNS WRK_THREADS T; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v} must be a positive integer"
done

PLAIN=1 BLOCKER=3 MUTER=4 REPOSTS=5
AUTH_LO=1001 AUTH_HI=1200      # followed by every reader, 5 tweets each
MUTED_HI=1050                  # reader 4 mutes 1001..1050
BLK_LO=20001 BLK_HI=21000      # blocked by readers 3 and 4
RP_LO=3001 RP_HI=3201          # followed by reader 5; author a's tweets reposted by a + 2000

fl_build
fl_stack_up
fl_reset
TEXT="lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim"
{
  echo "BEGIN;"
  sql_accounts $PLAIN $PLAIN
  sql_accounts $BLOCKER $MUTER
  sql_accounts $AUTH_LO $AUTH_HI 0
  sql_accounts $BLK_LO $BLK_HI 0
  sql_accounts $REPOSTS $REPOSTS
  sql_accounts $RP_LO $RP_HI 0
  cat <<EOF
INSERT INTO follows (follower_id, followee_id, active, event_id, changed_at)
  SELECT r, a, true, $(snowflake "$SQL_NOW_MS - 7200000" "a * 10 + r"), now()
  FROM generate_series($AUTH_LO, $AUTH_HI) a, (VALUES ($PLAIN), ($BLOCKER), ($MUTER)) v(r);
INSERT INTO tweets (id, author_id, text, created_at)
  SELECT $(snowflake ms a), a, 'Tweet ' || k || ' by @u' || a || ': $TEXT', to_timestamp(ms / 1000.0)
  FROM generate_series($AUTH_LO, $AUTH_HI) a, generate_series(0, 4) k,
  LATERAL (SELECT $SQL_NOW_MS - 3600000 + ((a - $AUTH_LO) * 5 + k) * 1000 AS ms) t;
INSERT INTO follows (follower_id, followee_id, active, event_id, changed_at)
  SELECT $REPOSTS, u, true, $(snowflake "$SQL_NOW_MS - 7200000" "u * 10 + $REPOSTS"), now()
  FROM generate_series($RP_LO, $RP_HI) u;
INSERT INTO reposts (tweet_id, user_id, repost_id, active, event_id, changed_at)
  SELECT $(snowflake ms a), u, rid, true, rid, now()
  FROM generate_series($AUTH_LO, $AUTH_HI) a, generate_series(0, 4) k,
  LATERAL (SELECT $SQL_NOW_MS - 3600000 + ((a - $AUTH_LO) * 5 + k) * 1000 AS ms) t,
  LATERAL (VALUES (a + 2000, $(snowflake "ms + 300" "a * 8 + k")),
                  (CASE WHEN k = 0 THEN a + 2001 END, $(snowflake "ms + 600" "a * 8 + 7"))) v(u, rid)
  WHERE u IS NOT NULL;
INSERT INTO blocks_mutes (kind, actor_id, target_id, active, event_id, changed_at)
  SELECT 1, r, b, true, $(snowflake "$SQL_NOW_MS - 5000000" "b * 10 + r"), now()
  FROM generate_series($BLK_LO, $BLK_HI) b, (VALUES ($BLOCKER), ($MUTER)) v(r);
INSERT INTO blocks_mutes (kind, actor_id, target_id, active, event_id, changed_at)
  SELECT 2, $MUTER, a, true, $(snowflake "$SQL_NOW_MS - 5000000" "a * 10 + 9"), now()
  FROM generate_series($AUTH_LO, $MUTED_HI) a;
EOF
  echo "$SQL_COUNTS"
  echo "COMMIT;"
} >"$BENCH/fb-data.sql"
psql_f -f "$BENCH/fb-data.sql" >/dev/null || die "loading the data set failed"
[[ $(psql_q "select count(*) from blocks_mutes where actor_id = $BLOCKER and kind = 1") == 1000 ]] ||
  die "the blocker's blocks are off"

gateway_start "$T" "CHIRP_FEED_CAP=800"
url="$BASE/api/v1/feed?limit=20"
for r in $PLAIN $BLOCKER $MUTER $REPOSTS; do
  code=$(curl -sS --max-time 30 -o "$BENCH/fb-feed-$r.json" -w '%{http_code}' \
    -H "Authorization: Bearer $(token_of $r)" "$url")
  [[ $code == 200 ]] || die "GET /feed as $r answered $code: $(head -c 300 "$BENCH/fb-feed-$r.json")"
done
n=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); a=[int(i["author_id"]) for i in d["items"]]; print(len(a), sum(1 for x in a if x <= int(sys.argv[2])))' "$BENCH/fb-feed-$MUTER.json" $MUTED_HI)
[[ $n == "20 0" ]] || die "the muter's page has (items, muted items) = ($n), not (20, 0)"
n=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); i=d["items"]; print(len(i), len({x["id"] for x in i}), sum(1 for x in i if x.get("reposted_by")))' "$BENCH/fb-feed-$REPOSTS.json")
[[ $n == "20 20 20" ]] || die "the reposts reader's page has (items, distinct, reposts) = ($n), not (20, 20, 20)"

for case in "plain:$PLAIN" "blocks 1000:$BLOCKER" "blocks 1000 + mutes 50:$MUTER" "reposts:$REPOSTS"; do
  name=${case%%:*} r=${case##*:}
  run_wrk "fb-warm-$r" "$url" 2 BENCH_TOKEN="$(token_of $r)" >/dev/null
  q0=$(metric chirp_db_queries_total)
  rsnap=$(redis_snap)
  g=$(run_wrk "fb-$r" "$url" "$DURATION" BENCH_TOKEN="$(token_of $r)")
  read -r rcmd rcpu <<<"$(redis_cost "$rsnap" "$(kv "$g" requests)")"
  q1=$(metric chirp_db_queries_total)
  say "$name: $g"
  row "GET /feed 20 items, $name: req/s" "$(kv "$g" rps)" "p99 ms" "$(kv "$g" p99_ms)" "" "" "$(valid "$g")"
  row "  Redis commands/page" "$rcmd" "Redis CPU us/page" "$rcpu" "" "" "info"
  NOTES+=("$name: PostgreSQL statements over $(kv "$g" requests) pages: $((q1 - q0))")
done
alive "$GW_PID" || die "the gateway died during the run"
stop_pid "$GW_PID"
echo
echo "Chirp feed benchmark with blocks — $(date -u '+%Y-%m-%d %H:%M:%SZ'), $(nproc) CPUs; $SOURCE"
echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s on loopback, gateway threads $T; dedicated stack."
echo
print_table
