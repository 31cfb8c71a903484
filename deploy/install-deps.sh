#!/usr/bin/env bash
# deploy/install-deps.sh — install the Debian 12 packages Chirp needs to build,
# test and run locally. Idempotent: does nothing (and needs no network) when every
# package is already installed. Must run as root when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libulfius-dev librabbitmq-dev libhiredis-dev libpq-dev libjansson-dev
  libsodium-dev libmicrohttpd-dev
  python3-jsonschema
  postgresql redis-server rabbitmq-server haproxy wrk nginx valgrind
  python3 curl
  # The test command's fuzz targets (tests/fuzz): clang 14 and its libFuzzer
  # runtime.  ThreadSanitizer (build-tsan) uses gcc's libtsan2, which
  # build-essential brings (libgcc-12-dev depends on it).
  clang libclang-rt-14-dev
)

# Which packages are not (fully) installed yet?
missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [[ $EUID -ne 0 ]]; then
  echo "install-deps: ERROR: must run as root to install packages" >&2
  exit 1
fi

# Installing server packages must not start their services: the stacks run
# private instances on their own ports (deploy/stack.sh). A policy-rc.d that
# exits 101 makes invoke-rc.d refuse every start; RUNLEVEL=1 covers scripts
# that look at the runlevel instead. Any existing policy-rc.d is put back after.
POLICY=/usr/sbin/policy-rc.d
saved=
if [[ -e $POLICY ]]; then
  saved=$(mktemp)
  cp -p "$POLICY" "$saved"
fi
restore_policy() {
  if [[ -n $saved ]]; then mv -f "$saved" "$POLICY"; else rm -f "$POLICY"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# chirp deploy/install-deps.sh: start no service while installing\nexit 101\n' >"$POLICY"
chmod 755 "$POLICY"

export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-deps: done"
