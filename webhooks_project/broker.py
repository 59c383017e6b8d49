"""The Redis broker transport: kombu's, made to survive a Redis restart.

Celery 5.7 / kombu 5.7, when a worker loses its broker connection, first
collects the connection (which detaches the transport from it) and then
closes it. If the close finds unacknowledged messages (always, under load:
tasks are acknowledged late), it asks for a Redis client to put them back,
and kombu builds that client's settings from the detached connection:
`AttributeError: 'NoneType' object has no attribute 'hostname'`. That is not
a connection error, so the worker treats it as unrecoverable and exits.
Reproduced by tests/integration/test_broker_restart.py (one or two restarts
of Redis under load were enough).

Here the same situation raises redis' ConnectionError instead: the close
ignores it, as it ignores every broker error of a dead connection, and the
worker reconnects. Nothing is lost: the messages it could not put back are
still in Redis' unacknowledged set (restored after the visibility timeout),
or were lost with an emptied Redis, which the sweeper covers.

It also keeps one Redis client per channel for what kombu does outside
its event loop (a publish, a queue's length) instead of building one for
every such call: redis-py's client builds a table of some 200 response
callbacks each time, a quarter of a wake-up message's CPU.

Selected by CELERY_BROKER_TRANSPORT in settings; remove the first once
kombu no longer builds a client for a collected connection.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis import exceptions


class Channel(kombu_redis.Channel):
    _sync_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the event loop's: kombu keeps that one itself
            return super()._create_client(asynchronous=True)  # type: ignore[misc]
        # A client only names its pool: one per channel is as good as one per
        # call, the same pool's connections under it. A channel whose pool
        # was replaced (a reconnect) gets a client of the new one.
        client = self._sync_client
        if client is None or client.connection_pool is not self.pool:
            client = self._sync_client = super()._create_client()  # type: ignore[misc]
        return client

    def _connparams(self, asynchronous: bool = False) -> dict:
        if self.connection.client is None:
            raise exceptions.ConnectionError("the broker connection was already closed")
        # A private kombu method, absent from celery-types' stubs.
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]


class Transport(kombu_redis.Transport):
    Channel = Channel
