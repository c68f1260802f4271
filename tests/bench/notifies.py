"""Genuine channel callbacks for attempts the gateway really created, built by the sandboxes' own code:
the Alipay sandbox's pay → notify (its form fields, RSA2 signature and encoding) and the WeChat
sandbox's pay → envelope (AES-256-GCM resource) → signed headers. Only the delivery is left out: the
load generator POSTs them, so the measurement sees the gateway and nothing else."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.sandbox import kit
from gateway.sandbox.alipay import notify as alipay_notify
from gateway.sandbox.alipay import service as alipay_service
from gateway.sandbox.alipay import state as alipay_state
from gateway.sandbox.wechat import actions as wechat_actions
from gateway.sandbox.wechat import state as wechat_state


class _Capture(kit.Notifier):
    """The sandboxes' notifier with the network taken out: the channel signs and encodes as always, and
    the finished body is kept instead of delivered."""

    def __init__(self) -> None:
        super().__init__(kit.FaultBook(), alipay_notify.SCHEDULE)
        self.bodies: list[bytes] = []

    def send(self, delivery: kit.Delivery, message: kit.Message) -> kit.Delivery:
        self.bodies.append(message.body)
        return delivery


def alipay(keys: dict[str, Any], notify_url: str, attempts: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """One signed ``TRADE_SUCCESS`` notify per ``(attempt id, amount in fen)``, as load-plan requests."""
    state = alipay_state.SandboxState(keys)
    capture = _Capture()
    sandbox = alipay_service.Sandbox(state, capture, public_url="http://sandbox.invalid")
    now = datetime.now(UTC)
    for trade_no, amount in attempts:
        trade = alipay_state.Trade(
            app_id=state.app_id, out_trade_no=trade_no, trade_no=state.next_trade_no(now), method="precreate",
            total=amount, subject="Bench order", token=state.new_token(), created_at=now,
            expire_at=now + timedelta(hours=1), status=alipay_state.WAIT_BUYER_PAY, notify_url=notify_url)
        if sandbox.pay(trade) is not None:
            raise RuntimeError("the sandbox refused to pay a fresh trade")
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    return [{"method": "POST", "path": "/notify/alipay", "headers": headers, "body": body.decode("ascii")}
            for body in capture.bodies]


def wechat(keys: dict[str, Any], notify_url: str, attempts: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """One ``TRANSACTION.SUCCESS`` notification per attempt: encrypted resource, WeChat-signed headers."""
    state = wechat_state.SandboxState(keys)
    capture = _Capture()
    for trade_no, amount in attempts:
        trade = wechat_state.Trade(
            out_trade_no=trade_no, kind="native", appid=keys["appid"], mchid=keys["mchid"],
            description="Bench order", notify_url=notify_url, total=amount, currency="CNY", fingerprint=(),
            time_expire=None, token=trade_no)
        wechat_actions.pay(state, capture, trade)
    out = []
    for body in capture.bodies:
        headers = {**state.signed_headers(body), "Content-Type": "application/json"}
        out.append({"method": "POST", "path": "/notify/wechat", "headers": headers, "body": body.decode()})
    return out
