"""The dashboard's rollup loop: every :data:`EVERY` seconds, recompute today and yesterday (and any day
never computed) in :mod:`gateway.store.rollup`. Idempotent, so several processes running it at once
only repeat each other's work."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway import keys
from gateway.store import rollup

log = logging.getLogger(__name__)
EVERY = 300.0


async def _loop(app: web.Application) -> None:
    # Sleep first: a process starting writes nothing (the dashboard computes days it finds missing itself).
    while True:
        await asyncio.sleep(EVERY * app[keys.SETTINGS].task_time_scale)
        try:
            await rollup.refresh(app[keys.DB])
        except Exception:  # a database hiccup must not end the loop
            log.exception("stats rollup failed; retrying")


async def rollup_ctx(app: web.Application) -> AsyncIterator[None]:
    """Runs when ``GATEWAY_BACKGROUND`` is on, like the other loops."""
    if not app[keys.SETTINGS].background:
        yield
        return
    task = asyncio.create_task(_loop(app), name="tasks:stats-rollup")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
