"""The simulated UnionPay's memory: its keys, the merchant's certificate, and every transaction (consumes,
refunds, undos) keyed as UnionPay keys them -- ``merId`` + ``orderId`` + ``txnTime``. Amounts are fen."""
from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.channels.unionpay import signing
from gateway.crypto import rsa, x509

OPEN = "OPEN"            # a consume the shopper has not paid (yet)
PAID = "PAID"
PROCESSING = "PROCESSING"  # a refund / undo accepted, not finished
SUCCESS = "SUCCESS"
FAILED = "FAILED"


@dataclass
class Txn:
    mer_id: str
    order_id: str
    txn_time: str
    txn_type: str
    sub_type: str
    biz_type: str
    channel_type: str
    amount: int
    query_id: str
    created_at: datetime
    status: str
    back_url: str = ""
    front_url: str = ""
    pay_timeout: datetime | None = None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    orig_qry_id: str = ""
    req_reserved: str = ""
    trace_no: str = ""
    trace_time: str = ""
    settle_date: str = ""
    done_at: datetime | None = None
    resp_code: str = ""       # a finished refund's result code

    @property
    def key(self) -> tuple[str, str, str]:
        return self.mer_id, self.order_id, self.txn_time


class SandboxState:
    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = keys
        self.mer_id: str = keys["mer_id"]
        merchant = x509.load_pem(keys["merchant_certificate"])
        self.merchant_certs: dict[str, rsa.PublicKey] = {signing.cert_id(merchant): merchant.public_key()}  # type: ignore[dict-item]
        self.middle_key = rsa.load_private_key(keys["middle_private_key"])
        self.reset()

    def reset(self) -> None:
        self.use_signer(self.keys["unionpay_private_key"], self.keys["unionpay_certificate"])
        self.txns: dict[tuple[str, str, str], Txn] = {}
        self.by_token: dict[str, Txn] = {}
        self._seq = itertools.count(1)

    def use_signer(self, key_pem: str, cert_pem: str) -> None:
        self.sign_key = rsa.load_private_key(key_pem)
        # UnionPay writes the PEM with CRLF line ends.
        self.sign_cert_pem = cert_pem.strip().replace("\r\n", "\n").replace("\n", "\r\n")

    def next_query_id(self, now_beijing: datetime) -> str:
        return f"{now_beijing:%m%d%H%M%S}{next(self._seq):011d}"  # 21 digits

    def add(self, txn: Txn) -> None:
        self.txns[txn.key] = txn
        self.by_token[txn.token] = txn

    def by_query_id(self, query_id: str) -> Txn | None:
        return next((t for t in self.txns.values() if t.query_id == query_id), None)

    def order_used_today(self, mer_id: str, order_id: str, day: str) -> bool:
        return any(t.mer_id == mer_id and t.order_id == order_id and t.txn_time[:8] == day for t in self.txns.values())
