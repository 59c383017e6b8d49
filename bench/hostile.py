"""Bad webhook receivers for the isolation benchmark, one process, one thread.

Three listening sockets, one per behaviour:
- hang: accepts the connection, reads the request, never answers. The
  connection stays open until the client gives up (its timeout) and closes it;
  the number of connections held open at a time is what a hang costs the
  sender;
- fail: answers 500 at once (keep-alive);
- slow: answers 200 after --slow-seconds.

A selectors loop, not a thread per connection: hundreds of hung connections
cost a socket each and nothing else, and the counts need no lock.

A fourth port, control, answers the parent (and is counted nowhere):
    GET /_bench/stats -> JSON: per behaviour, connections open now ("held"),
    the most held at once since the previous stats read ("peak"), connections
    accepted and requests received so far.

Run: python bench/hostile.py [--host 127.0.0.1] [--slow-seconds 2]
It prints "PORTS hang=<n> fail=<n> slow=<n> control=<n>" once it listens, and
exits on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import heapq
import json
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

MODES = ("hang", "fail", "slow")
MAX_HEAD = 64 * 1024
FAIL = (
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 13\r\n\r\nhostile: fail"
)
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
SLOW_OK = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
)


@dataclass
class Counts:
    held: int = 0
    peak: int = 0
    accepted: int = 0
    requests: int = 0

    def opened(self) -> None:
        self.held += 1
        self.accepted += 1
        self.peak = max(self.peak, self.held)


@dataclass
class Conn:
    sock: socket.socket
    mode: str
    buffer: bytearray = field(default_factory=bytearray)
    out: bytearray = field(default_factory=bytearray)


def control_reply(counts: dict[str, Counts]) -> bytes:
    body = json.dumps({m: vars(c) for m, c in counts.items()}).encode()
    for c in counts.values():
        c.peak = c.held  # "the most at once since the last read"
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def split_request(buffer: bytearray) -> tuple[str, str, int] | None:
    """(method, target, total length) of the first complete request in the
    buffer, or None while it is incomplete. Raises ValueError on garbage."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD:
            raise ValueError("request head too long")
        return None
    lines = bytes(buffer[:end]).split(b"\r\n")
    method, target, _ = lines[0].decode("latin-1").split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    total = end + 4 + length
    return (method, target, total) if len(buffer) >= total else None


class Server:
    def __init__(self, host: str, slow_seconds: float) -> None:
        self.sel = selectors.DefaultSelector()
        self.slow_seconds = slow_seconds
        self.counts = {m: Counts() for m in MODES}
        self.ports: dict[str, int] = {}
        self.timers: list[tuple[float, int, Conn]] = []  # (due, seq, conn): slow answers
        self.seq = 0
        self.running = True
        for mode in (*MODES, "control"):
            listener = socket.create_server((host, 0), backlog=1024)
            listener.setblocking(False)
            self.sel.register(listener, selectors.EVENT_READ, ("listen", mode))
            self.ports[mode] = listener.getsockname()[1]

    def accept(self, listener: socket.socket, mode: str) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if mode != "control":
                self.counts[mode].opened()
            self.sel.register(sock, selectors.EVENT_READ, ("conn", Conn(sock, mode)))

    def close(self, conn: Conn) -> None:
        if conn.sock.fileno() < 0:
            return  # already closed
        self.sel.unregister(conn.sock)
        conn.sock.close()
        if conn.mode != "control":
            self.counts[conn.mode].held -= 1

    def send(self, conn: Conn, data: bytes) -> None:
        conn.out += data
        self.flush(conn)

    def flush(self, conn: Conn) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.close(conn)
            return
        del conn.out[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
        self.sel.modify(conn.sock, events, ("conn", conn))

    def read(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close(conn)  # the client gave up (timeout) or is done
            return
        conn.buffer += data
        while True:
            try:
                parsed = split_request(conn.buffer)
            except ValueError:
                self.close(conn)
                return
            if parsed is None:
                return
            method, target, total = parsed
            del conn.buffer[:total]
            if conn.sock.fileno() < 0:
                return
            if conn.mode == "control":
                found = method == "GET" and target.startswith("/_bench/stats")
                self.send(conn, control_reply(self.counts) if found else NOT_FOUND)
                continue
            self.counts[conn.mode].requests += 1
            if conn.mode == "fail":
                self.send(conn, FAIL)
            elif conn.mode == "slow":
                self.seq += 1
                heapq.heappush(self.timers, (time.monotonic() + self.slow_seconds, self.seq, conn))
            # hang: keep reading (to see the client close), never answer

    def fire_timers(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, conn = heapq.heappop(self.timers)
            if conn.sock.fileno() >= 0:  # not closed meanwhile
                self.send(conn, SLOW_OK)

    def serve(self) -> None:
        while self.running:
            timeout = max(0.0, self.timers[0][0] - time.monotonic()) if self.timers else 0.5
            for key, events in self.sel.select(timeout=min(timeout, 0.5)):
                kind, item = key.data
                if kind == "listen":
                    self.accept(key.fileobj, item)  # type: ignore[arg-type]
                    continue
                if events & selectors.EVENT_WRITE:
                    self.flush(item)
                if events & selectors.EVENT_READ and item.sock.fileno() >= 0:
                    self.read(item)
            self.fire_timers()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--slow-seconds", type=float, default=2.0)
    args = parser.parse_args()
    server = Server(args.host, args.slow_seconds)

    def stop(*_: object) -> None:
        server.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("PORTS " + " ".join(f"{m}={p}" for m, p in server.ports.items()), flush=True)
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
