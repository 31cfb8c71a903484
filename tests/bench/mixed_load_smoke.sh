#!/usr/bin/env bash
# tests/bench/mixed_load_smoke.sh — ctest unit_mixed_load_smoke: the open-loop
# generator (mixed_load) against a tiny local target, the bare ulfius server
# (answers 200 with the same bytes to everything), 2 s at 200 req/s each:
#   1. GET only: exactly 400 requests offered, all sent and answered 200;
#   2. the 60/30/10 mix: the kinds add up to 400 in about those shares, the
#      posts counted unexpected (200, not 202), the reads not;
#   3. a port nobody listens on: connect errors, every request unsent, and
#      the generator stops by itself (scheduling + -t).
# Not a benchmark: the rates are tiny and no figure is judged.
#
#   mixed_load_smoke.sh MIXED_LOAD BARE_ULFIUS
set -euo pipefail
LOAD=$1 BARE=$2
TMP=$(mktemp -d)
bare_pid=
# shellcheck disable=SC2317 # (runs from the EXIT trap)
cleanup() {
  [[ -z $bare_pid ]] || { kill -TERM "$bare_pid" 2>/dev/null || true; wait "$bare_pid" 2>/dev/null || true; }
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
kv() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<"$1" | head -n1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

printf '{"items":[]}' >"$TMP/body.json"
printf '{"1","tokenA"},\n{"2","tokenB"},\n3 tokenC\n' >"$TMP/accounts.lua"
port=$((20000 + RANDOM % 20000))
for ((try = 0; try < 20; try++)); do
  port_open "$port" || {
    "$BARE" "$port" 2 "$TMP/body.json" >"$TMP/bare.log" 2>&1 &
    bare_pid=$!
    for ((i = 0; i < 30; i++)); do
      port_open "$port" && break 2
      kill -0 "$bare_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -TERM "$bare_pid" 2>/dev/null || true
    wait "$bare_pid" 2>/dev/null || true
    bare_pid=
  }
  port=$((port + 1))
done
[[ -n $bare_pid ]] || fail "bare ulfius could not listen ($(cat "$TMP/bare.log"))"

# 1. GET only
out=$("$LOAD" -u "127.0.0.1:$port" -R 200 -d 2 -c 8 -t 5 -g /healthz) || fail "mixed_load exited $?"
echo "$out"
all=$(grep '^RATE kind=all ' <<<"$out") || fail "no kind=all line"
[[ $(kv "$all" offered) == 400 ]] || fail "offered $(kv "$all" offered), not 400"
[[ $(kv "$all" sent) == 400 && $(kv "$all" "done") == 400 ]] || fail "not all 400 sent and answered"
[[ $(kv "$all" statuses) == 200:400 ]] || fail "statuses $(kv "$all" statuses)"
for k in unexpected errors_read errors_timeout unsent errors_connect; do
  [[ $(kv "$all" $k) == 0 ]] || fail "$k = $(kv "$all" $k)"
done
awk -v a="$(kv "$all" achieved_rps)" -v p="$(kv "$all" p50_ms)" -v q="$(kv "$all" p99_ms)" \
  'BEGIN { exit !(a >= 100 && a <= 201 && p > 0 && q >= p) }' || fail "achieved_rps/p50/p99 do not make sense"

# 2. the mix
out=$("$LOAD" -u "127.0.0.1:$port" -R 200 -d 2 -c 8 -t 5 -a "$TMP/accounts.lua" -m 60/30/10 -s 7) ||
  fail "mixed_load exited $?"
echo "$out"
feed=$(grep '^RATE kind=feed ' <<<"$out") || fail "no feed line"
tl=$(grep '^RATE kind=timeline ' <<<"$out") || fail "no timeline line"
post=$(grep '^RATE kind=post ' <<<"$out") || fail "no post line"
nf=$(kv "$feed" offered) nt=$(kv "$tl" offered) np=$(kv "$post" offered)
((nf + nt + np == 400)) || fail "kinds add up to $((nf + nt + np)), not 400"
((nf >= 190 && nf <= 290 && nt >= 80 && nt <= 160 && np >= 15 && np <= 70)) ||
  fail "shares feed $nf, timeline $nt, post $np are far from 60/30/10"
[[ $(kv "$feed" unexpected) == 0 && $(kv "$tl" unexpected) == 0 ]] || fail "reads counted unexpected"
[[ $(kv "$post" unexpected) == "$np" ]] || fail "posts answered 200 are not all unexpected"

# 3. nobody listening
dead=$port
while port_open "$dead"; do dead=$((dead + 1)); done
t0=$SECONDS
out=$(timeout 30 "$LOAD" -u "127.0.0.1:$dead" -R 100 -d 2 -c 4 -t 1 -g /x) || fail "mixed_load exited $? on a dead port"
echo "$out"
all=$(grep '^RATE kind=all ' <<<"$out") || fail "no kind=all line"
[[ $(kv "$all" unsent) == 200 && $(kv "$all" "done") == 0 ]] || fail "unsent $(kv "$all" unsent), done $(kv "$all" "done")"
(($(kv "$all" errors_connect) > 0)) || fail "no connect errors counted"
((SECONDS - t0 <= 10)) || fail "took $((SECONDS - t0)) s to stop"
echo "mixed_load smoke: ok"
