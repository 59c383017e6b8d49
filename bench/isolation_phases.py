"""One scenario of the isolation benchmark: a fresh worker and webhooks, a
warm-up, then the "baseline" phase (bad webhooks disabled) and the "bad"
phase (enabled) on the same event stream, and the verdict."""

from __future__ import annotations

import time

from bench.isolation_report import (
    PhaseResult,
    ScenarioResult,
    bad_lines,
    check_line,
    db_state_line,
    phase_lines,
    phase_result,
)
from bench.isolation_sampling import Sampler
from bench.isolation_scenarios import Scenario, verdict
from bench.isolation_stack import Isolation
from bench.isolation_world import World, build_world
from bench.publishers import PublishPool, PythonPublisher, submit_on_schedule
from bench.receipts import match
from bench.records import attempts_recorded, statuses_by_webhook
from bench.report import cpu_line, cpu_used
from bench.stages import recorded_first_attempts, stage_account, stage_lines, window_lines

PHASES = ("baseline", "bad")


def run_scenario(iso: Isolation, scenario: Scenario) -> ScenarioResult:
    print(f"\n==== scenario {scenario.name}: {scenario.title}", flush=True)
    iso.fresh_worker()
    world = build_world(scenario, iso.receiver.port, iso.hostile)
    warm_up(iso, world)
    outcome = ScenarioResult(scenario)
    seq = 0
    for phase in PHASES:
        outcome.phases.append(run_phase(iso, world, phase, seq))
        seq += round(scenario.rate * iso.args.phase_seconds) + 1000
    base, bad = outcome.phases
    outcome.checks = verdict(
        baseline_p99=base.p99,
        p99=bad.p99,
        p99_factor=scenario.p99_factor,
        throughput_ratio=bad.throughput_ratio,
        min_throughput=scenario.min_throughput,
        missing=bad.missing,
        lossless=scenario.lossless,
    )
    print(f"\n== {scenario.name} verdict")
    for check in outcome.checks:
        print(check_line(check))
    iso.stop_worker()
    return outcome


def warm_up(iso: Isolation, world: World) -> None:
    """A few events first, so each pool process has its connections."""
    offset = iso.receiver.count()
    pool = PublishPool(PythonPublisher(world.account_for), 4, f"iso-{world.scenario.name}-warmup")
    submit_on_schedule(pool, rate=20, total=20)
    published = pool.close(timeout=120)
    want = sum(len(world.healthy_paths(p.seq)) for p in published)
    iso.children.wait_until("warm-up", lambda: iso.receiver.count() - offset >= want, 60)


def run_phase(iso: Isolation, world: World, phase: str, first_seq: int) -> PhaseResult:
    """Publish for --phase-seconds, wait up to --drain s for the healthy
    deliveries, and print what came of it."""
    args, scenario = iso.args, world.scenario
    label = f"iso-{scenario.name}-{phase}"  # the events' resource type: finds them again
    with_bad = phase == "bad"
    what = "bad webhooks enabled" if with_bad else "bad webhooks disabled"
    print(
        f"\n== {scenario.name}/{phase}: {what}; {scenario.rate:g} events/s for "
        f"{args.phase_seconds:g} s",
        flush=True,
    )
    world.set_bad_enabled(with_bad)
    offset = iso.receiver.count()
    stats_before = iso.hostile.stats()
    sampler = Sampler(world.bad_ids, iso.hostile, args.sample_interval)
    cpu_before = iso.cpu.snapshot()
    sampler.start()
    pool = PublishPool(PythonPublisher(world.account_for), args.publishers, label)
    total = max(1, round(scenario.rate * args.phase_seconds))
    submit_on_schedule(pool, scenario.rate, total, first_seq)
    published = sorted(pool.close(timeout=120), key=lambda p: p.seq)
    expected = {(p.event_id, path) for p in published for path in world.healthy_paths(p.seq)}
    deadline = max(p.finished for p in published) + args.drain
    while iso.receiver.count() - offset < len(expected) and time.time() < deadline:
        iso.children.check_alive()
        time.sleep(0.1)
    samples = sampler.stop()
    cpu_after = iso.cpu.snapshot()
    stats_after = iso.hostile.stats()

    arrivals = match(iso.receiver.since(offset), expected, deadline)
    result = phase_result(f"{scenario.name}/{phase}", published, arrivals, len(expected))
    result.claims_on_bad_max = max((s.claims_on_bad for s in samples), default=0)
    result.other_cpu = cpu_used(cpu_before, cpu_after)["other"]
    lines = phase_lines(result, published, arrivals, args.drain)
    if with_bad:
        lines += bad_lines(scenario, stats_before, stats_after, samples, args.concurrency)
        if sampler.errors:
            lines.append(f"({len(sampler.errors)} samples failed: {sampler.errors[0]!r})")
    lines.append(db_state_line(statuses_by_webhook(label), world.bad_ids, attempts_recorded(label)))
    lines.append(cpu_line(cpu_before, cpu_after))
    # The healthy deliveries' time, stage by stage, and over the phase.
    account = stage_account(published, arrivals.first, recorded_first_attempts(label))
    lines += stage_lines(account)
    lines += window_lines(account, width=args.window_seconds)
    print("\n".join(lines), flush=True)
    return result
