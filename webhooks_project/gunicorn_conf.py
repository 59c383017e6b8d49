"""gunicorn's settings for the web process: `gunicorn -c python:webhooks_project.gunicorn_conf`.

Flags given after it on the command line (--workers, --bind) win over these.
https://docs.gunicorn.org/en/stable/settings.html
"""

import os
import sys

from webhooks_project.middleware import DRAIN_MAX_BYTES

# Threads: an API call spends most of its time waiting on PostgreSQL and
# Redis, and a sync worker sits idle through it. gthread workers also keep a
# client's connection open between requests, where sync workers close it
# after each one. Measured with bench/run.py (one event per request, 2
# workers): 702-720 deliveries/s with sync workers, 861-983 with 4 threads.
# Each thread holds its own database connection: workers x threads of them.
#
# One process of 8 threads by default: on the two cores of the reference
# machine, which the web shares with the worker, PostgreSQL and Redis, one
# process costs less CPU per request than two (bench/run.py over the API,
# interleaved: web 0.21-0.25 ms per delivery with one process, 0.30-0.32
# with 2 x 4 threads; with one process its 8 threads' wake-ups also share
# one wake-up thread, so fewer messages). One process runs Python on at
# most one core (the GIL): about 450 event POSTs a second here. Give the
# web more cores with WEB_CONCURRENCY (docs/operations.md).
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("WEB_THREADS", "8"))
keepalive = 5
# On SIGTERM, requests in flight get this long to finish before the workers
# are killed. API requests take milliseconds; gunicorn's default (30 s) is
# longer than docker's stop timeout (10 s) and made Ctrl-C of `make run` slow.
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "5"))


def pre_request(worker, req) -> None:
    """Answer `Connection: close` to a body too big to drain after the answer.

    webhooks_project/middleware.py reads what the application left of a body,
    up to DRAIN_MAX_BYTES, so the client can reuse its connection; a larger
    body, or one of unknown length (chunked), is left unread, and its answer
    must tell the client the connection ends with it.
    """
    worker.log.debug("%s %s", req.method, req.path)
    headers = dict(req.headers)
    length = headers.get("CONTENT-LENGTH", "")
    too_big = length.isdigit() and int(length) > DRAIN_MAX_BYTES
    if too_big or "TRANSFER-ENCODING" in headers:
        req.must_close = True


def worker_exit(server, worker) -> None:
    """Send the wake-ups this worker's thread still holds (deliveries/queue.py)
    before it goes: atexit does too, but not on every way out of a worker.

    gunicorn also calls this in the master (for a worker found already gone),
    where Django is not set up: only a process that loaded the queue has
    anything to send."""
    queue = sys.modules.get("deliveries.queue")
    if queue is not None:
        queue.flush_at_exit()
