"""What the isolation benchmark prints, from canned figures."""

from __future__ import annotations

from bench.isolation import parse_args
from bench.isolation_report import (
    ScenarioResult,
    bad_lines,
    db_state_line,
    phase_lines,
    phase_result,
    summary_lines,
)
from bench.isolation_sampling import make_sample
from bench.isolation_scenarios import Check, scenarios
from bench.isolation_world import World
from bench.publishers import Published
from bench.receipts import Receipt, match

STATS = {m: {"held": 0, "peak": 0, "accepted": 0, "requests": 0} for m in ("hang", "fail", "slow")}


def published():
    # Two events due at 0 and 1, each call 0.1 s, the first started 0.05 late.
    return [Published("e0", 0, 0.0, 0.05, 0.15), Published("e1", 1, 1.0, 1.0, 1.1)]


def test_phase_result_counts_only_what_arrived_within_the_bound():
    expected = {(e, f"/hook/{i}") for e in ("e0", "e1") for i in (0, 1)}
    receipts = [
        Receipt("e0", "/hook/0", 0.25),  # 0.2 s after its call started
        Receipt("e0", "/hook/1", 0.45),
        Receipt("e1", "/hook/0", 1.3),  # after the last publish: not "while publishing"
        Receipt("e1", "/hook/1", 40.0),  # after the deadline
    ]
    arrivals = match(receipts, expected, deadline=31.1)

    result = phase_result("A/bad", published(), arrivals, len(expected))

    assert [round(x, 3) for x in result.latencies] == [0.2, 0.3, 0.4]
    assert (result.received, result.missing) == (3, 1)
    assert round(result.offered_per_s, 3) == round(4 / 1.1, 3)
    assert round(result.throughput_per_s, 3) == round(2 / 1.1, 3)
    assert result.p50 is not None and round(result.p50, 3) == 0.3
    assert result.p99 is None  # falls on the missing one
    lines = phase_lines(result, published(), arrivals, drain=30)
    assert lines[1] == (
        "healthy received within 30 s of the last publish: 3/4 "
        "(1 missing, 0 duplicates, 1 after the bound, 0 unexpected)"
    )
    assert lines[2] == (
        "healthy publish-to-receipt: p50 300.0 ms  p95 beyond bound  "
        "p99 beyond bound  max received 400.0 ms"
    )


def test_a_sample_tells_bad_claims_from_healthy_ones():
    stats = {**STATS, "hang": {"held": 3, "peak": 5, "accepted": 9, "requests": 9}}
    sending = [("bad1", "t1"), ("ok1", "t1"), ("ok2", "t2"), ("bad2", "t3")]

    sample = make_sample(sending, {"bad1", "bad2"}, stats)

    assert (sample.bad_in_flight, sample.healthy_in_flight) == (2, 2)
    assert (sample.claims, sample.claims_on_bad) == (3, 2)
    assert sample.held["hang"] == 3 and sample.peak["hang"] == 5


def test_bad_lines_name_only_the_scenarios_modes():
    scenario = scenarios(parse_args([]))["A"]
    after = {**STATS, "hang": {"held": 2, "peak": 2, "accepted": 4, "requests": 4}}
    samples = [make_sample([("b", "t")], {"b"}, after), make_sample([], {"b"}, after)]

    lines = bad_lines(scenario, STATS, after, samples, concurrency=2)

    assert lines[0] == "bad receivers got: hang 4 requests (4 connections)"
    assert lines[1].startswith("worker slots (2 samples): claims (batches) in flight holding")
    assert "mean 0.5 max 1 of 2 pool processes" in lines[1]
    assert lines[-1] == "hang receiver: connections open mean 2.0 max 2, most at once 2"
    assert bad_lines(scenario, STATS, after, [], 2)[1] == "worker slots: no samples"


def test_db_state_line_splits_healthy_and_bad():
    counts = {("ok", "succeeded"): 10, ("bad", "pending"): 3, ("bad", "sending"): 1}

    assert db_state_line(counts, {"bad"}, attempts=14) == (
        "database: healthy succeeded 10; bad pending 3, sending 1; 14 attempts recorded"
    )
    assert db_state_line({}, set(), 0) == "database: healthy none; bad none; 0 attempts recorded"


def test_summary_has_a_line_per_phase_and_a_verdict_per_scenario():
    args = parse_args(["--scenarios", "A", "--phase-seconds", "10", "--drain", "10"])
    result = ScenarioResult(scenarios(args)["A"])
    arrivals = match([Receipt("e0", "/hook/0", 0.25)], {("e0", "/hook/0")})
    result.phases = [phase_result("A/baseline", published(), arrivals, 1)]
    result.checks = [Check("healthy p99 ok", True), Check("throughput low", False)]

    lines, ok = summary_lines([result], args, command="x", timeout=10, batch_size=50)

    assert not ok
    assert lines[3].startswith("config: 1 worker x 2 prefork processes, WEBHOOK_TIMEOUT=10 s")
    assert lines[4].startswith("A/baseline   healthy p50 200.0 ms, p99 200.0 ms; ")
    assert lines[5] == "A verdict: PASS healthy p99 ok; FAIL throughput low"
    assert lines[-1] == "all targets met: NO"


def test_world_knows_which_healthy_paths_an_event_owes():
    table = scenarios(parse_args([]))
    a = table["A"]
    world = World(a, a.layout(), list(range(a.webhooks)), [])
    assert world.healthy_paths(7) == [f"/hook/{i}" for i, m in enumerate(a.layout()) if m == "ok"]
    assert world.account_for(7) is None
    assert world.bad_ids == {i for i, m in enumerate(a.layout()) if m != "ok"}

    b = table["B"]
    local = World(b, b.layout(), list(range(200)), [f"acct{i}" for i in range(200)])
    assert local.healthy_paths(201) == ["/hook/1"]  # one account in turn
    assert local.healthy_paths(205) == []  # webhook 5 is a bad one
    assert local.account_for(201) == "acct1"
