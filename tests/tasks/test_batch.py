"""The group commit of background results: items finishing together are flushed together, each gets its
own result, a bad item fails only itself, an outage fails its whole batch."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.errors import DatabaseUnavailable
from gateway.store.batch import Batcher


class Book:
    def __init__(self, *, bad: frozenset[int] = frozenset(), down: bool = False) -> None:
        self.flushes: list[list[int]] = []
        self.bad, self.down = bad, down

    async def flush(self, items: Sequence[int]) -> list[int]:
        await asyncio.sleep(0)  # a transaction: others submit meanwhile
        if self.down:
            raise DatabaseUnavailable("down")
        if self.bad & set(items):
            raise ValueError(f"bad item among {sorted(items)}")
        self.flushes.append(list(items))
        return [i * 10 for i in items]


@settings(deadline=None, max_examples=40)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=60), st.frozensets(st.integers(0, 50), max_size=3),
       st.integers(1, 8))
def test_every_item_gets_its_own_result_and_a_bad_one_fails_alone(items: list[int], bad: frozenset[int],
                                                                   max_items: int) -> None:
    async def run() -> list[object]:
        book = Book(bad=bad)
        batcher: Batcher[int, int] = Batcher(book.flush, max_items=max_items, outage=DatabaseUnavailable)
        got = await asyncio.gather(*(batcher.submit(i) for i in items), return_exceptions=True)
        written = [i for f in book.flushes for i in f]
        assert sorted(written) == sorted(i for i in items if i not in bad)  # each good item exactly once
        assert all(len(f) <= max_items for f in book.flushes)
        if max_items > 1 and len(items) > 1 and not bad:
            assert len(book.flushes) < len(items)  # batched, not one by one
        return got

    for item, result in zip(items, asyncio.run(run()), strict=True):
        if item in bad:
            assert isinstance(result, ValueError)
        else:
            assert result == item * 10


async def test_an_outage_fails_the_whole_batch_without_retrying_each() -> None:
    book = Book(down=True)
    calls = 0

    async def counting(items: Sequence[int]) -> list[int]:
        nonlocal calls
        calls += 1
        return await book.flush(items)

    batcher: Batcher[int, int] = Batcher(counting, outage=DatabaseUnavailable)
    got = await asyncio.gather(*(batcher.submit(i) for i in range(10)), return_exceptions=True)
    assert all(isinstance(g, DatabaseUnavailable) for g in got)
    assert calls <= 2  # one or two batches (as they arrived), never a retry per item


async def test_cancelled_flush_cancels_its_waiters() -> None:
    started = asyncio.Event()

    async def stuck(items: Sequence[int]) -> list[int]:
        started.set()
        await asyncio.sleep(3600)
        return list(items)

    batcher: Batcher[int, int] = Batcher(stuck)
    waiter = asyncio.ensure_future(batcher.submit(1))
    await started.wait()
    assert batcher._drainer is not None
    batcher._drainer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
