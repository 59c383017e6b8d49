"""Settings: every knob is read from the environment, here and only here
(the REST API's part is in webhooks_project/api_settings.py, imported below).

docs/operations.md lists them all with their defaults; keep the two in step.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from webhooks_project.env import env_bool, env_int, env_number, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


# --- Django core ----------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key
SECRET_KEY = env_str("SECRET_KEY", "insecure-dev-key-change-me-in-production")
# https://docs.djangoproject.com/en/5.2/ref/settings/#debug
DEBUG = env_bool("DEBUG", False)
# https://docs.djangoproject.com/en/5.2/ref/settings/#allowed-hosts
ALLOWED_HOSTS = [h.strip() for h in env_str("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in env_str("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    # The console before the admin, so its templates override the admin's
    # (admin/base_site.html, admin/app_list.html); then django.contrib.admin
    # with the console's site as admin.site.
    "console",
    "console.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "hooks",
    "deliveries",
]

MIDDLEWARE = [
    # First, so it sees every answer: reads what a refused request left of
    # its body, so the client's next request on the connection still works.
    "webhooks_project.middleware.DrainRequestBody",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's static files from the app server itself, so `make run`
    # and the docker image need no separate web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Each request's latency by view (after whitenoise: static files aside).
    "webhooks_project.metrics.RequestMetrics",
    # Sessions, their user and messages: Django's, skipped for API calls made
    # with a token, which read none of them (webhooks_project/sessions.py).
    "webhooks_project.sessions.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "webhooks_project.sessions.AuthenticationMiddleware",
    "webhooks_project.sessions.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webhooks_project.urls"
WSGI_APPLICATION = "webhooks_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# https://github.com/jazzband/dj-database-url  (postgres://user@host:5432/name, sqlite:///path)
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
# PostgreSQL: hot statements are prepared once per connection where their
# plan stays right (core/plaincursor.py). Off for a pooler in transaction
# mode that cannot carry prepared statements (PgBouncer < 1.21).
WEBHOOK_PREPARED_STATEMENTS = env_bool("WEBHOOK_PREPARED_STATEMENTS", True)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600)}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat are separate processes writing one file: WAL lets
    # readers run beside the writer, IMMEDIATE takes the write lock up front
    # (no "database is locked" upgrade deadlocks), timeout waits for it.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not :memory:, so the Celery worker the integration tests start
    # sees the same test database as the test process; one per test run, so
    # two runs side by side do not delete each other's database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # JIT costs more than it saves on short indexed queries (75-110 ms of a
    # 290 ms console query). Prepared statements (core/plaincursor.py) take a
    # generic plan, planned once, not a custom plan per run from lagging
    # statistics (the claim's top-up, planned for a handful of due rows,
    # sorted the whole backlog: 10 ms a claim under load).
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = "-c jit=off -c plan_cache_mode=force_generic_plan"
    # A server that drops packets fails a request or /health/ready in seconds,
    # not after the kernel's ~2 minutes of SYN retries (a URL's own wins).
    options.setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1))
    if WEBHOOK_PREPARED_STATEMENTS:
        # psycopg prepares only what is run with prepare=True (the hot
        # statements), never on its own count of runs: Django's statements
        # stay unprepared, as Django leaves them for poolers.
        options["prepare_threshold"] = 2**31 - 1

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
# https://docs.djangoproject.com/en/5.2/ref/settings/#format-module-path
# Times as the console shows them everywhere: "1 Dec 2026 14:13:37" (console.dates).
FORMAT_MODULE_PATH = ["console.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every start without it
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- REST framework -------------------------------------------------------
# DRF, knox, drf-spectacular and the API_* knobs: webhooks_project/api_settings.py.
from webhooks_project.api_settings import *  # noqa: E402, F403

# Request bodies larger than this are refused with 413 before they are parsed.
WEBHOOK_EVENT_MAX_BYTES = env_int("WEBHOOK_EVENT_MAX_BYTES", 256 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = WEBHOOK_EVENT_MAX_BYTES
# Call hooks (docs/api.md#call-hooks): how often a process reads again which
# webhooks listen to calls, and the largest params or result a call event
# carries (JSON bytes; larger ones are replaced by a note).
WEBHOOK_CALL_HOOKS_REFRESH = env_number("WEBHOOK_CALL_HOOKS_REFRESH", 2)
WEBHOOK_CALL_HOOK_MAX_BYTES = env_int("WEBHOOK_CALL_HOOK_MAX_BYTES", 64 * 1024, minimum=256)

# --- Redis and Celery -----------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# No results are stored, so nothing expires: without this, beat adds a daily
# celery.backend_cleanup task that operators would find in the admin.
CELERY_RESULT_EXPIRES = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# A worker must outlive its broker: wait for Redis at start, and retry a lost
# connection for as long as it takes (Celery's default gives up after 100
# attempts and the worker exits). webhooks_project/broker.py is kombu's Redis
# transport with the fix that keeps a worker alive through a Redis restart.
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-connection-max-retries
CELERY_BROKER_TRANSPORT = "webhooks_project.broker:Transport"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# On a lost connection, let running tasks finish rather than kill them
# mid-request: each holds its deliveries' claim, records its own outcome, and
# a message Redis hands out again claims nothing. (Celery 6 will default to
# cancelling them; saying so also silences its warning.)
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# A message is acknowledged only after its task ran; if the worker process dies
# the message goes back to the queue. Prefetch 1 keeps a busy worker from
# hoarding messages another worker could run.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Celery's Django fix-up closes the database connection after every task
# unless this is set: a fresh PostgreSQL connection per message cost more than
# the message's own work. Connections are recycled every this many tasks, and
# checked before each task (webhooks_project/celery.py).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=1)
# Whether a worker's own transactions (claims, attempt records, health) wait
# for PostgreSQL to flush them to disk before going on. Off by default: each
# flush is a disk sync (4 ms and more on a cloud volume, far more while other
# writers share it) that the worker would wait for between its sends. A
# database crash can then forget the last ~0.6 s of those writes: deliveries
# come out of it pending or sending and are sent again (at least once, as
# ever), the attempts of that moment missing from the history. Publishing
# (the API, event_publish) and operational events always wait for the flush:
# nothing accepted is lost. docs/architecture.md#durability.
# https://www.postgresql.org/docs/current/wal-async-commit.html
WEBHOOK_WORKER_SYNCHRONOUS_COMMIT = env_bool("WEBHOOK_WORKER_SYNCHRONOUS_COMMIT", False)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Publishing happens inside API requests (on commit): if Redis is down, give up
# quickly. The delivery is already in the database; the sweeper sends it later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

# --- Delivery knobs (docs/operations.md) ----------------------------------
WEBHOOK_USER_AGENT = env_str("WEBHOOK_USER_AGENT", "Webhooks-Platform/0.1")
# Whole-attempt deadline (connect + TLS + request + response), seconds.
WEBHOOK_TIMEOUT = env_number("WEBHOOK_TIMEOUT", 10, minimum=0.1)
WEBHOOK_CONNECT_TIMEOUT = env_number("WEBHOOK_CONNECT_TIMEOUT", 5, minimum=0.1)
# Upper bound for a webhook's own timeout override.
WEBHOOK_TIMEOUT_MAX = env_number("WEBHOOK_TIMEOUT_MAX", 60, minimum=1)
# Attempts in all (first try included), and the waits between them, seconds.
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
WEBHOOK_RETRY_SCHEDULE = [
    float(s)
    for s in env_str("WEBHOOK_RETRY_SCHEDULE", "5,300,1800,7200,18000,36000,36000").split(",")
]
WEBHOOK_RETRY_JITTER = env_number("WEBHOOK_RETRY_JITTER", 0.1)
WEBHOOK_RETRY_MAX_DELAY = env_number("WEBHOOK_RETRY_MAX_DELAY", 86400, minimum=1)
# Refuse loopback/private/link-local/metadata destinations unless set (dev, tests).
WEBHOOK_ALLOW_PRIVATE_IPS = env_bool("WEBHOOK_ALLOW_PRIVATE_IPS", False)
WEBHOOK_RESPONSE_BODY_MAX = env_int("WEBHOOK_RESPONSE_BODY_MAX", 64 * 1024, minimum=0)
# Deliveries one worker claims and sends concurrently per message. A message
# naming fewer also takes other due deliveries, up to this many, so a busy
# system sends in full batches whatever its events' fan-out. Each claim and
# each record is a statement whatever its size: 200 rather than 50 halved
# PostgreSQL's statements per delivery under load (architecture.md#throughput).
WEBHOOK_BATCH_SIZE = env_int("WEBHOOK_BATCH_SIZE", 200, minimum=1)
# How long a published wake-up that finds its process's wake-up thread idle
# waits for others to share its message (deliveries/wakeups.py). 0: none, it
# goes at once; what arrives while a message is being sent still shares the
# next one. docs/architecture.md#throughput.
WEBHOOK_ENQUEUE_WINDOW_MS = env_number("WEBHOOK_ENQUEUE_WINDOW_MS", 0, minimum=0)
# Endpoint isolation (docs/operations.md#endpoint-isolation). At most this many
# deliveries are in flight to one webhook across all workers (a webhook may set
# its own): a dead endpoint holds this many sending slots, never a worker.
# In flight means from claim to record, our own database writes included, so
# it also bounds a fast endpoint's rate (25 slots / ~50 ms is ~500/s here).
WEBHOOK_MAX_IN_FLIGHT = env_int("WEBHOOK_MAX_IN_FLIGHT", 25, minimum=1)
# While slow requests are in flight, a worker keeps claiming other due work
# every this many milliseconds (its message's batch never waits for them),
# for at most WEBHOOK_SEND_LOOP_SECONDS before it lets its task end.
WEBHOOK_REFILL_MS = env_number("WEBHOOK_REFILL_MS", 5, minimum=0.5)
# ... once a request has been in flight this long (before that the batch is
# about to end, and the next message claims a full batch at once).
WEBHOOK_REFILL_AFTER_MS = env_number("WEBHOOK_REFILL_AFTER_MS", 100, minimum=0)
# Requests one worker process has in flight at most (slow ones included).
# Each is a socket: pycurl waits with select(), which handles descriptors
# below 1024 only, so keep this well under that.
WEBHOOK_SEND_SLOTS = env_int("WEBHOOK_SEND_SLOTS", 500, minimum=1)
if WEBHOOK_SEND_SLOTS > 900:
    raise ImproperlyConfigured("WEBHOOK_SEND_SLOTS must be at most 900 (select() limit)")
WEBHOOK_SEND_LOOP_SECONDS = env_number("WEBHOOK_SEND_LOOP_SECONDS", 60, minimum=1)
# Circuit breaker: after this many consecutive failed attempts an endpoint is
# not attempted for a cool-down (doubling on each failed probe, up to the
# max); its deliveries are held, their attempts not spent. Then one probe.
WEBHOOK_CIRCUIT_FAILURES = env_int("WEBHOOK_CIRCUIT_FAILURES", 10, minimum=1)
WEBHOOK_CIRCUIT_COOLDOWN = env_number("WEBHOOK_CIRCUIT_COOLDOWN", 30, minimum=0.1)
WEBHOOK_CIRCUIT_COOLDOWN_MAX = env_number("WEBHOOK_CIRCUIT_COOLDOWN_MAX", 3600, minimum=0.1)
# An endpoint that has only failed for this long is disabled (as Svix does);
# its deliveries are held until it is enabled again. Seconds; 0 = never.
WEBHOOK_DISABLE_AFTER = env_number("WEBHOOK_DISABLE_AFTER", 5 * 86400)
# A 429 or 503's Retry-After is honoured up to this many seconds.
WEBHOOK_RETRY_AFTER_MAX = env_number("WEBHOOK_RETRY_AFTER_MAX", 3600, minimum=0)
# Deleting a webhook, account or domain deletes its deliveries this many per
# transaction first (deliveries/teardown.py): memory and lock time stay bounded.
WEBHOOK_DELETE_BATCH = env_int("WEBHOOK_DELETE_BATCH", 1000, minimum=1)
# Bulk recover, requeue and delete (deliveries/bulk.py): up to API_BULK_SYNC_MAX
# deliveries are acted on in the request; more become a job the workers run
# WEBHOOK_BULK_BATCH per transaction, WEBHOOK_BULK_BUDGET seconds per task
# message; a job whose record has not moved for WEBHOOK_BULK_STALE s is resumed.
API_BULK_SYNC_MAX = env_int("API_BULK_SYNC_MAX", 1000, minimum=0)
WEBHOOK_BULK_BATCH = env_int("WEBHOOK_BULK_BATCH", 500, minimum=1)
WEBHOOK_BULK_BUDGET = env_number("WEBHOOK_BULK_BUDGET", 20, minimum=0.1)
WEBHOOK_BULK_STALE = env_number("WEBHOOK_BULK_STALE", 60, minimum=1)
# Results finished within this many milliseconds of each other are recorded
# in one write; a slow receiver never delays a fast one's record by more.
WEBHOOK_RECORD_LINGER_MS = env_number("WEBHOOK_RECORD_LINGER_MS", 20)
# How long a claim is held. A worker that dies mid-send loses its claim after
# this; the sweeper then records the lost attempt and schedules a retry.
WEBHOOK_LEASE_SECONDS = env_number("WEBHOOK_LEASE_SECONDS", 300, minimum=2)
# Sweeper: how often it runs, how overdue a pending delivery must be before it
# is re-queued, and how long after a queue message was sent we assume it lost.
WEBHOOK_SWEEP_INTERVAL = env_number("WEBHOOK_SWEEP_INTERVAL", 10, minimum=0.5)
WEBHOOK_SWEEP_GRACE = env_number("WEBHOOK_SWEEP_GRACE", 5)
WEBHOOK_REQUEUE_AFTER = env_number("WEBHOOK_REQUEUE_AFTER", 300)
WEBHOOK_SWEEP_LIMIT = env_int("WEBHOOK_SWEEP_LIMIT", 5000, minimum=1)
# Retries due sooner than this ride in Redis as a countdown; later ones wait
# in the database for the sweeper (Redis redelivers ETA messages held longer
# than the visibility timeout, so long ETAs would only produce duplicates).
WEBHOOK_ETA_MAX = env_number("WEBHOOK_ETA_MAX", 300)
CELERY_VISIBILITY_TIMEOUT = env_number("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=10)
# Purge: keep the newest N finished deliveries per webhook (0 = no count limit)
# and none older than the retention age in days (0 = no age limit).
WEBHOOK_DELIVERIES_KEEP = env_int("WEBHOOK_DELIVERIES_KEEP", 10)
WEBHOOK_DELIVERIES_MAX_AGE_DAYS = env_number("WEBHOOK_DELIVERIES_MAX_AGE_DAYS", 30)
WEBHOOK_PURGE_INTERVAL = env_number("WEBHOOK_PURGE_INTERVAL", 3600, minimum=1)
WEBHOOK_PURGE_INITIAL_DELAY = env_number("WEBHOOK_PURGE_INITIAL_DELAY", 180)
WEBHOOK_PURGE_BATCH = env_int("WEBHOOK_PURGE_BATCH", 1000, minimum=1)
# After rotate-secret, the previous secret keeps signing (beside the new one)
# for this many seconds, so receivers can switch without missing a request.
WEBHOOK_SECRET_ROTATION_OVERLAP = env_number("WEBHOOK_SECRET_ROTATION_OVERLAP", 86400)
# Alarm repeats (docs/operations.md#alarm-repeats): a webhook's repeat_every
# may not be shorter than this (seconds), and its repeat_max defaults to
# WEBHOOK_REPEAT_COUNT and may not exceed WEBHOOK_REPEAT_COUNT_MAX.
WEBHOOK_REPEAT_MIN_INTERVAL = env_number("WEBHOOK_REPEAT_MIN_INTERVAL", 60, minimum=1)
WEBHOOK_REPEAT_COUNT = env_int("WEBHOOK_REPEAT_COUNT", 10, minimum=1)
WEBHOOK_REPEAT_COUNT_MAX = env_int("WEBHOOK_REPEAT_COUNT_MAX", 100, minimum=1)

# Liveness (deliveries/liveness.py, docs/operations.md#health-checks): each
# worker node writes a heartbeat this often (seconds), and counts as alive
# while its last one is younger than the stale bound. Readiness also wants
# the sweeper to have run within HEALTH_SWEEP_STALE_AFTER.
WORKER_HEARTBEAT_INTERVAL = env_number("WORKER_HEARTBEAT_INTERVAL", 10, minimum=0.5)
WORKER_HEARTBEAT_STALE_AFTER = env_number(
    "WORKER_HEARTBEAT_STALE_AFTER", 3 * WORKER_HEARTBEAT_INTERVAL, minimum=1
)
HEALTH_SWEEP_STALE_AFTER = env_number(
    "HEALTH_SWEEP_STALE_AFTER", max(60, 6 * WEBHOOK_SWEEP_INTERVAL), minimum=1
)

# Metrics (docs/operations.md#metrics). Every process counts into its own
# files in this directory (prometheus-client's multiprocess mode); web and
# workers on one host must share it. /metrics answers only with this bearer
# token (404 while it is empty). Scrape-time gauges count at most the cap,
# and name at most METRICS_TOP_WEBHOOKS unhealthy webhooks.
PROMETHEUS_MULTIPROC_DIR = Path(
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "metrics"))
)
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_BACKLOG_CAP = env_int("METRICS_BACKLOG_CAP", 100_000, minimum=1)
METRICS_TOP_WEBHOOKS = env_int("METRICS_TOP_WEBHOOKS", 20, minimum=0)

# The chain that makes a dead worker harmless: the hard time limit kills a
# stuck task before its lease runs out, and the lease runs out long before
# Redis hands the unacknowledged message to another worker.
CELERY_TASK_SOFT_TIME_LIMIT = WEBHOOK_LEASE_SECONDS * 0.8
CELERY_TASK_TIME_LIMIT = WEBHOOK_LEASE_SECONDS * 0.9
# https://docs.celeryq.dev/projects/kombu/en/stable/reference/kombu.transport.redis.html
# Keepalive and a socket timeout notice a Redis that vanished without closing
# the connection (a host lost, a failover); the health check tests an idle
# connection before use. The timeout must exceed kombu's BRPOP wait (1 s).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_keepalive": True,
    "socket_timeout": 30,
    "socket_connect_timeout": 5,
    "retry_on_timeout": True,
    "health_check_interval": 25,
}
if not WEBHOOK_LEASE_SECONDS < CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured("WEBHOOK_LEASE_SECONDS must be below CELERY_VISIBILITY_TIMEOUT")
if not WEBHOOK_ETA_MAX < CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured("WEBHOOK_ETA_MAX must be below CELERY_VISIBILITY_TIMEOUT")

# --- Periodic work, stored by django-celery-beat (editable in the admin) ---
CELERY_BEAT_SCHEDULER = "webhooks_project.beat:Scheduler"
CELERY_BEAT_SCHEDULE = {
    "sweep-deliveries": {
        "task": "deliveries.tasks.sweep",
        "schedule": WEBHOOK_SWEEP_INTERVAL,
        "options": {"expires": max(WEBHOOK_SWEEP_INTERVAL, 1)},
    },
    "purge-deliveries": {
        "task": "deliveries.tasks.purge",
        "schedule": WEBHOOK_PURGE_INTERVAL,
    },
}
# First run of a periodic task, in seconds after beat starts (CloudStack's
# webhook.deliveries.cleanup.initial.delay).
WEBHOOK_BEAT_INITIAL_DELAYS = {"purge-deliveries": WEBHOOK_PURGE_INITIAL_DELAY}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
