# Shared by the bench scripts: the build directory, notifyd started on
# loopback port 0 and stopped by its pid, and the lines every script prints.
# Not a script of its own.
#
# `source bench/lib.sh "$@"` from the repository's root: BUILD becomes the
# first argument when it is not a flag (else $BUILD, else build), and
# BENCH_SHIFT how many arguments that took (the script then shifts them).

BENCH_SHIFT=0
if [[ $# -gt 0 && $1 != --* ]]; then
  BUILD=$1
  BENCH_SHIFT=1
fi
BUILD=${BUILD:-build}
NOTIFYD_PID=

# notifyd_start DIR [flags...]: starts $BUILD/server/notifyd with its store
# (DIR/notify.db), ready file and log (DIR/notifyd.log, appended) in DIR and
# its three listeners on 127.0.0.1 port 0, then waits up to 120 s for it to
# be ready. Sets NOTIFYD_PID, GRPC, HTTP and ADMIN (the ports). Exits the
# script, with the log, if notifyd stops or is not ready in time.
notifyd_start() {
  local dir=$1
  shift
  mkdir -p "$dir"
  rm -f "$dir/ready.json"
  "$BUILD/server/notifyd" --grpc_listen=127.0.0.1:0 --http_listen=127.0.0.1:0 \
    --admin_listen=127.0.0.1:0 --db="$dir/notify.db" \
    --ready_file="$dir/ready.json" --log_level=warn "$@" \
    >>"$dir/notifyd.log" 2>&1 &
  NOTIFYD_PID=$!
  local t0=$SECONDS
  until [[ -s $dir/ready.json ]]; do
    if ! kill -0 "$NOTIFYD_PID" 2>/dev/null; then
      cat "$dir/notifyd.log" >&2
      echo "$(basename "$0"): notifyd exited" >&2
      NOTIFYD_PID=
      exit 1
    fi
    if ((SECONDS - t0 >= 120)); then
      echo "$(basename "$0"): notifyd not ready after 120 s" >&2
      exit 1
    fi
    sleep 0.05
  done
  read -r GRPC HTTP ADMIN < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["grpc_port"], r["http_port"], r.get("admin_port", 0))' "$dir/ready.json")
}

# notifyd_stop: SIGTERM to the notifyd notifyd_start started, then waits
# for it to exit. Nothing when none runs.
notifyd_stop() {
  if [[ -n $NOTIFYD_PID ]]; then
    kill -TERM "$NOTIFYD_PID" 2>/dev/null || true
    while kill -0 "$NOTIFYD_PID" 2>/dev/null; do sleep 0.1; done
    NOTIFYD_PID=
  fi
}

# The 1, 5 and 15 minute load averages.
load() { cut -d' ' -f1-3 /proc/loadavg; }

# The first line of every run: script, time, commit, load.
bench_header() {
  echo "$(basename "$0"): $(date -u +%FT%TZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load: $(load)"
}

# bench_require FILE...: exits 2 naming the first of $BUILD/FILE missing.
bench_require() {
  local b
  for b in "$@"; do
    [[ -x $BUILD/$b ]] || { echo "$(basename "$0"): $BUILD/$b missing; build it first" >&2; exit 2; }
  done
}
