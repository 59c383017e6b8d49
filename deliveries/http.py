"""The only code that opens a connection to a receiver.

Built on libcurl (pycurl) for its cost per request (~0.07 ms of CPU against
~1.3 ms for a requests Session, measured here) and its per-connection
controls. Every request:
- is vetted at connect time: CURLOPT_OPENSOCKETFUNCTION sees the very address
  curl is about to connect to, after DNS, its cache and its URL parser, and
  refuses it unless hooks.destinations allows it. What is checked is what is
  connected to: no window for DNS rebinding, and every address of a name
  that has several is checked before it is tried;
- is resolved by libcurl's asynchronous resolver, inside the attempt's
  deadline: a name whose DNS hangs costs its own request, not the batch's;
- follows no redirects and speaks only http and https;
- has a connect timeout and a deadline for the whole attempt;
- reads at most `body_limit` bytes of the response, then hangs up.
A receiver's failure is a SendResult with `error_class` set, never an exception.
(SendResult, not Response: DRF's Response is imported beside it in the API.)

`send_many` runs many requests at once over keep-alive connections (one
CurlMulti per process, whose connection cache outlives a batch) and hands
back each result as soon as it is done, so one slow receiver does not hold
up the recording of the others.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import certifi
import pycurl

from hooks.destinations import address_refusal

MAX_RESPONSE_HEADER_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    url: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    timeout: float
    connect_timeout: float = 5.0
    verify_tls: bool = True
    key: Any = None  # the caller's handle for this request (a delivery id)


class ErrorClass(StrEnum):
    """Why an attempt got no usable answer, as DeliveryAttempt.error_class stores it."""

    BODY_TRUNCATED = "BodyTruncated"  # an answer all the same: the body was cut at our cap
    DESTINATION_REFUSED = "DestinationRefused"
    BAD_URL = "BadURL"
    DNS = "DNSError"
    CONNECTION = "ConnectionError"
    TIMEOUT = "Timeout"
    TLS = "TLSError"
    EMPTY_RESPONSE = "EmptyResponse"
    HTTP = "HTTPError"
    WORKER_LOST = "WorkerLost"  # the sweeper's: a claim expired with no result recorded
    # outcome.py's: a 2xx without the acknowledgement its webhook asks for.
    NO_ACKNOWLEDGEMENT = "NoAcknowledgement"


@dataclass(slots=True)
class SendResult:
    status_code: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_truncated: bool = False
    duration_ms: int = 0
    error_class: str = ""
    error_message: str = ""
    remote_ip: str = ""

    @property
    def ok(self) -> bool:
        """A 2xx answer. A body cut at our cap does not change the receiver's verdict."""
        return (
            self.status_code is not None
            and 200 <= self.status_code < 300
            and (not self.error_class or self.error_class == ErrorClass.BODY_TRUNCATED)
        )

    @property
    def summary(self) -> str:
        if self.error_class == ErrorClass.NO_ACKNOWLEDGEMENT:
            return self.error_message  # "no acknowledgement: …" says it all
        if self.error_class and self.error_class != ErrorClass.BODY_TRUNCATED:
            return f"{self.error_class}: {self.error_message}"
        return f"HTTP {self.status_code}"


class DestinationRefused(Exception):
    pass


class _Transfer:
    """One request in flight: its curl handle and what it has received."""

    __slots__ = (
        "body",
        "curl",
        "header_bytes",
        "headers",
        "limit",
        "refusal",
        "request",
        "started",
        "status_line_seen",
        "truncated",
    )

    def __init__(self, request: OutgoingRequest, limit: int):
        self.request = request
        self.limit = limit
        self.body = bytearray()
        self.truncated = False
        self.headers: dict[str, str] = {}
        self.header_bytes = 0
        self.status_line_seen = False
        self.refusal = ""
        self.started = time.monotonic()
        self.curl: pycurl.Curl | None = None

    def on_body(self, chunk: bytes) -> int | None:
        room = self.limit - len(self.body)
        if len(chunk) > room:
            self.body += chunk[:room]
            self.truncated = True
            return 0  # abort the transfer: we have all we keep
        self.body += chunk
        return None

    def on_header(self, line: bytes) -> None:
        self.header_bytes += len(line)
        if self.header_bytes > MAX_RESPONSE_HEADER_BYTES:
            return
        text = line.decode("latin-1").strip()
        if text.startswith("HTTP/"):
            self.headers = {}  # a new response (after 100 Continue): start over
            return
        name, sep, value = text.partition(":")
        if sep:
            self.headers[name.strip().lower()] = value.strip()

    def make_opensocket(self, allow_private: bool) -> Callable:
        def opensocket(purpose: int, address: Any) -> Any:
            family, socktype, protocol, addr = address
            if not allow_private:
                reason = address_refusal(ipaddress.ip_address(addr[0].split("%")[0]))
                if reason:
                    self.refusal = reason
                    return pycurl.SOCKET_BAD
            return socket.socket(family, socktype, protocol)

        return opensocket


