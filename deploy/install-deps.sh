#!/usr/bin/env bash
# deploy/install-deps.sh — install the Debian 12 packages Chirp needs to build,
# test and run locally, and the npm files the web client serves (Swagger UI for
# /docs, pinned in deploy/web-vendor/package-lock.json, copied into the
# git-ignored gateway/web/docs/vendor/). Idempotent: does nothing (and needs no
# network) when everything is in place. Must run as root when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libulfius-dev librabbitmq-dev libhiredis-dev libpq-dev libjansson-dev
  libsodium-dev libmicrohttpd-dev
  python3-jsonschema
  postgresql redis-server rabbitmq-server haproxy wrk nginx valgrind
  python3 curl zlib1g-dev
  # The test command's fuzz targets (tests/fuzz): clang 14 and its libFuzzer
  # runtime.  ThreadSanitizer (build-tsan) uses gcc's libtsan2, which
  # build-essential brings (libgcc-12-dev depends on it).
  clang libclang-rt-14-dev
  # The browser tests (tests/e2e/test_browser.py).
  chromium chromium-driver python3-selenium
)
# npm from Debian, unless one is installed already (another npm, e.g. with
# its own nodejs, conflicts with Debian's package).
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
VENDOR_SRC=$TOP/deploy/web-vendor
VENDOR_DST=$TOP/gateway/web/docs/vendor
VENDOR_FILES=(swagger-ui-bundle.js swagger-ui.css LICENSE)

# The web client's third-party files: `npm ci` from the lock file (install
# scripts off: nothing runs but the copy), then the few files the page loads.
web_vendor() {
  local stamp=$VENDOR_DST/.lock
  if [[ -f $stamp ]] && cmp -s "$stamp" "$VENDOR_SRC/package-lock.json"; then return 0; fi
  echo "install-deps: npm ci in deploy/web-vendor (Swagger UI for /docs)"
  (cd "$VENDOR_SRC" && SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  mkdir -p "$VENDOR_DST"
  local f
  for f in "${VENDOR_FILES[@]}"; do cp "$VENDOR_SRC/node_modules/swagger-ui-dist/$f" "$VENDOR_DST/$f"; done
  cp "$VENDOR_SRC/package-lock.json" "$stamp"
}

# Which packages are not (fully) installed yet?
missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  web_vendor
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
web_vendor
echo "install-deps: done"
