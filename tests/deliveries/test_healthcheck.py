"""`manage.py healthcheck` (docker-compose's healthchecks): exit 0 or 1 with the reason."""

import datetime as dt
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from deliveries import liveness
from tests.live import free_port

HOST = socket.gethostname()


def check(*args):
    call_command("healthcheck", *args)


@pytest.mark.django_db
def test_a_worker_is_healthy_while_a_worker_on_this_host_beats(settings, capsys):
    settings.WORKER_HEARTBEAT_STALE_AFTER = 30
    with pytest.raises(CommandError, match=f"no worker heartbeat from {HOST}"):
        check("worker")
    liveness.worker_beat(hostname="celery@elsewhere", pid=1)  # another host's: not ours
    with pytest.raises(CommandError):
        check("worker")

    liveness.worker_beat(hostname=f"celery@{HOST}", pid=7)

    check("worker")
    assert f"healthy: celery@{HOST} (pid 7)" in capsys.readouterr().out


@pytest.mark.django_db
def test_beat_is_healthy_while_it_ticks(settings):
    settings.WORKER_HEARTBEAT_STALE_AFTER = 30
    with pytest.raises(CommandError, match="has not ticked \\(never\\)"):
        check("beat")
    liveness.beat_tick(hostname=HOST, pid=9, now=timezone.now() - dt.timedelta(seconds=31))
    with pytest.raises(CommandError, match="has not ticked \\(last 3"):
        check("beat")

    liveness.beat_tick(hostname=HOST, pid=9)

    check("beat")


def test_web_is_healthy_when_it_answers(capsys):
    class Live(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Live)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check("web", "--url", f"http://127.0.0.1:{server.server_port}/health/live")
    finally:
        server.shutdown()
    assert "answered 200" in capsys.readouterr().out

    with pytest.raises(CommandError, match=r"unhealthy: http://127\.0\.0\.1"):
        check("web", "--url", f"http://127.0.0.1:{free_port()}/health/live")
