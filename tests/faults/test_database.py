"""MariaDB killed and restarted under a gateway: 503 ``database_unavailable`` with Retry-After on the API,
a friendly page at the checkout, the channel's retry answer to callbacks; once it is back, everything
resumes by itself -- a payment made at the channel during the outage ends paid, with nobody acting."""
from __future__ import annotations

from gateway.store.ledger_check import check_database
from tests.checkout.helpers import get
from tests.factories import Gateway, unique
from tests.faults import servers
from tests.support.paying import pay_as_shopper
from tests.support.waiting import eventually, wait_status


async def test_database_down_answers_503_and_everything_resumes(faulty_gateway: Gateway,
                                                                own_mariadb: servers.Server) -> None:
    gw = faulty_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel="alipay_qr")
    w = await gw.create_payment(m, channel="wechat_native")
    own_mariadb.kill()
    try:
        got = await gw.api(m, "GET", f"/payments/{p['id']}")
        assert got.status == 503 and got.body["code"] == "database_unavailable", got.text
        assert got.headers["Content-Type"].startswith("application/problem+json") and int(got.headers["Retry-After"]) > 0
        made = await gw.api(m, "POST", "/payments", json_body={"amount": 100, "subject": "s", "out_trade_no": unique()},
                            headers={"Idempotency-Key": "during-outage"})
        assert made.status == 503 and made.body["code"] == "database_unavailable", made.text
        status, text, headers = await get(gw, f"/pay/{p['id']}")
        assert status == 503 and "Retry-After" in headers and ("briefly unavailable" in text or "暂时繁忙" in text)
        # The shopper pays at the channel now: its callbacks get the retry answer, and are sent again.
        await pay_as_shopper(gw, p)
        await pay_as_shopper(gw, w)
        async with gw.http.post(f"{gw.url}/notify/alipay", data={"app_id": "x", "sign": "y"}) as r:
            assert r.status == 200 and await r.text() == "fail"
        async with gw.http.post(f"{gw.url}/notify/wechat", data=b"{}", headers={"Content-Type": "application/json"}) as r:
            assert r.status == 503
    finally:
        own_mariadb.start()
    # Back: the same Idempotency-Key runs again (its 503 was not kept), the loops resumed.
    made = await eventually(lambda: gw.api(m, "POST", "/payments", json_body={
        "amount": 100, "subject": "s", "out_trade_no": unique()}, headers={"Idempotency-Key": "during-outage"}),
        lambda a: a.status != 503, seconds=20, every=0.2)
    assert made.status == 201 and "Idempotent-Replayed" not in made.headers, made.text
    assert (await wait_status(gw, m, p["id"], "paid", seconds=30))["status"] == "paid"
    assert (await wait_status(gw, m, w["id"], "paid", seconds=30))["status"] == "paid"
    status, text, _ = await get(gw, f"/pay/{p['id']}/status")
    assert status == 200 and '"paid"' in text
    assert (await check_database(gw.svc.db)).violations == []


async def test_database_down_status_endpoint_and_loops(faulty_gateway: Gateway, own_mariadb: servers.Server) -> None:
    """The status endpoint answers from the cache, or 503 with Retry-After -- never 500; the background
    loops log, back off and keep running."""
    gw = faulty_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m)
    own_mariadb.stop()
    try:
        status, _, headers = await get(gw, f"/pay/{p['id']}/status")
        assert status in (200, 503)
        status, _, headers = await get(gw, "/pay/pay_doesnotexist1/status")
        assert status == 503 and headers["Retry-After"]
        ready = await gw.http.get(f"{gw.url}/readyz")
        assert ready.status == 503
    finally:
        own_mariadb.start()
    ready = await eventually(lambda: gw.http.get(f"{gw.url}/readyz"), lambda r: r.status == 200, seconds=20)
    assert ready.status == 200
