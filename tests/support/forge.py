"""Channel callbacks built from the channel's side with the sandbox's keys -- genuine ones and every kind
of bad one -- to throw at the gateway's ``/notify`` endpoints or at a channel's ``parse_callback``.

The WeChat envelope is the one the WeChat sandbox itself sends (its notifier builds it); only the
signature headers are made here, so that a test can bend them.
"""
from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from gateway.channels.alipay import signing as alipay_signing
from gateway.channels.wechat import signing as wechat_signing
from gateway.crypto import rsa


def alipay_notify(keys: dict[str, Any], trade_no: str, amount: str, *, sign_key: str | None = None,
                  **fields: str) -> bytes:
    """A form-encoded Alipay ``trade_status_sync`` (TRADE_SUCCESS unless ``fields`` say otherwise), signed
    with the sandbox's Alipay key (or ``sign_key``)."""
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
    """A paid WeChat ``transaction`` resource for our attempt ``trade_no``."""
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


def wechat_envelope(keys: dict[str, Any], resource: dict[str, Any], *, event_type: str = "TRANSACTION.SUCCESS",
                    original_type: str = "transaction", summary: str = "支付成功") -> bytes:
    """The notification body exactly as the WeChat sandbox sends it (encrypted with ``keys["apiv3_key"]``)."""
    from gateway.sandbox.wechat.notify import envelope
    from gateway.sandbox.wechat.state import SandboxState

    return envelope(SandboxState(keys), event_type, original_type, summary, resource)


def wechat_notify(keys: dict[str, Any], resource: dict[str, Any], *, timestamp: int | None = None,
                  serial: str | None = None, signature: str | None = None, tamper_ciphertext: bool = False,
                  event_type: str = "TRANSACTION.SUCCESS", original_type: str = "transaction",
                  apiv3_key: str | None = None, event_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A WeChat notification (body, headers) signed with the sandbox's public-key-mode key, bent in the
    ways asked: an old ``timestamp``, another ``serial``, a given ``signature``, a ciphertext flipped
    after encryption (its signature still fine), another APIv3 key, or a fixed event ``event_id``."""
    keys = {**keys, "apiv3_key": apiv3_key} if apiv3_key else keys
    body = wechat_envelope(keys, resource, event_type=event_type, original_type=original_type)
    if tamper_ciphertext or event_id:
        envelope = json.loads(body)
        if tamper_ciphertext:
            raw = bytearray(base64.b64decode(envelope["resource"]["ciphertext"]))
            raw[3] ^= 0x01
            envelope["resource"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()
        if event_id:
            envelope["id"] = event_id
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = wechat_signing.new_nonce()
    signed = wechat_signing.sign_response(rsa.load_private_key(keys["public_key_private"]), ts, nonce, body)
    return body, {
        "Content-Type": "application/json", "Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature or signed, "Wechatpay-Serial": serial or keys["public_key_id"],
        "Wechatpay-Signature-Type": wechat_signing.SCHEME,
    }


def unionpay_notify(keys: dict[str, Any], trade_no: str, amount: int, *, signer: tuple[str, str] | None = None,
                    **fields: str) -> bytes:
    """A form-encoded UnionPay consume notify (``backUrl``) for our attempt ``trade_no``, signed with the
    sandbox's UnionPay key and carrying its certificate -- or ``signer`` (key PEM, certificate PEM)."""
    from gateway.channels.unionpay import signing as unionpay_signing
    from gateway.channels.unionpay.transformers import order_id, txn_time

    now = datetime.now(UTC)
    params = {
        "version": "5.1.0", "encoding": "UTF-8", "accessType": "0", "bizType": "000201", "txnType": "01",
        "txnSubType": "01", "merId": keys["mer_id"], "orderId": order_id(trade_no), "txnTime": txn_time(trade_no),
        "txnAmt": str(amount), "currencyCode": "156", "queryId": f"{now:%m%d%H%M%S}{secrets.randbelow(10**11):011d}",
        "traceNo": "000123", "traceTime": f"{now:%m%d%H%M%S}", "settleAmt": str(amount), "settleCurrencyCode": "156",
        "settleDate": f"{now:%m%d}", "respCode": "00", "respMsg": "成功[0000000]", "signMethod": "01",
    }
    params.update(fields)
    key_pem, cert_pem = signer or (keys["unionpay_private_key"], keys["unionpay_certificate"])
    params["signPubKeyCert"] = cert_pem.strip().replace("\n", "\r\n")
    params["signature"] = unionpay_signing.sign(rsa.load_private_key(key_pem), params)
    return urlencode(params).encode()


def unionpay_impostor(owner: str = "中国银联股份有限公司") -> tuple[str, str]:
    """A key and a self-issued certificate that claims to be UnionPay's but chains to nothing we trust."""
    from gateway.sandbox.unionpay.keys import _name, issue

    key = rsa.generate_private_key()
    subject = _name(f"041@Z00000000001@{owner}@00000001", "China UnionPay")
    return rsa.private_pem(key), issue(key, subject, key, subject, ca=False)
