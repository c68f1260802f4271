"""Logs: JSON or text lines with the request id, one access line per request, warnings for what an
operator must see, and one filter that keeps secrets and personal data out of every line."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.observability.logging import REDACTED, handler
from tests.factories import start_gateway

PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----"
SECRETS = ["sk_live_abcdefgh12345678", "s3cr3t-value", "Zm9vYmFyc2lnbmF0dXJl", "MIIEvQIBADANBgkq",
           "13812345678", "11010519491231002X", "apikey-in-a-dict", "hunter2"]


@contextmanager
def captured(log_format: str = "json") -> Iterator[io.StringIO]:
    out = io.StringIO()
    h = handler(log_format, out)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(h)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(h)
        root.setLevel(old_level)


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_one_filter_redacts_secrets_and_personal_data_wherever_they_stand() -> None:
    log = logging.getLogger("gateway.test")
    with captured("json") as out:
        log.warning("alipay answered sign=Zm9vYmFyc2lnbmF0dXJl&out_trade_no=att_1 with key sk_live_abcdefgh12345678")
        log.warning("headers %s", {"Authorization": "Bearer s3cr3t-value", "Content-Type": "text/plain"})
        log.warning("credentials %s", {"api_key": "apikey-in-a-dict", "private_key": PRIVATE_KEY, "mch_id": "1900"})
        log.warning('body {"password": "hunter2", "phone": "13812345678"} id 11010519491231002X')
        log.warning("key file\n%s", PRIVATE_KEY, extra={"secret": "s3cr3t-value", "channel": "wechat"})
        try:
            raise ValueError("bad token=s3cr3t-value")
        except ValueError:
            log.exception("failed")
    text = out.getvalue()
    for secret in SECRETS:
        assert secret not in text, secret
    records = lines(out)
    assert len(records) == 6 and REDACTED in records[0]["message"]
    assert "out_trade_no=att_1" in records[0]["message"]  # what is not secret stays readable
    assert "'mch_id': '1900'" in records[2]["message"] and "text/plain" in records[1]["message"]
    assert "[phone]" in records[3]["message"] and "[id]" in records[3]["message"]
    assert records[4]["secret"] == REDACTED and records[4]["channel"] == "wechat"
    assert "ValueError" in records[5]["exception"] and REDACTED in records[5]["exception"]


def test_text_format_is_one_readable_line_with_context() -> None:
    with captured("text") as out:
        logging.getLogger("gateway.test").info("hello %s", "world", extra={"channel": "alipay"})
    line = out.getvalue().strip()
    assert line.endswith("INFO gateway.test hello world channel=alipay") and "\n" not in line


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_every_request_gets_an_access_line_with_its_request_id(tmp_path: Path, log_format: str) -> None:
    async with start_gateway(tmp_path) as gw:
        m = await gw.merchant()
        with captured(log_format) as out:
            answer = await gw.api(m, "GET", "/payments/pay_nothere", headers={"X-Request-Id": "req-abc-123"})
            assert answer.status == 404 and {k.lower(): v for k, v in answer.headers.items()}["x-request-id"] == "req-abc-123"
            async with gw.http.post(f"{gw.url}/notify/alipay", data=b"sign=forged",
                                    headers={"Content-Type": "application/x-www-form-urlencoded",
                                             "X-Request-Id": "cb-1"}) as r:
                assert r.status == 200 and r.headers["X-Request-Id"] == "cb-1"
            async with gw.http.get(f"{gw.url}/healthz") as r:  # no id sent: one is made and echoed
                made = r.headers["X-Request-Id"]
    if log_format == "text":
        text = out.getvalue()
        assert "GET /api/v1/payments/{id} 404" in text and "[request req-abc-123]" in text
        assert f"[request {made}]" in text and m.api_key not in text
        return
    records = lines(out)
    access = [r for r in records if r["logger"] == "gateway.access"]
    assert [(r["method"], r["route"], r["status"], r["request_id"]) for r in access] == [
        ("GET", "/api/v1/payments/{id}", 404, "req-abc-123"), ("POST", "/notify/{channel}", 200, "cb-1"),
        ("GET", "/healthz", 200, made)]
    assert all(r["duration_ms"] >= 0 and r["level"] == "INFO" and r["time"].endswith("+00:00") for r in access)
    assert access[0]["path"] == "/api/v1/payments/pay_nothere"
    rejected = [r for r in records if r["logger"] == "gateway.services.callbacks"]
    assert rejected and rejected[0]["level"] == "WARNING" and rejected[0]["request_id"] == "cb-1"
    assert rejected[0]["reason"] == "bad_signature" and "sign=forged" not in json.dumps(records)
    assert m.api_key not in out.getvalue()


def test_the_log_format_setting_is_checked_and_configures_one_redacting_handler() -> None:
    from gateway.config import Settings
    from gateway.observability.logging import RedactingFilter, configure

    with pytest.raises(ValueError, match="GATEWAY_LOG_FORMAT"):
        Settings.from_env({"GATEWAY_LOG_FORMAT": "xml"})
    assert Settings.from_env({"GATEWAY_LOG_FORMAT": "json"}).log_format == "json"
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        configure("WARNING", "json")
        assert len(root.handlers) == 1 and root.level == logging.WARNING
        assert any(isinstance(f, RedactingFilter) for f in root.handlers[0].filters)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


async def test_the_access_log_can_be_left_to_the_proxy(tmp_path: Path) -> None:
    async with start_gateway(tmp_path, access_log=False) as gw:
        with captured("json") as out:
            async with gw.http.get(f"{gw.url}/healthz") as r:
                assert r.status == 200 and r.headers["X-Request-Id"]
    assert not [r for r in lines(out) if r["logger"] == "gateway.access"]


def test_authorization_headers_of_any_scheme_are_redacted() -> None:
    from gateway.observability.logging import redact_text
    for line in ('Authorization: WECHATPAY2-SHA256-RSA2048 mchid="1900",nonce_str="n0",signature="s1g",serial_no="9"',
                 "headers {'Authorization': 'Bearer sk_live_abcdefghijk', 'X': 'y'}",
                 '{"authorization": "ACP-Scheme mchid=\\"1900\\" signature=\\"s1g\\"", "x": 1}'):
        out = redact_text(line)
        assert "[redacted]" in out and not any(v in out for v in ("1900", "s1g", "sk_live", "n0")), out
