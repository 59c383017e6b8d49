"""A small webhook receiver: `manage.py listen`, and the tests' real receiver.

It verifies signatures the way a receiver should (Standard Webhooks, or
CloudStack's X-CS-Signature) and answers with a status the caller chooses, so
retries can be tried by hand.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from core.signing import cloudstack_signature, standard_signature

TIMESTAMP_TOLERANCE = 300  # seconds, as the Standard Webhooks libraries use


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.time()
    signature: str  # "valid", "invalid", "unsigned" or "no secret to check"

    @property
    def json(self):
        return json.loads(self.body)


def check_signature(headers: dict[str, str], body: bytes, secret: str | None) -> str:
    if "webhook-signature" in headers:
        if not secret:
            return "no secret to check"
        msg_id, ts = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "0")
        try:
            timestamp = int(ts)
        except ValueError:
            return "invalid"
        if abs(time.time() - timestamp) > TIMESTAMP_TOLERANCE:
            return "invalid"
        expected = standard_signature(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)
        given = headers["webhook-signature"].split(" ")
        return "valid" if any(hmac.compare_digest(expected, g) for g in given) else "invalid"
    if "x-cs-signature" in headers:
        if not secret:
            return "no secret to check"
        expected = cloudstack_signature(secret=secret, body=body)
        return "valid" if hmac.compare_digest(expected, headers["x-cs-signature"]) else "invalid"
    return "unsigned"


# Decides the answer to one request: (status, body), or (status, body, headers)
# to answer with other headers than a JSON Content-Type. Default: 200 {"ok": true}.
Responder = Callable[[Received], tuple[int, bytes] | tuple[int, bytes, dict[str, str]]]


def always(status: int) -> Responder:
    return lambda received: (status, json.dumps({"status": status}).encode())


def tencent(ret_code: int = 0) -> Responder:
    """Answer as a Tencent Cloud alarm callback receiver does, 200 with
    {"sessionId": ..., "retCode": ret_code}: the session id echoed from the
    body's sessionId, else the X-Webhook-Session-Id header."""

    def respond(received: Received) -> tuple[int, bytes]:
        try:
            session = received.json.get("sessionId")
        except (ValueError, AttributeError):
            session = None
        session = session or received.headers.get("x-webhook-session-id", "")
        return 200, json.dumps({"sessionId": session, "retCode": ret_code}).encode()

    return respond


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5: a worker opening more connections
    # at once than that (it sends a batch concurrently) would see connect
    # timeouts from a receiver that is merely busy.
    request_queue_size = 128
    daemon_threads = True


@dataclass
class Receiver:
    host: str = "127.0.0.1"
    port: int = 0
    secret: str | None = None
    responder: Responder = field(default_factory=lambda: always(200))
    on_request: Callable[[Received], None] | None = None
    received: list[Received] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the sender expects

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                item = Received(
                    self.path,
                    headers,
                    body,
                    time.time(),
                    check_signature(headers, body, receiver.secret),
                )
                with receiver._arrived:
                    receiver.received.append(item)
                    receiver._arrived.notify_all()
                if receiver.on_request:
                    receiver.on_request(item)
                status, reply, *more = receiver.responder(item)
                extra = more[0] if more else {"Content-Type": "application/json"}
                # One write for status line, headers and body: split writes
                # meet Nagle's algorithm and delayed ACKs, 40 ms a request.
                head = (
                    f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                    + "".join(f"{name}: {value}\r\n" for name, value in extra.items())
                    + f"Content-Length: {len(reply)}\r\n\r\n"
                )
                self.wfile.write(head.encode() + reply)

            def log_message(self, format, *args):
                pass

        self.server = _Server((self.host, self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Block until `count` requests have arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.received)} of {count} requests arrived")
                self._arrived.wait(left)
            return list(self.received)
