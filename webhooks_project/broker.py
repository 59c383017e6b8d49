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

Selected by CELERY_BROKER_TRANSPORT in settings; remove it once kombu no
longer builds a client for a collected connection.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis
from redis import exceptions


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict:
        if self.connection.client is None:
            raise exceptions.ConnectionError("the broker connection was already closed")
        # A private kombu method, absent from celery-types' stubs.
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]


class Transport(kombu_redis.Transport):
    Channel = Channel
