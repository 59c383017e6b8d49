"""README's "Watch an event arrive" and "Watch retries", followed literally:
the commands are read from README.md (ports moved to free ones) and run with
bash and curl against `make run`'s entry point (web, a real worker, beat, a
private Redis), with `manage.py listen` as the receiver. The retry walkthrough
must show its three attempts within a minute, on `make run`'s own settings
(the test removes every WEBHOOK_* variable, as a fresh shell has none)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_make_run import MakeRun
from tests.live import ROOT, free_port, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("curl"), reason="the README's commands use curl"),
]


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Watch an event arrive", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


class Listener:
    def __init__(self, command: str, env: dict[str, str], log: Path):
        self.log_path = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: "Listening on" in self.log(), timeout=30, message="listen to start")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def answers(self) -> list[str]:
        return re.findall(r"answered: (.*)", self.log())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # Ctrl-C
            self.process.wait(timeout=10)


@pytest.fixture
def fresh_shell(tmp_path, monkeypatch):
    # A newcomer's shell: none of the tests' WEBHOOK_* settings.
    for name in list(os.environ):
        if name.startswith("WEBHOOK_"):
            monkeypatch.delenv(name)
    return tmp_path


def test_the_readme_walkthrough_shows_three_attempts_within_a_minute(fresh_shell):
    make_run = MakeRun(fresh_shell)
    listeners: list[Listener] = []
    try:
        run(make_run, listeners, fresh_shell)
    finally:
        for listener in listeners:
            listener.stop()
        if make_run.process.poll() is None:
            make_run.kill_everything()


def run(make_run: MakeRun, listeners: list[Listener], tmp: Path) -> None:
    listen_port = free_port()
    blocks = readme_blocks()
    listen, publish, recorded, retry = blocks[0], blocks[1], blocks[2], blocks[3]

    def literal(command: str) -> str:
        return (
            command.replace("127.0.0.1:8000", f"127.0.0.1:{make_run.port}")
            .replace("--port 9000", f"--port {listen_port}")
            .replace("127.0.0.1:9000", f"127.0.0.1:{listen_port}")
            .replace(".venv/bin/python", sys.executable)
        )

    env = {**make_run_env(make_run), "VAR_DIR": str(tmp / "listen-var")}

    # make run prints the login, the token and the URLs last, once all is up
    banner = make_run.wait_for(r"(?s)API token: +(\S+).*Admin account id: (\S+).*API docs: ")
    token, admin_account = banner.group(1), banner.group(2)
    after = make_run.log()[banner.end() :]
    assert "celery@" not in after and "beat: Starting" not in after, "a banner came after"
    assert "Retries after 5, 10, 20, 60" in make_run.log()

    # Watch an event arrive
    listeners.append(Listener(literal(listen), env, tmp / "listen-1.log"))
    script = literal(publish).replace("TOKEN=...", f"TOKEN={token}")
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert '"deliveries":1' in out.stdout, out.stdout
    wait_until(lambda: listeners[0].answers(), timeout=30, message="the first delivery")
    first = listeners[0].log()
    assert listeners[0].answers() == ["200"]
    assert "signature: valid" in first
    envelope = json.loads(re.search(r"(?s)\n(\{\n.*?\n\})\n", first).group(1))
    assert envelope["account"] == admin_account and envelope["domain"], envelope
    listeners[0].stop()

    # Watch retries: the receiver again with --fail-first 2, and the same publish
    listeners.append(Listener(literal(retry), env, tmp / "listen-2.log"))
    publish_again = next(c for c in literal(publish).split("\n\n") if "/events/" in c)
    started = time.monotonic()
    subprocess.run(
        ["bash", "-c", f"TOKEN={token}\n{publish_again}"], check=True, capture_output=True
    )
    wait_until(lambda: len(listeners[1].answers()) >= 3, timeout=60, message="three attempts")
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"three attempts took {elapsed:.0f} s"
    assert listeners[1].answers() == [
        "500 (--fail-first: 1 of 2)",
        "500 (--fail-first: 2 of 2)",
        "200",
    ]
    ids = set(re.findall(r"webhook-id: (\S+)", listeners[1].log()))
    assert len(ids) == 1

    # and what was recorded, with the README's own command
    listing = literal(recorded).splitlines()[0]
    deliveries = json.loads(
        subprocess.run(
            ["bash", "-c", f"TOKEN={token}\n{listing}"], capture_output=True, text=True, check=True
        ).stdout
    )
    latest = deliveries["results"][0]
    assert (latest["event"], latest["attempts"], latest["status"]) == (ids.pop(), 3, "succeeded")


def make_run_env(make_run: MakeRun) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_")} | {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{make_run.log_path.parent / 'listen.sqlite3'}",
    }
