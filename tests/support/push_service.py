#!/usr/bin/python3
"""A push service stand-in for notifyd's Web Push tests.

Serves HTTPS on 127.0.0.1 with a test CA's server certificate and takes
push messages (RFC 8030) the way a real push service and browser would:

- the VAPID Authorization (RFC 8292) is checked: `vapid t=<JWT>, k=<key>`,
  an ES256 JWT in JOSE form whose signature verifies with the k= key, `aud`
  equal to this server's origin, `exp` in the future and at most 24 hours
  ahead, and `sub` a mailto: or https: URL (otherwise 403);
- the headers are checked: TTL (whole seconds), Content-Encoding aes128gcm,
  Urgency and Topic when present (otherwise 400), a body of at most 4096
  bytes (otherwise 413);
- the body is decrypted as a browser does (RFC 8291 with RFC 8188
  aes128gcm) with the subscription's private key and auth secret, which
  this script makes at start (otherwise 400).

Every POST, whatever its answer, is appended as one JSON object per line to
--record: path, answer status, headers, the client's port (one per
connection), the VAPID claims, the decrypted payload (base64url) and the
errors found.

It can be told to answer 410 for some paths (--gone), or a status (--fail-
status, 429 by default, with --retry-after) for the first --fail-first
requests; everything else valid is answered 201. With --close-after-answer
it closes every connection after one answer, unannounced.

When ready it prints one JSON line on stdout: {"port", "origin", "p256dh",
"auth", "private_key"} (keys base64url). Stop it with a signal.

Needs python3-cryptography and python3-jwt (Debian 12).
"""

import argparse
import base64
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAX_BODY = 4096
MAX_EXP_AHEAD = 24 * 3600
BASE64URL = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt,
                info=info).derive(ikm)


class Subscription:
    """A browser's push subscription: a P-256 key pair and an auth secret."""

    def __init__(self):
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.public = self.private.public_key().public_bytes(
            serialization.Encoding.X962,
            serialization.PublicFormat.UncompressedPoint)
        self.auth = os.urandom(16)

    def decrypt(self, body):
        """The plaintext of an aes128gcm body; ValueError saying why not."""
        if len(body) < 21:
            raise ValueError("body shorter than the aes128gcm header")
        salt = body[:16]
        rs = int.from_bytes(body[16:20], "big")
        idlen = body[20]
        if rs < 18:
            raise ValueError("record size below 18")
        if idlen != 65:
            raise ValueError("key id is not an uncompressed P-256 point")
        as_public = body[21:21 + idlen]
        record = body[21 + idlen:]
        if len(record) > rs:
            raise ValueError("more than one record")
        if len(record) < 17:
            raise ValueError("record shorter than a tag and a delimiter")
        peer = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), as_public)
        secret = self.private.exchange(ec.ECDH(), peer)
        ikm = hkdf(self.auth, secret,
                   b"WebPush: info\0" + self.public + as_public, 32)
        cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\0", 16)
        nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\0", 12)
        try:
            padded = AESGCM(cek).decrypt(nonce, record, None)
        except InvalidTag:
            raise ValueError("the record does not authenticate") from None
        stripped = padded.rstrip(b"\0")
        if not stripped.endswith(b"\x02"):
            raise ValueError("no last-record padding delimiter")
        return stripped[:-1]


def check_vapid(authorization, origin, verified):
    """The JWT claims of a valid VAPID header; ValueError saying why not.

    `verified` maps headers whose signature was checked to their claims, as
    a push service caches them: a sender reuses one header for many
    messages. The time claims are checked every time."""
    claims = verified.get(authorization)
    if claims is not None:
        check_times(claims)
        return claims
    scheme, _, rest = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError("Authorization is not the vapid scheme")
    params = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        params[name.strip()] = value.strip()
    token, key = params.get("t"), params.get("k")
    if not token or not key:
        raise ValueError("vapid needs t= and k=")
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), unb64url(key))
    except ValueError:
        raise ValueError("k= is not a P-256 public key") from None
    parts = token.split(".")
    if len(parts) != 3 or len(unb64url(parts[2])) != 64:
        raise ValueError("the ES256 signature is not 64 bytes (JOSE r||s)")
    try:
        if jwt.get_unverified_header(token).get("alg") != "ES256":
            raise ValueError("the JWT is not ES256")
        claims = jwt.decode(token, public, algorithms=["ES256"],
                            audience=origin,
                            options={"require": ["aud", "exp", "sub"]})
    except jwt.InvalidTokenError as e:
        raise ValueError(f"JWT: {e}") from None
    check_times(claims)
    sub = claims["sub"]
    if not (sub.startswith("mailto:") or sub.startswith("https:")):
        raise ValueError("sub is neither mailto: nor https:")
    if len(verified) < 1000:
        verified[authorization] = claims
    return claims


