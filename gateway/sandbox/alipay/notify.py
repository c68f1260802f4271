"""Async notifies as Alipay sends them: a signed form POST to the trade's notify_url, retried until the
answer body is exactly ``success`` -- at 4m, 10m, 10m, 1h, 2h, 6h, 15h. Delivery, time compression and
callback faults are the kit's (:mod:`gateway.sandbox.kit.notifier`).
"""
from __future__ import annotations

from urllib.parse import urlencode

from gateway.channels.alipay import signing
from gateway.crypto import rsa
from gateway.sandbox.kit import Delivery, Message, Notifier, Schedule

SCHEDULE = Schedule(retry_delays=(240.0, 600.0, 600.0, 3600.0, 7200.0, 21600.0, 54000.0), post_timeout=10.0)


def _acked(status: int, answer: bytes) -> bool:
    return answer == b"success"  # only these 7 bytes stop the retries; "SUCCESS", "success\n" or a 204 do not


def message(key: rsa.PrivateKey, params: dict[str, str | None]) -> Message:
    """Sign ``params`` (rsaCheckV1: ``sign`` and ``sign_type`` are not signed) into a form body."""
    fields = {k: v for k, v in params.items() if v not in (None, "")}
    charset = fields.get("charset") or "utf-8"
    fields["sign"] = signing.sign(key, signing.notify_sign_content(fields), charset)
    body = urlencode(fields, encoding=charset).encode("ascii")
    headers = {"Content-Type": f"application/x-www-form-urlencoded; charset={charset}"}
    return Message(body=body, headers=lambda: dict(headers), acked=_acked)


def send(notifier: Notifier, key: rsa.PrivateKey, url: str | None, params: dict[str, str | None], *,
         kind: str) -> Delivery | None:
    if not url:
        return None  # the trade had no notify_url: Alipay sends nothing
    delivery = Delivery(trade=str(params["out_trade_no"]), kind=kind, event=str(params["trade_status"]), url=url,
                        id=str(params["notify_id"]))
    return notifier.send(delivery, message(key, params))
