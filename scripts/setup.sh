#!/usr/bin/env bash
# `npm run setup`: gets a fresh Debian/Ubuntu machine ready for `npm test`. Installs the Debian
# packages the tests drive when they are missing (chromium for the browser tests, curl and openssl as
# real clients, redis-server and pebble as a real Redis and a real ACME server), then `npm ci` and
# `npm run build` (dist/). Idempotent: a second run only checks and rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(chromium curl openssl redis-server pebble)
missing=()
# Each package installs a command of its own name.
for p in "${debs[@]}"; do command -v "$p" >/dev/null 2>&1 || missing+=("$p"); done

unmet=''
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=''; elif command -v sudo >/dev/null 2>&1; then sudo='sudo'; else sudo='none'; fi
  if ! command -v apt-get >/dev/null 2>&1 || [ "$sudo" = none ]; then
    unmet="setup: missing ${missing[*]}: install them as root (apt-get install -y ${missing[*]}), then run npm run setup again"
  else
    echo "setup: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

npm ci
npm run build

# npm ci still ran, so what does not need the missing packages works; say what is missing last.
if [ -n "$unmet" ]; then
  echo "$unmet" >&2
  exit 1
fi
echo "setup: ready for npm test"
