#!/usr/bin/env bash
# Installs what `npm run test:e2e` needs: a real VS Code (code-server 4.100.3, VS Code 1.100.3's web
# build on Node 20) into a cache folder outside the repo's node_modules, plus Debian's chromium.
# Nothing comes from anywhere but the npm registry and Debian. Idempotent: a second run only checks.
#
#   scripts/e2e-setup.sh          -> installs into $BURROW_E2E_DIR (default: <repo>/.e2e, git-ignored)
#
# playwright-core is the repo's own devDependency (it downloads no browser; we hand it Debian's).
# code-server 4.100.3 is the last release line that runs on Node 20 (newer ones need Node 22/24).
#
# Three install snags, each handled below:
#  1. code-server's postinstall refuses to run as root without --unsafe-perm.
#  2. node-pty's postinstall runs `npx node-gyp`, which would prompt: npm_config_yes=true answers it.
#  3. @vscode/ripgrep's postinstall downloads rg from GitHub unless it finds the release archive in
#     $TMPDIR/vscode-ripgrep-cache-<ver>/: we pack Debian's rg there under the expected name.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${BURROW_E2E_DIR:-$repo/.e2e}
code_server_version=4.100.3
stamp=$dir/.installed-$code_server_version

debs=(chromium ripgrep libkrb5-dev pkg-config python3 make g++)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
# python3/make/g++ may come from elsewhere (pyenv, a toolchain image): only ask Debian if absent.
for i in "${!missing[@]}"; do
  case ${missing[$i]} in python3|make|g++) command -v "${missing[$i]}" >/dev/null 2>&1 && unset 'missing[i]';; esac
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=''
  [ "$(id -u)" -eq 0 ] || sudo='sudo'
  echo "e2e-setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -f "$stamp" ] && [ -x "$dir/node_modules/.bin/code-server" ]; then
  echo "e2e-setup: code-server $code_server_version ready in $dir"
  exit 0
fi

# Snag 3: seed @vscode/ripgrep's download cache with Debian's rg.
rg_pkg_version=1.15.11
rg_cache=${TMPDIR:-/tmp}/vscode-ripgrep-cache-$rg_pkg_version
mkdir -p "$rg_cache/pack"
cp "$(command -v rg)" "$rg_cache/pack/rg"
tar czf "$rg_cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$rg_cache/pack" rg

mkdir -p "$dir"
cd "$dir"
# A private package.json so this install never touches the repo's lock file.
[ -f package.json ] || printf '{ "name": "burrow-e2e-cache", "private": true }\n' > package.json
echo "e2e-setup: installing code-server@$code_server_version into $dir (a few minutes the first time)"
# Snags 1 and 2.
npm_config_yes=true npm install --save-exact "code-server@$code_server_version" \
  --unsafe-perm --no-audit --no-fund --loglevel=error
"$dir/node_modules/.bin/code-server" --version >/dev/null
touch "$stamp"
echo "e2e-setup: code-server $code_server_version ready in $dir"
