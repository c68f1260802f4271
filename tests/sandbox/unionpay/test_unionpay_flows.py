"""The UnionPay sandbox spoken to over HTTP: a shopper's whole journey through the checkout (no browser:
the form the page renders is posted as a browser would), and the protocol's rules and faults as the real
UnionPayChannel sees them."""
from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from gateway.channels.base import RefundRequest
from gateway.channels.unionpay import transformers as tx
from gateway.domain.ids import new_id
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from tests.checkout.helpers import MOBILE_UA, Shopper, get
from tests.contract import steps
from tests.contract.drivers.unionpay import UnionPayDriver
from tests.factories import Gateway
from tests.support.waiting import eventually, wait_status

DRIVER = UnionPayDriver()
_FORM = re.compile(r'<form method="post" action="([^"]+)">(.*?)</form>', re.S)
_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def _forms(page: str) -> list[tuple[str, dict[str, str]]]:
    return [(html.unescape(action), {html.unescape(k): html.unescape(v) for k, v in _INPUT.findall(body)})
            for action, body in _FORM.findall(page)]


async def test_phone_checkout_form_post_pay_notify_paid(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, amount=888)
    # the shopper's phone: UnionPay is offered; choosing it gives a form to post to UnionPay's cashier
    status, page, headers = await get(gw, f"/pay/{p['id']}", MOBILE_UA)
    assert status == 200 and 'id="method-unionpay_wap"' in page
    status, text, _ = await Shopper(gw, MOBILE_UA).post(f"/pay/{p['id']}/method", {"method": "unionpay_wap"})
    assert status in (302, 303), text
    status, page, headers = await get(gw, f"/pay/{p['id']}", MOBILE_UA)
    front = [f for f in _forms(page) if f[0].endswith("/gateway/api/frontTransReq.do")]
    assert len(front) == 1, page
    url, fields = front[0]
    assert fields["txnAmt"] == "888" and fields["channelType"] == "08" and fields["signature"]
    sandbox_origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    assert sandbox_origin in headers["Content-Security-Policy"].split("form-action ")[1].split(";")[0]
    # the browser posts it: UnionPay's cashier, with Pay / Cancel
    async with gw.http.post(url, data=fields) as resp:
        cashier = await resp.text()
    assert resp.status == 200 and 'data-status="OPEN"' in cashier, cashier
    (pay_url, _), = [f for f in _forms(cashier) if "/cashier/" in f[0]]
    async with gw.http.post(pay_url, data={"action": "pay"}) as resp:
        done = await resp.text()
    assert 'data-status="PAID"' in done
    # the back notify settles it; the front return (a signed form back to us) is only a hint
    assert (await wait_status(gw, m, p["id"], "paid"))["status"] == "paid"
    (back_url, back_fields), = [f for f in _forms(done) if f[0].endswith("/return")]
    async with gw.http.post(back_url, data=back_fields, allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == f"/pay/{p['id']}"
    trade = await steps.trade_no(gw, p["id"])
    assert await steps.notify_results(gw, trade) == ["applied"]


async def test_desktop_qr_scanned_and_paid(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, amount=4321, channel="unionpay_qr")
    qr = p["next_action"]["qr"]
    async with gw.http.get(qr) as resp:
        assert 'name="action"' in await resp.text()
    async with gw.http.post(qr, data={"action": "pay"}) as resp:
        assert 'data-status="PAID"' in await resp.text()
    assert (await wait_status(gw, m, p["id"], "paid"))["status"] == "paid"


async def test_protocol_rules_seen_by_the_channel(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    channel = DRIVER.open(gw)
    p = await steps.paid(gw, m, DRIVER, amount=1000, pay_method="unionpay_qr")
    trade = await steps.trade_no(gw, p["id"])
    query_id = (await channel.query(trade)).channel_trade_no
    assert query_id and len(query_id) == 21

    def refund(amount: int, total: int = 1000) -> RefundRequest:
        return RefundRequest(refund_no=new_id("re"), trade_no=trade, amount=Money(amount), total=Money(total),
                             notify_url=gw.svc.notify_url("unionpay"), channel_trade_no=query_id)

    too_much = await channel.refund(refund(1001))
    assert (too_much.outcome, too_much.error_code) == (Outcome.CHANNEL_ERROR, "36")
    # a refund is accepted, then finished: the query by the refund's own orderId + txnTime tells
    accepted = refund(400)
    assert (await channel.refund(accepted)).outcome is Outcome.WAITING
    done = await eventually(lambda: channel.query_refund(accepted), lambda r: r.outcome is Outcome.SUCCESS)
    assert done.outcome is Outcome.SUCCESS and done.amount == Money(400)
    # the same refund number again is a duplicate (12): unknown, the query decides
    assert (await channel.refund(accepted)).error_code == "12"
    # an undo (31) is for the full, unrefunded amount only
    undo = tx.refund_fields(refund(1000), channel.mer_id, query_id, cancel=True, biz="000201")  # type: ignore[attr-defined]
    assert "respCode=36" in await _back(gw, undo)
    unknown = RefundRequest(refund_no=new_id("re"), trade_no=trade, amount=Money(1), total=Money(1000))
    missing = await channel.query_refund(unknown)
    assert missing.not_found and missing.outcome is Outcome.UNKNOWN
    assert (await channel.query(new_id("att"))).outcome is Outcome.WAITING  # 34: not (yet) there


async def _back(gw: Gateway, fields: dict[str, str]) -> str:
    """POST a back transaction signed with the sandbox merchant's key, as the channel would."""
    from gateway import keys
    from gateway.channels.unionpay import signing
    from gateway.crypto import rsa, x509

    material = gw.app[keys.SANDBOX_KEYS]["unionpay"]
    cert_id = signing.cert_id(x509.load_pem(material["merchant_certificate"]))
    body = signing.signed(rsa.load_private_key(material["merchant_private_key"]), cert_id, fields)
    async with gw.http.post(f"{gw.url}/sandbox/unionpay/gateway/api/backTransReq.do", data=body) as resp:
        return await resp.text()


async def test_an_undo_in_full_on_the_day(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    channel = DRIVER.open(gw)
    p = await steps.paid(gw, m, DRIVER, amount=700, pay_method="unionpay_qr")
    trade = await steps.trade_no(gw, p["id"])
    query_id = (await channel.query(trade)).channel_trade_no
    assert query_id
    req = RefundRequest(refund_no=new_id("re"), trade_no=trade, amount=Money(700), total=Money(700),
                        notify_url=gw.svc.notify_url("unionpay"), channel_trade_no=query_id)
    undo = tx.refund_fields(req, channel.mer_id, query_id, cancel=True, biz="000201")  # type: ignore[attr-defined]
    assert "respCode=00" in await _back(gw, undo)
    done = await eventually(lambda: channel.query_refund(req), lambda r: r.outcome is Outcome.SUCCESS)
    assert done.outcome is Outcome.SUCCESS
    # once undone, nothing is left to refund
    again = RefundRequest(refund_no=new_id("re"), trade_no=trade, amount=Money(1), total=Money(700),
                          channel_trade_no=query_id)
    assert (await channel.refund(again)).error_code == "36"


async def test_faults_make_answers_unknown(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    channel = DRIVER.open(gw)
    p = await steps.create(gw, m, DRIVER, "unionpay_qr")
    trade = await steps.trade_no(gw, p["id"])
    await gw.fault("unionpay", {"api": {"mode": "bad_signature", "operation": "queryTrans"}})
    assert (await channel.query(trade)).error_code == "BAD_SIGNATURE"
    await gw.fault("unionpay", {"api": {"mode": "business", "code": "03", "operation": "queryTrans"}})
    assert (await channel.query(trade)).outcome is Outcome.UNKNOWN
    await gw.fault("unionpay", {"api": {"mode": "http500", "operation": "queryTrans"}})
    assert (await channel.query(trade)).error_code == "HTTP_500"
    assert (await channel.query(trade)).outcome is Outcome.WAITING  # faults used up


async def test_notifies_are_retried_until_http_200_and_survive_a_key_rotation(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    async with gw.http.post(f"{gw.url}/sandbox/unionpay/_control/rotate-keys", json={}) as resp:
        assert resp.status == 200 and "BEGIN CERTIFICATE" in (await resp.json())["unionpay_certificate"]
    await gw.fault("unionpay", {"callbacks": {"mode": "drop"}})
    p = await steps.paid(gw, m, DRIVER, pay_method="unionpay_qr")  # signed with the new certificate, same chain
    trade = await steps.trade_no(gw, p["id"])
    async with gw.http.get(f"{gw.url}/sandbox/unionpay/_control/trades/{trade}") as resp:
        view = await resp.json()
    (delivery,) = view["notifies"]
    assert delivery["acked"] and delivery["attempts"] == 2 and delivery["answers"][0] == "dropped"
    assert (await steps.payment(gw, m, p["id"]))["status"] == "paid"


async def test_no_file_for_a_day_without_trades(sqlite_gateway: Gateway) -> None:
    from datetime import date

    assert await DRIVER.open(sqlite_gateway).bill(date(2026, 1, 2)) == []


async def test_the_sandbox_refuses_a_request_we_did_not_sign(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    fields = tx.query_fields("777290058000000", new_id("att")) | {"signMethod": "01", "certId": "1",
                                                                  "signature": "AAAA"}
    async with gw.http.post(f"{gw.url}/sandbox/unionpay/gateway/api/queryTrans.do", data=fields) as resp:
        text = await resp.text()
    assert "respCode=11" in text and "signature=" in text
