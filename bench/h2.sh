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
source bench/lib.sh
bench_require server/notifyd bench/h2_load
H2_CONNECTIONS=${H2_CONNECTIONS:-1000}
STREAMS=${STREAMS:-19}
H1=${H1:-1000}
RATE=${RATE:-10}
DURATION=${DURATION:-20}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/notifyd-h2.XXXXXX")
trap 'notifyd_stop; rm -rf "$DIR"' EXIT INT TERM
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=bench-ca -keyout "$DIR/ca.key" -out "$DIR/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj /CN=127.0.0.1 -keyout "$DIR/key.pem" -out "$DIR/req.pem" 2>/dev/null
openssl x509 -req -in "$DIR/req.pem" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" \
  -CAcreateserial -days 1 -out "$DIR/cert.pem" \
  -extfile <(printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n') 2>/dev/null

notifyd_start "$DIR" --tls_cert="$DIR/cert.pem" --tls_key="$DIR/key.pem" \
  --insecure_dev_identity --stream_open_rate=0
bench_header
"$BUILD/bench/h2_load" --port="$HTTP" --ca="$DIR/ca.pem" \
  --pub_target="127.0.0.1:$GRPC" --h2_connections="$H2_CONNECTIONS" \
  --streams_per_connection="$STREAMS" --h1_connections="$H1" --rate="$RATE" \
  --duration="${DURATION}s" --server_pid="$NOTIFYD_PID"
echo "h2.sh: done (load: $(load))"
