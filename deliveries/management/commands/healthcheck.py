"""`manage.py healthcheck web|worker|beat`: docker-compose's healthcheck for each process.

Exit 0 when healthy, 1 (with the reason) when not. A worker or beat checks
its own heartbeat, the one written from this host (deliveries/liveness.py),
not the deployment's: one stuck worker container shows unhealthy although
others run. The web checks that it answers /health/live.
"""

from __future__ import annotations

import datetime as dt
import socket
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from deliveries import liveness


class Command(BaseCommand):
    help = "Exit 0 if this host's web, worker or beat process is healthy, 1 with the reason if not."

    def add_arguments(self, parser):
        parser.add_argument("process", choices=["web", "worker", "beat"])
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/health/live",
            help="web: the liveness URL to ask (default %(default)s).",
        )
        parser.add_argument(
            "--host",
            default=socket.gethostname(),
            help="worker, beat: whose heartbeat (default: this host, %(default)s).",
        )

    def handle(self, *args, process, url, host, **options):
        try:
            message = {"web": self.web, "worker": self.worker, "beat": self.beat}[process](
                url=url, host=host
            )
        except DatabaseError as exc:
            raise CommandError(f"unhealthy: the database does not answer ({exc})") from None
        self.stdout.write(f"healthy: {message}")

    def web(self, *, url: str, host: str) -> str:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return f"{url} answered {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            raise CommandError(f"unhealthy: {url}: {exc}") from None

    def worker(self, *, url: str, host: str) -> str:
        mine = [b for b in liveness.workers_alive() if b.hostname.rpartition("@")[2] == host]
        if not mine:
            raise CommandError(
                f"unhealthy: no worker heartbeat from {host} in the last "
                f"{settings.WORKER_HEARTBEAT_STALE_AFTER:g} s"
            )
        return f"{mine[0].hostname} (pid {mine[0].pid}) beat {_age(mine[0].last_seen)}"

    def beat(self, *, url: str, host: str) -> str:
        last = liveness.beat_last_tick(hostname=host)
        bound = dt.timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_AFTER)
        if last is None or timezone.now() - last > bound:
            seen = f"last {_age(last)}" if last else "never"
            raise CommandError(f"unhealthy: beat on {host} has not ticked ({seen})")
        return f"beat on {host} ticked {_age(last)}"


def _age(when: dt.datetime) -> str:
    return f"{(timezone.now() - when).total_seconds():.1f} s ago"
