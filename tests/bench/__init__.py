"""Benchmarks, not timed tests: ``python -m tests.bench [scenario ...] [--db sqlite|mysql|both] [--quick]``.

The gateway runs as a real process (``python run.py``), beside a bare aiohttp reference server measured in
the same run; load comes from a third process. Every figure is reported with its spread over repeats and,
where one exists, as a ratio to its reference. How to run and the recorded figures: BENCHMARKS.md.
"""
