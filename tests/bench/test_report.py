"""The pure pieces of the benchmark's report and bookkeeping."""

import pytest

from bench.changelist_fill import FILL_SQL, split_sql, sql_steps
from bench.receipts import Receipt, expected_keys, match
from bench.report import cpu_line, cpu_used, percentile, spread_ms


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]  # 1 .. 100

    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7
    assert percentile(values, 0) == 1  # rank at least 1


def test_spread_is_in_milliseconds_and_sorts_first():
    assert spread_ms([0.003, 0.001, 0.002]) == ("p50 2.0 ms  p95 3.0 ms  p99 3.0 ms  max 3.0 ms")
    assert spread_ms([]) == "no samples"


def test_arrivals_count_first_receipts_repeats_and_strangers():
    expected = expected_keys(["e1", "e2"], webhooks=2)
    receipts = [
        Receipt("e1", "/hook/0", 1.0),
        Receipt("e1", "/hook/0", 2.0),  # a repeat
        Receipt("e1", "/hook/1", 1.5),
        Receipt("e2", "/hook/0", 1.7),
        Receipt("other", "/hook/0", 1.8),  # not this phase's
    ]

    arrivals = match(receipts, expected)

    assert arrivals.first == {
        ("e1", "/hook/0"): 1.0,
        ("e1", "/hook/1"): 1.5,
        ("e2", "/hook/0"): 1.7,
    }
    assert arrivals.missing == 1  # e2 at /hook/1
    assert arrivals.duplicates == 1
    assert arrivals.unexpected == 1


@pytest.mark.parametrize("comment", ["", "-- a comment line\n"])
def test_fill_sql_splits_into_steps_and_statements_keeping_function_bodies_whole(comment):
    text = (
        "-- the file's own comment; not a step\n"
        "-- step: helpers\n"
        f"{comment}"
        "CREATE FUNCTION f() RETURNS int AS $$\n"
        "  SELECT 1;\n"
        "$$ LANGUAGE sql;\n"
        "CREATE TEMP TABLE t AS SELECT 1;\n"
        "\n"
        "-- step: rows\n"
        "INSERT INTO t SELECT %(n)s;\n"
    )

    steps = sql_steps(text)

    assert [name for name, _ in steps] == ["helpers", "rows"]
    statements = split_sql(steps[0][1])
    assert len(statements) == 2
    assert statements[0].endswith("$$ LANGUAGE sql")
    assert "SELECT 1;" in statements[0]  # the body's own semicolon stays inside
    assert split_sql(steps[1][1]) == ["INSERT INTO t SELECT %(n)s"]


def test_the_fill_file_runs_its_four_steps_in_order():
    steps = sql_steps(FILL_SQL.read_text())

    assert [name for name, _ in steps] == ["helpers", "events", "deliveries", "attempts"]
    assert all(split_sql(sql) for _, sql in steps)


def test_spread_with_missing_values_shows_what_falls_beyond_the_bound():
    assert spread_ms([0.001] * 97, missing=3) == (
        "p50 1.0 ms  p95 1.0 ms  p99 beyond bound  max received 1.0 ms"
    )
    assert spread_ms([], missing=2) == (
        "p50 beyond bound  p95 beyond bound  p99 beyond bound  max received -"
    )


def test_match_with_a_deadline_counts_late_receipts_apart():
    expected = expected_keys(["e1"], webhooks=2)
    receipts = [
        Receipt("e1", "/hook/0", 1.0),
        Receipt("e1", "/hook/1", 9.0),  # after the deadline
        Receipt("other", "/hook/0", 9.0),
    ]

    arrivals = match(receipts, expected, deadline=5.0)

    assert arrivals.first == {("e1", "/hook/0"): 1.0}
    assert (arrivals.missing, arrivals.late, arrivals.unexpected) == (1, 1, 1)


def test_cpu_used_puts_what_no_group_used_in_other():
    before = {"worker": 1.0, "machine": 10.0, "steal": 0.0, "wall": 0.0}
    after = {"worker": 3.0, "postgres": 1.0, "machine": 15.0, "steal": 0.5, "wall": 2.0}

    used = cpu_used(before, after)

    assert used == {"worker": 2.0, "postgres": 1.0, "steal": 0.5, "other": 1.5}
    assert cpu_line(before, after).endswith("other = 0.75 cores)")
