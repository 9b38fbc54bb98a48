#!/usr/bin/python3
"""Connection and stream floods against one notifyd binary (docs/BENCHMARKS.md,
"Floods"). Prints one JSON object per scenario.

  bench/flood.py BUILD_DIR [--notifyd=PATH] [--api_keys]
      [--only=http,grpc_idle,grpc_tls_idle,grpc_streams,grpc_tls_streams,
              reconnect]

--api_keys starts notifyd with --api_keys_file (one throwaway key) in the
grpc_streams and grpc_tls_streams scenarios; the flood sends no key.

Scenarios, each on a fresh notifyd with its store in a temporary directory,
stopped by its pid at the end:
  http          notifyd under `ulimit -n 1024`; 1,100 idle TCP connections
                to the HTTP port from one address, held 5 s, then closed.
                Reported: whether gRPC (Health/Check, 2 s deadline) answers
                during and 2 s after, /readyz after, notifyd's open fds.
  grpc_idle     the same 1,100 idle connections to the gRPC port; whether a
                stream opens (HTTP 200) during and after, and gRPC after.
  grpc_tls_idle grpc_idle with gRPC over TLS (--tls_cert/--tls_key, a
                throwaway certificate for 127.0.0.1 made with openssl):
                gRPC keeps its own listener, guarded by
                server/accept_guard.h; gRPC after is a call over TLS.
  grpc_streams  notifyd under its default limit; bench/grpc_flood opens
                50,000 calls over 500 connections that send headers only,
                for 10 s. Reported: notifyd's RSS before, during, and 15 s
                after the client left; calls the server let start, and
                those it ended during the hold (UNAUTHENTICATED ones apart).
  grpc_tls_streams  grpc_streams over TLS (the same throwaway certificate).
  reconnect     one user has 40 missed notifications of 64 KiB; 4 threads
                reconnect as that user in a loop (Last-Event-ID 0), each
                reading 64 KiB and hanging up. Meanwhile 30 other users,
                each with 20 small missed notifications, resume once each:
                the time from connect to the 20th event is reported (p50,
                max) without and with the attack, with notifyd's CPU.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc

FLOOD = 1100
SMALL_LIMIT = 1024


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Notifyd:
    def __init__(self, binary, fd_limit=None, extra=()):
        self.dir = tempfile.mkdtemp(prefix="notifyd-flood.")
        ready = os.path.join(self.dir, "ready.json")
        self.log = open(os.path.join(self.dir, "notifyd.log"), "w")

        def limit():
            if fd_limit:
                resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

        # Builds before the admin listener have no --admin_listen.
        helps = subprocess.run([binary, "--helpfull"], capture_output=True,
                               text=True).stdout
        if "admin_listen" in helps:
            extra = ("--admin_listen=127.0.0.1:0", *extra)
        self.proc = subprocess.Popen(
            [binary, f"--db={self.dir}/notify.db", "--grpc_listen=127.0.0.1:0",
             "--http_listen=127.0.0.1:0", f"--ready_file={ready}",
             "--insecure_dev_identity", "--log_level=warn", *extra],
            stdout=self.log, stderr=self.log, preexec_fn=limit)
        for _ in range(200):
            if os.path.exists(ready):
                break
            time.sleep(0.05)
        ports = json.load(open(ready))
        self.grpc, self.http = ports["grpc_port"], ports["http_port"]
        # /readyz moved to the admin listener.
        self.admin = ports.get("admin_port", self.http)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def grpc_ok(port, ca_pem=None):
    target = f"127.0.0.1:{port}"
    channel = (grpc.secure_channel(
        target, grpc.ssl_channel_credentials(root_certificates=ca_pem))
               if ca_pem else grpc.insecure_channel(target))
    check = channel.unary_unary("/grpc.health.v1.Health/Check")
    try:
        check(b"", timeout=2)
        return True
    except grpc.RpcError:
        return False
    finally:
        channel.close()


def http_status(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                    timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return 0


def stream_opens(port, ca_pem=None):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        if ca_pem:  # --tls_cert serves HTTPS on the edge too
            context = ssl.create_default_context(cadata=ca_pem.decode())
            s = context.wrap_socket(s, server_hostname="127.0.0.1")
    except OSError:
        return False
    try:
        s.sendall(b"GET /v1/stream?user=flood-check HTTP/1.1\r\n"
                  b"Host: 127.0.0.1\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


def idle_flood(port, n):
    socks = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            break
    return socks


def self_signed_cert(directory):
    """A self-signed EC certificate for IP 127.0.0.1: (cert, key) paths."""
    cert = os.path.join(directory, "server.pem")
    key = os.path.join(directory, "server.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec",
         "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def scenario_idle(binary, target):
    tls = target == "grpc_tls"
    extra = ()
    ca_pem = None
    if tls:
        certs = tempfile.mkdtemp(prefix="notifyd-flood-tls.")
        cert, key = self_signed_cert(certs)
        ca_pem = open(cert, "rb").read()
        extra = (f"--tls_cert={cert}", f"--tls_key={key}")
    d = Notifyd(binary, fd_limit=SMALL_LIMIT, extra=extra)
    if tls:
        shutil.rmtree(certs, ignore_errors=True)
    other = d.grpc if target == "http" else d.http
    try:
        socks = idle_flood(d.http if target == "http" else d.grpc, FLOOD)
        time.sleep(2)
        fds_during = open_fds(d.proc.pid)
        rss_during = rss_kib(d.proc.pid)
        if target == "http":
            during = grpc_ok(other)
        else:
            during = stream_opens(other, ca_pem)
        time.sleep(3)
        for s in socks:
            s.close()
        time.sleep(2)
        return {
            "scenario": f"{target}_idle_flood", "connections": len(socks),
            "fd_limit": SMALL_LIMIT, "notifyd_fds_during": fds_during,
            "rss_kib_during": rss_during,
            "other_listener_during": during,
            "grpc_after": grpc_ok(d.grpc, ca_pem),
            "stream_after": stream_opens(d.http, ca_pem),
            "readyz_after": http_status(d.admin, "/readyz"),
        }
    finally:
        d.stop()


def scenario_streams(binary, build, tls=False, api_keys=False):
    extra = ()
    ca_pem = None
    tls_ca = ()
    certs = tempfile.mkdtemp(prefix="notifyd-flood-files.")
    if tls:
        cert, key = self_signed_cert(certs)
        ca_pem = open(cert, "rb").read()
        extra = (f"--tls_cert={cert}", f"--tls_key={key}")
        tls_ca = (f"--tls_ca={cert}",)
    if api_keys:
        keys = os.path.join(certs, "api_keys")
        with open(keys, "w") as f:
            f.write(f"bench:{os.urandom(24).hex()}\n")
        extra = (*extra, f"--api_keys_file={keys}")
    d = Notifyd(binary, extra=extra)
    try:
        time.sleep(1)
        base = rss_kib(d.proc.pid)
        flood = subprocess.Popen(
            [os.path.join(build, "bench/grpc_flood"),
             f"--target=127.0.0.1:{d.grpc}", "--connections=500",
             "--streams=50000", "--hold=10s", *tls_ca],
            stdout=subprocess.PIPE)
        time.sleep(8)
        during = rss_kib(d.proc.pid)
        fds_during = open_fds(d.proc.pid)
        out, _ = flood.communicate(timeout=60)
        time.sleep(15)
        after = rss_kib(d.proc.pid)
        return {
            "scenario": "grpc_tls_header_only_streams" if tls
                        else "grpc_header_only_streams",
            "api_keys": api_keys,
            "client": json.loads(out),
            "rss_kib_before": base, "rss_kib_during": during,
            "rss_kib_after_15s": after, "notifyd_fds_during": fds_during,
            "grpc_after": grpc_ok(d.grpc, ca_pem),
        }
    finally:
        d.stop()
        shutil.rmtree(certs, ignore_errors=True)


def notify(build, port, user, data):
    subprocess.run([os.path.join(build, "tools/notifyctl"),
                    f"--server=127.0.0.1:{port}", "notify", user, data],
                   check=True, stdout=subprocess.DEVNULL)


def resume_ms(port, user, events):
    """Connects with Last-Event-ID 0 and times the arrival of `events` ids."""
    start = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(f"GET /v1/stream?user={user}&last_event_id=0 HTTP/1.1\r\n"
                  f"Host: 127.0.0.1\r\n\r\n".encode())
        buf = b""
        while buf.count(b"\nid: ") < events:
            chunk = s.recv(65536)
            if not chunk:
                return None
            buf += chunk
        return (time.monotonic() - start) * 1000
    finally:
        s.close()


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def scenario_reconnect(binary, build):
    import threading
    d = Notifyd(binary)
    try:
        big = "x" * (64 * 1024 - 64)
        for i in range(40):
            notify(build, d.grpc, "attacker", f'{{"n":{i},"pad":"{big}"}}')
        for v in range(60):
            for i in range(20):
                notify(build, d.grpc, f"victim{v}", f'{{"n":{i}}}')

        def measure(first):
            times = [resume_ms(d.http, f"victim{v}", 20)
                     for v in range(first, first + 30)]
            times = sorted(t for t in times if t is not None)
            return {"p50_ms": round(times[len(times) // 2], 2),
                    "max_ms": round(times[-1], 2), "ok": len(times)}

        quiet = measure(0)
        stop = threading.Event()
        reconnects = [0]

        def attack():
            while not stop.is_set():
                try:
                    s = socket.create_connection(("127.0.0.1", d.http), timeout=5)
                    s.sendall(b"GET /v1/stream?user=attacker&last_event_id=0 "
                              b"HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    got = 0
                    while got < 64 * 1024:
                        chunk = s.recv(1 << 16)
                        if not chunk:
                            break
                        got += len(chunk)
                except OSError:
                    pass
                finally:
                    s.close()
                    reconnects[0] += 1

        threads = [threading.Thread(target=attack) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1)
        t0, c0 = time.monotonic(), cpu_ticks(d.proc.pid)
        attacked = measure(30)
        t1, c1 = time.monotonic(), cpu_ticks(d.proc.pid)
        stop.set()
        for t in threads:
            t.join()
        return {"scenario": "reconnect_loop", "victim_quiet": quiet,
                "victim_under_attack": attacked,
                "attacker_reconnects": reconnects[0],
                "notifyd_cpu_percent_under_attack": round(
                    100 * (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0))}
    finally:
        d.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--notifyd")
    p.add_argument("--api_keys", action="store_true",
                   help="stream floods against notifyd with an API key file")
    p.add_argument("--only",
                   default="http,grpc_idle,grpc_tls_idle,grpc_streams,"
                   "grpc_tls_streams,reconnect")
    a = p.parse_args()
    binary = a.notifyd or os.path.join(a.build, "server/notifyd")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    only = a.only.split(",")
    if "http" in only:
        print(json.dumps(scenario_idle(binary, "http")), flush=True)
    if "grpc_idle" in only:
        print(json.dumps(scenario_idle(binary, "grpc")), flush=True)
    if "grpc_tls_idle" in only:
        print(json.dumps(scenario_idle(binary, "grpc_tls")), flush=True)
    if "grpc_streams" in only:
        print(json.dumps(scenario_streams(binary, a.build,
                                          api_keys=a.api_keys)), flush=True)
    if "grpc_tls_streams" in only:
        print(json.dumps(scenario_streams(binary, a.build, tls=True,
                                          api_keys=a.api_keys)), flush=True)
    if "reconnect" in only:
        print(json.dumps(scenario_reconnect(binary, a.build)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