class Sender:
    """Sends requests concurrently through one CurlMulti (one per process)."""

    def __init__(
        self, *, allow_private: bool, body_limit: int, user_agent: str, max_connections: int = 500
    ):
        self.allow_private = allow_private
        self.body_limit = body_limit
        self.user_agent = user_agent
        self.max_connections = max_connections
        self._multi: pycurl.CurlMulti | None = None
        self._pid = 0

    @property
    def multi(self) -> pycurl.CurlMulti:
        # Celery's prefork pool forks workers: a curl handle must not be shared
        # across processes, so each process makes its own on first use.
        if self._multi is None or self._pid != os.getpid():
            multi = pycurl.CurlMulti()
            multi.setopt(pycurl.M_MAXCONNECTS, self.max_connections)
            self._multi, self._pid = multi, os.getpid()
        return self._multi

    def send(self, request: OutgoingRequest) -> SendResult:
        results: list[SendResult] = []
        self.send_many([request], lambda done: results.extend(r for _, r in done))
        return results[0]

    def send_many(
        self,
        requests: Iterable[OutgoingRequest],
        on_done: Callable[[list[tuple[OutgoingRequest, SendResult]]], None],
        *,
        concurrency: int = 100,
        linger: float = 0.0,
        refill: Callable[[int], Sequence[OutgoingRequest]] | None = None,
        refill_every: float = 0.005,
        refill_after: float = 0.1,
        refill_for: float = 60.0,
    ) -> None:
        """Send every request; call `on_done` with each group that finishes.

        A group is what finished within `linger` seconds of its first result
        (or all that is left): fast receivers' results are handed over while a
        slow one is still in flight, and the caller writes a few groups rather
        than one record per response.

        With `refill`, a request still in flight holds one of `concurrency`
        slots, not the caller: every `refill_every` seconds while a transfer
        has been in flight for `refill_after` seconds or more (for
        `refill_for` seconds at most), `refill(free slots)` is asked for more
        requests, which join the transfers already running. While all are
        young, none is asked for: the call is about to return anyway, and its
        caller's next message claims a full batch in one go. It returns when
        nothing is in flight and nothing was added.
        """
        queue = deque(requests)
        multi = self.multi
        active: dict[pycurl.Curl, _Transfer] = {}
        finished: list[tuple[OutgoingRequest, SendResult]] = []
        first_finished_at = 0.0
        refill_stop = time.monotonic() + refill_for
        next_refill = time.monotonic() + refill_every
        try:
            while queue or active:
                while queue and len(active) < concurrency:
                    request = queue.popleft()
                    transfer = _Transfer(request, self.body_limit)
                    try:
                        transfer.curl = self._prepare(transfer)
                    except DestinationRefused as exc:
                        finished.append((request, _refused(str(exc), transfer.started)))
                        continue
                    except Exception as exc:
                        # One odd URL must not sink the batch it travels in.
                        reason = f"cannot send to this URL: {exc}"
                        finished.append(
                            (request, _refused(reason, transfer.started, ErrorClass.BAD_URL))
                        )
                        continue
                    multi.add_handle(transfer.curl)
                    active[transfer.curl] = transfer
                if active:
                    while True:
                        ret, _ = multi.perform()
                        if ret != pycurl.E_CALL_MULTI_PERFORM:
                            break
                    while True:
                        remaining, ok_list, err_list = multi.info_read()
                        for curl in ok_list:
                            finished.append(self._finish(multi, active.pop(curl), 0, ""))
                        for curl, errno, errmsg in err_list:
                            finished.append(self._finish(multi, active.pop(curl), errno, errmsg))
                        if remaining == 0:
                            break
                now = time.monotonic()
                if finished and not first_finished_at:
                    first_finished_at = now
                waited = now - first_finished_at if finished else 0.0
                if finished and ((not active and not queue) or waited >= linger):
                    group, finished, first_finished_at = finished, [], 0.0
                    on_done(group)
                if refill is not None and active and now >= next_refill:
                    next_refill = now + refill_every
                    slow = now - min(t.started for t in active.values()) >= refill_after
                    if slow and now < refill_stop and len(active) + len(queue) < concurrency:
                        queue.extend(refill(concurrency - len(active) - len(queue)))
                if active and not queue:
                    wait_ms = multi.timeout()
                    cap = 50 if not finished else max(1, int((linger - waited) * 1000))
                    if refill is not None:
                        cap = min(cap, max(1, int((next_refill - now) * 1000)))
                    multi.select((cap if wait_ms < 0 else min(wait_ms, cap)) / 1000)
            if finished:
                on_done(finished)
        finally:
            # Whatever happened, leave the multi handle clean for the next batch.
            for curl in active:
                multi.remove_handle(curl)
                curl.close()

    def _prepare(self, transfer: _Transfer) -> pycurl.Curl:
        request = transfer.request
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DestinationRefused(f"not an http(s) URL: {request.url[:200]}")
        curl = pycurl.Curl()
        setopt = curl.setopt
        setopt(pycurl.URL, request.url)
        setopt(pycurl.OPENSOCKETFUNCTION, transfer.make_opensocket(self.allow_private))
        setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        setopt(pycurl.FOLLOWLOCATION, 0)
        setopt(pycurl.NOSIGNAL, 1)
        setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        setopt(pycurl.TIMEOUT_MS, max(1, int(request.timeout * 1000)))
        setopt(
            pycurl.CONNECTTIMEOUT_MS,
            max(1, int(min(request.connect_timeout, request.timeout) * 1000)),
        )
        setopt(pycurl.POST, 1)
        setopt(pycurl.POSTFIELDS, request.body)
        # Expect: 100-continue would add a round trip for bodies over 1 KiB.
        headers = [f"{name}: {value}" for name, value in request.headers]
        headers.append("Expect:")
        setopt(pycurl.HTTPHEADER, headers)
        setopt(pycurl.USERAGENT, dict(request.headers).get("User-Agent", self.user_agent))
        # The body is kept as it came: a gzip answer is not inflated (it could
        # grow far past the cap; we send no Accept-Encoding either).
        setopt(pycurl.HTTP_CONTENT_DECODING, 0)
        setopt(pycurl.WRITEFUNCTION, transfer.on_body)
        setopt(pycurl.HEADERFUNCTION, transfer.on_header)
        if parts.scheme == "https":
            setopt(pycurl.CAINFO, certifi.where())
            setopt(pycurl.SSL_VERIFYPEER, 1 if request.verify_tls else 0)
            setopt(pycurl.SSL_VERIFYHOST, 2 if request.verify_tls else 0)
        return curl

    def _finish(
        self, multi: pycurl.CurlMulti, transfer: _Transfer, errno: int, errmsg: str
    ) -> tuple[OutgoingRequest, SendResult]:
        curl = transfer.curl
        assert curl is not None  # set by _prepare before the handle joined `multi`
        multi.remove_handle(curl)
        status = curl.getinfo(pycurl.RESPONSE_CODE) or None
        response = SendResult(
            status_code=status,
            headers=transfer.headers,
            body=bytes(transfer.body),
            body_truncated=transfer.truncated,
            duration_ms=int(curl.getinfo(pycurl.TOTAL_TIME) * 1000),
            remote_ip=curl.getinfo(pycurl.PRIMARY_IP) or "",
        )
        curl.close()
        if transfer.refusal:
            response.status_code = None
            response.error_class = ErrorClass.DESTINATION_REFUSED
            response.error_message = f"destination not allowed: {transfer.refusal}"
        elif transfer.truncated and errno == pycurl.E_WRITE_ERROR:
            response.error_class = ErrorClass.BODY_TRUNCATED
            response.error_message = f"response body cut at {transfer.limit} bytes"
        elif errno:
            response.error_class, response.error_message = _curl_error(errno, errmsg)
        return transfer.request, response


