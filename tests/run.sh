#!/usr/bin/env bash
# tests/run.sh — run all Chirp tests (what .ci/run calls):
# install packages, build `build` (RelWithDebInfo) and `build-asan` (Debug with
# sanitizers), start the private "test" stack, migrate it, run ctest serially in
# both trees, and always stop the test stack at the end. Exits non-zero if any
# test failed. Extra arguments go to both ctest runs:
#
#   tests/run.sh                     # everything
#   tests/run.sh -L unit             # only tests labelled "unit"
#   CHIRP_TEST_ASAN=0 tests/run.sh   # skip the sanitizer tree (quicker)
set -euo pipefail

T0=$EPOCHREALTIME
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$TOP"
ASAN=${CHIRP_TEST_ASAN:-1}

# Seconds since T0, one decimal.
elapsed() {
  local us=$((${EPOCHREALTIME/[.,]/} - ${T0/[.,]/}))
  printf '%d.%d s' $((us / 1000000)) $((us % 1000000 / 100000))
}

# However we leave: stop the test stack (if we got that far), print the time.
stack=0
# shellcheck disable=SC2317 # (runs from the EXIT trap)
finish() {
  local rc=$?
  if [[ $stack -eq 1 ]]; then deploy/stack.sh test stop || true; fi
  echo "tests: total $(elapsed), exit status $rc"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j2
if [[ $ASAN != 0 ]]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCHIRP_SANITIZE=ON
  cmake --build build-asan -j2
fi
echo "tests: built in $(elapsed)"

stack=1
deploy/stack.sh test start
eval "$(deploy/stack.sh test env)" # exports CHIRP_PG_URL, CHIRP_REDIS_URL, CHIRP_AMQP_URL
deploy/migrate.sh
# CHIRP_STACK_SH lets tests stop/start the broker: "$CHIRP_STACK_SH" test stop-rabbit
export CHIRP_TEST_STACK=1 CHIRP_PWHASH=min CHIRP_STACK_SH=$TOP/deploy/stack.sh
# Budgets a correct suite never hits; the rate-limit test sets its own.
export CHIRP_RATE_READ=${CHIRP_RATE_READ:-10000000} CHIRP_RATE_WRITE=${CHIRP_RATE_WRITE:-10000000} \
  CHIRP_RATE_LOGIN=${CHIRP_RATE_LOGIN:-10000000}

# Serial ctest (no -j): the end-to-end tests share one stack.
unset CTEST_PARALLEL_LEVEL
rc=0
ctest --test-dir build --output-on-failure "$@" || rc=$?
if [[ $ASAN != 0 ]]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure "$@" || rc=$((rc ? rc : $?))
fi
exit "$rc"
