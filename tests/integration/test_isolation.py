"""Endpoint isolation with real parts: a real worker (2 pool processes), Redis,
the test database, real receivers on 127.0.0.1, and a hanging one that
accepts connections and never answers.

The worker's timings are in conftest.py (WORKER_SETTINGS): 5 failures in a row
open a circuit for 1.5 s (then 3 s, at most 4 s). The sweeper is not run by a
beat here: tests that need it (the probe and the drain are queued by it) send
its task while they wait, as beat would.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import select
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings as django_settings
from django.db import transaction

from deliveries.models import FINISHED, Delivery, DeliveryStatus, Event
from deliveries.publishing import event_publish
from deliveries.tasks import sweep
from hooks.health import Circuit
from hooks.models import Scope, Webhook
from tests.factories import WebhookFactory
from tests.live import wait_until

pytestmark = pytest.mark.integration


def _closed_by_peer(conn: socket.socket) -> bool:
    """Whether the other side has hung up: readable, with nothing left to read."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class HangingReceiver:
    """Accepts connections and reads what comes, never answers. Counts the
    connections open at once, as seen from the receiving side."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.server.getsockname()[1]
        self.lock = threading.Lock()
        self.open = 0
        self.peak = 0
        self.requests: list[float] = []  # when each connection's request began
        self.connections: set[socket.socket] = set()
        self.threads: list[threading.Thread] = []
        self.stopping = False
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return  # closed by stop()
            with self.lock:
                if self.stopping:
                    conn.close()
                    return
                self.connections.add(conn)
                self.open += 1
                # Counted from the sockets themselves, not from `open`: the
                # thread holding a connection the sender closed may not have
                # run yet (a loaded machine), and would count it one moment
                # too long.
                live = sum(1 for c in self.connections if not _closed_by_peer(c))
                self.peak = max(self.peak, live)
            thread = threading.Thread(target=self._hold, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _hold(self, conn: socket.socket) -> None:
        # Blocking reads: the sender's hang-up is seen at once (b""), so a
        # connection is not counted open after the sender gave up on it.
        seen = False
        try:
            while conn.recv(65536):
                if not seen:
                    seen = True
                    with self.lock:
                        self.requests.append(time.time())
        except OSError:
            pass
        finally:
            with self.lock:
                self.open -= 1
                self.connections.discard(conn)
            conn.close()

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        self.acceptor.join(timeout=5)
        for thread in self.threads:
            thread.join(timeout=5)


@pytest.fixture
def hanging():
    receivers: list[HangingReceiver] = []

    def make() -> HangingReceiver:
        receivers.append(HangingReceiver())
        return receivers[-1]

    yield make
    for r in receivers:
        r.stop()


class ScriptedReceiver:
    """Answers the n-th request with script(n): (status, headers); notes when."""

    def __init__(self, script: Callable[[int], tuple[int, dict[str, str]]]) -> None:
        self.arrivals: list[tuple[float, int]] = []  # (time, status answered)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers = script(len(receiver.arrivals))
                receiver.arrivals.append((time.time(), status))
                extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                self.wfile.write(
                    f"HTTP/1.1 {status} X\r\n{extra}Content-Length: 0\r\n\r\n".encode()
                )

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def publish(account, n: int = 1) -> list[Event]:
    return [event_publish(type="VM.CREATE", data={"n": i}, account=account).event for i in range(n)]


def sweeping(predicate: Callable[[], object], *, timeout: float, message: str):
    """wait_until, sending the sweeper's task every 0.5 s meanwhile (as beat would)."""
    last = [0.0]

    def check():
        if time.monotonic() - last[0] >= 0.5:
            sweep.delay()
            last[0] = time.monotonic()
        return predicate()

    return wait_until(check, timeout=timeout, every=0.1, message=message)


def settled(webhook: Webhook) -> bool:
    """Every delivery to this webhook has ended, or is held (pending while the
    webhook is disabled or its circuit open), with nothing in flight."""
    webhook.refresh_from_db()
    held = not webhook.enabled or webhook.circuit == Circuit.OPEN
    statuses = set(webhook.deliveries.values_list("status", flat=True))
    return statuses <= {*FINISHED, *([DeliveryStatus.PENDING] if held else [])}


