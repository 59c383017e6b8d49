"""GET /metrics for Prometheus, and the web requests' latency (docs/operations.md#metrics).

The answer adds up the counters every process on this host wrote to
PROMETHEUS_MULTIPROC_DIR (deliveries/metrics.py) and the gauges read from
the database at scrape time (deliveries/gauges.py). It needs
`Authorization: Bearer <METRICS_TOKEN>`; while METRICS_TOKEN is empty the
endpoint does not exist (404), so nothing is exposed by default.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from deliveries import metrics
from deliveries.gauges import DatabaseGauges

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def exposition() -> bytes:
    """What one scrape reads: all processes' files (under the lock that keeps
    a fold from being seen half done), then the database gauges (outside it)."""
    files = CollectorRegistry()
    path = str(settings.PROMETHEUS_MULTIPROC_DIR)
    MultiProcessCollector(files, path=path)
    with metrics.files_locked(path, exclusive=False):
        counted = generate_latest(files)
    database = CollectorRegistry()
    database.register(DatabaseGauges())
    return counted + generate_latest(database)


def _authorized(request: HttpRequest) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), settings.METRICS_TOKEN.encode()
    )


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN:
        raise Http404("metrics are off: set METRICS_TOKEN")
    if not _authorized(request):
        response = HttpResponse(
            "401 Unauthorized: send Authorization: Bearer <METRICS_TOKEN>\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Middleware: each request's time, by view name (a bounded set: never
    the path, which holds ids), method and status class."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        view = (match.view_name or match.route) if match else "unmatched"
        method = request.method if request.method in METHODS else "other"
        metrics.api_request_duration_seconds.labels(
            view, method, f"{response.status_code // 100}xx"
        ).observe(time.perf_counter() - started)
        return response
