"""The wake-up Batcher alone: no Celery, no database; the send is the test's."""

from __future__ import annotations

import threading
import time

import pytest

from deliveries.wakeups import Batcher


class Recorder:
    """A send that records its messages, and can be held mid-send (`hold`)
    until the test lets it go (`release`)."""

    def __init__(self) -> None:
        self.messages: list[list[str]] = []
        self.threads: set[str] = set()
        self.sending = threading.Event()  # set while a send is held
        self._gate = threading.Event()
        self._gate.set()

    def __call__(self, ids: list[str]) -> None:
        self.threads.add(threading.current_thread().name)
        self.messages.append(ids)
        self.sending.set()
        self._gate.wait(10)

    def hold(self) -> None:
        self._gate.clear()
        self.sending.clear()

    def release(self) -> None:
        self._gate.set()

    def mid_send(self, wakeups: Batcher, ids: list[str]) -> Batcher:
        """`wakeups` with a message of `ids` being sent, held until release()."""
        self.hold()
        wakeups.add(ids)
        assert self.sending.wait(5)
        return wakeups


@pytest.fixture
def batcher():
    """Batcher(send, size=…), whose threads are stopped after the test."""
    made: list[Batcher] = []

    def make(send, size: int = 50) -> Batcher:
        made.append(Batcher(send, size=lambda: size))
        return made[-1]

    yield make
    for each in made:
        each.close(timeout=5)


def test_an_idle_batcher_sends_the_first_ids_at_once_from_its_own_thread(batcher):
    # given
    sent = Recorder()
    wakeups = batcher(sent)

    # when
    started = time.monotonic()
    wakeups.add(["a", "b"])
    assert wakeups.flush(timeout=5)

    # then one message, without waiting for company
    assert sent.messages == [["a", "b"]]
    assert time.monotonic() - started < 1
    assert sent.threads == {"wakeups"}
    assert wakeups.messages == 1 and wakeups.held == 0


def test_what_arrives_during_a_send_goes_together_in_the_next_message(batcher):
    # given a send in progress
    sent = Recorder()
    wakeups = sent.mid_send(batcher(sent), ["a"])

    # when three more publishes hand their ids in meanwhile
    wakeups.add(["b"])
    wakeups.add(["c", "d"])
    wakeups.add(["e"])
    assert wakeups.held == 5
    sent.release()
    assert wakeups.flush(timeout=5)

    # then they share one message, in the order they came
    assert sent.messages == [["a"], ["b", "c", "d", "e"]]
    assert wakeups.messages == 2


def test_a_message_holds_at_most_a_batch_and_the_size_is_read_for_each_message(request):
    # given a send in progress and seven ids waiting
    sent = Recorder()
    size = [3]
    wakeups = Batcher(sent, size=lambda: size[0])
    request.addfinalizer(wakeups.close)
    sent.mid_send(wakeups, ["0"])
    wakeups.add([str(i) for i in range(1, 8)])

    # when the batch size changes before the next messages
    size[0] = 2
    sent.release()
    assert wakeups.flush(timeout=5)

    # then
    assert sent.messages == [["0"], ["1", "2"], ["3", "4"], ["5", "6"], ["7"]]


def test_flush_waits_for_what_was_added_and_says_when_it_ran_out_of_time(batcher):
    # given a send that is stuck
    sent = Recorder()
    wakeups = sent.mid_send(batcher(sent), ["a"])

    # then flush cannot finish until it is let go
    assert wakeups.flush(timeout=0.1) is False
    sent.release()
    assert wakeups.flush(timeout=5) is True


def test_a_send_that_raises_does_not_stop_the_thread(caplog, batcher):
    # given
    messages = []

    def send(ids):
        messages.append(ids)
        if ids == ["bad"]:
            raise RuntimeError("boom")

    wakeups = batcher(send)

    # when
    wakeups.add(["bad"])
    assert wakeups.flush(timeout=5)
    wakeups.add(["good"])

    # then the next ids are still sent, and the failure was said
    assert wakeups.flush(timeout=5)
    assert messages == [["bad"], ["good"]]
    assert "left to the sweeper" in caplog.text


def test_ids_from_many_threads_are_each_sent_once_in_fewer_messages(batcher):
    # given a send that takes a little while, as a broker round trip does
    messages: list[list[str]] = []

    def send(ids):
        messages.append(ids)
        time.sleep(0.002)

    wakeups = batcher(send, size=50)

    # when 8 threads hand in 100 publishes of 10 ids each
    def publish(thread: int) -> None:
        for event in range(100):
            wakeups.add([f"{thread}-{event}-{n}" for n in range(10)])

    threads = [threading.Thread(target=publish, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wakeups.flush(timeout=30)

    # then nothing is lost or doubled, no message is over the batch, and
    # they are far fewer than the 800 publishes
    sent = [i for ids in messages for i in ids]
    assert sorted(sent) == sorted(
        f"{t}-{e}-{n}" for t in range(8) for e in range(100) for n in range(10)
    )
    assert max(len(ids) for ids in messages) <= 50
    assert len(messages) < 800 / 2
    assert wakeups.messages == len(messages)


def test_close_sends_what_is_held_then_takes_nothing_more(batcher):
    # given a batcher that never started has nothing to stop
    sent = Recorder()
    assert batcher(sent).close(timeout=1)
    # and one with ids held behind a send in progress
    wakeups = sent.mid_send(batcher(sent), ["a"])
    wakeups.add(["b"])

    # when it is closed
    sent.release()
    assert wakeups.close(timeout=5)

    # then they were sent, and nothing more is taken
    assert sent.messages == [["a"], ["b"]]
    with pytest.raises(RuntimeError):
        wakeups.add(["c"])
    wakeups.add([])  # nothing to send: no complaint


def test_a_window_lets_ids_that_find_the_thread_idle_wait_for_company(request):
    # given a 0.5 s window
    sent = Recorder()
    wakeups = Batcher(sent, size=lambda: 50, window=lambda: 0.5)
    request.addfinalizer(wakeups.close)

    # when two publishes come 0.1 s apart
    wakeups.add(["a"])
    time.sleep(0.1)
    wakeups.add(["b"])
    assert wakeups.flush(timeout=5)

    # then they shared one message
    assert sent.messages == [["a", "b"]]


def test_a_full_message_does_not_wait_for_the_window(request):
    # given a window far longer than the test
    sent = Recorder()
    wakeups = Batcher(sent, size=lambda: 2, window=lambda: 30)
    request.addfinalizer(wakeups.close)

    # when a message's worth arrives
    wakeups.add(["a", "b"])

    # then it goes at once
    assert wakeups.flush(timeout=5)
    assert sent.messages == [["a", "b"]]
