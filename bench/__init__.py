"""The benchmarks: `run.py` (throughput and latency of the whole pipeline),
`isolation.py` (do bad receivers slow the healthy ones down? issue 9) and
`changelist.py` (the console on a big delivery table) are the entry points;
`receiver.py` is the receiver `run.py` and `isolation.py` start, `hostile.py`
the bad ones `isolation.py` starts. The other modules are theirs:

    run.py         options, then one pass: stack -> phases -> report
      stack.py       starts and stops the system under test; builds the `Bench` context
      context.py     `Bench` (what every phase needs) and `Results`
      procs.py       child processes: start, watch, stop as whole process groups
      accounting.py  CPU seconds and memory per process tree, from /proc
      publishers.py  publishing events from Python or over the API, in threads
      receipts.py    what the receiver recorded, matched with what was published
      records.py     what the database recorded
      phases.py      warm-up, throughput, latency
      report.py      percentiles and the lines every run prints
      targets.py     the targets (issue 13) and the summary's verdicts
    isolation.py   options, then per scenario: fresh worker -> baseline, bad -> verdict
      isolation_scenarios.py  the scenarios, their webhook layout, the verdict
      isolation_stack.py      its system under test, from stack.py's pieces
      isolation_world.py      a scenario's webhooks and accounts
      isolation_sampling.py   what the bad endpoints hold, sampled during a phase
      isolation_phases.py     one scenario: warm-up, the two phases, the verdict
      isolation_report.py     its lines and summary
    changelist.py  options, then fill -> measure -> report
      changelist_db.py      its database: lock, reuse (--keep), figures
      changelist_fill.py    tenants, then rows from changelist_fill.sql
      changelist_pages.py   the console pages and their timed requests
      changelist_report.py  the table and the verdicts
    common.py      what all share: the database lock, Django set-up, machine load

Modules import Django and the project only inside functions: the project is
the one named by --project-dir, importable only once its path is set.
"""