def _refused(
    message: str, started: float, error_class: str = ErrorClass.DESTINATION_REFUSED
) -> SendResult:
    return SendResult(
        error_class=error_class,
        error_message=message,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


_CURL_ERRORS = {
    pycurl.E_COULDNT_RESOLVE_HOST: ErrorClass.DNS,
    pycurl.E_COULDNT_CONNECT: ErrorClass.CONNECTION,
    pycurl.E_OPERATION_TIMEDOUT: ErrorClass.TIMEOUT,
    pycurl.E_SSL_CONNECT_ERROR: ErrorClass.TLS,
    pycurl.E_PEER_FAILED_VERIFICATION: ErrorClass.TLS,
    pycurl.E_GOT_NOTHING: ErrorClass.EMPTY_RESPONSE,
    pycurl.E_RECV_ERROR: ErrorClass.CONNECTION,
    pycurl.E_SEND_ERROR: ErrorClass.CONNECTION,
    pycurl.E_UNSUPPORTED_PROTOCOL: ErrorClass.DESTINATION_REFUSED,
}


def _curl_error(errno: int, errmsg: str) -> tuple[str, str]:
    """A short class name and message for a libcurl failure."""
    return _CURL_ERRORS.get(errno, ErrorClass.HTTP), f"{errmsg} (curl error {errno})"


_senders: dict[tuple, Sender] = {}


def get_sender() -> Sender:
    """The process's sender, configured from settings."""
    from django.conf import settings

    key = (
        settings.WEBHOOK_ALLOW_PRIVATE_IPS,
        settings.WEBHOOK_RESPONSE_BODY_MAX,
        settings.WEBHOOK_USER_AGENT,
    )
    sender = _senders.get(key)
    if sender is None:
        sender = _senders[key] = Sender(allow_private=key[0], body_limit=key[1], user_agent=key[2])
    return sender
