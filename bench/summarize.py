#!/usr/bin/env python3
"""Prints the side-by-side table of one bench/run_all.sh run.

Usage: bench/summarize.py OUT_DIR   (the directory run_all.sh wrote JSON to)

Reads only the figures the tools measured; a missing file shows as "-", so a
scenario that did not run (or crashed) is visible, never filled in.
"""
import json
import os
import sys


def load(out, name):
    path = os.path.join(out, name + ".json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ms(ns):
    return "-" if ns is None or ns < 0 else f"{ns / 1e6:.2f} ms"


def run_of(doc, name, mode):
    if not doc:
        return None
    for r in doc["runs"]:
        if r["name"] == name and r["mode"] == mode:
            return r
    return None


def main():
    out = sys.argv[1]
    rows = []  # (scenario, goal, notifyd, nchan, met)

    closed = load(out, "notifyd-publish-closed")
    health = run_of(closed, "Health/Check", "closed")
    notify = run_of(closed, "NotifyUser", "closed")
    if health and notify and health["calls_per_s"] > 0:
        ratio = notify["calls_per_s"] / health["calls_per_s"]
        rows.append(("NotifyUser / Health calls/s, 64 in flight", ">= 70%",
                     f"{notify['calls_per_s']:.0f} / {health['calls_per_s']:.0f}"
                     f" = {100 * ratio:.1f}%", "n/a (no gRPC)",
                     "yes" if ratio >= 0.70 and notify["errors"] == 0 else "NO"))
        rows.append(("NotifyUser closed-loop p50 / p99", "",
                     f"{ms(notify['p50_ns'])} / {ms(notify['p99_ns'])}", "", ""))
    else:
        rows.append(("NotifyUser / Health calls/s, 64 in flight", ">= 70%", "-",
                     "n/a", "not run"))
    rate = run_of(load(out, "notifyd-publish-rate"), "NotifyUser", "rate")
    if rate:
        ok = rate["p99_ns"] <= 5e6 and rate["errors"] == 0 and rate["dropped"] == 0
        rows.append(("NotifyUser ack p99 at 5,000/s (open loop)", "<= 5 ms",
                     f"{ms(rate['p99_ns'])} ({rate['calls_per_s']:.0f}/s done)",
                     "n/a", "yes" if ok else "NO"))

    ns, nc = load(out, "notifyd-streams"), load(out, "nchan-streams")

    def streams(d):
        if not d:
            return "-"
        return f"{d['established']} of {d['connections']} in {d['connect_s']:.1f} s"

    def rss(d):
        if not d or d.get("rss_per_stream", -1) < 0:
            return "-"
        return f"{d['rss_per_stream'] / 1024:.2f} KiB"

    def setup(d):
        return "-" if not d else f"{ms(d['setup_p50_ns'])} / {ms(d['setup_p99_ns'])}"

    def fanout(d):
        if not d:
            return "-"
        return (f"{d['deliveries_per_s']:.0f}/s ({d['delivered']} of "
                f"{d['expected']}, e2e p99 {ms(d['e2e_p99_ns'])})")

    met_streams = "not run"
    if ns:
        met_streams = ("yes" if ns["established"] >= 19000 and
                       0 <= ns["rss_per_stream"] <= 4096 else "NO")
    rows.append(("Concurrent streams, one process", ">= 19,000",
                 streams(ns), streams(nc), met_streams if ns else "not run"))
    rows.append(("Server RSS per stream", "<= 4 KiB", rss(ns), rss(nc),
                 met_streams))
    rows.append(("Stream set-up p50 / p99", "", setup(ns), setup(nc), ""))
    met_fan = "not run"
    if ns:
        met_fan = ("yes" if ns["deliveries_per_s"] >= 100000 and
                   ns["delivered"] >= ns["expected"] > 0 else "NO")
    rows.append(("Broadcast fan-out to 19,000 streams", ">= 100,000/s",
                 fanout(ns), fanout(nc), met_fan))

    es, ec = load(out, "notifyd-e2e"), load(out, "nchan-e2e")

    def e2e(d):
        if not d:
            return "-"
        return (f"p50 {ms(d['e2e_p50_ns'])} p99 {ms(d['e2e_p99_ns'])} max "
                f"{ms(d['e2e_max_ns'])} ({d['delivered']} of {d['expected']})")

    met_e2e = "not run"
    if es:
        met_e2e = ("yes" if es["e2e_p99_ns"] <= 5e6 and
                   es["delivered"] >= es["expected"] > 0 and
                   es["pub_errors"] == 0 else "NO")
    rows.append(("Publish -> SSE at 5,000/s over 10,000 users", "p99 <= 5 ms",
                 e2e(es), e2e(ec), met_e2e))

    rs, rc = load(out, "notifyd-replay"), load(out, "nchan-replay")

    def replay(d):
        if not d:
            return "-"
        bad = f", {d['bad_rounds']} bad rounds" if d["bad_rounds"] else ""
        return (f"p50 {ms(d['replay_p50_ns'])} max {ms(d['replay_max_ns'])}"
                f" ({d['rounds']} rounds{bad})")

    met_replay = "not run"
    if rs:
        met_replay = ("yes" if rs["bad_rounds"] == 0 and
                      0 < rs["replay_max_ns"] <= 10e6 else
                      "p50 only" if rs["bad_rounds"] == 0 and
                      0 < rs["replay_p50_ns"] <= 10e6 else "NO")
    rows.append(("Reconnect, replay 1,000 missed events", "<= 10 ms",
                 replay(rs), replay(rc), met_replay))

    headers = ("Scenario", "Goal", "notifyd", "nginx+nchan", "Goal met")
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(5)]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    main()
