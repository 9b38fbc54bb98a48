#!/usr/bin/env bash
# HTTP/2 on the TLS edge (issue #14; docs/BENCHMARKS.md, "HTTP/2"): one
# notifyd with TLS, bench/h2_load's H2_CONNECTIONS (1,000) h2 connections x
# STREAMS (19) SSE streams and H1 (1,000) HTTP/1.1 streams over TLS, all
# reading one channel; server RSS per stream of each kind, deliveries/s of
# RATE (10) broadcasts/s for DURATION (20) s, publish -> SSE latency of h2
# and HTTP/1.1 in the same run.
#
#   bash bench/h2.sh [BUILD]
#
# A throwaway CA and server certificate (openssl, for 127.0.0.1) are made in
# a temporary directory; notifyd is stopped by its pid, also on error.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
for b in server/notifyd bench/h2_load; do
  [[ -x $BUILD/$b ]] || { echo "h2.sh: $BUILD/$b missing; build it first" >&2; exit 2; }
done
H2_CONNECTIONS=${H2_CONNECTIONS:-1000}
STREAMS=${STREAMS:-19}
H1=${H1:-1000}
RATE=${RATE:-10}
DURATION=${DURATION:-20}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/notifyd-h2.XXXXXX")
PID=
trap '[[ -n $PID ]] && { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }; rm -rf "$DIR"' EXIT INT TERM
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=bench-ca -keyout "$DIR/ca.key" -out "$DIR/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj /CN=127.0.0.1 -keyout "$DIR/key.pem" -out "$DIR/req.pem" 2>/dev/null
openssl x509 -req -in "$DIR/req.pem" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" \
  -CAcreateserial -days 1 -out "$DIR/cert.pem" \
  -extfile <(printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n') 2>/dev/null

"$BUILD/server/notifyd" --tls_cert="$DIR/cert.pem" --tls_key="$DIR/key.pem" \
  --insecure_dev_identity --stream_open_rate=0 \
  --grpc_listen=127.0.0.1:0 --http_listen=127.0.0.1:0 --admin_listen=127.0.0.1:0 \
  --db="$DIR/notify.db" --ready_file="$DIR/ready.json" --log_level=warn \
  >"$DIR/notifyd.log" 2>&1 &
PID=$!
until [[ -s $DIR/ready.json ]]; do
  kill -0 "$PID" 2>/dev/null || { cat "$DIR/notifyd.log" >&2; exit 1; }
  sleep 0.05
done
port() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$DIR/ready.json" "$1"; }
echo "h2.sh: $(date -u +%FT%TZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/bench/h2_load" --port="$(port http_port)" --ca="$DIR/ca.pem" \
  --pub_target="127.0.0.1:$(port grpc_port)" --h2_connections="$H2_CONNECTIONS" \
  --streams_per_connection="$STREAMS" --h1_connections="$H1" --rate="$RATE" \
  --duration="${DURATION}s" --server_pid="$PID"
echo "h2.sh: done (load: $(cut -d' ' -f1-3 /proc/loadavg))"
