"""Scenarios of issue 6 (background work in ``gateway/tasks/``): webhook deliveries per second to a local
receiver, and the expiry sweep's cost with 1M payment rows against 10k (it must not scan the table)."""
from __future__ import annotations

import importlib.util

from tests.bench.common import Options
from tests.bench.report import Figure, pending


def _landed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


async def webhooks(opts: Options) -> list[Figure]:
    if not _landed("gateway.tasks.runner"):
        return [pending("webhooks", "webhook deliveries per second", "gateway/tasks webhook delivery not in the tree yet")]
    return [pending("webhooks", "webhook deliveries per second", "gateway/tasks landed after this runner was written; scenario not written yet")]


async def expiry(opts: Options) -> list[Figure]:
    if not _landed("gateway.tasks.runner"):
        return [pending("expiry", "expiry sweep, 1M vs 10k payment rows", "gateway/tasks expiry sweep not in the tree yet")]
    return [pending("expiry", "expiry sweep, 1M vs 10k payment rows", "gateway/tasks landed after this runner was written; scenario not written yet")]
