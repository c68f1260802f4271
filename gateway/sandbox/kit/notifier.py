"""Callbacks as the channels send them: a POST to the merchant's URL, retried on the channel's schedule
until the merchant's answer counts as an acknowledgement. Callback faults are applied here.

A channel describes its callbacks as data -- a :class:`Schedule` (retry delays, POST timeout) and, per
callback, a :class:`Message` (body, headers made fresh for each attempt, what counts as an ack) -- and
the notifier does the rest. Delays are multiplied by the app's ``time_scale`` (0.001 turns 4 minutes
into 0.24 s). Every delivery runs as a task owned by the app: :meth:`Notifier.close` (on cleanup and on
``/_control/reset``) cancels and awaits them; the same goes for other work a channel hands to
:meth:`Notifier.spawn` (a refund finishing later).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from gateway.sandbox.kit.faults import Fault, FaultBook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    retry_delays: tuple[float, ...]  # seconds to wait before each retry after the first attempt
    post_timeout: float = 10.0


@dataclass(frozen=True)
class Message:
    body: bytes
    headers: Callable[[], dict[str, str]]  # called for every attempt (some channels sign each POST)
    acked: Callable[[int, bytes], bool]    # (status, body) → did the merchant acknowledge it?


@dataclass
class Delivery:
    """One callback and what became of it (shown by ``/_control/notifies`` and the trade views)."""

    trade: str            # the merchant's order number it is about
    kind: str             # payment | refund
    event: str            # the channel's event or status word
    url: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    attempts: int = 0
    acked: bool = False
    answers: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "trade": self.trade, "kind": self.kind, "event": self.event, "url": self.url,
                "attempts": self.attempts, "acked": self.acked, "answers": self.answers[-5:]}


class Notifier:
    def __init__(self, faults: FaultBook, schedule: Schedule, time_scale: float = 1.0) -> None:
        self.http: aiohttp.ClientSession | None = None  # set by the app's cleanup context
        self.deliveries: list[Delivery] = []
        self.answered = 0  # POSTs the merchant answered at all
        self._faults = faults
        self._schedule = schedule
        self._scale = time_scale
        self._tasks: set[asyncio.Task[Any]] = set()
        self._held: list[asyncio.Event] = []

    def send(self, delivery: Delivery, message: Message) -> Delivery:
        self.deliveries.append(delivery)
        self.spawn(self._deliver(delivery, message, self._faults.take("callbacks")))
        return delivery

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run app-owned background work that :meth:`close` cancels."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Cancel every pending delivery and spawned task (they belong to forgotten trades)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def reset(self) -> None:
        self.deliveries.clear()

    async def _deliver(self, delivery: Delivery, message: Message, fault: Fault | None) -> None:
        mode = fault.mode if fault else None
        if fault and mode == "delay":
            await asyncio.sleep(fault.seconds)
        elif fault and mode == "reorder":
            held = asyncio.Event()
            self._held.append(held)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(held.wait(), fault.seconds)
        for attempt, wait in enumerate((0.0, *self._schedule.retry_delays)):
            if wait:
                await asyncio.sleep(wait * self._scale)
            if attempt == 0 and mode == "drop":  # lost on the way: no ack, so the retries take over
                delivery.attempts += 1
                delivery.answers.append("dropped")
                continue
            ok = await self.post(delivery, message)
            if attempt == 0 and mode == "duplicate":
                ok = await self.post(delivery, message) or ok
            if attempt == 0 and mode != "reorder":
                self._release_held()
            if ok:
                delivery.acked = True
                return
        log.info("sandbox: callback %s to %s given up after %d attempts", delivery.id, delivery.url,
                 delivery.attempts)

    def _release_held(self) -> None:
        held, self._held = self._held, []
        for event in held:
            event.set()

    async def post(self, delivery: Delivery, message: Message) -> bool:
        status, answer = await self.post_once(delivery.url, message.body, message.headers())
        delivery.attempts += 1
        if status is None:
            delivery.answers.append(answer.decode())
            return False
        delivery.answers.append(f"{status} {answer[:40]!r}")
        return message.acked(status, answer)

    async def post_once(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, bytes]:
        """One POST: (status, body), or (None, the error's name) when nothing came back."""
        assert self.http is not None, "the notifier's HTTP session opens with the app"
        try:
            async with self.http.post(url, data=body, headers=headers,
                                      timeout=aiohttp.ClientTimeout(total=self._schedule.post_timeout)) as resp:
                answer = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            return None, type(exc).__name__.encode()
        self.answered += 1
        return resp.status, answer
