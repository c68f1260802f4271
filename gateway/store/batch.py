"""Group commit: what finishes while one transaction writes is written together by the next, so thirty-two
deliveries (or answers to keep for an Idempotency-Key) finishing at once cost a few transactions, not
thirty-two."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """:meth:`submit` an item and await its result; ``flush`` writes a list of items in one go and
    returns one result per item, in order.

    A flush starts as soon as the first item arrives; items submitted meanwhile wait for the next one
    (at most ``max_items`` each). If a flush of several items raises anything but an outage, each item
    is flushed alone, so one bad item fails only itself."""

    def __init__(self, flush: Callable[[Sequence[T]], Awaitable[Sequence[R]]], *, max_items: int = 256,
                 outage: type[BaseException] | tuple[type[BaseException], ...] = ()) -> None:
        self._flush, self._max, self._outage = flush, max_items, outage
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:self._max], self._queue[self._max:]
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                for item in [*batch, *self._queue]:
                    item[1].cancel()
                self._queue = []
                raise

    async def _write(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if len(batch) == 1 or isinstance(exc, self._outage):
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
            for one in batch:  # find the item that failed: each alone
                await self._write([one])
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
