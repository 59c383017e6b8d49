"""The sender against real HTTP servers on 127.0.0.1 (no mocks of the network).

deliveries.receiver.Receiver is the real receiver. A few cases need what it
cannot do (a Location header, the client's address), so `Tiny` below is a
smaller http.server of our own for those.
"""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deliveries.http import OutgoingRequest, Sender
from deliveries.receiver import Receiver, always

BODY = b'{"id":"evt_1","type":"VM.CREATE"}'
# A long wait that bounds a broken test instead of hanging it; never expected to elapse.
SAFETY = 30


@pytest.fixture
def receivers():
    """Start real receivers on random ports; stop them all afterwards."""
    started = []

    def start(**kwargs) -> Receiver:
        receiver = Receiver(**kwargs)
        # Receiver.start() polls for shutdown every 0.5 s; poll faster so that
        # stopping it does not dominate the test's run time.
        serve = threading.Thread(
            target=receiver.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        serve.start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def receiver(receivers):
    return receivers()


@pytest.fixture
def releases():
    """threading.Events that blocked responders wait on; all set at teardown."""
    made = []

    def make() -> threading.Event:
        made.append(threading.Event())
        return made[-1]

    yield make
    for event in made:
        event.set()


def sender(*, allow_private=True, body_limit=64 * 1024) -> Sender:
    return Sender(allow_private=allow_private, body_limit=body_limit, user_agent="test-sender/1")


def request(url, *, timeout=5.0, key=None, headers=None) -> OutgoingRequest:
    return OutgoingRequest(
        url=url,
        headers=headers or [("Content-Type", "application/json"), ("webhook-id", "evt_1")],
        body=BODY,
        timeout=timeout,
        key=key,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Tiny:
    """A minimal HTTP/1.1 server that records each request's client address and
    answers with a fixed status and headers."""

    def __init__(self, status=200, headers=()):
        self.requests = []  # (client_address, path)
        tiny = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                tiny.requests.append((self.client_address, self.path))
                head = [f"HTTP/1.1 {status} Whatever", "Content-Length: 2"]
                head += [f"{name}: {value}" for name, value in headers]
                # One write, as the Receiver does: split writes meet delayed ACKs.
                self.wfile.write(("\r\n".join(head) + "\r\n\r\nok").encode())

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tiny():
    servers = []

    def start(**kwargs) -> Tiny:
        servers.append(Tiny(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


# --- answers -----------------------------------------------------------------------


def test_a_200_is_ok_with_status_headers_and_body(receiver):
    response = sender().send(request(receiver.url + "/hook"))

    assert response.ok
    assert response.status_code == 200
    assert response.error_class == ""
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(b'{"status": 200}'))
    assert response.body == b'{"status": 200}'
    assert response.body_truncated is False
    assert response.remote_ip == "127.0.0.1"
    assert response.summary == "HTTP 200"


def test_the_request_arrives_as_given(receiver):
    headers = [("Content-Type", "application/json"), ("webhook-id", "evt_1"), ("X-Extra", "1")]

    sender().send(request(receiver.url + "/path?q=1", headers=headers))

    [received] = receiver.received
    assert received.path == "/path?q=1"
    assert received.body == BODY
    assert received.headers["content-type"] == "application/json"
    assert received.headers["webhook-id"] == "evt_1"
    assert received.headers["x-extra"] == "1"
    assert received.headers["user-agent"] == "test-sender/1"
    assert "expect" not in received.headers  # no 100-continue round trip


def test_a_user_agent_header_of_the_request_wins(receiver):
    headers = [("Content-Type", "application/json"), ("User-Agent", "CS-Hookshot/acct")]

    sender().send(request(receiver.url, headers=headers))

    assert receiver.received[0].headers["user-agent"] == "CS-Hookshot/acct"


def test_a_500_is_not_ok(receivers):
    receiver = receivers(responder=always(500))

    response = sender().send(request(receiver.url))

    assert response.status_code == 500
    assert not response.ok
    assert response.error_class == ""
    assert response.body == b'{"status": 500}'
    assert response.summary == "HTTP 500"


# --- failures never raise ----------------------------------------------------------------


def test_connection_refused_is_a_connection_error():
    response = sender().send(request(f"http://127.0.0.1:{closed_port()}/hook"))

    assert response.error_class == "ConnectionError"
    assert "curl error 7" in response.error_message
    assert response.status_code is None
    assert not response.ok
    assert response.summary.startswith("ConnectionError: ")


def test_a_receiver_slower_than_the_timeout_gives_a_timeout(receivers, releases):
    # given a receiver that holds the request until the test lets it go
    release = releases()
    answered = threading.Event()

    def hold(received):
        release.wait(SAFETY)
        answered.set()
        return 200, b"{}"

    receiver = receivers(responder=hold)

    # when the sender allows it 0.3 s
    response = sender().send(request(receiver.url, timeout=0.3))

    # then it gave up on its own, while the receiver was still holding the answer
    assert response.error_class == "Timeout"
    assert "curl error 28" in response.error_message
    assert response.status_code is None
    assert not response.ok
    assert len(receiver.received) == 1
    assert not answered.is_set()


def test_a_body_over_the_limit_is_cut_and_a_2xx_stays_ok(receivers):
    receiver = receivers(responder=lambda received: (200, b"x" * 100_000))

    response = sender(body_limit=1000).send(request(receiver.url))

    assert response.status_code == 200
    assert response.body_truncated is True
    assert response.body == b"x" * 1000
    assert response.error_class == "BodyTruncated"
    assert response.ok
    assert response.summary == "HTTP 200"


def test_a_body_over_the_limit_does_not_make_a_500_ok(receivers):
    receiver = receivers(responder=lambda received: (500, b"e" * 5000))

    response = sender(body_limit=100).send(request(receiver.url))

    assert response.status_code == 500
    assert response.body == b"e" * 100
    assert response.body_truncated is True
    assert not response.ok


def test_a_body_of_exactly_the_limit_is_whole(receivers):
    receiver = receivers(responder=lambda received: (200, b"y" * 1000))

    response = sender(body_limit=1000).send(request(receiver.url))

    assert response.body == b"y" * 1000
    assert response.body_truncated is False
    assert response.error_class == ""


def test_a_redirect_is_not_followed(receivers, tiny):
    # given a server that redirects to a second receiver
    target = receivers()
    redirecting = tiny(status=302, headers=[("Location", target.url + "/elsewhere")])

    # when
    response = sender().send(request(redirecting.url + "/hook"))

    # then the redirect is the answer, and the target never heard of it
    assert response.status_code == 302
    assert response.headers["location"] == target.url + "/elsewhere"
    assert not response.ok
    assert len(redirecting.requests) == 1
    assert target.received == []


# --- destination policy ------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1", "[::1]"]
)
def test_private_destinations_are_refused_before_connecting(receiver, host):
    # given a sender that refuses private addresses, and a receiver listening on loopback
    url = f"http://{host}:{receiver.port}/hook"

    # when
    response = sender(allow_private=False).send(request(url))

    # then
    assert response.error_class == "DestinationRefused"
    assert "loopback" in response.error_message
    assert response.status_code is None
    assert not response.ok
    assert receiver.received == []


def test_a_name_is_vetted_by_the_address_it_resolves_to_at_connect_time(receiver):
    # given a host name (not an address) that resolves to loopback, as a
    # rebinding DNS answer would: only the connect-time check can see it
    url = f"http://localhost:{receiver.port}/"

    # when
    response = sender(allow_private=False).send(request(url))

    # then
    assert response.error_class == "DestinationRefused"
    assert response.error_message.startswith("destination not allowed: ")
    assert "is a loopback address" in response.error_message
    assert response.status_code is None
    assert receiver.received == []


def test_an_unresolvable_host_is_refused_without_raising():
    response = sender(allow_private=False).send(request("http://no-such-host.invalid/hook"))

    assert response.error_class == "DNSError"
    assert "no-such-host.invalid" in response.error_message


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "http:///x"])
def test_non_http_urls_are_refused(url):
    response = sender().send(request(url))

    assert response.error_class == "DestinationRefused"
    assert "not an http(s) URL" in response.error_message


