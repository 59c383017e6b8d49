"""Worker heartbeats from a real `celery worker`: present while it runs, gone when it stops."""

from __future__ import annotations

import pytest

from deliveries import liveness
from tests.live import CeleryProcess, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def own_worker(celery_env, transactional_db, tmp_path, settings):
    """A worker of this test's own (the shared one may be running beside it)."""
    settings.WORKER_HEARTBEAT_STALE_AFTER = 2
    process = CeleryProcess("worker", celery_env, tmp_path)
    process.start()
    yield process
    process.kill()


def beats_of(process: CeleryProcess) -> list[liveness.WorkerBeat]:
    return [b for b in liveness.workers_alive() if b.pid == process.process.pid]


def test_a_running_worker_beats_and_a_stopped_one_is_absent_at_once(own_worker):
    beat = wait_until(lambda: beats_of(own_worker), message="the worker's first heartbeat")[0]
    assert beat.hostname.startswith("test1@")
    # it keeps beating (every 0.5 s here)
    wait_until(lambda: beats_of(own_worker)[0].last_seen > beat.last_seen, message="a new beat")

    # when it is stopped (warm shutdown), it says goodbye: absent at once
    own_worker.stop()
    assert beats_of(own_worker) == []


def test_a_killed_worker_is_absent_once_its_last_beat_is_stale(own_worker):
    wait_until(lambda: beats_of(own_worker), message="the worker's first heartbeat")
    pid = own_worker.process.pid

    own_worker.kill()  # SIGKILL: no goodbye

    wait_until(
        lambda: not [b for b in liveness.workers_alive() if b.pid == pid],
        timeout=10,
        message="the dead worker's beat to go stale",
    )
