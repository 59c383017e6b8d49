"""The soak's pure pieces (bench/soak.py): its lines and its verdict."""

from bench.report import MiB
from bench.soak import SoakPoint, flat_verdict, soak_line


def point(delivered: int, rss_mib: float) -> SoakPoint:
    return SoakPoint(
        delivered, delivered / 1000, 1000.0, int(rss_mib * MiB), int(rss_mib * MiB / 2)
    )


def test_memory_is_flat_when_it_grows_less_than_the_tolerance_after_the_first_point():
    points = [point(100_000, 300), point(200_000, 310), point(300_000, 305)]

    assert flat_verdict(points, tolerance_mib=20) == (
        True,
        "worker RSS from the first point to the last: +5 MiB (flat if <= 20 MiB: yes)",
    )


def test_steady_growth_is_not_flat():
    points = [point(n * 100_000, 300 + 15 * n) for n in range(1, 6)]

    ok, line = flat_verdict(points, tolerance_mib=20)

    assert not ok
    assert line.endswith("+60 MiB (flat if <= 20 MiB: NO)")


def test_one_point_tells_nothing():
    assert flat_verdict([point(100_000, 300)], 20) == (False, "too few points to tell")


def test_a_line_shows_count_time_rate_memory_and_growth():
    first, later = point(100_000, 300), point(200_000, 302)

    assert soak_line(later, first) == (
        "   200,000 delivered  +  200.0 s    1000/s  worker RSS   302 MiB  PSS   151 MiB"
        "  (+2 MiB RSS since the first point)"
    )
    assert soak_line(first, None).endswith("PSS   150 MiB")
