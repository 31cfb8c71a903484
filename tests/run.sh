#!/usr/bin/env bash
# tests/run.sh — run all Chirp tests (what .ci/run calls):
# install packages; build `build` (RelWithDebInfo), `build-asan` (Debug with
# ASan+UBSan), `build-tsan` (ThreadSanitizer) and `build-fuzz` (libFuzzer,
# clang); run every fuzz target for a bounded time (no servers needed); start
# the private "test" stack, migrate it, run ctest serially in `build` and
# `build-asan`, and the end-to-end tests (label e2e) in `build-tsan`; always
# stop the test stack at the end. Exits non-zero if any test failed, any fuzz
# target crashed, leaked or tripped a sanitizer, or TSan reported a race.
# Extra arguments go to every ctest run:
#
#   tests/run.sh                     # everything
#   tests/run.sh -L unit             # only tests labelled "unit"
#   CHIRP_TEST_ASAN=0 tests/run.sh   # skip the ASan tree (quicker)
#   CHIRP_TEST_TSAN=0 tests/run.sh   # skip the TSan tree
#   CHIRP_TEST_FUZZ=0 tests/run.sh   # skip fuzzing (it runs by default only
#                                    # without extra arguments; =1 forces it)
#   CHIRP_FUZZ_SECONDS=60 tests/run.sh   # fuzz each target 60 s (default 20)
set -euo pipefail

T0=$EPOCHREALTIME
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$TOP"
ASAN=${CHIRP_TEST_ASAN:-1}
TSAN=${CHIRP_TEST_TSAN:-1}
# Fuzzing takes CHIRP_FUZZ_SECONDS per target: by default only in a full run.
if [[ $# -eq 0 ]]; then FUZZ=${CHIRP_TEST_FUZZ:-1}; else FUZZ=${CHIRP_TEST_FUZZ:-0}; fi

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
if [[ $TSAN != 0 ]]; then
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHIRP_SANITIZE=thread
  cmake --build build-tsan -j2
fi
echo "tests: built in $(elapsed)"

rc=0
if [[ $FUZZ != 0 ]]; then
  # Builds build-fuzz with clang; a finding is kept under build-fuzz/artifacts.
  tests/fuzz/run.sh || rc=$?
  echo "tests: fuzzed by $(elapsed)"
fi

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
ctest --test-dir build --output-on-failure "$@" || rc=$((rc ? rc : $?))
echo "tests: normal tree done by $(elapsed)"
if [[ $ASAN != 0 ]]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure "$@" || rc=$((rc ? rc : $?))
  echo "tests: ASan tree done by $(elapsed)"
fi
if [[ $TSAN != 0 ]]; then
  # A race report stops the process at once with status 66; the harness
  # asserts status 0 of every gateway and worker, so the test fails with the
  # report in the tail of the process log.  Suppressions: tests/tsan.supp.
  TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=$TOP/tests/tsan.supp" \
    ctest --test-dir build-tsan --output-on-failure -L e2e "$@" ||
    rc=$((rc ? rc : $?))
  echo "tests: TSan tree done by $(elapsed)"
fi
exit "$rc"
