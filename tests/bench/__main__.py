"""``python -m tests.bench [scenario ...] [--db sqlite|mysql|both] [--quick]`` -- see BENCHMARKS.md."""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from tests.bench import scenarios
from tests.bench.common import Options
from tests.bench.procs import DEFAULT_MYSQL_URL, ROOT
from tests.bench.report import Figure, machine, machine_markdown, markdown, write_json


def _sync(fn: Callable[[Options], list[Figure]]) -> Callable[[Options], Awaitable[list[Figure]]]:
    async def run(opts: Options) -> list[Figure]:
        return fn(opts)
    return run


def registry() -> dict[str, Callable[[Options], Awaitable[list[Figure]]]]:
    from tests.bench import checkout, drivers, scale, tasks
    from tests.bench.risk import risk_figures

    return {"api": scenarios.api, "crypto": _sync(scenarios.crypto), "ingest": scenarios.ingest,
            "checkout": checkout.checkout, "longpoll": checkout.longpoll,
            "webhooks": tasks.webhooks, "expiry": tasks.expiry, "risk": risk_figures, "scale": scale.scale,
            "drivers": drivers.drivers}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    p.add_argument("scenarios", nargs="*", help=f"default: all of {', '.join(registry())}")
    p.add_argument("--db", choices=["sqlite", "mysql", "both"], default="both")
    p.add_argument("--quick", action="store_true", help="seconds, not minutes: a check that it all runs")
    p.add_argument("--repeats", type=int, help="measurements per figure (default 3; quick 1)")
    p.add_argument("--duration", type=float, help="seconds measured per HTTP run (default 4; quick 1)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--driver", choices=["auto", "python", "wrk"], default="auto",
                   help="load generator for fixed-duration runs (auto: wrk when installed)")
    p.add_argument("--mysql-url", default=os.environ.get("GATEWAY_BENCH_MYSQL_URL", DEFAULT_MYSQL_URL),
                   help="a database the run may wipe (GATEWAY_BENCH_MYSQL_URL)")
    p.add_argument("--redis-url", default=os.environ.get("GATEWAY_BENCH_REDIS_URL"),
                   help="Redis for the MariaDB gateway (GATEWAY_BENCH_REDIS_URL; default none)")
    p.add_argument("--out", default=str(ROOT / "bench-results"), help="where the JSON result goes")
    return p


def options(args: argparse.Namespace) -> Options:
    dbs = ("sqlite", "mysql") if args.db == "both" else (args.db,)
    opts = Options(dbs=dbs, quick=args.quick, concurrency=args.concurrency, driver=args.driver,
                   mysql_url=args.mysql_url, redis_url=args.redis_url)
    if args.quick:
        opts = replace(opts, repeats=1, duration=1.0, warmup=0.5, callbacks=40, waiters=200)
    if args.repeats:
        opts = replace(opts, repeats=args.repeats)
    if args.duration:
        opts = replace(opts, duration=args.duration)
    return opts


async def run(names: list[str], opts: Options) -> list[Figure]:
    table = registry()
    figures: list[Figure] = []
    for name in names:
        started = time.monotonic()
        print(f"… {name}", file=sys.stderr, flush=True)
        figures += await table[name](opts)
        print(f"  {name} took {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    names = args.scenarios or list(registry())
    unknown = [n for n in names if n not in registry()]
    if unknown:
        parser().error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(registry())}")
    opts = options(args)
    info = machine(opts.mysql_url if "mysql" in opts.dbs else None)
    figures = asyncio.run(run(names, opts))
    info["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    option_dict: dict[str, Any] = {k: v for k, v in asdict(opts).items() if k not in ("mysql_url", "redis_url")}
    option_dict["redis"] = bool(opts.redis_url)
    path = write_json(Path(args.out), info, {"scenarios": names, **option_dict}, figures)
    print(machine_markdown(info))
    print()
    print(markdown(figures))
    print(f"\nJSON: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
