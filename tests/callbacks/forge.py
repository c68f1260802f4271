"""Build channel callbacks from the channel's side, with the sandbox's keys -- genuine ones and every
kind of bad one -- to throw at the gateway's /notify endpoints."""
from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from gateway.channels.alipay import signing as alipay_signing
from gateway.crypto import aead, rsa


def alipay_notify(keys: dict[str, Any], trade_no: str, amount: str, *, sign_key: str | None = None,
                  **fields: str) -> bytes:
    params = {
        "notify_time": "2026-11-22 10:00:00", "notify_type": "trade_status_sync",
        "notify_id": secrets.token_hex(16), "app_id": keys["app_id"], "charset": "utf-8", "version": "1.0",
        "sign_type": "RSA2", "trade_no": "2026112222001400000000" + secrets.token_hex(2),
        "out_trade_no": trade_no, "buyer_id": "2088102177846880", "seller_id": keys["seller_id"],
        "trade_status": "TRADE_SUCCESS", "total_amount": amount, "receipt_amount": amount,
        "buyer_pay_amount": amount, "subject": "Test order", "gmt_create": "2026-11-22 09:59:00",
        "gmt_payment": "2026-11-22 10:00:00",
    }
    params.update(fields)
    key = rsa.load_private_key(sign_key or keys["alipay_private_key"])
    params["sign"] = alipay_signing.sign(key, alipay_signing.notify_sign_content(params), "utf-8")
    return urlencode(params).encode()


def wechat_resource(keys: dict[str, Any], trade_no: str, total: int, **overrides: Any) -> dict[str, Any]:
    resource = {
        "appid": keys["appid"], "mchid": keys["mchid"], "out_trade_no": trade_no,
        "transaction_id": "4200000" + secrets.token_hex(10), "trade_type": "NATIVE", "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "",
        "success_time": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"},
    }
    resource.update(overrides)
    return resource


def wechat_notify(keys: dict[str, Any], resource: dict[str, Any], *, timestamp: int | None = None,
                  serial: str | None = None, signature: str | None = None, tamper_ciphertext: bool = False,
                  event_type: str = "TRANSACTION.SUCCESS", apiv3_key: str | None = None) -> tuple[bytes, dict[str, str]]:
    nonce = secrets.token_hex(6)
    ciphertext = aead.encrypt((apiv3_key or keys["apiv3_key"]).encode(), nonce, "transaction",
                              json.dumps(resource, ensure_ascii=False).encode())
    if tamper_ciphertext:
        raw = bytearray(base64.b64decode(ciphertext))
        raw[3] ^= 0x01
        ciphertext = base64.b64encode(bytes(raw)).decode()
    body = json.dumps({
        "id": str(uuid.uuid4()), "create_time": datetime.now(UTC).isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource", "event_type": event_type, "summary": "支付成功",
        "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext,
                     "associated_data": "transaction", "nonce": nonce}}, ensure_ascii=False).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    header_nonce = secrets.token_hex(16)
    key = rsa.load_private_key(keys["public_key_private"])
    signed = rsa.sign(key, f"{ts}\n{header_nonce}\n".encode() + body + b"\n")
    return body, {
        "Content-Type": "application/json", "Wechatpay-Timestamp": ts, "Wechatpay-Nonce": header_nonce,
        "Wechatpay-Signature": signature or signed, "Wechatpay-Serial": serial or keys["public_key_id"],
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
