"""The cashier page over HTTP: content, language, safety headers, QR caching, method switching, the
mobile and in-app flows, the aggregated code, outcomes and the return-URL allow-list."""
from __future__ import annotations

import asyncio
import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from gateway.keys import CHECKOUT
from gateway.services.merchants import update_merchant
from gateway.store.base import utcnow
from gateway.store.tables import payments
from tests.checkout.helpers import ALIPAY_UA, MOBILE_UA, WECHAT_UA, Shopper, get, nonce_of
from tests.factories import Gateway
from tests.support.paying import press
from tests.support.waiting import wait_status


async def test_page_shows_the_order_in_chinese_by_default_and_english_on_request(gateway: Gateway) -> None:
    m = await gateway.merchant(name="小店")
    p = await gateway.create_payment(m, amount=123456, subject="咖啡豆")
    status, text, _ = await get(gateway, f"/pay/{p['id']}")
    assert status == 200 and 'lang="zh-CN"' in text
    assert "小店" in text and "咖啡豆" in text and "¥1,234.56" in text and "应付金额" in text
    status, text, _ = await get(gateway, f"/pay/{p['id']}", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert 'lang="en"' in text and "CN¥1,234.56" in text and "Amount due" in text
    status, _, headers = await get(gateway, f"/pay/{p['id']}?lang=en")
    assert status == 303 and "checkout_lang=en" in headers["Set-Cookie"]


async def test_hostile_names_are_inert_and_the_csp_is_strict(gateway: Gateway) -> None:
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>"\''
    m = await gateway.merchant(name=evil)
    p = await gateway.create_payment(m, subject=evil, description=evil)
    _, text, headers = await get(gateway, f"/pay/{p['id']}")
    assert "<script>alert(1)" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in text
    csp = headers["Content-Security-Policy"]
    nonce = nonce_of(csp)
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp and "default-src 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"
    scripts = re.findall(r"<script[^>]*>", text)
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts)
    assert not any(re.search(r"\son[a-z]+=", tag) for tag in re.findall(r"<[^>]+>", text))  # no inline handlers
    _, _, again = await get(gateway, f"/pay/{p['id']}")
    assert nonce_of(again["Content-Security-Policy"]) != nonce


