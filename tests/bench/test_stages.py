"""The benchmark's per-stage account (bench/stages.py) and its CPU-by-stage
classification of py-spy samples (bench/profile.py): pure functions."""

import pytest

from bench.profile import PUBLISH_RULES, WORKER_RULES, classify, shares_line, stage_shares
from bench.publishers import Published
from bench.stages import STAGES, Recorded, stage_account, stage_lines, window_lines


def test_each_delivery_is_cut_at_the_moments_recorded():
    published = [Published("e1", 0, scheduled=99.0, started=100.0, finished=100.004)]
    # row written 2 ms after the call began, attempt 5 ms after that, at the
    # receiver 1 ms later, recorded 6 ms after that; curl took 3 ms
    recorded = [Recorded("e1", "/hook/0", 100.002, 100.007, 3, 100.014)]
    received = {("e1", "/hook/0"): 100.008}

    account = stage_account(published, received, recorded)

    got = {name: round(values[0] * 1000, 3) for name, values in account.stages.items()}
    assert got == {"publish": 2.0, "wake-up": 5.0, "request": 1.0, "record": 6.0, "transfer": 3.0}
    assert account.count == 1 and account.skipped == 0


def test_a_delivery_not_received_or_not_published_here_is_skipped():
    published = [Published("e1", 0, 0.0, 1.0, 1.1)]
    recorded = [
        Recorded("e1", "/hook/1", 1.0, 1.1, 1, 1.2),  # never reached the receiver
        Recorded("e9", "/hook/0", 1.0, 1.1, 1, 1.2),  # not this phase's event
    ]

    account = stage_account(published, {}, recorded)

    assert account.count == 0 and account.skipped == 2
    assert stage_lines(account) == ["stages: no delivery to account for"]


def test_stage_lines_give_p50_and_p99_of_every_stage():
    published = [Published(f"e{i}", i, 0.0, 10.0, 10.1) for i in range(100)]
    recorded = [Recorded(f"e{i}", "/h", 10.001, 10.002, 0, 10.003 + i / 1000) for i in range(100)]
    received = {(f"e{i}", "/h"): 10.002 for i in range(100)}

    header, body = stage_lines(stage_account(published, received, recorded))

    assert header == "stages, p50 / p99 ms, 100 deliveries:"
    assert body.split(";  ")[0].strip() == "publish 1.0 / 1.0"
    assert body.split(";  ")[-2] == "record 50.0 / 99.0"  # 1 + i ms, nearest rank
    assert [part.split()[0] for part in body.strip().split(";  ")] == list(STAGES)


@pytest.mark.parametrize(
    ("stack", "stage"),
    [
        # a refill's claim runs inside the send loop: claim, not send
        (
            "deliver (deliveries/tasks.py:20);send_many (deliveries/http.py:260);"
            "refill (deliveries/pipeline/send.py:70);deliveries_claim (c.py:150);execute (x.py:1)",
            "claim",
        ),
        # the record callback too
        ("send_many (deliveries/http.py:280);record (s.py:77);outcomes_record (r.py:40)", "record"),
        ("send_many (deliveries/http.py:250);perform (pycurl)", "send"),
        ("trace_task (celery/app/trace.py:450);on_success (x.py:2)", "task"),
        ("main (celery/bin/worker.py:1);drain_events (kombu/transport/redis.py:9)", "celery"),
        ("main (x.py:1);sleep (time.py:2)", "other"),
    ],
)
def test_worker_samples_go_to_the_stage_their_stack_is_in(stack, stage):
    assert classify(stack, WORKER_RULES) == stage


def test_publish_side_puts_the_queueing_in_the_commit_before_the_commit():
    stack = (
        "publish (bench/publishers.py:95);__exit__ (django/db/transaction.py:263);"
        "run_and_clear_commit_hooks (django/db/backends/base/base.py:1);"
        "deliveries_enqueue (deliveries/queue.py:40)"
    )
    assert classify(stack, PUBLISH_RULES) == "enqueue"
    assert classify("publish (bench/publishers.py:95);event_publish (p.py:60)", PUBLISH_RULES) == (
        "publish"
    )


def test_shares_are_counted_from_raw_lines_and_priced_per_delivery():
    lines = [
        "a (x.py:1);deliveries_claim (c.py:2) 30\n",
        "a (x.py:1);send_many (h.py:3) 50\n",
        "a (x.py:1);b (y.py:4) 20\n",
        "garbage\n",
    ]

    counts = stage_shares(lines, WORKER_RULES)

    assert counts == {"claim": 30, "send": 50, "other": 20}
    line = shares_line("worker0", counts, 2.0, deliveries=1000, stages=["claim", "send"])
    # 30 % of 2 CPU-seconds over 1000 deliveries = 0.6 ms each
    assert line.endswith("claim 30% 0.600 ms;  send 50% 1.000 ms;  other 20% 0.400 ms")


def test_windows_show_where_in_the_phase_the_tail_is():
    # 10 deliveries a second for 4 s; those published in the third second
    # wait 100 ms for the worker, the others 5 ms
    published, recorded, received = [], [], {}
    for i in range(40):
        start = 1000.0 + i / 10
        wait = 0.1 if 20 <= i < 30 else 0.005
        published.append(Published(f"e{i}", i, start, start, start + 0.002))
        recorded.append(Recorded(f"e{i}", "/h", start + 0.001, start + 0.001 + wait, 1, start + 1))
        received[(f"e{i}", "/h")] = start + 0.002 + wait

    lines = window_lines(stage_account(published, received, recorded), width=1.0)

    assert lines[0].startswith("over time, per 1 s of publishing: p99 ms of latency")
    assert len(lines) == 5
    assert lines[3] == "  +  2 s:    10 deliveries, p99  102.0 (publish 1  wake-up 100  request 1)"
    assert lines[1] == "  +  0 s:    10 deliveries, p99    7.0 (publish 1  wake-up 5  request 1)"