# URLs that hooks.destinations.check_payload_url accepts, but that make the sender
# raise (UnicodeError from the idna codec in socket.getaddrinfo, UnicodeEncodeError
# from pycurl's URL option) instead of returning a Response: the whole batch of
# claimed deliveries is then lost until their leases expire, again on every retry.
CRASHING_URLS = ["http://a..b/hook", "http://" + "a" * 64 + ".example/hook", "/h\u00e9llo"]


@pytest.mark.parametrize("url", CRASHING_URLS, ids=["empty-label", "long-label", "non-ascii"])
def test_a_url_curl_cannot_take_is_a_failed_response_not_an_exception(receiver, url):
    url = receiver.url + url if url.startswith("/") else url
    results = {}

    sender().send_many(
        [request(url, key="bad"), request(receiver.url, key="good")],
        lambda group: results.update((r.key, v) for r, v in group),
    )

    assert results["bad"].error_class != ""
    assert not results["bad"].ok
    assert results["good"].ok


# --- many at once -----------------------------------------------------------------------


def test_fast_results_are_handed_over_before_a_slow_one_finishes(receivers, releases):
    # given one slow receiver that answers only once every fast result has been
    # handed over, and three fast receivers
    release = releases()
    slow = receivers(responder=lambda received: (release.wait(SAFETY), (200, b"slow"))[1])
    fast = [receivers() for _ in range(3)]
    requests = [request(slow.url, key="slow")] + [
        request(f.url, key=f"fast-{i}") for i, f in enumerate(fast)
    ]
    calls = []

    def on_done(group):
        calls.append({req.key: response for req, response in group})
        handed_over = {key for call in calls for key in call}
        if {"fast-0", "fast-1", "fast-2"} <= handed_over:
            release.set()

    # when
    sender().send_many(requests, on_done)

    # then the slow one came alone, in the last call, after all the fast ones
    assert list(calls[-1]) == ["slow"]
    assert {key for call in calls[:-1] for key in call} == {"fast-0", "fast-1", "fast-2"}
    assert all(response.ok for call in calls for response in call.values())
    assert calls[-1]["slow"].body == b"slow"


