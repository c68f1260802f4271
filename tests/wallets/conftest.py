"""Wallet tests: a gateway (SQLite, and MariaDB when configured) whose merchant has stored value enabled."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.services.merchants import set_channel_account
from gateway.store.ledger_check import check_database
from tests.factories import Gateway, Merchant

STORED_VALUE = "prepaid"  # the stored-value channel's name in the registry


async def enable_stored_value(gw: Gateway, m: Merchant) -> None:
    await set_channel_account(gw.svc.db, gw.svc.settings, gw.svc.registry, m.id, STORED_VALUE, {})


@pytest.fixture
async def shop(gateway: Gateway) -> Merchant:
    m = await gateway.merchant()
    await enable_stored_value(gateway, m)
    return m


async def books_balance(gw: Gateway) -> None:
    report = await check_database(gw.svc.db)
    assert report.ok, report.as_json()["violations"]


async def wallet(gw: Gateway, m: Merchant, customer: str) -> dict[str, Any]:
    answer = await gw.api(m, "GET", f"/customers/{customer}/wallet")
    assert answer.status == 200, answer.text
    return dict(answer.body)


async def adjust(gw: Gateway, m: Merchant, customer: str, **parts: int) -> dict[str, Any]:
    answer = await gw.api(m, "POST", f"/customers/{customer}/wallet/adjustments",
                          json_body={**parts, "reason": "test float"})
    assert answer.status == 201, answer.text
    return dict(answer.body)
