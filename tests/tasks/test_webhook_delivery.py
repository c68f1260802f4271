"""Webhook delivery from the outbox: signed per Standard Webhooks, the same id on every retry, a delivery
log, retries on the backoff, a per-merchant limit so a dead endpoint never delays other merchants, and
nothing lost while an endpoint is down for (compressed) hours."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from standardwebhooks.webhooks import Webhook

from gateway.domain.errors import DatabaseUnavailable
from gateway.store import outbox
from tests.conftest import REDIS_URL
from tests.factories import Gateway, start_gateway
from tests.support.receiver import Receiver
from tests.support.waiting import eventually
from tests.tasks.helpers import closed_payment_event, event_row


async def test_retried_with_the_same_id_and_logged_until_a_2xx(fast_gateway: Gateway, hooks: Receiver) -> None:
    gw = fast_gateway
    m = await gw.merchant(webhook_url=hooks.endpoint("a"))
    hooks.status["/a"] = 500
    event_id = await closed_payment_event(gw, m)
    assert await eventually(lambda: asyncio.sleep(0, len(hooks.ids("a", ok_only=False)) >= 2))
    hooks.status["/a"] = 204
    assert await eventually(lambda: _status(gw, event_id, "delivered"))

    assert {h.id for h in hooks.hits} == {event_id}
    for hit in hooks.hits:  # every attempt verifies with the reference library, under the merchant's secret
        payload = Webhook(m.webhook_secret).verify(hit.body, hit.headers)
        assert payload["id"] == event_id and payload["type"] == "payment.closed"
    got = (await gw.api(m, "GET", f"/events/{event_id}")).body
    codes = [d["status_code"] for d in got["deliveries"]]
    assert codes[-1] == 204 and set(codes[:-1]) == {500} and len(codes) >= 3
    assert [d["attempt"] for d in got["deliveries"]] == list(range(1, len(codes) + 1))
    assert got["deliveries"][0]["response_excerpt"] == "down for maintenance"
    assert all(d["latency_ms"] is not None for d in got["deliveries"])
    assert got["delivery_status"] == "delivered" and got["delivered_at"]


async def _status(gw: Gateway, event_id: str, status: str) -> bool:
    return (await event_row(gw, event_id))["delivery_status"] == status


async def _all_delivered(gw: Gateway, ids: list[str]) -> bool:
    return all([(await event_row(gw, i))["delivery_status"] == "delivered" for i in ids])


async def test_a_dead_endpoint_for_hours_delays_no_one_and_loses_nothing(
        database_url: str | None, backend: str, tmp_path: Path, hooks: Receiver) -> None:
    # 1 s here is 10,000 s (2.8 h) there: the endpoint is down for about 8 compressed hours.
    async with start_gateway(tmp_path, database_url=database_url, redis_url=REDIS_URL if backend == "mysql" else None,
                             task_time_scale=0.0001, task_interval=0.02, webhook_timeout=0.5,
                             webhook_concurrency=3) as gw:
        dead = await gw.merchant(name="Dead", webhook_url=hooks.endpoint("dead"))
        alive = await gw.merchant(name="Alive", webhook_url=hooks.endpoint("alive"))
        hooks.hang.add("/dead")  # first it hangs: each attempt holds a slot until the timeout
        dead_ids = [await closed_payment_event(gw, dead) for _ in range(10)]
        loop = asyncio.get_running_loop()
        started = loop.time()
        alive_ids = [await closed_payment_event(gw, alive) for _ in range(3)]
        assert await eventually(lambda: asyncio.sleep(0, set(hooks.ids("alive")) == set(alive_ids)), seconds=5)
        assert max(h.at for h in hooks.hits if h.path == "/alive") - started < 2.0
        assert 1 <= hooks.max_in_flight["/dead"] <= 3  # the per-merchant limit held

        hooks.hang.discard("/dead")
        hooks.status["/dead"] = 503  # then it refuses, fast, for hours
        await asyncio.sleep(2.9)
        assert not hooks.ids("dead")
        hooks.status["/dead"] = 200  # recovered
        assert await eventually(lambda: _all_delivered(gw, dead_ids), seconds=15)
        assert set(hooks.ids("dead")) == set(dead_ids)
        for event_id in dead_ids:
            log = (await gw.api(dead, "GET", f"/events/{event_id}")).body["deliveries"]
            assert len(log) >= 4 and log[-1]["status_code"] == 200
            assert {d["status_code"] for d in log[:-1]} <= {None, 503}
        assert sorted(hooks.ids("dead")) == sorted(dead_ids)  # each delivered once


async def test_gives_up_after_the_schedule_then_resend_delivers(
        database_url: str | None, backend: str, tmp_path: Path, hooks: Receiver) -> None:
    async with start_gateway(tmp_path, database_url=database_url, task_time_scale=0.00002, task_interval=0.02,
                             webhook_timeout=0.5) as gw:
        m = await gw.merchant(webhook_url=hooks.endpoint("m"))
        hooks.status["/m"] = 502
        event_id = await closed_payment_event(gw, m)
        assert await eventually(lambda: _status(gw, event_id, "failed"), seconds=20)
        got = (await gw.api(m, "GET", f"/events/{event_id}")).body
        assert len(got["deliveries"]) == 8 and got["next_attempt_at"] is None

        hooks.status["/m"] = 200
        resent = await gw.api(m, "POST", f"/events/{event_id}/resend")
        assert resent.status == 202 and resent.body["delivery_status"] == "pending"
        assert await eventually(lambda: _status(gw, event_id, "delivered"))
        assert hooks.ids("m") == [event_id]


async def test_rotation_signs_with_both_secrets(fast_gateway: Gateway, hooks: Receiver) -> None:
    gw = fast_gateway
    m = await gw.merchant(webhook_url=hooks.endpoint("r"))
    rotated = await gw.api(m, "POST", "/webhook-secret/rotate")
    assert rotated.status == 201 and rotated.body["webhook_secret"].startswith("whsec_")
    new = rotated.body["webhook_secret"]
    assert new != m.webhook_secret and rotated.body["previous_valid_until"]
    event_id = await closed_payment_event(gw, m)
    assert await eventually(lambda: _status(gw, event_id, "delivered"))
    hit = hooks.hits[-1]
    assert len(hit.headers["webhook-signature"].split()) == 2
    for secret in (new, m.webhook_secret):
        Webhook(secret).verify(hit.body, hit.headers)


async def test_events_api(fast_gateway: Gateway, hooks: Receiver) -> None:
    gw = fast_gateway
    m = await gw.merchant(webhook_url=hooks.endpoint("e"))
    other = await gw.merchant()
    ids = [await closed_payment_event(gw, m) for _ in range(3)]
    page = (await gw.api(m, "GET", "/events?limit=2&type=payment.closed")).body
    assert [e["id"] for e in page["data"]] == ids[::-1][:2] and page["has_more"]
    rest = (await gw.api(m, "GET", f"/events?limit=2&type=payment.closed&cursor={page['next_cursor']}")).body
    assert [e["id"] for e in rest["data"]] == [ids[0]] and not rest["has_more"]
    assert (await gw.api(other, "GET", f"/events/{ids[0]}")).status == 404  # another merchant's
    assert (await gw.api(m, "GET", "/events/evt_nope")).status == 404
    assert (await gw.api(m, "GET", "/events?limit=0")).status == 422
    assert (await gw.api(m, "GET", "/events?cursor=%%%")).status == 422
    no_hook = await gw.api(other, "POST", f"/events/{ids[0]}/resend")
    assert no_hook.status == 409 and no_hook.headers["Content-Type"].startswith("application/problem+json")
    assert (await gw.api(m, "POST", "/events/evt_nope/resend")).status == 404


async def test_a_claim_whose_commit_went_unanswered_is_given_back_when_the_database_answers(
        fast_gateway: Gateway, hooks: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database goes away as a claim commits: the leases were written, the runner never heard. It
    gives them back once the database answers, not when they run out (GATEWAY_TASK_LEASE, 120 s here)."""
    gw = fast_gateway
    m = await gw.merchant(webhook_url=hooks.endpoint("a"))
    real_claim, real_begin = outbox.claim_due, gw.svc.db.begin
    lost: list[list[str]] = []
    losing = False

    async def claim_and_lose_the_answer(conn: AsyncConnection, **kw: Any) -> list[Any]:
        nonlocal losing
        rows = await real_claim(conn, **kw)
        losing = bool(rows) and not lost
        if losing:
            lost.append([r["id"] for r in rows])
        return rows

    @contextlib.asynccontextmanager
    async def begin() -> AsyncIterator[AsyncConnection]:
        nonlocal losing
        async with real_begin() as conn:
            yield conn
        if losing:  # committed; the answer is lost with the connection
            losing = False
            raise DatabaseUnavailable("database unreachable: lost the connection at COMMIT")

    monkeypatch.setattr(outbox, "claim_due", claim_and_lose_the_answer)
    monkeypatch.setattr(gw.svc.db, "begin", begin)
    event_id = await closed_payment_event(gw, m)
    assert await eventually(lambda: _status(gw, event_id, "delivered"), seconds=10)
    assert lost == [[event_id]]
    assert hooks.ids("a") == [event_id]
    assert (await event_row(gw, event_id))["lease_until"] is None
