"""/proc parsing of bench/accounting.py, on canned text."""

from bench.accounting import descendants, parse_cpu_line, parse_stat

# pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
# cmajflt utime stime cutime cstime ...
STAT = "4242 (celery: worker (1)) S 4200 4200 4200 0 -1 4194560 10 0 0 0 150 50 7 3 20 0 1 0"


def test_stat_line_gives_parent_command_and_cpu_with_reaped_children():
    ppid, comm, ticks = parse_stat(STAT)

    assert ppid == 4200
    assert comm == "celery: worker (1)"  # parentheses and spaces inside comm
    assert ticks == 150 + 50 + 7 + 3  # utime stime cutime cstime


def test_cpu_line_busy_leaves_out_idle_and_iowait_and_steal_is_the_eighth():
    # user nice system idle iowait irq softirq steal guest guest_nice
    busy, steal = parse_cpu_line("cpu  100 5 40 1000 20 3 2 9 0 0")

    assert busy == 100 + 5 + 40 + 3 + 2 + 9
    assert steal == 9


def test_descendants_are_the_live_roots_and_everything_below_them():
    table = {
        1: (0, "init", 0.0),
        10: (1, "celery", 1.0),
        11: (10, "celery", 2.0),
        12: (11, "curl", 0.5),  # a grandchild, listed before nothing in particular
        20: (1, "postgres", 3.0),
    }

    assert descendants(table, [10, 99]) == {10, 11, 12}  # 99 is gone
    assert descendants(table, []) == set()
