#!/usr/bin/env bash
# Start script for the team's peer tunnel benchmark (its run.sh --peer burrow=test/bench/burrow-peer.sh;
# not part of this repository). Contract (that harness's README, "Adding our tunnel"): $1 = upstream port on 127.0.0.1;
# BENCH_PORT_BASE = first of 10 free loopback ports for us; BENCH_TMP = scratch dir. Prints
# VERSION=…, then URL=http://NAME.localhost:PORT once the tunnel carries traffic; stays in the
# foreground; the harness SIGTERMs the process group when done.
#
# Runs Burrow the way a real deployment does: a standalone edge (`burrow edge`) on BASE and an
# agent (`burrow http --edge`) connected to it, two processes. BURROW_PEER_MODE=embedded runs the
# zero-setup `burrow http PORT` instead (one process; its edge picks 127.0.0.1:8480 or the next free port).
# BURROW_BIN=path/to/burrow.js runs another build than the repo's dist/burrow.js.
set -euo pipefail
source "$BENCH_DIR/peers/lib.sh"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BURROW="${BURROW_BIN:-$ROOT/dist/burrow.js}"
UP=$1; PORT=$BENCH_PORT_BASE
[ -f "$BURROW" ] || (cd "$ROOT" && node scripts/build.mjs >&2)
echo "VERSION=$(node "$BURROW" version 2>/dev/null | head -1) (${BURROW_PEER_MODE:-edge} mode), node $(node -v)"

OUT="$BENCH_TMP/agent.out"
if [ "${BURROW_PEER_MODE:-edge}" = embedded ]; then
  node "$BURROW" http "$UP" >"$OUT" 2>&1 &
else
  TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  BURROW_EDGE_TOKENS=$TOKEN node "$BURROW" edge --listen "127.0.0.1:$PORT" --domain localhost \
    --log "$BENCH_TMP/edge.log" --log-format json >"$BENCH_TMP/edge.out" 2>&1 &
  EDGE_PID=$!
  until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    kill -0 "$EDGE_PID" 2>/dev/null || { echo "burrow edge exited:" >&2; cat "$BENCH_TMP"/edge.* >&2; exit 1; }
    sleep 0.1
  done
  BURROW_AUTHTOKEN=$TOKEN node "$BURROW" http "$UP" --edge "ws://127.0.0.1:$PORT" --domain burrow.localhost >"$OUT" 2>&1 &
fi

# The agent runs with its default console (capture and local API on, as `burrow http 3000` users
# get it), which prints "Forwarding   http://NAME.localhost:PORT -> upstream" once bound.
deadline=$(( $(date +%s) + 25 ))
url=""
AGENT_PID=$!
while [ -z "$url" ] && [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$AGENT_PID" 2>/dev/null; do
  url=$(sed -n 's/^Forwarding  *\(http:\/\/[^ ]*\) .*/\1/p' "$OUT" 2>/dev/null | head -1 || true)
  [ -n "$url" ] || sleep 0.1
done
if [ -z "$url" ]; then
  echo "burrow did not start a tunnel within 25 s:" >&2
  cat "$BENCH_TMP"/*.out "$BENCH_TMP"/*.log >&2 2>/dev/null || true
  exit 1
fi
echo "URL=$url"
wait