def assert_nothing_lost(*webhooks: Webhook, events: list[Event]) -> None:
    """Every accepted delivery ended succeeded or failed, or is held by its
    webhook, and each attempt it started is recorded."""
    deliveries = Delivery.objects.filter(webhook__in=webhooks).select_related("webhook")
    assert deliveries.filter(event__in=events).count() == len(events) * len(webhooks)
    for d in deliveries:
        held = not d.webhook.enabled or d.webhook.circuit == Circuit.OPEN
        assert d.status in FINISHED or (d.status == DeliveryStatus.PENDING and held), d
        assert d.attempt_set.count() == d.attempts, d


# --- a hanging endpoint beside a healthy one ----------------------------------------------


def test_a_healthy_endpoint_is_delivered_to_at_once_while_another_hangs(
    worker, receivers, hanging, tenants
):
    # Given, in one account, an endpoint that never answers (2 s timeout)
    # and a healthy one
    acct = tenants["east_acct"]
    hang = hanging()
    ok = receivers()
    slow = WebhookFactory(account=acct, payload_url=f"{hang.url}/h", timeout=2, max_attempts=1)
    # (VM.* only: a webhook without a filter would also get the operational
    # events about its hanging neighbour, published in their common account)
    fine = WebhookFactory(account=acct, payload_url=f"{ok.url}/ok", event_types=["VM.*"])
    events = publish(acct)
    wait_until(lambda: hang.requests, message="the hanging request")

    # When more events for both are published while the hang is in flight
    latencies = []
    for n in range(6):
        published = time.time()
        events += publish(acct)
        arrived = ok.wait_for(n + 2, timeout=5)[-1]
        latencies.append(arrived.received_at - published)
        assert hang.open >= 1, "a hanging request should be in flight"
        time.sleep(0.2)

    # Then each reached the healthy endpoint within a bound, the hang notwithstanding
    assert max(latencies) < 2.0, latencies
    sweeping(lambda: settled(slow) and settled(fine), timeout=15, message="all settled")
    assert set(fine.deliveries.values_list("status", "attempts")) == {("succeeded", 1)}
    assert_nothing_lost(slow, fine, events=events)


def test_the_sending_limit_holds_across_the_workers_processes(worker, hanging, tenants):
    # Given a hanging endpoint that may have 2 requests in flight
    acct = tenants["west_acct"]
    hang = hanging()
    cap = 2
    slow = WebhookFactory(
        account=acct, payload_url=f"{hang.url}/h", timeout=1, max_attempts=1, max_in_flight=cap
    )

    # When six events for it are published at once: six messages, which the
    # worker's two pool processes take in parallel
    events = publish(acct, 6)

    # Then never more than its limit are open at the receiver at once
    sweeping(
        lambda: settled(slow) and not slow.deliveries.filter(status="pending").exists(),
        timeout=20,
        message="every delivery attempted",
    )
    assert 1 <= hang.peak <= cap, f"{hang.peak} connections at once, limit {cap}"
    assert len(hang.requests) == 6
    assert set(slow.deliveries.values_list("status", "attempts")) == {("failed", 1)}
    assert_nothing_lost(slow, events=events)


# --- the circuit breaker ------------------------------------------------------------------


def test_the_circuit_opens_holds_probes_after_the_cool_down_and_drains_once(
    worker, receivers, tenants, root_domain
):
    # Given an endpoint answering 500, with an operator subscribed to webhook.*
    acct = tenants["east_sub_acct"]
    answers = {"status": 500}
    answered: list[tuple[float, str, int]] = []

    def respond(received):
        status = answers["status"]
        answered.append((time.time(), received.headers["webhook-id"], status))
        return status, b"{}"

    r = receivers(responder=respond)
    ops = receivers()
    WebhookFactory(
        account=tenants["root_acct"],
        scope=Scope.GLOBAL,
        payload_url=f"{ops.url}/ops",
        event_types=["webhook.*"],
    )
    webhook = WebhookFactory(account=acct, payload_url=f"{r.url}/hook", max_attempts=10)

    # When five deliveries fail (WEBHOOK_CIRCUIT_FAILURES)
    events = publish(acct, 5)
    wait_until(
        lambda: Webhook.objects.get(id=webhook.id).circuit == Circuit.OPEN,
        message="the circuit to open",
    )
    webhook.refresh_from_db()
    retry_at = webhook.circuit_retry_at.timestamp()
    tried = len(answered)
    # the endpoint recovers, unknown to the circuit; three more events come
    answers["status"] = 200
    events += publish(acct, 3)

    # Then nothing is attempted while the circuit is open
    time.sleep(max(0.0, retry_at - time.time() - 0.2))
    assert len(answered) == tried
    attempts = dict(webhook.deliveries.values_list("id", "attempts"))
    assert sum(attempts.values()) == tried
    assert webhook.deliveries.filter(status=DeliveryStatus.PENDING).count() == 8

    # and after the cool-down, one probe; then the held deliveries drain
    sweeping(
        lambda: webhook.deliveries.filter(status=DeliveryStatus.SUCCEEDED).count() == 8,
        timeout=15,
        message="the drain",
    )
    probe_at = answered[tried][0]
    assert probe_at >= retry_at - 0.01, "probed before the cool-down ended"
    # every delivery is received with success exactly once
    successes = [msg_id for _, msg_id, status in answered if status == 200]
    assert len(successes) == len(set(successes)) == 8
    webhook.refresh_from_db()
    assert (webhook.circuit, webhook.consecutive_failures) == (Circuit.CLOSED, 0)
    # and the operator heard of the opening and of the closing, once each
    ops_events = wait_until(lambda: len(ops.received) >= 2 and ops.received, message="ops")
    time.sleep(0.3)
    about = [
        (json.loads(x.body)["type"], json.loads(x.body)["data"]["webhook"]["id"])
        for x in ops.received
    ]
    assert sorted(about) == [
        ("webhook.circuit_closed", str(webhook.id)),
        ("webhook.circuit_opened", str(webhook.id)),
    ], ops_events
    assert_nothing_lost(webhook, events=events)


