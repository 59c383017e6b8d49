"""`make run`: the whole system in the foreground (web, worker, beat).

Starts a private Redis if none answers at REDIS_URL, migrates, makes sure an
admin login and API token exist (and prints them), then runs gunicorn, a
Celery worker and celery-beat until Ctrl-C or until one of them stops.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import django


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webhooks_project.settings")
    # Local development defaults: a receiver on this machine must be allowed.
    os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE_IPS", "1")
    os.environ.setdefault("DEBUG", "1")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from webhooks_project.redis_server import ensure_redis

    port = os.environ.get("PORT", "8000")
    redis_process = ensure_redis(settings.REDIS_URL, workdir=settings.VAR_DIR / "redis")
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("bootstrap")
    python = sys.executable
    commands = {
        "web": [
            python,
            "-m",
            "gunicorn",
            "-c",
            "python:webhooks_project.gunicorn_conf",
            "webhooks_project.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "-",
        ],
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "webhooks_project",
            "worker",
            "--loglevel",
            "INFO",
        ],
        "beat": [
            python,
            "-m",
            "celery",
            "-A",
            "webhooks_project",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(settings.VAR_DIR / "celerybeat-schedule"),
        ],
    }
    processes = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
    print(
        f"\nAdmin: http://127.0.0.1:{port}/admin/   API: http://127.0.0.1:{port}/api/v1/\n",
        flush=True,
    )

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited with {process.returncode}; stopping the rest.", flush=True)
                exit_code, stopping = process.returncode or 1, True
                break
        time.sleep(0.5)
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    if redis_process is not None:
        redis_process.terminate()
        redis_process.wait(timeout=10)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
