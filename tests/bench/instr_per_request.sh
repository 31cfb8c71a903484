#!/usr/bin/env bash
# tests/bench/instr_per_request.sh — instructions per request of a server,
# counted by valgrind's callgrind: a figure that does not drift with the
# load of a shared machine (throughput and CPU time do).  User-space
# instructions only (the kernel's TCP work is not in it), and a `rep stos`
# counts once per byte: libmicrohttpd's pool reset (a memset of the 32 KiB
# connection memory, up to ~49 k "instructions" per request, varying with
# timing) weighs far more here than on the CPU: compare rest_per_request.
#
#   tests/bench/instr_per_request.sh N URL [TOKEN] -- CMD [ARG...]
#
# Starts CMD under callgrind with instrumentation off, waits until URL
# answers 2xx, sends 200 warm-up requests, then N requests over the same 4
# keep-alive connections (GET, TOKEN as a Bearer token when given), and prints
#   IPR name=<CMD's basename> requests=N ir=<total> ir_per_request=<ir/N>
#       memset_per_request=<memset's share> rest_per_request=<the rest>
# The process is stopped at the end.  Environment for CMD is inherited,
# e.g. the gateway's CHIRP_* settings:
#
#   CHIRP_HTTP_PORT=28902 CHIRP_LOG_LEVEL=warn tests/bench/instr_per_request.sh 2000 \
#     http://127.0.0.1:28902/api/v1/tweets/$ID -- build/gateway/chirp-gateway
#   tests/bench/instr_per_request.sh 2000 http://127.0.0.1:28913/t.json -- \
#     build/tests/bench/bare_ulfius 28913 32 tweet.json
set -euo pipefail
[[ $# -ge 4 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2; }
N=$1 URL=$2
shift 2
TOKEN=
if [[ $1 != -- ]]; then TOKEN=$1; shift; fi
[[ $1 == -- ]] || { echo "instr_per_request: expected -- before the command" >&2; exit 2; }
shift
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "instr_per_request: N must be a positive integer" >&2; exit 2; }
for t in valgrind callgrind_control curl python3; do
  command -v "$t" >/dev/null || { echo "instr_per_request: $t is not installed" >&2; exit 2; }
done
DIR=$(mktemp -d)
trap '[[ -n ${LOAD_PID:-} ]] && kill "$LOAD_PID" 2>/dev/null; [[ -n ${PID:-} ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$DIR/cg.out" "$@" >"$DIR/log" 2>&1 &
PID=$!
AUTH=()
[[ -n $TOKEN ]] && AUTH=(-H "Authorization: Bearer $TOKEN")
for ((i = 0; i < 600; i++)); do
  curl -fsS -o /dev/null --max-time 5 "${AUTH[@]}" "$URL" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { cat "$DIR/log" >&2; echo "instr_per_request: the command exited" >&2; exit 1; }
  sleep 0.5
done
# The load, one process for both phases so that the measured requests go
# over the warmed connections (each stays on the server thread that took
# it, whose per-thread state is then warm too): 200 GETs over 4 keep-alive
# connections, "warm" on stdout, then after a line on stdin N more, "done".
coproc LOAD {
  python3 - "$URL" "$N" "$TOKEN" <<'PY'
import http.client, sys, threading, urllib.parse
u, n, tok = urllib.parse.urlsplit(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
path = (u.path or "/") + ("?" + u.query if u.query else "")
hdr = {"Authorization": "Bearer " + tok} if tok else {}
conns = [http.client.HTTPConnection(u.hostname, u.port or 80, timeout=120) for _ in range(4)]
bad = []
def run(c, k):
    for _ in range(k):
        c.request("GET", path, headers=hdr)
        r = c.getresponse()
        r.read()
        if r.status // 100 != 2: bad.append(r.status)
def phase(total):
    ks = [total // 4 + (1 if i < total % 4 else 0) for i in range(4)]
    ts = [threading.Thread(target=run, args=(c, k)) for c, k in zip(conns, ks)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    if bad: sys.exit("instr_per_request: %d answers were not 2xx (first %d)" % (len(bad), bad[0]))
phase(200)
print("warm", flush=True)
sys.stdin.readline()
phase(n)
print("done", flush=True)
PY
}
read -r -u "${LOAD[0]}" line || true
[[ ${line:-} == warm ]] || { echo "instr_per_request: the warm-up failed" >&2; exit 1; }
callgrind_control -i on "$PID" >/dev/null 2>&1
callgrind_control -z "$PID" >/dev/null 2>&1
echo go >&"${LOAD[1]}"
read -r -u "${LOAD[0]}" line || true
[[ ${line:-} == done ]] || { echo "instr_per_request: the measured requests failed" >&2; exit 1; }
callgrind_control -d measured "$PID" >/dev/null 2>&1
callgrind_control -i off "$PID" >/dev/null 2>&1
for ((i = 0; i < 100; i++)); do
  f=$(ls -t "$DIR"/cg.out* 2>/dev/null | head -n1 || true)
  [[ -n $f ]] && grep -q '^totals:\|^summary:' "$f" 2>/dev/null && break
  sleep 0.2
done
ir=$(grep -h '^totals:\|^summary:' "$f" | head -n1 | awk '{ print $2 }')
# memset's own instructions apart: libmicrohttpd's pool reset, whose size
# follows how the connection's buffers grew (timing), moves the total by
# several thousand per request from run to run; the rest is steady.
ms=$(callgrind_annotate --inclusive=no "$f" 2>/dev/null | awk '/__memset/ { gsub(",", "", $1); s += $1 } END { print s + 0 }')
echo "IPR name=$(basename "$1") requests=$N ir=$ir ir_per_request=$((ir / N))" \
  "memset_per_request=$((ms / N)) rest_per_request=$(((ir - ms) / N))"
cp "$f" "${CHIRP_IPR_KEEP:-/dev/null}" 2>/dev/null || true
