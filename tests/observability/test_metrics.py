"""``/metrics``: refused without the token or an allowed address; counts requests by route pattern, the
payment life cycle, callbacks, channel calls and webhook deliveries at their one entrance; serves the
database gauges without blocking; never a raw id in a label."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gateway import keys
from gateway.crypto.secrets import Secret
from gateway.observability.metrics import HTTP_BUCKETS, Metrics, status_class
from tests.factories import Gateway, start_gateway, unique
from tests.observability.helpers import TOKEN, parse, scrape, value
from tests.support.paying import pay_as_shopper
from tests.support.receiver import receiver
from tests.support.waiting import eventually, wait_status

FAST = {"task_interval": 0.05, "task_time_scale": 0.001}


async def test_metrics_are_refused_without_the_token_or_an_allowed_address(tmp_path: Path) -> None:
    async with start_gateway(tmp_path, metrics_token=Secret(TOKEN)) as gw:
        async with gw.http.get(f"{gw.url}/metrics") as r:
            assert r.status == 403
        async with gw.http.get(f"{gw.url}/metrics", headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        async with gw.http.get(f"{gw.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 200 and r.content_type == "text/plain"
            assert "gateway_http_requests_total" in await r.text()
    async with start_gateway(tmp_path / "b") as gw:  # no token configured: nobody, not even with one
        async with gw.http.get(f"{gw.url}/metrics", headers={"Authorization": "Bearer "}) as r:
            assert r.status == 401
        async with gw.http.get(f"{gw.url}/metrics") as r:
            assert r.status == 403
    async with start_gateway(tmp_path / "c", metrics_allow="10.0.0.0/8, 127.0.0.1/32") as gw:
        async with gw.http.get(f"{gw.url}/metrics") as r:
            assert r.status == 200


async def test_a_payment_life_is_counted_once_at_each_entrance(database_url: str | None, tmp_path: Path) -> None:
    async with receiver(default_status=500) as merchant_site, \
            start_gateway(tmp_path, database_url=database_url, metrics_token=Secret(TOKEN), **FAST) as gw:
        gw.app[keys.METRICS].refresh_every = 0  # every scrape reads the database (normally every 10 s)
        before = await scrape(gw)
        m = await gw.merchant(webhook_url=merchant_site.endpoint("hooks"))
        paid = await gw.create_payment(m, channel="alipay_qr")
        await pay_as_shopper(gw, paid)
        await wait_status(gw, m, paid["id"], "paid")
        closed = await gw.create_payment(m, channel="wechat_native")
        assert (await gw.api(m, "POST", f"/payments/{closed['id']}/close")).status == 200
        async with gw.http.post(f"{gw.url}/notify/alipay", data=b"sign=forged&out_trade_no=x",
                                headers={"Content-Type": "application/x-www-form-urlencoded"}) as r:
            assert r.status == 200 and await r.read() == b"fail"
        await eventually(lambda: _counted(gw), lambda s: value(s, "gateway_webhook_deliveries_total",
                                                               result="5xx") >= 1, seconds=10)
        after = await scrape(gw)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("gateway_payments_created_total", pay_method="alipay_qr") == 1
    assert grew("gateway_payments_created_total", pay_method="wechat_native") == 1
    assert grew("gateway_payments_paid_total", pay_method="alipay_qr", late="false") == 1
    assert grew("gateway_payments_paid_amount_fen_total", currency="CNY") == 1999
    assert grew("gateway_payments_closed_total", pay_method="wechat_native", reason="merchant") == 1
    # paid once: by its callback, or by the sync query when that came first (then the callback is a duplicate)
    by_callback = grew("gateway_callbacks_total", channel="alipay", result="applied", reason="paid")
    assert by_callback + grew("gateway_sync_repairs_total", kind="payment", result="paid") == 1
    assert grew("gateway_callbacks_total", channel="alipay", result="rejected", reason="bad_signature") == 1
    assert grew("gateway_callback_lag_seconds_count", channel="alipay") == by_callback
    assert grew("gateway_channel_requests_total", channel="alipay", operation="create", outcome="ok") == 1
    assert grew("gateway_channel_requests_total", channel="wechat", operation="close", outcome="ok") == 1
    assert grew("gateway_channel_request_duration_seconds_count", channel="alipay", operation="create") == 1
    assert grew("gateway_webhook_deliveries_total", result="5xx") >= 1
    # by route pattern and status, never by raw path
    assert grew("gateway_http_requests_total", app="api", route="/api/v1/payments", method="POST",
                status="201") == 2
    assert grew("gateway_http_requests_total", route="/api/v1/payments/{id}/close", status="200") == 1
    assert grew("gateway_http_request_duration_seconds_count", route="/notify/{channel}",
                status_class="2xx") == 2
    labels = {v for samples in after.values() for got, _ in samples for v in got.values()}
    assert not {v for v in labels if re.search(r"(pay|att|mch|evt)_[0-9A-Za-z]{6,}", v)}, labels
    assert paid["id"] not in str(after) and m.id not in str(after)
    # the database gauges: one pending payment? none (paid, closed); a webhook backlog retrying
    assert value(after, "gateway_webhook_backlog", state="retrying") + \
        value(after, "gateway_webhook_backlog", state="pending") >= 1
    assert value(after, "gateway_webhook_oldest_undelivered_age_seconds") >= 0
    assert {got["age"] for got, _ in after["gateway_payments_pending"]} >= {"lt_5m", "ge_1d"}
    assert value(after, "gateway_payments_stuck") == 0
    assert value(after, "gateway_db_pool_connections", pool="writer", state="size") >= 1
    assert "gateway_event_loop_lag_seconds" in after
    assert value(after, "gateway_job_last_run_timestamp_seconds", job="webhooks") > 0


async def _counted(gw: Gateway) -> dict[str, list[tuple[dict[str, str], float]]]:
    return parse(gw.app[keys.METRICS].exposition().decode())


async def test_the_out_trade_no_never_becomes_a_label(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, out_trade_no=unique("secretorder"))
    assert (await gw.api(m, "GET", f"/payments/{p['id']}")).status == 200
    assert (await gw.api(m, "GET", "/payments/pay_doesnotexist")).status == 404
    async with gw.http.get(f"{gw.url}/no/such/{p['id']}") as r:
        assert r.status == 404
    text = gw.app[keys.METRICS].exposition().decode()
    assert p["id"] not in text and "secretorder" not in text and "doesnotexist" not in text
    assert 'route="unmatched"' in text and 'route="/api/v1/payments/{id}"' in text


async def test_a_declined_call_and_a_lost_callback_are_counted_and_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with start_gateway(tmp_path, metrics_token=Secret(TOKEN), **FAST) as gw:
        gw.app[keys.METRICS].refresh_every = 0
        m = await gw.merchant()
        await gw.fault("wechat", {"api": {"mode": "business", "status": 403, "code": "NO_AUTH",
                                          "operation": "native"}})
        declined = await gw.api(m, "POST", "/payments", json_body={
            "amount": 100, "currency": "CNY", "subject": "x", "out_trade_no": unique("d"), "channel": "wechat_native"})
        assert declined.status >= 400 and declined.body["code"] == "channel_declined", declined.text
        # Alipay's callback is late: the sync query finds the payment paid first (a repair)
        await gw.fault("alipay", {"callbacks": {"mode": "delay", "seconds": 30}})
        p = await gw.create_payment(m, channel="alipay_qr")
        await pay_as_shopper(gw, p)
        await wait_status(gw, m, p["id"], "paid", seconds=20)
        after = await scrape(gw)
    assert value(after, "gateway_channel_requests_total", channel="wechat", operation="create",
                 outcome="declined") == 1
    assert value(after, "gateway_sync_repairs_total", kind="payment", result="paid") == 1
    assert value(after, "gateway_callbacks_total", channel="alipay", result="applied") == 0
    assert any(r.levelname == "WARNING" and "wechat create declined: NO_AUTH" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]


async def test_risk_decisions_are_counted_by_hook_and_decision(tmp_path: Path) -> None:
    async with start_gateway(tmp_path, metrics_token=Secret(TOKEN), **FAST) as gw:
        m = await gw.merchant()
        rule = await gw.api(m, "POST", "/risk/rules", json_body={"type": "amount_max", "amount": 500, "mode": "enforce"})
        assert rule.status == 201, rule.text
        blocked = await gw.api(m, "POST", "/payments", json_body={
            "amount": 501, "subject": "s", "out_trade_no": "risk-1", "pay_method": "alipay_qr"})
        assert blocked.status == 403 and blocked.body["code"] == "risk_blocked", blocked.text
        allowed = await gw.api(m, "POST", "/payments", json_body={
            "amount": 500, "subject": "s", "out_trade_no": "risk-2", "pay_method": "alipay_qr"})
        assert allowed.status == 201, allowed.text
        samples = await scrape(gw)
        assert value(samples, "gateway_risk_decisions_total", hook="payment.create", decision="block") == 1
        assert value(samples, "gateway_risk_decisions_total", decision="allow") == 0  # nothing fired: not recorded


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["/api/v1/payments", "/pay/{id}/status"]), st.sampled_from(["GET", "POST"]),
                          st.sampled_from([200, 201, 304, 404, 500, 502]),
                          st.one_of(st.sampled_from([0.0, *HTTP_BUCKETS]),  # on a bound: counted in that bucket
                                    st.floats(min_value=0, max_value=60, allow_nan=False))), max_size=40))
def test_http_counts_expose_what_prometheus_clients_own_counter_and_histogram_would(
        answers: list[tuple[str, str, int, float]]) -> None:
    ours = Metrics()
    theirs = CollectorRegistry()
    counter = Counter("gateway_http_requests_total", "HTTP requests answered", ["app", "route", "method", "status"],
                      registry=theirs)
    histogram = Histogram("gateway_http_request_duration_seconds", "HTTP request handling time",
                          ["app", "route", "method", "status_class"], buckets=HTTP_BUCKETS, registry=theirs)
    for route, method, status, seconds in answers:
        ours.http.add("checkout", route, method, status, seconds)
        counter.labels("checkout", route, method, str(status)).inc()
        histogram.labels("checkout", route, method, status_class(status)).observe(seconds)

    def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return {(name, frozenset(labels.items())): v for name, rows in parse(text).items()
                if name.startswith("gateway_http_") and not name.endswith("_created") for labels, v in rows}

    assert samples(ours.exposition().decode()) == pytest.approx(samples(generate_latest(theirs).decode()))
    assert ours.http.totals() == (len(answers), sum(1 for a in answers if a[2] >= 500))
