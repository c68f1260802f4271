"""The background runner: a cleanup context that starts one loop per kind of work on the app's event
loop and stops them gracefully.

Each loop claims due rows under leases (:mod:`gateway.store.leases`), hands each to its job as a task,
and sleeps ``GATEWAY_TASK_INTERVAL`` when nothing is due. On shutdown the loops stop claiming, work in
flight gets :data:`GRACE` seconds to finish, and whatever is still running is cancelled and its lease
given back at once, so another process picks it up without waiting for the lease to run out.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway import keys
from gateway.domain.errors import DatabaseUnavailable
from gateway.observability.alerts import Notifier
from gateway.services import wallets
from gateway.services.context import Services
from gateway.store import idempotency, leases, notify_log, outbox, rollup
from gateway.store import merchants as merchants_repo
from gateway.store.base import Row, utcnow
from gateway.store.batch import Batcher
from gateway.store.leases import ATTEMPT_SYNC, EXPIRY, REFUND_SYNC, Queue
from gateway.store.outbox import DELIVERY
from gateway.tasks import jobs
from gateway.tasks import reconcile as recon_tasks

log = logging.getLogger(__name__)

GRACE = 8.0  # seconds in-flight work may take to finish at shutdown (run_app allows 15)
BATCH = 16  # rows one loop claims at a time (expiry and sync)
ROLLUP_EVERY = 300.0  # seconds between refreshes of the dashboard's rollup (today and yesterday)
RECON_EVERY = 60.0  # seconds between reconciliation passes (a daily job; the first a minute after start)
WEBHOOKS_IN_FLIGHT = 32  # deliveries in flight per process (and GATEWAY_WEBHOOK_CONCURRENCY per merchant)

MAX_BACKOFF = 5.0  # seconds between tries of a failing loop, at most

Job = Callable[[Row], Awaitable[None]]


def backoff(interval: float, failures: int) -> float:
    """The pause after ``failures`` failed rounds in a row: doubling from the loop's interval."""
    return min(max(interval, 0.05) * 2 ** min(failures, 16), MAX_BACKOFF)


