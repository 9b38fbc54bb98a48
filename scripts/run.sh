#!/usr/bin/env bash
# `make run`: starts notifyd on its defaults (SQLite in ./var/), then prints
# a ready-to-open inbox URL carrying a short-lived token for a demo user and
# a notifyctl line that sends it a first notification. Ctrl-C stops it.
set -euo pipefail
BUILD=${1:-build}
shift || true
mkdir -p var

# The subscriber-token secret stays on this machine, readable by its owner.
KEY=var/token.key
if [[ ! -s $KEY ]]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$KEY")
fi

READY=var/ready.json
rm -f "$READY"
"$BUILD/server/notifyd" --db=./var/notify.db --token_key_file="$KEY" \
  --ready_file="$READY" "$@" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID' INT TERM

for _ in $(seq 200); do
  [[ -s $READY ]] && break
  if ! kill -0 $PID 2>/dev/null; then wait $PID; exit 1; fi
  sleep 0.05
done
HTTP_PORT=$(sed -E 's/.*"http_port":([0-9]+).*/\1/' "$READY")
GRPC_PORT=$(sed -E 's/.*"grpc_port":([0-9]+).*/\1/' "$READY")
ADMIN_PORT=$(sed -E 's/.*"admin_port":([0-9]+).*/\1/' "$READY")
TOKEN=$("$BUILD/tools/notifyctl" --server=127.0.0.1:$GRPC_PORT token demo --ttl=3600)

cat <<MSG

  notifyd is running: gRPC 127.0.0.1:$GRPC_PORT, HTTP 127.0.0.1:$HTTP_PORT,
  admin (metrics, readiness) 127.0.0.1:$ADMIN_PORT, store ./var/notify.db

  Open the inbox (token for user "demo", valid 1 hour):
    http://127.0.0.1:$HTTP_PORT/#user=demo&token=$TOKEN

  Then send it a notification:
    $BUILD/tools/notifyctl notify demo '{"title":"Hello from notifyd"}'

  Stop with Ctrl-C.

MSG
wait $PID
