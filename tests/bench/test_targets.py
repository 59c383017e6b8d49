"""The benchmark's targets and verdicts (bench/targets.py)."""

from bench.targets import Measured, cost_ms, rate_target, verdict_lines


def test_cost_counts_every_process_but_the_receiver():
    used = {"worker": 0.2, "web": 0.3, "postgres": 0.1, "redis": 0.05, "bench": 0.15}

    assert round(cost_ms({**used, "receiver": 5.0}), 6) == 0.8


def test_batched_api_calls_have_their_own_rate_target():
    assert rate_target("python", 1) == 3000
    assert rate_target("api", 1) == 2000
    assert rate_target("api", 9) == 2000
    assert rate_target("api", 10) == 3000


def test_every_latency_run_must_be_within_the_target():
    lines, ok = verdict_lines(
        Measured(via="python", batch=1, cost_ms=None, deliveries_per_s=None, p99_ms=[20, 31, 25])
    )

    assert not ok
    assert lines == [
        "latency p99 per run: 20.0, 31.0, 25.0 ms (target <= 30 ms in each: 2 of 3 runs, MISSED)"
    ]


def test_all_targets_met_and_a_line_for_each():
    lines, ok = verdict_lines(
        Measured(via="api", batch=10, cost_ms=0.95, deliveries_per_s=3100, p99_ms=[29.9])
    )

    assert ok
    assert lines[0].endswith("(target <= 1 ms via api: met)")
    assert (
        lines[1]
        == "deliveries/s end to end: 3100 (target >= 3000 via api, 10 events per call: met)"
    )
    assert "1 of 1 runs, met" in lines[2]


def test_a_missed_cost_fails_the_verdict():
    lines, ok = verdict_lines(
        Measured(via="python", batch=1, cost_ms=0.61, deliveries_per_s=None, p99_ms=[])
    )

    assert not ok
    assert lines == [
        "CPU per delivery, all processes but the receiver: 0.61 ms "
        "(target <= 0.6 ms via python: MISSED)"
    ]
