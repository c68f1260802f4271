"""A modest load (a few merchant loops and a shopper each, loopback only) through a 20-second Redis outage,
a 10-second Redis freeze (SIGSTOP) and then a 10-second MariaDB outage (killed, restarted). Counts every answer by status and phase and
asserts: no 5xx but 503, and 503 only while the database is down; nothing the merchant must act on --
every request ends in its final answer on a retry with the same Idempotency-Key, every payment the
shopper paid is paid, every refund succeeded, every event delivered, the ledger balanced.

``GATEWAY_FAULTS_FIGURES=path`` writes the figures there as JSON (they are printed with ``-s`` too)."""
from __future__ import annotations

import asyncio
import json
import os
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.store.ledger_check import check_database
from gateway.store.tables import events, payments, refunds
from tests.checkout.helpers import get
from tests.factories import Answer, Gateway, Merchant, unique
from tests.faults import servers
from tests.support.paying import pay_as_shopper
from tests.support.receiver import receiver

pytestmark = pytest.mark.slow

WORKERS = 3
REDIS_OUT = (3.0, 23.0)  # seconds after the start: Redis stopped, then started
REDIS_FROZEN = (25.0, 35.0)  # Redis frozen (SIGSTOP), then thawed
DB_OUT = (38.0, 48.0)  # MariaDB killed, then started
END = 53.0
GRACE = 3.0  # after the database answers again, requests already waiting may still see 503
RETRY_FOR = 60.0  # a merchant retries a retryable answer this long, with the same Idempotency-Key


class Load:
    def __init__(self, gw: Gateway, m: Merchant) -> None:
        self.gw, self.m = gw, m
        self.started = time.monotonic()
        self.counts: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self.action_needed: list[str] = []
        self.paid: list[str] = []
        self.closed: list[str] = []
        self.refunds: list[str] = []
        self.errors: list[str] = []
        self.latency: defaultdict[str, list[float]] = defaultdict(list)
        self.database_killed: float | None = None  # when MariaDB was killed
        self.database_back: float | None = None  # when the restarted MariaDB answered: its start takes a while
        self.fives: list[str] = []  # each 5xx: when (seconds from the start), what, which problem

    def phase(self, at: float, end: float) -> str:
        """The phase of a request made at ``at`` and answered at ``end``: one still in flight when MariaDB
        was killed met the outage, whenever it started."""
        if (self.database_killed is not None and end >= self.database_killed
                and (self.database_back is None or at < self.database_back + GRACE)):
            return "database_down"
        t = at - self.started
        if REDIS_OUT[0] <= t < REDIS_OUT[1]:
            return "redis_down"
        if REDIS_FROZEN[0] <= t < REDIS_FROZEN[1]:
            return "redis_frozen"
        return "normal"

    def count(self, at: float, status: int) -> None:
        end = time.monotonic()
        phase = self.phase(at, end)
        self.counts[phase][status] += 1
        self.latency[phase].append(end - at)

    async def call(self, method: str, path: str, body: Any = None, *, final: set[int]) -> Answer:
        """A well-behaved merchant: one Idempotency-Key per operation, retried on a retryable answer."""
        key = {"Idempotency-Key": unique("k")} if method == "POST" else {}
        deadline = time.monotonic() + RETRY_FOR
        while True:
            at = time.monotonic()
            answer = await self.gw.api(self.m, method, path, json_body=body, headers=key)
            self.count(at, answer.status)
            if answer.status >= 500:
                self.fives.append(f"{at - self.started:.2f}s {method} {path} {answer.status} "
                                  f"{(answer.body or {}).get('code') if isinstance(answer.body, dict) else answer.text[:80]}")
            retryable = answer.status in (429, 503) or (
                answer.status == 409 and (answer.body or {}).get("code") == "idempotency_key_in_use")
            if not retryable or time.monotonic() > deadline:
                break
            await asyncio.sleep(float(answer.headers.get("Retry-After", "0.5")) / 4)
        if answer.status not in final:
            self.action_needed.append(f"{method} {path}: {answer.status} {answer.text[:200]}")
        return answer

    async def status_page(self, payment_id: str) -> None:
        at = time.monotonic()
        status, text, _ = await get(self.gw, f"/pay/{payment_id}/status")
        self.count(at, status)
        if status >= 500:
            self.fives.append(f"{at - self.started:.2f}s GET /pay/{payment_id}/status {status} {text[:80]}")

    async def until_paid(self, payment_id: str) -> bool:
        deadline = time.monotonic() + RETRY_FOR
        while time.monotonic() < deadline:
            answer = await self.call("GET", f"/payments/{payment_id}", final={200, 503})
            if answer.status == 200 and answer.body["status"] != "pending":
                return True
            await asyncio.sleep(0.2)
        return False

    async def worker(self) -> None:
        while time.monotonic() - self.started < END:
            try:
                await self.round()
            except Exception as exc:  # recorded with where it happened, and the load goes on
                at = time.monotonic() - self.started
                self.errors.append(f"{at:.1f}s {''.join(traceback.format_exception(exc)[-3:])}")
                await asyncio.sleep(0.2)

    async def round(self) -> None:
        made = await self.call("POST", "/payments", {"amount": 300, "subject": "load", "channel": "alipay_qr",
                                                     "out_trade_no": unique("load")}, final={201})
        if made.status != 201:
            return
        pid = made.body["id"]
        await self.status_page(pid)
        await pay_as_shopper(self.gw, made.body)
        self.paid.append(pid)
        if not await self.until_paid(pid):
            self.action_needed.append(f"{pid} not paid")
            return
        await self.status_page(pid)
        refund = await self.call("POST", f"/payments/{pid}/refunds", {"amount": 100, "out_refund_no": unique("r")},
                                 final={201})
        if refund.status == 201:
            self.refunds.append(refund.body["id"])
        other = await self.call("POST", "/payments", {"amount": 200, "subject": "load", "channel": "alipay_qr",
                                                      "out_trade_no": unique("load")}, final={201})
        if other.status == 201:
            closed = await self.call("POST", f"/payments/{other.body['id']}/close", final={200})
            if closed.status == 200:
                self.closed.append(other.body["id"])


