"""The sandbox's in-memory world: trades, refunds, WeChat's signing keys.

One :class:`SandboxState` per sandbox app, stored under an ``AppKey``; nothing at module level.
"""
from __future__ import annotations

import secrets
import string
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.channels.wechat import signing
from gateway.channels.wechat.protocol import CHINA
from gateway.crypto import rsa
from gateway.sandbox.wechat import key_material

TRADE_TYPES = {"native": "NATIVE", "h5": "MWEB", "jsapi": "JSAPI", "app": "APP", "micropay": "MICROPAY"}
STATE_DESC = {"NOTPAY": "未支付", "SUCCESS": "支付成功", "CLOSED": "已关闭", "REFUND": "转入退款",
              "USERPAYING": "用户支付中", "REVOKED": "已撤销", "PAYERROR": "支付失败"}


def now() -> datetime:
    return datetime.now(CHINA).replace(microsecond=0)


def rfc3339(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA).isoformat() if moment else None


def random_digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


@dataclass
class Trade:
    out_trade_no: str
    kind: str                       # native | h5 | jsapi | app
    appid: str
    mchid: str
    description: str
    notify_url: str
    total: int
    currency: str
    fingerprint: tuple[Any, ...]    # the parameters a repeated order must match
    time_expire: datetime | None
    token: str                      # pr= token (native), h5 token, or the prepay_id (jsapi, app)
    openid: str | None = None
    attach: str | None = None
    created_at: datetime = field(default_factory=now)
    state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: datetime | None = None

    def expire_if_due(self, moment: datetime) -> None:
        """WeChat closes an unpaid trade at time_expire; it can no longer be paid."""
        if self.state == "NOTPAY" and self.time_expire is not None and moment >= self.time_expire:
            self.state = "CLOSED"

    def as_resource(self) -> dict[str, Any]:
        """The query answer, and the TRANSACTION.SUCCESS plaintext: the same shape."""
        out: dict[str, Any] = {
            "appid": self.appid, "mchid": self.mchid, "out_trade_no": self.out_trade_no,
            "trade_type": TRADE_TYPES[self.kind], "trade_state": self.state,
            "trade_state_desc": STATE_DESC.get(self.state, self.state),
            "amount": {"total": self.total, "currency": self.currency},
        }
        if self.attach is not None:
            out["attach"] = self.attach
        if self.transaction_id:
            out.update({"transaction_id": self.transaction_id, "bank_type": "OTHERS",
                        "success_time": rfc3339(self.success_time), "payer": {"openid": self.openid}})
            out["amount"].update({"payer_total": self.total, "payer_currency": self.currency})
        return out


@dataclass
class Refund:
    out_refund_no: str
    refund_id: str
    trade: Trade
    amount: int
    reason: str | None
    notify_url: str | None
    status: str = "PROCESSING"
    create_time: datetime = field(default_factory=now)
    success_time: datetime | None = None

    def as_answer(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "refund_id": self.refund_id, "out_refund_no": self.out_refund_no,
            "transaction_id": self.trade.transaction_id, "out_trade_no": self.trade.out_trade_no,
            "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
            "create_time": rfc3339(self.create_time), "status": self.status, "funds_account": "AVAILABLE",
            "amount": {"total": self.trade.total, "refund": self.amount, "payer_total": self.trade.total,
                       "payer_refund": self.amount, "settlement_total": self.trade.total,
                       "settlement_refund": self.amount, "discount_refund": 0, "currency": "CNY"},
            "promotion_detail": [],
        }
        if self.success_time:
            out["success_time"] = rfc3339(self.success_time)
        return out

    def as_resource(self) -> dict[str, Any]:
        """The REFUND.* notification plaintext."""
        return {"mchid": self.trade.mchid, "transaction_id": self.trade.transaction_id,
                "out_trade_no": self.trade.out_trade_no, "refund_id": self.refund_id,
                "out_refund_no": self.out_refund_no, "refund_status": self.status,
                "success_time": rfc3339(self.success_time), "user_received_account": "支付用户零钱",
                "amount": {"total": self.trade.total, "refund": self.amount,
                           "payer_total": self.trade.total, "payer_refund": self.amount}}


@dataclass
class Platform:
    key: rsa.PrivateKey
    certificate: str
    serial: str


class SandboxState:
    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = dict(keys)
        self.mode: str = keys.get("mode", "public_key")
        self.platforms = [Platform(rsa.load_private_key(keys["platform_private_key"]),
                                   keys["platform_certificate"], keys["platform_serial"])]
        self.public_key = rsa.load_private_key(keys["public_key_private"])
        self.public_key_id: str = keys["public_key_id"]
        self.merchant_key = rsa.load_public_key(keys["merchant_certificate"])
        self.apiv3_key = keys["apiv3_key"].encode()
        self.certificate_fetches = 0
        self.reset()

    def reset(self) -> None:
        self.trades: dict[str, Trade] = {}
        self.tokens: dict[str, str] = {}
        self.by_transaction: dict[str, str] = {}
        self.refunds: dict[str, Refund] = {}
        self.bills: dict[str, bytes] = {}

    # --- WeChat's side of the signatures -------------------------------------------------------------

    def signer(self) -> tuple[rsa.PrivateKey, str]:
        if self.mode == "public_key":
            return self.public_key, self.public_key_id
        newest = self.platforms[-1]
        return newest.key, newest.serial

    def signed_headers(self, body: bytes, *, corrupt: bool = False) -> dict[str, str]:
        key, serial = self.signer()
        timestamp, nonce = str(int(time.time())), signing.new_nonce()
        signature = signing.sign_response(key, timestamp, nonce, body)
        if corrupt:  # fault injection: a signature over other bytes
            signature = signing.sign_response(key, timestamp, nonce, body + b" ")
        return {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
                "Wechatpay-Serial": serial, "Wechatpay-Signature-Type": signing.SCHEME,
                "Request-ID": str(uuid.uuid4()).replace("-", "")}

    def rotate(self, what: str) -> dict[str, str]:
        """A new platform certificate (the old one stays listed, as during WeChat's overlap) or a new
        public key (the old id stops working: a merchant must download the new one)."""
        if what == "certificate":
            fresh = key_material.new_platform()
            self.platforms.append(Platform(rsa.load_private_key(fresh["platform_private_key"]),
                                           fresh["platform_certificate"], fresh["platform_serial"]))
            return {"platform_serial": fresh["platform_serial"],
                    "platform_certificate": fresh["platform_certificate"]}
        if what == "public_key":
            fresh = key_material.new_public_key(self.keys["mchid"])
            self.public_key = rsa.load_private_key(fresh["public_key_private"])
            self.public_key_id = fresh["public_key_id"]
            return {"public_key_id": fresh["public_key_id"], "public_key": fresh["public_key"]}
        raise ValueError("what must be certificate or public_key")

    # --- lookups -------------------------------------------------------------------------------------

    def trade(self, out_trade_no: str) -> Trade | None:
        trade = self.trades.get(out_trade_no)
        if trade:
            trade.expire_if_due(now())
        return trade

    def trade_by_token(self, token: str) -> Trade | None:
        no = self.tokens.get(token)
        return self.trade(no) if no else None

    def new_transaction_id(self) -> str:
        return "42000" + now().strftime("%Y%m%d") + random_digits(15)