class Runner:
    def __init__(self, svc: Services, http: aiohttp.ClientSession) -> None:
        self.svc, self.http = svc, http
        self._stopping = asyncio.Event()
        self._loops: set[asyncio.Task[None]] = set()
        self._work: dict[asyncio.Task[None], tuple[Queue, Row]] = {}
        self._giving_back: set[asyncio.Task[None]] = set()  # claims given back after an outage
        # Delivery attempts finishing together are logged together: one transaction for a batch.
        self._recorder: Batcher[outbox.AttemptRecord, bool] = Batcher(
            functools.partial(jobs.record_attempts, svc), outage=DatabaseUnavailable)
        s = svc.settings
        self._lease = timedelta(seconds=s.task_lease)
        if s.task_lease <= max(s.webhook_timeout, s.channel_timeout * 2):
            # Work outliving its lease may be done twice by another process (harmless for state changes,
            # a duplicate delivery for webhooks): say so rather than silently stretch the setting.
            log.warning("GATEWAY_TASK_LEASE (%ss) should exceed the webhook and channel timeouts", s.task_lease)

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        loops: dict[str, Callable[[], Awaitable[int]]] = {
            EXPIRY.name: lambda: self._batch(EXPIRY, lambda row: jobs.expire_payment(self.svc, row)),
            ATTEMPT_SYNC.name: lambda: self._batch(ATTEMPT_SYNC, lambda row: jobs.sync_attempt(self.svc, row)),
            REFUND_SYNC.name: lambda: self._batch(REFUND_SYNC, lambda row: jobs.sync_refund(self.svc, row)),
            "wallet-hold-expiry": lambda: wallets.release_expired(self.svc.db),
            DELIVERY.name: self._webhooks,
        }
        scale = self.svc.settings.task_time_scale
        periodic: dict[str, tuple[float, Callable[[], Awaitable[object]], bool, bool]] = {
            # name: (every, job, run at start, back off after a failure)
            "idempotency-purge": (max(self.svc.settings.task_interval, 60 * scale), self._purge_idempotency,
                                  True, True),
            # the daily reconciliation (gateway.tasks.reconcile), looked at once a minute
            "reconcile": (RECON_EVERY, lambda: recon_tasks.tick(self.svc), False, False),
            # the dashboard's rollup; a process starting writes nothing (the dashboard fills missing days)
            "stats-rollup": (ROLLUP_EVERY * scale, lambda: rollup.refresh(self.svc.db), False, False),
            # refused callbacks (anyone's junk) kept GATEWAY_NOTIFY_LOG_KEEP_DAYS, then purged
            "notify-log-purge": (max(self.svc.settings.task_interval, 3600 * scale), self._purge_notify_log,
                                 True, True),
        }
        if self.svc.settings.alerting:  # the built-in notifier (GATEWAY_ALERT_*), one sender under a lease
            periodic["alerts"] = (self.svc.settings.alert_interval, Notifier(self.svc, self.http).round, True, True)
        liveness, stale = self.svc.metrics.liveness, self.svc.settings.loop_stale_after
        for name in loops:
            liveness.register(name, max(3 * self.svc.settings.task_interval, stale))
        for name, (every, *_) in periodic.items():
            liveness.register(name, max(3 * every, stale))
        for name, once in loops.items():
            self._loops.add(asyncio.create_task(self._loop(name, once), name=f"tasks:{name}"))
        for name, (every, job, at_start, back_off) in periodic.items():
            self._loops.add(asyncio.create_task(self._every(name, every, job, at_start=at_start, back_off=back_off),
                                                name=f"tasks:{name}"))

    async def stop(self) -> None:
        self._stopping.set()
        await asyncio.wait(self._loops, timeout=GRACE)
        if self._work:
            log.info("shutdown: waiting for %d background item(s) in flight", len(self._work))
            await asyncio.wait(set(self._work), timeout=GRACE)
        for task in [*self._loops, *self._work, *self._giving_back]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._work, *self._giving_back, return_exceptions=True)

    @property
    def in_flight(self) -> int:
        return len(self._work)

    # -- loops --------------------------------------------------------------------------------------

    async def _loop(self, name: str, once: Callable[[], Awaitable[int]]) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                found = await once()
            except DatabaseUnavailable:  # an outage must not end the loop: back off, resume by itself
                failures += 1
                if failures == 1:
                    log.warning("background loop %s: database unavailable; backing off", name)
                await self._sleep(backoff(self.svc.settings.task_interval, failures))
                continue
            except Exception:  # a database hiccup must not end the loop: log, wait, go on
                log.exception("background loop %s failed; retrying", name)
                failures += 1
                await self._sleep(backoff(self.svc.settings.task_interval, failures))
                continue
            self.svc.metrics.beat(name)
            if failures:
                log.warning("background loop %s: resumed after %d failed round(s)", name, failures)
                failures = 0
            if not found:
                await self._sleep(self.svc.settings.task_interval)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _batch(self, queue: Queue, job: Job) -> int:
        async with self.svc.db.read() as conn:
            if not await leases.any_due(conn, queue):
                return 0
        rows = await self._claim(queue, lambda conn, until: leases.claim(conn, queue, limit=BATCH, until=until))
        if rows:
            await asyncio.gather(*(self._spawn(queue, row, job) for row in rows))
        return len(rows)

    async def _webhooks(self) -> int:
        room = WEBHOOKS_IN_FLIGHT - sum(1 for q, _ in self._work.values() if q is DELIVERY)
        if room <= 0:
            await self._sleep(min(0.05, self.svc.settings.task_interval))
            return 1
        async with self.svc.db.read() as conn:
            if not await leases.any_due(conn, DELIVERY):
                return 0
        rows = await self._claim(DELIVERY, lambda conn, until: outbox.claim_due(
            conn, limit=room, per_merchant=self.svc.settings.webhook_concurrency, until=until))
        if rows:
            async with self.svc.db.read() as conn:  # the batch's merchants, once
                owners = await merchants_repo.merchants_by_id(conn, {r["merchant_id"] for r in rows})
        for row in rows:  # not awaited: a slow endpoint must not hold up the next claim
            self._spawn(DELIVERY, row, lambda r: jobs.deliver_event(
                self.svc, self.http, r, self._recorder.submit, owners.get(r["merchant_id"])))
        return len(rows)

    async def _claim(self, queue: Queue,
                     claim: Callable[[AsyncConnection, datetime], Awaitable[list[Row]]]) -> list[Row]:
        """Run ``claim`` in its own transaction under a new token. If the database goes away meanwhile,
        the claim may have committed unheard: whatever it leased is given back as soon as the database
        answers, rather than sitting idle until the lease runs out."""
        until = leases.token(self._lease)
        try:
            async with self.svc.db.begin() as conn:
                return await claim(conn, until)
        except DatabaseUnavailable:
            task = asyncio.create_task(self._give_back(lambda conn: leases.release_claim(conn, queue, until)))
            self._giving_back.add(task)
            task.add_done_callback(self._giving_back.discard)
            raise

    async def _purge_idempotency(self) -> None:
        async with self.svc.db.begin() as conn:
            await idempotency.purge_expired(conn)

    async def _purge_notify_log(self) -> None:
        before = utcnow() - timedelta(days=self.svc.settings.notify_log_keep_days)
        while True:  # in batches, each its own short transaction
            async with self.svc.db.begin() as conn:
                if await notify_log.purge_refused(conn, before) < 1000:
                    return

    async def _every(self, name: str, every: float, job: Callable[[], Awaitable[object]], *, at_start: bool,
                     back_off: bool) -> None:
        """A periodic job: every ``every`` seconds (first at once if ``at_start``); a failure is logged and,
        with ``back_off``, the next try waits longer, doubling while it keeps failing."""
        failures = 0
        if not at_start:
            await self._sleep(every)
        while not self._stopping.is_set():
            try:
                await job()
                self.svc.metrics.beat(name)
                failures = 0
            except DatabaseUnavailable:
                failures += 1
                if failures == 1:
                    log.warning("%s: database unavailable; backing off", name)
            except Exception:
                failures += 1
                log.exception("%s failed; retrying", name)
            await self._sleep(max(every, backoff(every, failures)) if failures and back_off else every)

    async def _give_back(self, release: Callable[[AsyncConnection], Awaitable[object]]) -> None:
        """Give leases back (``release``), retrying with backoff while the database is unreachable (a
        while at most: the leases run out anyway)."""
        for failures in range(1, 40):
            await self._sleep(backoff(self.svc.settings.task_interval, failures))
            if self._stopping.is_set():
                return
            try:
                async with self.svc.db.begin() as conn:
                    await release(conn)
                return
            except DatabaseUnavailable:
                continue

    # -- one item -----------------------------------------------------------------------------------

    def _spawn(self, queue: Queue, row: Row, job: Job) -> asyncio.Task[None]:
        task = asyncio.create_task(self._run(queue, row, job))
        self._work[task] = (queue, row)
        task.add_done_callback(self._work.pop)
        return task

    async def _run(self, queue: Queue, row: Row, job: Job) -> None:
        try:
            await job(row)
        except asyncio.CancelledError:
            # Shutting down mid-item: hand the row back now rather than when the lease runs out.
            with contextlib.suppress(Exception):
                async with self.svc.db.begin() as conn:
                    await leases.release(conn, queue, row["id"], row["lease_until"])
            raise
        except DatabaseUnavailable:
            # Give the row back as soon as the database answers again, not when its lease runs out.
            log.warning("background job on %s %s: database unavailable; handed back once it is reachable",
                        queue.table.name, row["id"])
            await self._give_back(lambda conn: leases.release(conn, queue, row["id"], row["lease_until"]))
        except Exception:  # the lease stays until it runs out: a natural pause before the next try
            log.exception("background job on %s %s failed", queue.table.name, row["id"])


async def tasks_ctx(app: web.Application) -> AsyncIterator[None]:
    """Started by the app when ``GATEWAY_BACKGROUND`` is on (the default)."""
    if not app[keys.SETTINGS].background:
        yield
        return
    runner = Runner(app[keys.SERVICES], app[keys.HTTP])
    runner.start()
    yield
    await runner.stop()
