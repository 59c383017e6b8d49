"""gunicorn's settings for the web process: `gunicorn -c python:webhooks_project.gunicorn_conf`.

Flags given after it on the command line (--workers, --bind) win over these.
https://docs.gunicorn.org/en/stable/settings.html
"""

import os

# Threads: an API call spends most of its time waiting on PostgreSQL and
# Redis, and a sync worker sits idle through it. gthread workers also keep a
# client's connection open between requests, where sync workers close it
# after each one. Measured with bench/run.py (one event per request, 2
# workers): 702-720 deliveries/s with sync workers, 861-983 with 4 threads.
# Each thread holds its own database connection: workers x threads of them.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 5
