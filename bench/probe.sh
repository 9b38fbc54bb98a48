#!/usr/bin/env bash
# Small measurements behind docs/BENCHMARKS.md that bench/run_all.sh does not
# make: where a durable call's CPU goes, open-loop runs with notifyd flags,
# and the publish -> SSE scenario on its own. Each starts a fresh notifyd on
# a fresh store in a temporary directory and stops it by pid.
#
#   bash bench/probe.sh cpu  [BUILD] [notifyd flags...]
#       closed loop (64 in flight, 2 s warm-up, 5 s measured): calls/s,
#       server CPU per call by thread name, context switches per call and
#       bytes written to disk per call
#   bash bench/probe.sh open [BUILD] [notifyd flags...]
#       three open-loop runs at 5,000 calls/s, then one closed loop, then
#       commits and calls committed (so calls per commit)
#   bash bench/probe.sh e2e  [BUILD] [notifyd flags...]
#       10,000 streams, 5,000 NotifyUser/s for 10 s (scenario 4 of
#       run_all.sh), then the commit-time histogram
#
# BUILD is the CMake build directory (default: build). Example, the commit
# delay switched off:  bash bench/probe.sh open build --commit_delay=0
set -euo pipefail

MODE=${1:-}
case $MODE in
  cpu | open | e2e) shift ;;
  *)
    echo "usage: probe.sh cpu|open|e2e [BUILD] [notifyd flags...]" >&2
    exit 2
    ;;
esac
cd "$(dirname "$0")/.."
source bench/lib.sh "$@"
shift "$BENCH_SHIFT"
bench_require server/notifyd bench/publish_bench bench/sse_load
PUBLISH_BENCH=$BUILD/bench/publish_bench
SSE_LOAD=$BUILD/bench/sse_load

DIR=$(mktemp -d "${TMPDIR:-/tmp}/notifyd-probe.XXXXXX")
trap 'notifyd_stop; rm -rf "$DIR"' EXIT

ulimit -n 20000 2>/dev/null || true
notifyd_start "$DIR" --insecure_dev_identity --io_threads=2 "$@"
PID=$NOTIFYD_PID

# "name cpu_ticks switches" per thread of notifyd, summed by thread name.
threads() {
  for t in "/proc/$PID"/task/*; do
    echo "$(tr " " _ <"$t/comm") $(awk '{print $14+$15}' "$t/stat") \
$(awk '/ctxt_switches/ {s+=$2} END {print s}' "$t/status")"
  done
}
written() { awk '/^write_bytes/ {print $2}' "/proc/$PID/io"; }
metric() { curl -s "127.0.0.1:$ADMIN/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

case $MODE in
  cpu)
    "$PUBLISH_BENCH" --target="127.0.0.1:$GRPC" --health=false --duration=2s \
      --warmup=0s >/dev/null
    before=$(threads); bytes0=$(written)
    out=$("$PUBLISH_BENCH" --target="127.0.0.1:$GRPC" --health=false \
      --duration=5s --warmup=0s | grep closed-loop)
    after=$(threads); bytes1=$(written)
    echo "$out"
    [[ $out =~ \(n=([0-9]+)\) ]] && calls=${BASH_REMATCH[1]}
    python3 - "$before" "$after" "$calls" "$((bytes1 - bytes0))" \
      "$(getconf CLK_TCK)" <<'PY'
import collections, sys
def parse(text):
    cpu, sw = collections.Counter(), collections.Counter()
    for line in text.splitlines():
        name, ticks, switches = line.split()
        cpu[name] += int(ticks); sw[name] += int(switches)
    return cpu, sw
(c0, s0), (c1, s1) = parse(sys.argv[1]), parse(sys.argv[2])
calls, written, hz = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
us = {k: (c1[k] - c0[k]) * 1e6 / hz / calls for k in c1}
sw = {k: (s1[k] - s0[k]) / calls for k in s1}
print("server CPU per call: " + ", ".join(
    "%s %.1f us" % (k, v) for k, v in sorted(us.items()) if v >= 0.1) +
    "; total %.1f us" % sum(us.values()))
print("context switches per call: " + ", ".join(
    "%s %.3f" % (k, v) for k, v in sorted(sw.items()) if v >= 0.001) +
    "; total %.2f" % sum(sw.values()))
print("written to disk per call: %.0f bytes" % (written / calls))
PY
    ;;
  open)
    for _ in 1 2 3; do
      "$PUBLISH_BENCH" --target="127.0.0.1:$GRPC" --health=false --closed=false \
        --rate=5000 --duration=5s --warmup=1s | grep open-loop
    done
    "$PUBLISH_BENCH" --target="127.0.0.1:$GRPC" --health=false --duration=5s \
      --warmup=1s | grep closed-loop
    commits=$(metric notifyd_store_commit_seconds_count)
    calls=$(metric notifyd_store_committed_calls_total)
    echo "commits $commits, calls committed $calls," \
      "$(python3 -c "print('%.1f' % ($calls / $commits))") per commit"
    ;;
  e2e)
    "$SSE_LOAD" --target="127.0.0.1:$HTTP" --path='/v1/stream?user={user}' \
      --connections=10000 --users=10000 --source_addrs=2 --server_pid="$PID" \
      --publish=notify_user --pub_target="127.0.0.1:$GRPC" --rate=5000 \
      --duration=10s | grep -E '^(streams|published|end-to-end)'
    curl -s "127.0.0.1:$ADMIN/metrics" | python3 -c '
import re, sys
text = sys.stdin.read()
def buckets(name):
    return [(float(m.group(1)), int(m.group(2))) for m in re.finditer(
        name + r"_bucket\{le=\"([^\"]+)\"\} (\d+)", text)]
def quantile(b, q):  # upper bound of the bucket holding the q-quantile
    return next(le for le, n in b if n >= q * b[-1][1])
commit = buckets("notifyd_store_commit_seconds")
queued = buckets("notifyd_store_queued_seconds")
total = commit[-1][1]
print("commits: %d; over 2.5 ms: %d; over 5 ms: %d; over 10 ms: %d" % (
    total, *[total - dict(commit)[le] for le in (0.0025, 0.005, 0.01)]))
for name, b in (("commit", commit), ("oldest call queued", queued)):
    print("%s: p50 <= %g ms, p99 <= %g ms" % (
        name, 1e3 * quantile(b, 0.5), 1e3 * quantile(b, 0.99)))'
    ;;
esac
