#!/usr/bin/env bash
# `make run`: starts notifyd on its defaults and says how to try it.
set -euo pipefail
BUILD=${1:-build}
cat <<MSG

  notifyd is starting (gRPC 127.0.0.1:50051, HTTP 127.0.0.1:8080, store ./var/notify.db)

  Open the inbox:  http://127.0.0.1:8080/#user=demo
  Then send one:   $BUILD/tools/notifyctl notify demo '{"title":"Hello from notifyd"}'

  Stop with Ctrl-C.

MSG
exec "$BUILD/server/notifyd" --db=./var/notify.db --insecure_dev_identity "$@"
