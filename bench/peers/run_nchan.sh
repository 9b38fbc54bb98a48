#!/usr/bin/env bash
# Starts or stops the nginx + nchan peer on loopback, by pid.
#
#   bench/peers/run_nchan.sh start [host:port]   # default 127.0.0.1:8089
#   bench/peers/run_nchan.sh stop
#   bench/peers/run_nchan.sh pid                 # the master's pid
#
# NCHAN_PREFIX (default /tmp/notifyd-bench-nchan) holds the generated
# nginx.conf, the pid file and the error log. `start` prints the master pid
# once nginx accepts connections; `stop` sends SIGTERM to that
# pid (fast shutdown: streams are cut, which is what a benchmark wants) and
# waits for it to exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${NCHAN_PREFIX:-/tmp/notifyd-bench-nchan}
PIDFILE=$PREFIX/nginx.pid

running_pid() {
  [[ -s $PIDFILE ]] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

case "${1:-}" in
  start)
    LISTEN=${2:-127.0.0.1:8089}
    if pid=$(running_pid); then
      echo "run_nchan: already running as pid $pid" >&2
      exit 1
    fi
    if [[ ! -e /usr/lib/nginx/modules/ngx_nchan_module.so ]]; then
      bash "$HERE/setup_nchan.sh"
    fi
    mkdir -p "$PREFIX/tmp" "$PREFIX/logs"
    rm -f "$PIDFILE"
    sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@LISTEN@|$LISTEN|g" \
      "$HERE/nchan.conf" >"$PREFIX/nginx.conf"
    # Workers inherit this limit; worker_rlimit_nofile asks for the same.
    ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    nginx -p "$PREFIX" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log"
    for _ in $(seq 100); do
      if pid=$(running_pid) &&
        curl -s -o /dev/null -m 1 "http://$LISTEN/pub/ping" -X GET; then
        echo "$pid"
        exit 0
      fi
      sleep 0.1
    done
    echo "run_nchan: nginx did not come up; see $PREFIX/error.log" >&2
    exit 1
    ;;
  stop)
    if ! pid=$(running_pid); then
      exit 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || exit 0
      sleep 0.1
    done
    echo "run_nchan: pid $pid did not exit after SIGTERM" >&2
    exit 1
    ;;
  pid)
    running_pid
    ;;
  *)
    echo "usage: $0 start [host:port] | stop | pid" >&2
    exit 2
    ;;
esac