def check_times(claims):
    """ValueError unless `exp` is in the future and at most 24 h ahead."""
    now = time.time()
    if claims["exp"] <= now:
        raise ValueError("JWT: Signature has expired")
    if claims["exp"] > now + MAX_EXP_AHEAD:
        raise ValueError("exp is more than 24 hours ahead")


def check_headers(headers):
    """The errors of RFC 8030's request headers, as a list of strings."""
    errors = []
    ttl = headers.get("TTL")
    if ttl is None or not ttl.isdigit():
        errors.append("TTL missing or not whole seconds")
    if headers.get("Content-Encoding") != "aes128gcm":
        errors.append("Content-Encoding is not aes128gcm")
    urgency = headers.get("Urgency")
    if urgency is not None and urgency not in ("very-low", "low", "normal",
                                               "high"):
        errors.append("unknown Urgency")
    topic = headers.get("Topic")
    if topic is not None and (len(topic) > 32 or not set(topic) <= BASE64URL):
        errors.append("Topic is not at most 32 base64url characters")
    return errors


class State:
    def __init__(self, args, origin):
        self.args = args
        self.origin = origin
        self.subscription = Subscription()
        self.lock = threading.Lock()
        self.requests = 0
        self.verified = {}  # VAPID headers already verified -> claims

    def record(self, entry):
        with self.lock, open(self.args.record, "a") as out:
            out.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as push services do

    def log_message(self, fmt, *args):
        sys.stderr.write("push_service: " + (fmt % args) + "\n")

    def answer(self, status, retry_after=None):
        self.send_response(status)
        if status == 201:
            self.send_header("Location", "/message/1")
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Length", "0")
        self.end_headers()
        # Closed without saying so, as a server timing out an idle
        # connection does: the client finds out when it reuses it.
        self.close_connection = self.server.state.args.close_after_answer

    def do_POST(self):
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with state.lock:
            state.requests += 1
            number = state.requests
        entry = {
            "path": self.path,
            "time": time.time(),
            "client_port": self.client_address[1],
            "ttl": self.headers.get("TTL"),
            "urgency": self.headers.get("Urgency"),
            "topic": self.headers.get("Topic"),
            "content_encoding": self.headers.get("Content-Encoding"),
            "content_type": self.headers.get("Content-Type"),
            "body_bytes": len(body),
            "errors": [],
        }
        status = 201
        try:
            entry["claims"] = check_vapid(
                self.headers.get("Authorization", ""), state.origin,
                state.verified)
        except ValueError as e:
            entry["errors"].append(f"VAPID: {e}")
            status = 403
        header_errors = check_headers(self.headers)
        entry["errors"] += header_errors
        if header_errors and status == 201:
            status = 400
        if len(body) > MAX_BODY:
            entry["errors"].append("body over 4096 bytes")
            status = 413 if status == 201 else status
        else:
            try:
                entry["payload"] = b64url(state.subscription.decrypt(body))
            except ValueError as e:
                entry["errors"].append(f"decryption: {e}")
                status = 400 if status == 201 else status
        retry_after = None
        if number <= state.args.fail_first:
            status = state.args.fail_status
            retry_after = state.args.retry_after
        elif status == 201 and self.path in state.args.gone:
            status = 410
        entry["status"] = status
        state.record(entry)
        self.answer(status, retry_after)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True, help="server certificate PEM")
    parser.add_argument("--key", required=True, help="its private key PEM")
    parser.add_argument("--record", required=True,
                        help="file the requests are appended to (JSON lines)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--gone", action="append", default=[],
                        help="answer 410 for this path (repeatable)")
    parser.add_argument("--fail-first", type=int, default=0,
                        help="answer --fail-status to the first N requests")
    parser.add_argument("--fail-status", type=int, default=429)
    parser.add_argument("--retry-after", default=None,
                        help="Retry-After sent with those answers")
    parser.add_argument("--close-after-answer", action="store_true",
                        help="close each connection after one answer, "
                        "without a Connection: close header")
    args = parser.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    origin = f"https://127.0.0.1:{port}"
    server.state = State(args, origin)
    subscription = server.state.subscription
    private = subscription.private.private_numbers().private_value
    print(json.dumps({
        "port": port,
        "origin": origin,
        "p256dh": b64url(subscription.public),
        "auth": b64url(subscription.auth),
        "private_key": b64url(private.to_bytes(32, "big")),
    }), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
