"""The web server as clients meet it: real gunicorn, a real keep-alive client.

An answer that did not read its request body (413 for a body over
WEBHOOK_EVENT_MAX_BYTES, 401...) used to leave that body on the connection:
gunicorn closed it after saying `Connection: keep-alive`, and the client's
next request on it, a good publish, failed with "Remote end closed
connection without response".
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess

import pytest

from hooks.services import token_issue
from tests.live import ROOT, free_port, wait_until, worker_env
from webhooks_project.run import web_command

pytestmark = pytest.mark.integration


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def web(django_db_setup, transactional_db, redis_url, tmp_path):
    """gunicorn as `make run` and production start it, on a free port."""
    port = free_port()
    env = worker_env({}, redis_url=redis_url, var_dir=tmp_path)
    with open(tmp_path / "web.log", "wb") as log:
        process = subprocess.Popen(
            [*web_command(f"127.0.0.1:{port}"), "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    wait_until(lambda: answers(port) or process.poll() is not None, timeout=30)
    assert process.poll() is None, (tmp_path / "web.log").read_text()
    yield port
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def publisher(tenants, django_user_model):
    admin = django_user_model.objects.create_superuser("producer", password="x")
    return {
        "Authorization": f"Token {token_issue(user=admin)[1]}",
        "Content-Type": "application/json",
        "account": str(tenants["east_acct"].id),
    }


def good_event(publisher) -> bytes:
    return json.dumps({"type": "VM.CREATE", "account": publisher["account"], "data": {}}).encode()


def post(conn: http.client.HTTPConnection, body: bytes, headers: dict) -> tuple[int, str]:
    conn.request("POST", "/api/v1/events/", body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status, response.getheader("Connection", "")


@pytest.mark.parametrize(
    ("size", "connection"),
    [
        (2_000_000, "keep-alive"),  # read and dropped: the connection is reused
        (20_000_000, "close"),  # too big to read: the answer says so
    ],
)
def test_a_refused_body_leaves_the_next_request_on_the_connection_working(
    web, publisher, size, connection
):
    headers = {k: v for k, v in publisher.items() if k != "account"}
    conn = http.client.HTTPConnection("127.0.0.1", web, timeout=20)

    # Given a body over the limit, refused with 413
    too_big = b'{"type": "VM.CREATE", "data": "' + b"x" * size + b'"}'
    assert post(conn, too_big, headers) == (413, connection)
    sock = conn.sock

    # When the client sends its next request (on the same connection, if the
    # answer said keep-alive; http.client reconnects after "close")
    status, _ = post(conn, good_event(publisher), headers)

    # Then it is answered
    assert status == 202
    assert (conn.sock is sock) == (connection == "keep-alive")
    conn.close()


def test_a_body_refused_before_it_is_read_keeps_the_connection(web, publisher):
    conn = http.client.HTTPConnection("127.0.0.1", web, timeout=20)
    headers = {"Content-Type": "application/json", "Authorization": "Token wrong"}

    # A 200 KB event with a bad token: refused (401) before the body is parsed
    assert post(conn, b" " * 200_000 + good_event(publisher), headers) == (401, "keep-alive")
    sock = conn.sock

    status, _ = post(
        conn, good_event(publisher), {k: v for k, v in publisher.items() if k != "account"}
    )
    assert status == 202
    assert conn.sock is sock  # the same connection, not a new one
    conn.close()
