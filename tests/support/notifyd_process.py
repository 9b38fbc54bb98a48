"""The real notifyd binary for Python tests: started on ports of its own
with an empty store under a directory, stopped by its pid (SIGTERM) and
required to exit cleanly, which a sanitizer report would spoil."""
import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import time


@contextlib.contextmanager
def running_notifyd(notifyd, directory, *flags, flagfile=None):
    """Yields the ports notifyd bound ({"grpc_port", "http_port", ...}).
    A flagfile is read first: the store, ports and flags given here win."""
    os.makedirs(directory, exist_ok=True)
    ready = os.path.join(directory, "ready.json")
    log = open(os.path.join(directory, "notifyd.log"), "w")
    first = [f"--flagfile={flagfile}"] if flagfile else []
    server = subprocess.Popen(
        [notifyd, *first, f"--db={directory}/notify.db",
         "--grpc_listen=127.0.0.1:0",
         "--http_listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
         f"--ready_file={ready}", *flags],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 20
        while not os.path.exists(ready):
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("notifyd did not start")
            time.sleep(0.05)
        yield json.load(open(ready))
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0, "notifyd did not exit cleanly"
        log.close()


def notify_pb2(proto_dir, directory):
    """The message classes of notify/v1/notify.proto, generated with protoc
    into `directory` (which must outlive their use) and imported."""
    subprocess.run(["protoc", f"-I{proto_dir}", f"--python_out={directory}",
                    "notify/v1/notify.proto"], check=True)
    sys.path.insert(0, directory)
    return importlib.import_module("notify.v1.notify_pb2")


def unary(channel, name, response_type):
    """A callable for the unary RPC notify.v1.Notifier/<name> on `channel`
    (grpc's generic stubs: no generated service code needed)."""
    return channel.unary_unary(
        f"/notify.v1.Notifier/{name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_type.FromString)