async def test_desktop_qr_is_rendered_once_per_attempt_and_downloadable(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    await Shopper(gateway).post(f"/pay/{p['id']}/method", {"method": "wechat_native"})
    _, text, _ = await get(gateway, f"/pay/{p['id']}")
    assert 'id="qr" data-method="wechat_native"' in text and "<svg" in text and 'id="sandbox-phone"' in text
    cache = gateway.app[CHECKOUT].qr
    renders = cache.renders
    _, again, _ = await get(gateway, f"/pay/{p['id']}")
    assert cache.renders == renders and len(await gateway.attempts(p["id"])) == 1
    png_url = re.search(r'href="(/pay/[^"]+\.png)"', again).group(1)
    async with gateway.http.get(gateway.url + png_url) as r:
        assert r.status == 200 and r.content_type == "image/png" and (await r.read())[:4] == b"\x89PNG"
    status, _, _ = await get(gateway, f"/pay/{p['id']}/qr/att_nope.png")
    assert status == 404


async def test_switching_method_opens_a_new_attempt_and_closes_the_old_at_its_channel(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    shopper = Shopper(gateway)
    await shopper.post(f"/pay/{p['id']}/method", {"method": "wechat_native"})
    status, _, headers = await shopper.post(f"/pay/{p['id']}/method", {"method": "alipay_qr"})
    assert status == 303 and headers["Location"] == f"/pay/{p['id']}"
    first, second = await gateway.attempts(p["id"])
    assert (first["pay_method"], first["status"]) == ("wechat_native", "closed")
    assert (second["pay_method"], second["status"]) == ("alipay_qr", "pending")
    _, text, _ = await get(gateway, f"/pay/{p['id']}")
    assert 'data-method="alipay_qr"' in text
    status, _, headers = await shopper.post(f"/pay/{p['id']}/method", {"method": "bogus"})
    assert status == 422 and "text/html" in headers["Content-Type"]


async def test_mobile_browser_is_sent_to_h5_and_wap(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    _, text, _ = await get(gateway, f"/pay/{p['id']}", MOBILE_UA)
    assert 'id="method-wechat_h5"' in text and 'id="method-alipay_wap"' in text and 'id="qr"' not in text
    status, _, headers = await Shopper(gateway, MOBILE_UA).post(f"/pay/{p['id']}/method", {"method": "wechat_h5"})
    target = headers["Location"]
    assert status == 303 and "/sandbox/wechat/h5/" in target
    assert parse_qs(urlsplit(target).query)["redirect_url"] == [f"{gateway.url}/pay/{p['id']}"]
    status, _ = await press(gateway.http, target)
    assert status == 303  # the sandbox sends the shopper back to our page
    assert (await wait_status(gateway, m, p["id"], "paid"))["status"] == "paid"


async def test_wechat_in_app_runs_oauth_then_jsapi(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    shopper = Shopper(gateway, WECHAT_UA)
    status, _, headers = await shopper.get(f"/pay/{p['id']}")
    assert status == 302 and "/connect/oauth2/authorize?" in headers["Location"]
    assert headers["Location"].endswith("#wechat_redirect")
    state = parse_qs(urlsplit(headers["Location"]).query)["state"][0]
    # a state for another payment, or a tampered one, is refused
    status, _, _ = await shopper.get(f"/pay/{p['id']}/oauth?code=x&state={state}x")
    assert status == 400
    # the state is bound to the browser that started the round trip: another browser cannot use it
    status, _, _ = await Shopper(gateway, WECHAT_UA).get(f"/pay/{p['id']}/oauth?code=x&state={state}")
    assert status == 400
    async with gateway.http.get(headers["Location"].split("#")[0], headers=shopper.headers) as r:
        assert r.status == 200 and str(r.url).endswith(f"/pay/{p['id']}")
        text = await r.text()
    assert 'id="jsapi-params"' in text and "/sandbox/wechat/jsapi/" in text
    assert 'id="choose"' not in text  # nothing else this browser can use: no empty "choose how to pay"
    [attempt] = await gateway.attempts(p["id"])
    assert attempt["pay_method"] == "wechat_jsapi"
    jsapi = re.search(r'id="pay-now" href="([^"]+)"', text).group(1)
    await press(gateway.http, html.unescape(jsapi))
    assert (await wait_status(gateway, m, p["id"], "paid"))["status"] == "paid"


async def test_aggregated_code_continues_in_the_scanning_app(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    _, text, _ = await get(gateway, f"/pay/{p['id']}")
    assert text.count("<svg") - text.count('<svg class="mark ') == 1  # one code on the page (besides the marks)
    assert 'id="qr" data-method="aggregated"' in text and 'id="qr-trust"' in text
    assert not await gateway.attempts(p["id"])  # showing the aggregated code wrote nothing
    status, _, headers = await get(gateway, f"/pay/{p['id']}/scan", ALIPAY_UA)
    assert status == 303 and "/sandbox/alipay/gateway.do?" in headers["Location"]
    status, _, headers = await get(gateway, f"/pay/{p['id']}/scan", WECHAT_UA)
    assert status == 303 and headers["Location"] == f"/pay/{p['id']}"
    status, text, _ = await get(gateway, f"/pay/{p['id']}/scan")
    assert status == 200 and "请使用微信或支付宝扫描此二维码" in text and f'href="/pay/{p["id"]}"' in text


async def test_alipay_return_is_a_hint_verified_then_confirmed_by_query(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    _, _, headers = await Shopper(gateway, MOBILE_UA).post(f"/pay/{p['id']}/method", {"method": "alipay_wap"})
    pay_url = headers["Location"]
    attempt = (await gateway.attempts(p["id"]))[-1]
    forged = f"/pay/{p['id']}/return?out_trade_no={attempt['id']}&trade_status=TRADE_SUCCESS&sign=AAAA"
    status, _, _ = await get(gateway, forged)
    assert status == 303 and (await gateway.api(m, "GET", f"/payments/{p['id']}")).body["status"] == "pending"
    async with gateway.http.post(pay_url, data={"action": "pay"}, allow_redirects=True) as r:
        assert r.status == 200 and str(r.url).endswith(f"/pay/{p['id']}")
        text = await r.text()
    assert 'id="result"' in text  # the return made us ask Alipay: already paid when the page renders


async def test_outcomes_and_the_return_url_allow_list(gateway: Gateway) -> None:
    m = await gateway.merchant(return_domains=["127.0.0.1", "evil.example"])
    allowed = await gateway.create_payment(m, return_url=f"{gateway.url}/healthz?o=1")
    offlist = await gateway.create_payment(m, return_url="https://evil.example/phish")
    # Taken off the list after the payment was made (an off-list one is refused at create now).
    await update_merchant(gateway.svc.db, m.id, return_domains=["127.0.0.1"])
    for p in (allowed, offlist):
        await Shopper(gateway).post(f"/pay/{p['id']}/method", {"method": "wechat_native"})
        _, text, _ = await get(gateway, f"/pay/{p['id']}")
        page = re.search(r'id="sandbox-phone" href="([^"]+)"', text).group(1)
        await press(gateway.http, html.unescape(page))
        await wait_status(gateway, m, p["id"], "paid")
    _, text, _ = await get(gateway, f"/pay/{allowed['id']}")
    assert "支付成功" in text and 'http-equiv="refresh"' in text and "/healthz?o=1" in text
    _, text, _ = await get(gateway, f"/pay/{offlist['id']}")
    assert "支付成功" in text and "evil.example" not in text and "refresh" not in text
    closed = await gateway.create_payment(m, return_url=f"{gateway.url}/healthz")
    await gateway.api(m, "POST", f"/payments/{closed['id']}/close")
    _, text, _ = await get(gateway, f"/pay/{closed['id']}")
    assert "订单已关闭" in text and 'id="back"' in text


async def test_expired_payment_says_so(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    async with gateway.svc.db.begin() as conn:
        await conn.execute(sa.update(payments).where(payments.c.id == p["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    _, text, _ = await get(gateway, f"/pay/{p['id']}")
    assert "订单已过期" in text and 'id="qr"' not in text
    await asyncio.sleep(0)


async def test_unknown_payment_is_a_readable_404(gateway: Gateway) -> None:
    for path in ("/pay/pay_doesnotexist", "/pay/%3Cscript%3E", "/l/nope"):
        status, text, headers = await get(gateway, path)
        assert status == 404 and "text/html" in headers["Content-Type"] and "找不到" in text
