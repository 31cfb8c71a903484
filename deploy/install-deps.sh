#!/usr/bin/env bash
# deploy/install-deps.sh — install the Debian 12 packages Chirp needs to build,
# test and run locally. Idempotent: does nothing (and needs no network) when every
# package is already installed. Must run as root when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libulfius-dev librabbitmq-dev libhiredis-dev libpq-dev libjansson-dev
  libsodium-dev libmicrohttpd-dev
  postgresql redis-server rabbitmq-server haproxy wrk nginx valgrind
  python3 curl clang libclang-rt-14-dev
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
# that look at the runlevel instead. Our policy file is removed afterwards.
POLICY=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $POLICY ]]; then
  printf '#!/bin/sh\n# added by chirp deploy/install-deps.sh\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"
  own_policy=1
fi
cleanup() { if [[ $own_policy -eq 1 ]]; then rm -f "$POLICY"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-deps: done"