def test_refused_requests_are_reported_among_the_others(receiver):
    requests = [
        request(receiver.url, key="ok"),
        request("ftp://example.com/", key="refused"),
    ]
    results = {}

    sender().send_many(requests, lambda group: results.update((r.key, v) for r, v in group))

    assert results["ok"].ok
    assert results["refused"].error_class == "DestinationRefused"
    assert len(receiver.received) == 1


def test_more_requests_than_the_concurrency_all_complete(receiver):
    requests = [request(receiver.url + f"/{i}", key=i) for i in range(12)]
    results = {}

    sender().send_many(
        requests, lambda group: results.update((r.key, v) for r, v in group), concurrency=3
    )

    assert sorted(results) == list(range(12))
    assert all(response.ok for response in results.values())
    assert sorted(r.path for r in receiver.received) == sorted(f"/{i}" for i in range(12))


def test_sequential_sends_reuse_one_connection(tiny):
    # given
    server = tiny()
    the_sender = sender()

    # when
    responses = [the_sender.send(request(server.url + f"/{i}")) for i in range(4)]

    # then all four requests came over one TCP connection
    assert all(response.ok for response in responses)
    assert [path for _, path in server.requests] == ["/0", "/1", "/2", "/3"]
    assert len({client for client, _ in server.requests}) == 1


def test_each_sender_has_its_own_connections(tiny):
    server = tiny()

    sender().send(request(server.url))
    sender().send(request(server.url))

    assert len({client for client, _ in server.requests}) == 2
