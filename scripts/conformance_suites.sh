#!/usr/bin/env bash
# Run the upstream Socket.IO v5 and Engine.IO v4 conformance suites, unmodified, against
# `manage.py socketio_conformance` (`make conformance-suites`; .ci/run does too).
#
# The pinned suites live in ../shared/conformance (read-only): each is copied to a temp dir,
# `npm ci`-ed there and run with mocha. They hard-code http://localhost:3000, so the server
# binds port 3000 on every address "localhost" resolves to (Node may try ::1 first).
# Skips (exit 0) without the suites or npm, as a clone elsewhere has neither; under
# BANTER_REQUIRE_SERVICES=1 (CI) that is a failure instead, so CI cannot pass silently.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SUITES_DIR="${CONFORMANCE_DIR:-$ROOT/../shared/conformance}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
PORT=3000 # fixed by the suites (const URL = "http://localhost:3000")
SUITES=(socket.io-protocol-v5 engine.io-protocol-v4)

skip() {
  if [ "${BANTER_REQUIRE_SERVICES:-}" = 1 ]; then
    echo "conformance-suites: FAILED (BANTER_REQUIRE_SERVICES=1): $1" >&2
    exit 1
  fi
  echo "conformance-suites: skipped: $1"
  exit 0
}

[ -d "$SUITES_DIR" ] || skip "$SUITES_DIR not found (the pinned upstream suites sit beside the repo in shared/)"
command -v npm >/dev/null 2>&1 || skip "npm not found (the suites are Node.js; install Node 18+)"
command -v node >/dev/null 2>&1 || skip "node not found (the suites are Node.js; install Node 18+)"

# Is anything answering on localhost:3000 already? (Node resolves localhost as the suites do.)
port_answers() {
  node -e '
    const net = require("net");
    const s = net.connect({ host: "localhost", port: Number(process.argv[1]) });
    s.on("connect", () => process.exit(0));
    s.on("error", () => process.exit(1));
  ' "$PORT"
}

if port_answers; then
  echo "conformance-suites: port $PORT is already in use: the upstream suites only talk to" \
    "http://localhost:$PORT; stop whatever listens there (a \`make conformance\` left running?)" >&2
  exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/banter-conformance.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 20); do # daphne stops on SIGTERM; give it 10 s, then SIGKILL
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.5
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

for suite in "${SUITES[@]}"; do
  echo "== $suite: npm ci"
  cp -r "$SUITES_DIR/$suite" "$WORK/$suite"
  chmod -R u+w "$WORK/$suite" # the pinned copy is read-only; npm writes node_modules
  (cd "$WORK/$suite" && npm ci --no-audit --no-fund --loglevel=error)
done

echo "== starting manage.py socketio_conformance on localhost:$PORT"
SERVER_LOG="$WORK/server.log"
(cd "$ROOT" && exec env DEBUG="${DEBUG:-1}" "$PYTHON" manage.py socketio_conformance \
  --host localhost --port "$PORT") >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

# Ready when the Engine.IO handshake answers at the URL the suites use.
ready() {
  node -e '
    fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));
  ' "http://localhost:$PORT/engine.io/?EIO=4&transport=polling"
}
for _ in $(seq 1 60); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "conformance-suites: the server exited before answering; its log:" >&2
    cat "$SERVER_LOG" >&2
    exit 1
  fi
  ready && break
  sleep 0.5
done
if ! ready; then
  echo "conformance-suites: the server did not answer within 30 s; its log:" >&2
  cat "$SERVER_LOG" >&2
  exit 1
fi

failed=()
for suite in "${SUITES[@]}"; do
  echo "== $suite: mocha"
  if ! (cd "$WORK/$suite" && npx --no-install mocha --exit test-suite.js) 2>&1 |
    tee "$WORK/$suite.out"; then
    failed+=("$suite")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "conformance-suites: server log tail:" >&2
  tail -n 40 "$SERVER_LOG" >&2
  # Mocha's failure report once more, last: CI shows only the tail of what a run printed.
  for suite in "${failed[@]}"; do
    echo "== $suite: what failed" >&2
    sed -n '/^  [0-9]* failing/,$p' "$WORK/$suite.out" >&2
  done
  echo "conformance-suites: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "conformance-suites: both upstream suites passed"
