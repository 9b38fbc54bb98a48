#!/usr/bin/python3
"""A write whose deadline has passed before it is queued is not stored.

gRPC clients enforce their deadline themselves and never send a call that
has expired, so the test speaks HTTP/2 with nghttp (nghttp2-client) and
sends `grpc-timeout: 0n`: notifyd receives a call whose deadline passed the
moment it arrived. NotifyUser and Publish must answer DEADLINE_EXCEEDED and
store nothing (before the check, every such call was stored while the caller
was told it failed). The same calls with a deadline that leaves time are
stored: the raw client itself is not what fails.

Usage: expired_deadline_test.py <notifyd binary> <repo proto dir>
"""
import os
import re
import subprocess
import sys
import tempfile

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
from notifyd_process import (  # noqa: E402
    notify_pb2, running_notifyd, unary)

ATTEMPTS = 20  # each expired call a chance to be stored


def grpc_frame(message):
    body = message.SerializeToString()
    return b"\x00" + len(body).to_bytes(4, "big") + body


def raw_call(port, method, message, timeout, tmp):
    """Calls `method` over plain HTTP/2 with the header grpc-timeout:
    `timeout`: (grpc-status, grpc-message)."""
    body = os.path.join(tmp, "body")
    with open(body, "wb") as f:
        f.write(grpc_frame(message))
    done = subprocess.run(
        ["nghttp", "-v", "-H", ":method: POST",
         "-H", "content-type: application/grpc", "-H", "te: trailers",
         "-H", f"grpc-timeout: {timeout}", "-d", body,
         f"http://127.0.0.1:{port}/notify.v1.Notifier/{method}"],
        capture_output=True, timeout=30)
    out = done.stdout.decode("latin-1")
    status = re.search(r"recv \(stream_id=\d+\) grpc-status: (\d+)", out)
    message = re.search(r"recv \(stream_id=\d+\) grpc-message: (.*)", out)
    assert status, out
    return int(status.group(1)), message.group(1) if message else ""


def main():
    notifyd, proto_dir = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        pb = notify_pb2(proto_dir, tmp)

        with running_notifyd(notifyd, os.path.join(tmp, "n")) as ports:
            port = ports["grpc_port"]
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            list_call = unary(channel, "ListNotifications",
                              pb.ListNotificationsResponse)

            def stored(**target):
                return len(list_call(pb.ListNotificationsRequest(
                    limit=500, **target), timeout=10).notifications)

            writes = [
                ("NotifyUser", pb.NotifyUserRequest(user_id="alice",
                                                    data="late"),
                 {"user_id": "alice"}),
                ("Publish", pb.PublishRequest(channel="news/eu", data="late"),
                 {"channel": "news/eu"}),
            ]
            for method, request, target in writes:
                for _ in range(ATTEMPTS):
                    code, message = raw_call(port, method, request, "0n", tmp)
                    assert code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0], (
                        method, code, message)
                assert stored(**target) == 0, (
                    f"{method}: a call that expired before it was queued "
                    f"was stored")

                # With time left, the same raw call is stored.
                code, message = raw_call(port, method, request, "10S", tmp)
                assert code == 0, (method, code, message)
                assert stored(**target) == 1, method
                print(f"{method}: {ATTEMPTS} expired calls answered "
                      "DEADLINE_EXCEEDED and stored nothing; one with time "
                      "left stored")
            channel.close()


if __name__ == "__main__":
    main()
