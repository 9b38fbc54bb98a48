#!/usr/bin/env bash
# Web Push at fan-out (issue #17; docs/BENCHMARKS.md, "Web Push"):
#
#   bash bench/push.sh [BUILD] [notifyd flags...]
#
# BUILD is the CMake build directory (default: build) holding server/notifyd
# and tools/notifyctl. Needs openssl and the push service stand-in's Python
# packages (tests/support/push_service.py). Steps:
#  1. a throwaway CA and a certificate for 127.0.0.1 (openssl), SERVICES
#     (default 2) stand-ins on it, each a push service of its own that
#     checks every VAPID header, decrypts every payload and records each
#     request; a VAPID key (notifyctl vapid-keygen);
#  2. notifyd with --push_delay=0, --push_ca_file=<the CA>,
#     --push_allow_private, --insecure_dev_identity (?user= names the user);
#  3. USERS (default 10,000) subscriptions registered through
#     POST /v1/push/subscriptions?user=uN, endpoint <stand-in N % SERVICES>
#     /push/uN, with that stand-in's keys (8 client threads); no stream is open;
#  4. one NotifyUsers to all of them (notifyctl notify --users_file), then
#     the time from the call until the stand-ins have recorded USERS
#     requests answered 201, and notifyd's RSS (VmRSS) before the call,
#     after the last push, and its peak (VmHWM).
# notifyd and the stand-ins are stopped by pid at the end, also on error or
# Ctrl-C, and the directory removed (KEEP=1 keeps it).
set -euo pipefail

cd "$(dirname "$0")/.."
source bench/lib.sh "$@"
shift "$BENCH_SHIFT"
bench_require server/notifyd tools/notifyctl
NOTIFYCTL=$BUILD/tools/notifyctl
USERS=${USERS:-10000}
# Stand-ins (each its own push service, one Python process: user uN's
# endpoint is on stand-in N % SERVICES).
SERVICES=${SERVICES:-2}
GOAL_S=${GOAL_S:-10}

