"""One process's wake-up messages, batched by how fast they come.

Pure threading, no Celery: deliveries/queue.py gives the Batcher the function
that sends one message, and tests give it their own.

Every published event used to send its own Celery message from the
publishing thread: ~1.5 ms of the publisher's CPU per event here, and on the
worker a task and a claim each, most of which found their rows already taken
by an earlier claim's top-up. The Batcher's one thread sends the first ids
handed to it at once (no wait when the process is idle), and gathers what
arrives while that message is being sent into the next one, up to a batch
of ids a message: the busier the process, the fuller the messages, with no timer
and no added latency.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)


class Batcher:
    """Ids handed in from any thread (`add`), sent by one daemon thread in
    messages of at most `size()` ids (asked for each message), in the order
    they came. With a `window()` above 0 (seconds), ids that find the thread
    idle wait that long for company (or a full message) before they go.

    `send` is called with one message's ids and must not raise (queue.py's
    turns a broker failure into rows left to the sweeper); if it does, the
    error is logged and the thread goes on: the rows' message_due_at was set
    when they were stored, so the sweeper queues them once it is overdue. The thread starts with
    the first ids, so a process that never wakes a worker has none.
    """

    def __init__(
        self,
        send: Callable[[list[str]], None],
        *,
        size: Callable[[], int],
        window: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self._send = send
        self._size = size
        self._window = window
        lock = threading.Lock()
        self._work = threading.Condition(lock)  # ids arrived, or closing
        self._done = threading.Condition(lock)  # a message was sent
        self._pending: deque[str] = deque()
        self._added = 0  # ids handed in so far
        self._handled = 0  # of those, ids whose message was sent (or given up)
        self._closing = False
        self._thread: threading.Thread | None = None
        self.messages = 0  # messages sent, for tests and the metric

    def add(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._work:
            if self._closing:
                raise RuntimeError("the wake-up sender was closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wakeups", daemon=True)
                self._thread.start()
            self._pending.extend(ids)
            self._added += len(ids)
            self._work.notify()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every id added before this call has had its message
        sent. False if `timeout` (seconds) ran out first."""
        with self._done:
            target = self._added
            return self._done.wait_for(lambda: self._handled >= target, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Send what is held, then stop the thread. False if `timeout` ran out."""
        with self._work:
            self._closing = True
            self._work.notify()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def held(self) -> int:
        """Ids handed in and not yet sent (those being sent included)."""
        with self._work:
            return self._added - self._handled

    def _run(self) -> None:
        while (ids := self._next_message()) is not None:
            try:
                self._send(ids)
            except Exception:
                log.exception("wake-up of %d deliveries not sent; left to the sweeper", len(ids))
            with self._done:
                self._handled += len(ids)
                self.messages += 1
                self._done.notify_all()

    def _next_message(self) -> list[str] | None:
        """The next message's ids, once there are some; None once closed and all sent."""
        with self._work:
            self._work.wait_for(lambda: self._pending or self._closing)
            if not self._pending:
                return None
            size, window = self._size(), self._window()
            if window > 0 and len(self._pending) < size:
                # Idle until now: give other threads `window` seconds to
                # join this message before it goes.
                self._work.wait_for(lambda: len(self._pending) >= size or self._closing, window)
            return [self._pending.popleft() for _ in range(min(size, len(self._pending)))]