# --- HTTP etiquette -----------------------------------------------------------------------


def test_a_410_disables_the_webhook_holds_its_deliveries_and_tells_the_operator(
    worker, receivers, tenants
):
    # Given an endpoint that answers 410 Gone, and an operator
    acct = tenants["west_acct"]
    gone = receivers(responder=lambda received: (410, b""))
    ops = receivers()
    WebhookFactory(
        account=tenants["root_acct"],
        scope=Scope.GLOBAL,
        payload_url=f"{ops.url}/ops",
        event_types=["webhook.*"],
    )
    webhook = WebhookFactory(account=acct, payload_url=f"{gone.url}/gone")

    # When two events are published for it, together (an event published
    # once it is disabled makes no delivery to it)
    with transaction.atomic():
        events = publish(acct, 2)

    # Then it is disabled at once, its deliveries held, not failed or retried
    (told,) = wait_until(lambda: ops.received, message="the operator to be told")
    body = json.loads(told.body)
    assert (body["type"], body["data"]["webhook"]["id"]) == ("webhook.disabled", str(webhook.id))
    webhook.refresh_from_db()
    assert not webhook.enabled and "410 Gone" in webhook.state_reason
    sweeping(lambda: settled(webhook), timeout=5, message="nothing in flight")
    time.sleep(1.0)  # a retry (0.3 s) or a sweep would have come by now
    assert set(webhook.deliveries.values_list("status", flat=True)) == {"pending"}
    assert len(gone.received) == sum(webhook.deliveries.values_list("attempts", flat=True)) <= 2
    assert len(ops.received) == 1
    assert_nothing_lost(webhook, events=events)


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_honoured(worker, tenants, form):
    # Given an endpoint that first answers 429 "retry after 2 s", then 200
    def retry_after():
        if form == "seconds":
            return "2"
        return email.utils.formatdate(time.time() + 3, usegmt=True)  # whole seconds: 2-3 s

    r = ScriptedReceiver(lambda n: (429, {"Retry-After": retry_after()}) if n == 0 else (200, {}))
    try:
        acct = tenants["east_acct"]
        webhook = WebhookFactory(account=acct, payload_url=f"{r.url}/hook")

        # When an event is published for it
        events = publish(acct)

        # Then the second attempt comes no sooner than asked (not 0.3 s later)
        sweeping(lambda: settled(webhook) and len(r.arrivals) == 2, timeout=10, message="retry")
    finally:
        r.stop()
    (first, _), (second, status) = r.arrivals
    assert second - first >= 2.0, second - first
    assert status == 200
    delivery = webhook.deliveries.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)
    assert list(
        delivery.attempt_set.order_by("number").values_list("response_status", flat=True)
    ) == [
        429,
        200,
    ]
    # and the endpoint was slowed down: half its limit, then one more slot
    # for the good batch since
    webhook.refresh_from_db()
    assert webhook.throttle_limit == django_settings.WEBHOOK_MAX_IN_FLIGHT // 2 + 1
    assert_nothing_lost(webhook, events=events)
