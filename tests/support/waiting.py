"""The one poller: ask again until the answer is the one we wait for, or time is up."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(fetch: Callable[[], Awaitable[T]], done: Callable[[T], Any] = bool, *,
                     seconds: float = 10, every: float = 0.02) -> T:
    """Await ``fetch()`` until ``done(value)`` is truthy (by default: the value itself); return the last
    value either way, so the caller's assertion shows what it saw."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = await fetch()
        if done(value) or loop.time() > deadline:
            return value
        await asyncio.sleep(every)


async def wait_status(gw: Any, merchant: Any, payment_id: str, status: str, seconds: float = 10) -> dict[str, Any]:
    """The payment's API view once its status is ``status`` (or the last one seen)."""
    answer = await eventually(lambda: gw.api(merchant, "GET", f"/payments/{payment_id}"),
                              lambda a: a.body["status"] == status, seconds=seconds, every=0.05)
    return dict(answer.body)