DIR=$(mktemp -d "${TMPDIR:-/tmp}/notifyd-push.XXXXXX")
SERVICE_PIDS=()
stop_pid() {
  local pid=$1
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}
cleanup() {
  notifyd_stop
  for p in "${SERVICE_PIDS[@]}"; do stop_pid "$p"; done
  if [[ ${KEEP:-0} == 1 ]]; then echo "push.sh: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT INT TERM
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
rss_kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
secs() { python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$@"; }

bench_header
echo "push.sh: $(nproc) CPUs"

# 1. TLS for the stand-ins, the stand-ins, the VAPID key.
(
  cd "$DIR"
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key
  openssl req -x509 -new -key ca.key -subj /CN=bench-ca -days 1 -out ca.pem
  openssl ecparam -name prime256v1 -genkey -noout -out server.key
  openssl req -new -key server.key -subj /CN=127.0.0.1 -out server.csr
  printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 1 -extfile san.ext -out server.pem
) >"$DIR/openssl.log" 2>&1 || { cat "$DIR/openssl.log" >&2; exit 1; }
SERVICE_PIDS=()
for s in $(seq 0 $((SERVICES - 1))); do
  /usr/bin/python3 tests/support/push_service.py --cert "$DIR/server.pem" \
    --key "$DIR/server.key" --record "$DIR/record$s.jsonl" \
    >"$DIR/service$s.json" 2>"$DIR/service$s.log" &
  SERVICE_PIDS+=($!)
done
for s in $(seq 0 $((SERVICES - 1))); do
  until [[ -s $DIR/service$s.json ]]; do
    kill -0 "${SERVICE_PIDS[$s]}" 2>/dev/null || { cat "$DIR/service$s.log" >&2; exit 1; }
    sleep 0.05
  done
done
"$NOTIFYCTL" vapid-keygen "$DIR/vapid.pem" >/dev/null

# 2. notifyd.
notifyd_start "$DIR" --insecure_dev_identity \
  --vapid_key_file="$DIR/vapid.pem" --vapid_subject=mailto:bench@example.com \
  --push_delay=0 --push_ca_file="$DIR/ca.pem" --push_allow_private "$@"
PID=$NOTIFYD_PID

# 3. The subscriptions, through the HTTP route.
t0=$(date +%s.%N)
/usr/bin/python3 - "$DIR" "$HTTP" "$USERS" "$SERVICES" <<'PY'
import http.client, json, sys, threading
port, users = int(sys.argv[2]), int(sys.argv[3])
services = [json.load(open(f"{sys.argv[1]}/service{s}.json"))
            for s in range(int(sys.argv[4]))]
failures = []
def register(first):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(first, users, 8):
        service = services[i % len(services)]
        body = json.dumps({"endpoint": f"{service['origin']}/push/u{i}",
                           "expirationTime": None,
                           "keys": {"p256dh": service["p256dh"],
                                    "auth": service["auth"]}})
        conn.request("POST", f"/v1/push/subscriptions?user=u{i}", body,
                     {"Content-Type": "application/json"})
        answer = conn.getresponse()
        answer.read()
        if answer.status != 201:
            failures.append((i, answer.status))
threads = [threading.Thread(target=register, args=(k,)) for k in range(8)]
for t in threads: t.start()
for t in threads: t.join()
if failures:
    sys.exit(f"push.sh: {len(failures)} registrations failed, e.g. {failures[:3]}")
PY
echo "registered $USERS subscriptions in $(secs "$t0" "$(date +%s.%N)") s"
for i in $(seq 0 $((USERS - 1))); do echo "u$i"; done >"$DIR/users.txt"

# 4. One NotifyUsers, and the pushes.
RSS_BEFORE=$(rss_kb "$PID" VmRSS)
CPU_BEFORE=$(cpu_s "$PID")
services_cpu() {
  local total=0
  for p in "${SERVICE_PIDS[@]}"; do total=$(secs "-$(cpu_s "$p")" "$total"); done
  echo "$total"
}
SERVICE_CPU_BEFORE=$(services_cpu)
t0=$(date +%s.%N)
"$NOTIFYCTL" --server=127.0.0.1:$GRPC --timeout=60 --users_file="$DIR/users.txt" \
  notify '{"title":"Deploy finished","body":"Build 1234 is live.","url":"/builds/1234"}' >/dev/null
ANSWERED=$(secs "$t0" "$(date +%s.%N)")
delivered() { cat "$DIR"/record*.jsonl 2>/dev/null | grep -c '"status": 201' || true; }
LIMIT=$((SECONDS + 120))
while (( $(delivered) < USERS )); do
  if ((SECONDS > LIMIT)); then
    echo "push.sh: only $(delivered) of $USERS pushes after 120 s" >&2
    break
  fi
  sleep 0.05
done
t1=$(date +%s.%N)
ELAPSED=$(secs "$t0" "$t1")
RSS_AFTER=$(rss_kb "$PID" VmRSS)
RSS_PEAK=$(rss_kb "$PID" VmHWM)
CPU=$(secs "$CPU_BEFORE" "$(cpu_s "$PID")")
SERVICE_CPU=$(secs "$SERVICE_CPU_BEFORE" "$(services_cpu)")
ERRORS=$(cat "$DIR"/record*.jsonl | grep -vc '"errors": \[\]' || true)
echo "NotifyUsers to $USERS users answered in $ANSWERED s; pushes received (201): $(delivered) of $USERS in $ELAPSED s from the call (goal <= $GOAL_S s); requests recorded with errors: $ERRORS"
echo "CPU seconds meanwhile: notifyd $CPU, the $SERVICES stand-ins (Python: VAPID check, decryption, a JSON line per request) $SERVICE_CPU"
echo "notifyd RSS: before ${RSS_BEFORE} kB, after ${RSS_AFTER} kB (+$((RSS_AFTER - RSS_BEFORE)) kB), peak ${RSS_PEAK} kB"
curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -E '^notifyd_push(es)?_' || true
echo "load after: $(load)"
t0=$(date +%s.%N)
notifyd_stop
echo "notifyd stopped (SIGTERM) in $(secs "$t0" "$(date +%s.%N)") s"
