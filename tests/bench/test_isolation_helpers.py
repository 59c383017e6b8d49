"""The isolation benchmark's pure helpers: percentiles with missing
deliveries, the verdict against issue 9's targets, the webhook layout."""

from __future__ import annotations

import pytest

from bench.isolation import parse_args
from bench.isolation_scenarios import scenarios, verdict
from bench.report import percentile_within


def test_percentile_is_nearest_rank():
    values = [float(i) for i in range(1, 101)]
    assert percentile_within(values, 50) == 50.0
    assert percentile_within(values, 99) == 99.0
    assert percentile_within(values, 100) == 100.0
    assert percentile_within([7.0], 99) == 7.0


def test_missing_deliveries_count_as_slower_than_any_received():
    received = [0.1] * 98
    # Two never arrived: p99 of 100 falls on one of them.
    assert percentile_within(received, 99, missing=2) is None
    assert percentile_within(received, 50, missing=2) == 0.1
    assert percentile_within([], 50, missing=0) is None


def checks(**overrides):
    given = dict(
        baseline_p99=0.100,
        p99=0.140,
        p99_factor=1.5,
        throughput_ratio=0.99,
        min_throughput=0.95,
        missing=0,
        lossless=False,
    )
    given.update(overrides)
    return [c.ok for c in verdict(**given)]


def test_verdict_scenario_a_targets():
    assert checks() == [True, True]
    assert checks(p99=0.151) == [False, True]
    assert checks(throughput_ratio=0.08) == [True, False]
    # Most deliveries missing: the p99 is beyond the bound, never a pass.
    assert checks(p99=None, missing=6807) == [False, True]


def test_verdict_scenario_b_targets():
    b = dict(p99_factor=2.0, min_throughput=None, lossless=True)
    assert checks(**b, p99=0.2) == [True, True]
    assert checks(**b, p99=0.2, missing=1) == [True, False]
    assert checks(**b, baseline_p99=None) == [False, True]


@pytest.mark.parametrize("name", ["A", "B", "C"])
def test_layout_spreads_the_bad_webhooks(name):
    scenario = scenarios(parse_args([]))[name]
    layout = scenario.layout()
    assert len(layout) == scenario.webhooks
    for mode, count in scenario.bad.items():
        assert layout.count(mode) == count
    assert layout.count("ok") == scenario.healthy
    if name == "B":
        bad = [i for i, m in enumerate(layout) if m != "ok"]
        assert bad == list(range(0, 200, 5))  # one in five, hang and fail in turn
        assert [layout[i] for i in bad[:4]] == ["hang", "fail", "hang", "fail"]


def test_scenario_titles_name_the_rates_on_the_command_line():
    table = scenarios(parse_args(["--rate-a", "40", "--slow-seconds", "3"]))

    assert table["A"].title == "10 healthy + 2 hanging webhooks, global scope, 40 events/s"
    assert table["C"].title == (
        "10 healthy + 2 slow webhooks (answer after 3 s), global scope, 30 events/s"
    )
    assert table["B"].rate == 200 and table["B"].local


@pytest.mark.parametrize(
    "argv",
    [
        ["--scenarios", "D"],
        ["--drain", "0"],
        ["--env", "lower=1"],
        ["--database-url", "postgres://postgres@db.example:5432/x"],
    ],
)
def test_bad_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert "error" in capsys.readouterr().err


def test_options_feed_bench_stacks_one_prefork_worker():
    args = parse_args(["--scenarios", "a, b"])

    assert args.scenario_names == ["A", "B"]
    assert (args.workers, args.pool, args.fair) == (1, "prefork", False)
    assert args.redis_url == ""  # a private redis-server
