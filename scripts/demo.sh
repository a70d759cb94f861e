#!/usr/bin/env bash
# Runs contextify against the local sandbox: migrate the SQLite default, start the sandbox and the web app;
# Ctrl-C stops both. The sandbox serves its generated world, or with AUDIO_DIR (or SANDBOX_AUDIO_DIR) set, a world
# of the real recordings in that folder (audio files plus metadata.csv; see README).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
SANDBOX_PORT=${SANDBOX_PORT:-5055}
WEB_PORT=${WEB_PORT:-5000}
export FLASK_APP=app:create_app
export CONTEXTIFY_SANDBOX_URL=${CONTEXTIFY_SANDBOX_URL:-http://127.0.0.1:$SANDBOX_PORT}
# The sandbox accepts any port on a loopback redirect URI, as Spotify does; the app must name its own.
export SPOTIFY_REDIRECT_URI=${SPOTIFY_REDIRECT_URI:-http://127.0.0.1:$WEB_PORT/callback}
AUDIO_DIR=${AUDIO_DIR:-${SANDBOX_AUDIO_DIR:-}}
LOGS=${CONTEXTIFY_INSTANCE_DIR:-instance}
mkdir -p "$LOGS"

# Alembic reports every run, even when there is nothing to do; keep its output for when it fails.
if ! "$BIN/flask" db upgrade >"$LOGS/migrate.log" 2>&1; then
  cat "$LOGS/migrate.log"
  echo "Database migration failed (log above)." >&2
  exit 1
fi

pids=()
stop_all() {
  trap - EXIT INT TERM
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop_all EXIT INT TERM

sandbox_args=(--host 127.0.0.1 --port "$SANDBOX_PORT")
world="its generated world"
if [ -n "$AUDIO_DIR" ]; then
  sandbox_args+=(--audio-dir "$AUDIO_DIR")
  world="the recordings in $AUDIO_DIR"
fi
"$BIN/flask" sandbox "${sandbox_args[@]}" >"$LOGS/sandbox.log" 2>&1 &
pids+=($!)
if ! "$BIN/python" scripts/wait_for_url.py "$CONTEXTIFY_SANDBOX_URL/__sandbox__/world" 120 "${pids[0]}"; then
  cat "$LOGS/sandbox.log"
  echo "The sandbox did not start (log above)." >&2
  exit 1
fi

"$BIN/flask" run --host 127.0.0.1 --port "$WEB_PORT" --no-reload >"$LOGS/web.log" 2>&1 &
pids+=($!)
if ! "$BIN/python" scripts/wait_for_url.py "http://127.0.0.1:$WEB_PORT/" 60; then
  cat "$LOGS/web.log"
  echo "The web app did not start (log above)." >&2
  exit 1
fi

echo "contextify is running at http://127.0.0.1:$WEB_PORT  (sandbox at $CONTEXTIFY_SANDBOX_URL serving $world; logs in $LOGS/*.log; Ctrl-C stops both)"
wait -n "${pids[@]}"
