"""Payment status fan-out: after a transition commits, the new status goes into the cache (so the
checkout's status endpoint answers without the database) and out on pub/sub (so long-polling shoppers
on any gateway process wake at once).

Two layers answer :meth:`StatusBus.cached`: a small in-process map, kept current by the same pub/sub
messages that wake waiters, and the shared cache behind it. The local entries live a couple of seconds
only, so a process that missed a message (a Redis reconnect) is stale for at most that long.

Everything here runs after a commit and is best effort: it never raises and never waits long (the cache
is bounded, :mod:`gateway.cache.breaker`), so it cannot change an answer. And the cache is never the only
holder of a newer status: entries carry the status's rank as a version (a payment's statuses only move
forward: pending → closed → paid → partially refunded → refunded), written by compare-and-set, so a late
refill or a reordered write cannot replace a newer status with an older one; a ``pending`` entry lives
:data:`PENDING_TTL` seconds only, so a change whose write or publish was lost is read from the database
within that time (a closed, paid or partially refunded one :data:`SETTLED_TTL`; only ``refunded``, which
nothing follows, the full hour).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable

from gateway.cache.base import Cache

log = logging.getLogger(__name__)

TOPIC = "payment-status"
TTL = 3600
PENDING_TTL = 5  # seconds: a status that will change is re-read from the database this often
SETTLED_TTL = 60  # seconds: closed, paid, partially refunded -- final for the shopper, not for the books
FINAL = frozenset({"refunded"})  # nothing follows it: kept the full TTL
# The order a payment's statuses move in (a late payment moves closed → paid).
RANK = {"pending": 0, "closed": 1, "paid": 2, "partially_refunded": 3, "refunded": 4}
BUDGET = 1.0  # seconds any post-commit cache work may take in all


def _parse(entry: str | None) -> str | None:
    if entry is None:
        return None
    _, sep, status = entry.partition(" ")
    return status if sep else entry  # an unversioned entry (written before versions) is its status


LOCAL_TTL = 2.0  # seconds
LOCAL_MAX = 50_000


class StatusBus:
    def __init__(self, cache: Cache, *, local_ttl: float = LOCAL_TTL) -> None:
        self._cache = cache
        # An in-process cache is not seen by other gateway processes: keep its entries as briefly as the
        # local layer's, so a change committed elsewhere is read from the database within seconds.
        self._ttl = TTL if cache.shared else max(1, int(local_ttl))
        self._waiters: defaultdict[str, set[asyncio.Future[str]]] = defaultdict(set)
        self._local: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._local_ttl = local_ttl
        self._loading: dict[str, asyncio.Future[str | None]] = {}
        cache.subscribe(TOPIC, self._on_message)

    def _keep(self, payment_id: str, status: str) -> None:
        held = self._local.get(payment_id)
        if held is not None and held[0] > time.monotonic() and RANK.get(held[1], 0) > RANK.get(status, 0):
            return  # never step back to an older status
        self._local[payment_id] = (time.monotonic() + self._local_ttl, status)
        self._local.move_to_end(payment_id)
        while len(self._local) > LOCAL_MAX:
            self._local.popitem(last=False)

    def _ttl_of(self, status: str) -> int:
        if status == "pending":
            return min(self._ttl, PENDING_TTL)
        return self._ttl if status in FINAL else min(self._ttl, SETTLED_TTL)

    async def _store(self, payment_id: str, status: str) -> None:
        await self._cache.set_versioned(f"status:{payment_id}", RANK.get(status, 0), status, self._ttl_of(status))

    async def changed(self, payment_id: str, status: str) -> None:
        """A committed change: kept, this process's waiters woken, then (best effort, bounded) written
        to the shared cache and published to the other processes. Never raises."""
        self._on_message(f"{payment_id} {status}")
        try:
            await asyncio.wait_for(self._changed(payment_id, status), BUDGET)
        except Exception as exc:  # the database holds the truth; readers fall back to it
            log.warning("status %s of %s not cached/published: %s", status, payment_id, type(exc).__name__)

    async def _changed(self, payment_id: str, status: str) -> None:
        await self._store(payment_id, status)
        await self._cache.publish(TOPIC, f"{payment_id} {status}")

    def peek(self, payment_id: str) -> str | None:
        """The in-process layer alone, without awaiting: the status endpoint's fast path."""
        hit = self._local.get(payment_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    async def cached(self, payment_id: str) -> str | None:
        status = self.peek(payment_id)
        if status is not None:
            return status
        try:
            status = _parse(await asyncio.wait_for(self._cache.get(f"status:{payment_id}"), BUDGET))
        except Exception:  # a miss: the caller reads the database
            return None
        if status is not None:
            self._keep(payment_id, status)
        return status

    async def cached_or_load(self, payment_id: str, load: Callable[[], Awaitable[str | None]]) -> str | None:
        """The cached status, or ``load()``-ed once however many requests miss at the same moment: when a
        hot payment's entry expires, one database read refills it instead of a burst of them."""
        status = self.peek(payment_id) or await self.cached(payment_id)
        if status is not None:
            return status
        loading = self._loading.get(payment_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(payment_id, load))
            self._loading[payment_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(payment_id, None))
        return await asyncio.shield(loading)

    async def _load(self, payment_id: str, load: Callable[[], Awaitable[str | None]]) -> str | None:
        status = await load()
        if status is not None:
            await self.remember(payment_id, status)
        return status

    async def remember(self, payment_id: str, status: str) -> None:
        """A status read from (or just written to) the database: kept unless a newer one is. Never raises."""
        self._keep(payment_id, status)
        try:
            await asyncio.wait_for(self._store(payment_id, status), BUDGET)
        except Exception as exc:
            log.warning("status of %s not cached: %s", payment_id, type(exc).__name__)

    @property
    def shared(self) -> bool:
        """Whether a change committed by another process wakes this process's waiters -- now: false while
        the shared cache is being skipped after a failure."""
        return self._cache.shared and getattr(self._cache, "healthy", True)

    def _on_message(self, message: str) -> None:
        payment_id, _, status = message.partition(" ")
        self._keep(payment_id, status)
        status = self.peek(payment_id) or status  # a reordered, older message wakes with the newer status
        for fut in self._waiters.pop(payment_id, ()):
            if not fut.done():
                fut.set_result(status)

    async def wait(self, payment_id: str, seconds: float) -> str | None:
        """The next status published for this payment, or ``None`` after ``seconds``."""
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiters[payment_id].add(fut)
        try:
            return await asyncio.wait_for(fut, seconds)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(payment_id)
            if waiters is not None:
                waiters.discard(fut)
                if not waiters:
                    self._waiters.pop(payment_id, None)

    @property
    def waiting(self) -> int:
        return sum(len(w) for w in self._waiters.values())
