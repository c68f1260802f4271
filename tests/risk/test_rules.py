"""Each rule at payment create, in both modes, through the merchant API of a real gateway: enforce decides
(block → 403 risk_blocked and nothing written, throttle → 429, review → created and flagged), monitor
records the hit on the payment and in the decisions, and changes nothing."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gateway.services.risk_rules import BEIJING
from gateway.store.tables import payments, risk_lists
from tests.factories import Gateway, start_gateway, unique
from tests.risk.helpers import add_rule, create, decisions, expect, fund

MODES = ["enforce", "monitor"]


@pytest.mark.parametrize("mode", MODES)
async def test_amount_bounds(gateway: Gateway, mode: str) -> None:
    m = await gateway.merchant()
    await add_rule(gateway, m, type="amount_max", amount=100000, mode=mode)
    await add_rule(gateway, m, type="amount_min", amount=100, mode=mode)
    inside = await create(gateway, m, amount=100000)
    assert inside.status == 201 and inside.body["risk"] == {"decision": "allow", "rules": []}
    over = await create(gateway, m, amount=100001, out_trade_no="over-" + unique())
    expect(over, mode, "block", "amount_max")
    expect(await create(gateway, m, amount=99), mode, "block", "amount_min")
    written = await gateway.count(payments, payments.c.merchant_id == m.id)
    assert written == (1 if mode == "enforce" else 3)  # a block writes no payment
    seen = await decisions(gateway, m, hook="payment.create")
    assert {d["rules"][0]["type"] for d in seen} == {"amount_max", "amount_min"}
    assert all(d["decision"] == ("block" if mode == "enforce" else "allow") for d in seen)
    if mode == "monitor":  # the payment carries the hit, as created and as read back
        got = await gateway.api(m, "GET", f"/payments/{over.body['id']}")
        assert got.body["risk"] == over.body["risk"]


@pytest.mark.parametrize("mode", MODES)
async def test_daily_caps(gateway: Gateway, mode: str) -> None:
    m = await gateway.merchant()
    await add_rule(gateway, m, type="daily_count_cap", count=3, mode=mode)
    await add_rule(gateway, m, type="daily_amount_cap", amount=5000, mode=mode)
    assert (await create(gateway, m, amount=2000)).body["risk"]["rules"] == []
    assert (await create(gateway, m, amount=2000)).body["risk"]["rules"] == []
    expect(await create(gateway, m, amount=2000), mode, "block", "daily_amount_cap")  # 6000 > 5000
    m2 = await gateway.merchant()
    await add_rule(gateway, m2, type="daily_count_cap", count=2, mode=mode)
    for _ in range(2):
        assert (await create(gateway, m2, amount=1)).status == 201
    expect(await create(gateway, m2, amount=1), mode, "block", "daily_count_cap")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("key", ["ip", "merchant"])
async def test_velocity(gateway: Gateway, mode: str, key: str) -> None:
    m = await gateway.merchant()
    await add_rule(gateway, m, type="velocity", key=key, count=2, window=600, mode=mode)
    for n in range(2):
        ok = await create(gateway, m, customer_ip=f"198.51.100.{n + 1 if key == 'merchant' else 7}")
        assert ok.status == 201 and ok.body["risk"]["rules"] == []
    expect(await create(gateway, m, customer_ip="198.51.100.7"), mode, "throttle", "velocity")
    if key == "ip":  # another IP is not counted with this one
        assert (await create(gateway, m, customer_ip="198.51.100.8")).body["risk"]["rules"] == []


@pytest.mark.parametrize("mode", MODES)
async def test_velocity_per_payer(gateway: Gateway, mode: str) -> None:
    m = await gateway.merchant()
    customer = unique("c")
    await fund(gateway, m, customer, 100)
    await add_rule(gateway, m, type="velocity", key="payer", count=1, window=600, mode=mode)
    first = await create(gateway, m, amount=10, channel="balance", customer_id=customer)
    assert first.status == 201 and first.body["status"] == "paid"
    expect(await create(gateway, m, amount=10, channel="balance", customer_id=customer), mode, "throttle", "velocity")


@pytest.mark.parametrize("mode", MODES)
async def test_unpaid_codes_block_the_ip_for_a_while(gateway: Gateway, mode: str) -> None:
    m = await gateway.merchant()
    rule = await add_rule(gateway, m, type="unpaid_velocity", count=2, window=600, block_for=900, mode=mode)
    assert rule["key"] == "ip" and rule["action"] == "block"
    ip = "203.0.113.9"
    for _ in range(2):
        assert (await create(gateway, m, channel="alipay_qr", customer_ip=ip)).body["risk"]["rules"] == []
    # Without a pay method no code is opened: not counted.
    assert (await create(gateway, m, customer_ip=ip)).body["risk"]["rules"] == []
    expect(await create(gateway, m, channel="alipay_qr", customer_ip=ip), mode, "block", "unpaid_velocity")
    listed = await gateway.api(m, "GET", "/risk/lists/ip")
    if mode == "enforce":  # listed for block_for: now even a payment without a code is refused
        [entry] = listed.body["data"]
        assert entry["value"] == f"{ip}/32" or entry["value"] == ip
        assert entry["created_by"] == "risk" and entry["expires_at"] is not None
        refused = await create(gateway, m, customer_ip=ip)
        assert refused.status == 403 and refused.body["code"] == "risk_blocked"
    else:
        assert listed.body["data"] == []
        assert await gateway.count(risk_lists, risk_lists.c.merchant_id == m.id) == 0


@pytest.mark.parametrize("mode", MODES)
async def test_a_paid_code_resets_the_unpaid_count(gateway: Gateway, mode: str) -> None:
    from tests.support.paying import pay_as_shopper
    from tests.support.waiting import wait_status

    m = await gateway.merchant()
    await add_rule(gateway, m, type="unpaid_velocity", count=1, window=600, mode=mode)
    ip = "203.0.113.77"
    paid = await create(gateway, m, channel="alipay_qr", customer_ip=ip)
    await pay_as_shopper(gateway, paid.body)
    await wait_status(gateway, m, paid.body["id"], "paid")
    second = await create(gateway, m, channel="alipay_qr", customer_ip=ip)
    assert second.status == 201 and second.body["risk"]["rules"] == []  # this IP pays: not farming


@pytest.mark.parametrize("mode", MODES)
async def test_repeated_identical_amounts(gateway: Gateway, mode: str) -> None:
    m = await gateway.merchant()
    await add_rule(gateway, m, type="repeat_amount", key="ip", count=3, mode=mode)
    for _ in range(2):
        assert (await create(gateway, m, amount=888, customer_ip="192.0.2.5")).body["risk"]["rules"] == []
    assert (await create(gateway, m, amount=889, customer_ip="192.0.2.5")).body["risk"]["rules"] == []
    expect(await create(gateway, m, amount=888, customer_ip="192.0.2.5"), mode, "review", "repeat_amount")
    if mode == "enforce":
        [flagged] = await decisions(gateway, m, decision="review")
        assert flagged["rules"][0]["type"] == "repeat_amount" and flagged["object_id"].startswith("pay_")


@pytest.mark.parametrize("mode", MODES)
async def test_amount_far_above_the_payers_average(gateway: Gateway, mode: str) -> None:
    m = await gateway.merchant()
    customer = unique("c")
    await fund(gateway, m, customer, 100_000)
    await add_rule(gateway, m, type="payer_anomaly", factor=5, min_history=2, mode=mode)
    for amount in (100, 300):  # paid at once from the balance: the payer's history, average 200
        paid = await create(gateway, m, amount=amount, channel="balance", customer_id=customer)
        assert paid.body["status"] == "paid" and paid.body["risk"]["rules"] == []
    within = await create(gateway, m, amount=1000, channel="balance", customer_id=customer)  # 5 × 200: not above
    assert within.body["risk"]["rules"] == []
    # average (100 + 300 + 1000) / 3 = 466: 2300 is not above 5 ×; then (3700 / 4 = 925) 5000 is
    assert (await create(gateway, m, amount=2300, channel="balance", customer_id=customer)).body["risk"]["rules"] == []
    expect(await create(gateway, m, amount=5000, channel="balance", customer_id=customer),
           mode, "review", "payer_anomaly")


@pytest.mark.parametrize("mode", MODES)
async def test_hours(gateway: Gateway, mode: str) -> None:
    m = await gateway.merchant()
    now = datetime.now(BEIJING)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")
    await add_rule(gateway, m, type="hours", start=start, end=end, min_amount=1000, mode=mode)
    assert (await create(gateway, m, amount=1000)).body["risk"]["rules"] == []  # not above min_amount
    expect(await create(gateway, m, amount=1001), mode, "review", "hours")
    later = (now + timedelta(hours=2)).strftime("%H:%M"), (now + timedelta(hours=3)).strftime("%H:%M")
    m2 = await gateway.merchant()
    await add_rule(gateway, m2, type="hours", start=later[0], end=later[1], mode=mode)
    assert (await create(gateway, m2, amount=5000)).body["risk"]["rules"] == []


@pytest.mark.parametrize("mode", MODES)
async def test_ip_blocklist(gateway: Gateway, mode: str) -> None:
    m = await gateway.merchant()
    if mode == "monitor":  # without a rule the list enforces; a monitor rule only records
        await add_rule(gateway, m, type="ip_blocklist", mode="monitor")
    entry = await gateway.api(m, "POST", "/risk/lists/ip", json_body={"value": "10.9.0.0/16", "expires_in": 600})
    assert entry.status == 201 and entry.body["value"] == "10.9.0.0/16"
    assert (await create(gateway, m, customer_ip="10.8.1.1")).body["risk"]["rules"] == []
    expect(await create(gateway, m, customer_ip="10.9.1.1"), mode, "block", "ip_blocklist")
    other = await gateway.merchant()  # lists are the merchant's own
    assert (await create(gateway, other, customer_ip="10.9.1.1")).status == 201
    removed = await gateway.api(m, "DELETE", f"/risk/lists/ip/{entry.body['id']}")
    assert removed.status == 200
    assert (await create(gateway, m, customer_ip="10.9.1.1")).body["risk"]["rules"] == []


@pytest.mark.parametrize("mode", MODES)
async def test_payer_blocklist(gateway: Gateway, mode: str) -> None:
    m = await gateway.merchant()
    customer = unique("c")
    await fund(gateway, m, customer, 1000)
    if mode == "monitor":
        await add_rule(gateway, m, type="payer_blocklist", mode="monitor")
    assert (await gateway.api(m, "POST", "/risk/lists/payer", json_body={"value": customer})).status == 201
    answer = await create(gateway, m, amount=10, channel="balance", customer_id=customer)
    expect(answer, mode, "block", "payer_blocklist")
    wallet = await gateway.api(m, "GET", f"/customers/{customer}/wallet")
    assert wallet.body["cash"] == (1000 if mode == "enforce" else 990)  # blocked before any debit


async def test_an_expired_list_entry_no_longer_blocks(gateway: Gateway) -> None:
    m = await gateway.merchant()
    listing = {"value": "10.7.7.7", "expires_in": 3}
    assert (await gateway.api(m, "POST", "/risk/lists/ip", json_body=listing)).status == 201
    listed = time.monotonic()  # the entry expires by now + 3 s
    assert (await create(gateway, m, customer_ip="10.7.7.7")).status == 403  # 3 s: room for a loaded machine
    # The lists kept in process expire with their earliest entry.
    await asyncio.sleep(max(0.0, listed + 3.1 - time.monotonic()))
    assert (await create(gateway, m, customer_ip="10.7.7.7")).status == 201


async def test_rules_scoped_to_a_pay_method(gateway: Gateway) -> None:
    m = await gateway.merchant()
    await add_rule(gateway, m, type="amount_max", amount=500, mode="enforce", pay_method="alipay_qr")
    assert (await create(gateway, m, amount=600)).status == 201  # the shopper chooses: not scoped out
    assert (await create(gateway, m, amount=600, channel="wechat_native")).status == 201
    assert (await create(gateway, m, amount=600, channel="alipay_qr")).status == 403


@pytest.mark.parametrize("fails", ["open", "closed"])
async def test_a_rule_whose_state_is_unavailable_fails_as_it_says(tmp_path: Path, fails: str) -> None:
    """Redis configured but down: the breaker skips it, counts would be per process -- a counting rule
    fails open (does not fire) or closed (fires), as it says. Payments themselves are unaffected."""
    async with start_gateway(tmp_path, redis_url="redis://127.0.0.1:9/0") as gw:
        m = await gw.merchant()
        await add_rule(gw, m, type="velocity", count=1000, action="block", mode="enforce", on_unavailable=fails)
        await create(gw, m)  # by now some call found Redis gone and opened the breaker
        answer = await create(gw, m)
        if fails == "closed":
            assert answer.status == 403 and answer.body["code"] == "risk_blocked"
            seen = await decisions(gw, m, decision="block")
            assert seen and all(d["rules"][0]["reason"] == "state unavailable" for d in seen)
        else:
            assert answer.status == 201 and answer.body["risk"]["rules"] == []
