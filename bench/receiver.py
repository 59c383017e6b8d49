"""A fast webhook receiver for the benchmark: asyncio, raw HTTP/1.1, keep-alive.

deliveries.receiver (ThreadingHTTPServer) costs a thread and a lot of Python
per request; on two cores it, not the platform, would be what we measure.
This one parses just enough HTTP to find the request's end, answers 200, and
records (webhook-id header, path, time.time() of receipt) for every POST.

The parent reads those records over the same socket:
    GET /_bench/count             -> number of records so far
    GET /_bench/records?since=N   -> records N.. as "id<TAB>path<TAB>time" lines

Run: python bench/receiver.py [--host 127.0.0.1] [--port 0]
It prints "PORT <n>" on stdout once it listens, and exits on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from urllib.parse import parse_qs, urlsplit

# One canned answer: status line, headers and body in ONE write. Split writes
# would meet Nagle's algorithm and the client's delayed ACK: 40 ms a request.
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
MAX_HEAD = 64 * 1024

Record = tuple[str, str, float]


def reply(status: str, body: bytes, content_type: bytes = b"text/plain") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type.decode()}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


class Store:
    """Every POST received, in arrival order (append-only, single-threaded)."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def control(self, target: str) -> bytes:
        parts = urlsplit(target)
        if parts.path == "/_bench/count":
            return reply("200 OK", str(len(self.records)).encode())
        if parts.path == "/_bench/records":
            since = int(parse_qs(parts.query).get("since", ["0"])[0])
            # repr(float) round-trips exactly, so the parent sees the same instant.
            lines = [f"{i}\t{p}\t{t!r}\n" for i, p, t in self.records[since:]]
            return reply("200 OK", "".join(lines).encode())
        return reply("404 Not Found", b"unknown control path\n")


class HTTPProtocol(asyncio.Protocol):
    """One client connection; requests may arrive pipelined or split anywhere."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.transport.close()
                return
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            try:
                method, target, _version = lines[0].decode("latin-1").split(" ", 2)
            except ValueError:
                self.transport.close()
                return
            length = 0
            hook_id = ""
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"webhook-id":
                    hook_id = value.strip().decode("latin-1")
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            total = end + 4 + length
            if len(self.buffer) < total:
                return  # the body is still on its way
            received_at = time.time()
            del self.buffer[:total]
            if method == "GET" and target.startswith("/_bench/"):
                self.transport.write(self.store.control(target))
            else:
                self.store.records.append((hook_id, target, received_at))
                self.transport.write(OK)
            if close:
                self.transport.close()
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    store = Store()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # A deep backlog: a burst of workers connecting at once must not see refusals.
    server = await loop.create_server(lambda: HTTPProtocol(store), host, port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
