#!/usr/bin/env python3
"""How long this machine's disk takes to make a small write durable.

Writes 8 KiB with pwrite and calls fdatasync, in a loop, for SECONDS
(optionally sleeping SLEEP seconds between rounds, to sync less often), on a
scratch file in DIR (default: the system's temporary directory), then prints
the latency percentiles and the rounds slower than 3 ms (start offset and
duration, in ms). This is the floor under every durable commit; the VM's
figure moves from day to day (docs/BENCHMARKS.md records it with each run).

    python3 bench/fsync_probe.py SECONDS [SLEEP] [DIR]
"""
import os
import sys
import tempfile
import time

FILE_BYTES = 8 << 20
WRITE = b"y" * 8192
SLOW_SECONDS = 0.003


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    seconds = float(sys.argv[1])
    pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    directory = sys.argv[3] if len(sys.argv) > 3 else None
    with tempfile.NamedTemporaryFile(dir=directory) as scratch:
        fd = scratch.fileno()
        # Allocated and synced first, so the loop measures overwrites.
        os.pwrite(fd, b"x" * FILE_BYTES, 0)
        os.fsync(fd)
        latencies, slow = [], []
        start = time.monotonic()
        offset = 0
        while time.monotonic() - start < seconds:
            before = time.monotonic()
            os.pwrite(fd, WRITE, offset)
            os.fdatasync(fd)
            took = time.monotonic() - before
            offset = (offset + len(WRITE)) % FILE_BYTES
            latencies.append(took)
            if took > SLOW_SECONDS:
                slow.append((round((before - start) * 1e3, 1), round(took * 1e3, 2)))
            if pause:
                time.sleep(pause)
    latencies.sort()
    n = len(latencies)
    print("n=%d p50=%.2fms p99=%.2fms p99.9=%.2fms max=%.2fms" % (
        n, latencies[n // 2] * 1e3, latencies[int(n * 0.99)] * 1e3,
        latencies[int(n * 0.999)] * 1e3, latencies[-1] * 1e3))
    print("slower than %.0f ms (at ms, took ms): %s" % (SLOW_SECONDS * 1e3, slow[:40]))


if __name__ == "__main__":
    main()