async def test_figures_for_a_redis_and_a_database_outage(faulty_gateway: Gateway, own_redis: servers.Server,
                                                         own_mariadb: servers.Server) -> None:
    gw = faulty_gateway
    async with receiver() as hooks:
        m = await gw.merchant(webhook_url=hooks.endpoint("hooks"))
        load = Load(gw, m)

        async def outages() -> None:
            await asyncio.sleep(REDIS_OUT[0])
            own_redis.stop()
            await asyncio.sleep(REDIS_OUT[1] - REDIS_OUT[0])
            own_redis.start()
            await asyncio.sleep(REDIS_FROZEN[0] - REDIS_OUT[1])
            own_redis.freeze()
            await asyncio.sleep(REDIS_FROZEN[1] - REDIS_FROZEN[0])
            own_redis.thaw()
            await asyncio.sleep(DB_OUT[0] - REDIS_FROZEN[1])
            load.database_killed = time.monotonic()
            own_mariadb.kill()
            await asyncio.sleep(DB_OUT[1] - DB_OUT[0])
            await asyncio.to_thread(own_mariadb.start)
            load.database_back = time.monotonic()

        await asyncio.gather(outages(), *(load.worker() for _ in range(WORKERS)))

        # Nobody acts: the background work catches up by itself.
        async def settled() -> dict[str, Any]:
            async with gw.svc.db.read() as conn:
                pay = dict((await conn.execute(sa.select(payments.c.status, sa.func.count()).where(
                    payments.c.id.in_(load.paid)).group_by(payments.c.status))).all())
                ref = dict((await conn.execute(sa.select(refunds.c.status, sa.func.count()).where(
                    refunds.c.id.in_(load.refunds)).group_by(refunds.c.status))).all())
                ev = dict((await conn.execute(sa.select(events.c.delivery_status, sa.func.count())
                                              .group_by(events.c.delivery_status))).all())
            return {"payments": pay, "refunds": ref, "events": ev}

        deadline = time.monotonic() + 60
        while True:
            state = await settled()
            done = (set(state["payments"]) <= {"paid", "partially_refunded"} and set(state["refunds"]) <= {"succeeded"}
                    and set(state["events"]) <= {"delivered", "none"})
            if done or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        report = await check_database(gw.svc.db)

    delivered = {h.id for h in hooks.hits if h.status == 200}
    figures = {
        "answers_by_phase_and_status": {p: dict(sorted(c.items())) for p, c in load.counts.items()},
        "latency_ms_p50_p95_max": {p: [round(1000 * sorted(v)[len(v) // 2]), round(1000 * sorted(v)[int(len(v) * .95)]),
                                       round(1000 * max(v))] for p, v in load.latency.items()},
        "payments_paid": len(load.paid), "payments_closed": len(load.closed), "refunds": len(load.refunds),
        "final_state": state, "events_delivered_distinct": len(delivered),
        "merchant_action_needed": load.action_needed, "client_errors": load.errors, "ledger_violations": len(report.violations),
        "breaker_trips": getattr(gw.svc.cache, "trips", None),
        "database_back_after_s": None if load.database_back is None else round(load.database_back - load.started, 2),
        "answers_5xx": load.fives,
    }
    text = json.dumps(figures, indent=1, default=str)
    print(text)
    if os.environ.get("GATEWAY_FAULTS_FIGURES"):
        await asyncio.to_thread(Path(os.environ["GATEWAY_FAULTS_FIGURES"]).write_text, text)
    fives = {p: {s: n for s, n in c.items() if s >= 500} for p, c in load.counts.items()}
    assert fives.get("normal", {}) == {} and fives.get("redis_down", {}) == {} and fives.get("redis_frozen", {}) == {}, fives
    assert set(fives.get("database_down", {})) <= {503}, fives
    assert load.action_needed == []
    assert load.errors == []
    assert done, state
    assert report.violations == []
    assert load.paid and load.refunds and load.closed
