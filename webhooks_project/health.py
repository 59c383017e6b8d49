"""Health checks for load balancers and docker-compose (docs/operations.md#health-checks).

/health/live says the process answers (nothing else is looked at: a load
balancer must not take every web server out because the database blinked).
/health/ready says whether this deployment can do its work, per component,
as JSON, with 503 when any is not: the database, Redis (the broker), at
least one worker with a fresh heartbeat, and a recent sweep (beat sends it
every WEBHOOK_SWEEP_INTERVAL; deliveries/liveness.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from deliveries import liveness

Component = dict[str, Any]


def _failure(exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:200]}".rstrip(": ")


def database_check() -> Component:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return {"ok": False, "error": _failure(exc)}
    return {"ok": True}


def redis_check() -> Component:
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1, retry_on_timeout=False
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"ok": False, "error": _failure(exc)}
    finally:
        client.close()
    return {"ok": True}


def workers_check(now: dt.datetime) -> Component:
    beats = liveness.workers_alive(now=now)
    component: Component = {
        "ok": bool(beats),
        "alive": len(beats),
        "workers": [
            {"hostname": b.hostname, "pid": b.pid, "last_seen": b.last_seen.isoformat()}
            for b in beats
        ],
    }
    if not beats:
        component["error"] = (
            f"no worker heartbeat in the last {settings.WORKER_HEARTBEAT_STALE_AFTER:g} s"
        )
    return component


def beat_check(now: dt.datetime) -> Component:
    last = liveness.beat_last_sweep()
    bound = settings.HEALTH_SWEEP_STALE_AFTER
    age = (now - last).total_seconds() if last else None
    component: Component = {
        "ok": age is not None and age <= bound,
        "last_sweep": last.isoformat() if last else None,
        "age_seconds": round(age, 3) if age is not None else None,
    }
    if not component["ok"]:
        component["error"] = (
            "the sweeper never ran" if last is None else f"no sweep in the last {bound:g} s"
        )
    return component


def readiness() -> tuple[bool, dict[str, Component]]:
    now = timezone.now()
    components = {"database": database_check(), "redis": redis_check()}
    if components["database"]["ok"]:
        try:
            components["workers"] = workers_check(now)
            components["beat"] = beat_check(now)
        except DatabaseError as exc:  # went away between the two checks
            components["database"] = {"ok": False, "error": _failure(exc)}
    for name in ("workers", "beat"):
        components.setdefault(name, {"ok": False, "error": "unknown: the database is unavailable"})
    return all(c["ok"] for c in components.values()), components


@never_cache
@require_safe
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def ready(request: HttpRequest) -> JsonResponse:
    ok, components = readiness()
    return JsonResponse(
        {"status": "ready" if ok else "unready", "components": components},
        status=200 if ok else 503,
    )
