"""The simulated Alipay's memory: one app's keys, its trades and refunds.

Everything lives on one :class:`SandboxState` owned by the sandbox app (no module state). Amounts are
integer fen; yuan strings appear only where the wire needs them.
"""
from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.crypto import rsa
from gateway.sandbox.alipay import certs

# Internal state of a precreated QR nobody has scanned: the trade does not exist at Alipay yet.
PRECREATED = "PRECREATED"
WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
TRADE_SUCCESS = "TRADE_SUCCESS"
TRADE_FINISHED = "TRADE_FINISHED"
TRADE_CLOSED = "TRADE_CLOSED"

BUYER_ID = "2088102177846875"
BUYER_LOGON_ID = "sbx***@sandbox.com"


@dataclass
class Refund:
    out_request_no: str
    amount: int
    at: datetime                 # when it was asked for; when it became final once ``done``
    reason: str | None = None
    done: bool = True            # False while Alipay is still processing it (fund_change=N)


@dataclass
class Trade:
    app_id: str
    out_trade_no: str
    trade_no: str
    method: str
    total: int
    subject: str
    token: str
    created_at: datetime
    expire_at: datetime
    status: str
    notify_url: str | None = None
    return_url: str | None = None
    quit_url: str | None = None
    body: str | None = None
    passback_params: str | None = None
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    refunds: dict[str, Refund] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.status != PRECREATED

    @property
    def refunded(self) -> int:
        """Refunded or being refunded: what can no longer be refunded."""
        return sum(r.amount for r in self.refunds.values())

    @property
    def refunded_done(self) -> int:
        """Money that has moved back (``refund_fee``)."""
        return sum(r.amount for r in self.refunds.values() if r.done)


class SandboxState:
    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = keys
        self.app_id: str = keys["app_id"]
        self.seller_id: str = keys["seller_id"]
        self.app_public_key = rsa.load_public_key(keys["app_public_key"])
        if "app_cert" not in keys:  # key material made before certificate mode existed
            keys.update(certs.generate(keys["app_public_key"], keys["alipay_private_key"]))
        self.reset()

    def reset(self) -> None:
        """Forget every trade; go back to the Alipay key in ``keys``."""
        self.alipay_key: rsa.PrivateKey = rsa.load_private_key(self.keys["alipay_private_key"])
        self.certs = certs.Authority.from_keys(self.keys)  # certificate mode (certs.py)
        self.cert_mode_required = False  # the app was created in certificate mode: requests need the SNs
        self.trades: dict[tuple[str, str], Trade] = {}
        self.by_token: dict[str, Trade] = {}
        self.bills: dict[str, tuple[bytes, datetime]] = {}
        self._seq = itertools.count(1)

    def rotate_keys(self, now: datetime) -> rsa.PrivateKey:
        """A new Alipay key, and (certificate mode) a new Alipay certificate for it."""
        self.alipay_key = rsa.generate_private_key()
        self.certs.issue(self.alipay_key, now)
        return self.alipay_key

    def next_trade_no(self, now_beijing: datetime) -> str:
        # 28 digits like real ones: date + "22001" + sequence.
        return f"{now_beijing:%Y%m%d}22001{next(self._seq):015d}"

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(16)

    def add(self, trade: Trade) -> None:
        self.trades[(trade.app_id, trade.out_trade_no)] = trade
        self.by_token[trade.token] = trade

    def find(self, out_trade_no: str | None, trade_no: str | None = None,
             app_id: str | None = None) -> Trade | None:
        app_id = app_id or self.app_id
        if trade_no:  # trade_no wins when both are given
            return next((t for t in self.trades.values() if t.app_id == app_id and t.trade_no == trade_no), None)
        return self.trades.get((app_id, out_trade_no or ""))
