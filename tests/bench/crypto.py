"""The cost of each crypto step of the callback and channel paths, beside the bare ``cryptography``
primitive it wraps (timeit-style loops, in process). A ratio of 1.0 means our wrapper adds nothing;
the gap is message building, base64 and key handling."""
from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.channels.alipay import signing as alipay_signing
from gateway.channels.wechat import signing as wechat_signing
from gateway.crypto import aead, rsa


def per_op_us(fn: Callable[[], Any], *, budget: float, repeats: int) -> list[float]:
    """Microseconds per call, one figure per repeat; the loop count is calibrated to ~budget/repeats."""
    number, t = 1, 0.0
    while True:
        started = time.perf_counter()
        for _ in range(number):
            fn()
        t = time.perf_counter() - started
        if t >= 0.05:
            break
        number *= 4
    number = max(1, int(number * (budget / repeats) / t))
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(number):
            fn()
        out.append((time.perf_counter() - started) / number * 1e6)
    return out


def cases(keys: dict[str, Any]) -> list[tuple[str, Callable[[], Any], str, Callable[[], Any]]]:
    """(our step, its call, the bare primitive's name, the primitive's call) -- on realistic messages."""
    ali_private = rsa.load_private_key(keys["alipay"]["alipay_private_key"])
    ali_public = ali_private.public_key()
    params = {"notify_time": "2024-01-01 12:00:00", "notify_type": "trade_status_sync",
              "notify_id": secrets.token_hex(16), "app_id": keys["alipay"]["app_id"], "charset": "utf-8",
              "version": "1.0", "sign_type": "RSA2", "trade_no": "2024010122001400000000000001",
              "out_trade_no": "pa_" + secrets.token_hex(12), "seller_id": keys["alipay"]["seller_id"],
              "trade_status": "TRADE_SUCCESS", "total_amount": "19.99", "receipt_amount": "19.99",
              "subject": "Bench order", "gmt_payment": "2024-01-01 12:00:00"}
    content = alipay_signing.notify_sign_content(params)
    params["sign"] = alipay_signing.sign(ali_private, content)
    message = content.encode()
    raw_sig = base64.b64decode(params["sign"])

    merchant = rsa.load_private_key(keys["wechat"]["merchant_private_key"])
    body = json.dumps({"appid": keys["wechat"]["appid"], "mchid": keys["wechat"]["mchid"],
                       "description": "Bench order", "out_trade_no": "pa_" + secrets.token_hex(12),
                       "notify_url": "https://example.com/notify/wechat", "amount": {"total": 1999}}).encode()
    platform = rsa.load_private_key(keys["wechat"]["public_key_private"])
    platform_public = platform.public_key()
    ts, nonce = str(int(time.time())), wechat_signing.new_nonce()
    answer_sig = wechat_signing.sign_response(platform, ts, nonce, body)
    answer_message = wechat_signing.response_message(ts, nonce, body)
    answer_raw_sig = base64.b64decode(answer_sig)

    apiv3 = keys["wechat"]["apiv3_key"].encode()
    resource = json.dumps({"out_trade_no": "pa_x", "trade_state": "SUCCESS", "amount": {"total": 1999}} | {
        "pad": "x" * 600}).encode()
    gcm_nonce = "".join(secrets.choice("abcdefghijk0123456789") for _ in range(12))
    ciphertext = aead.encrypt(apiv3, gcm_nonce, "transaction", resource)
    raw_ct, gcm = base64.b64decode(ciphertext), AESGCM(apiv3)

    def bare_sign(key: rsa.PrivateKey, msg: bytes) -> Callable[[], Any]:
        return lambda: key.sign(msg, padding.PKCS1v15(), hashes.SHA256())

    def bare_verify(key: rsa.PublicKey, sig: bytes, msg: bytes) -> Callable[[], Any]:
        return lambda: key.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())

    return [
        ("Alipay RSA2 notify sign (content + sign)",
         lambda: alipay_signing.sign(ali_private, alipay_signing.notify_sign_content(params)),
         "RSA-2048 PKCS#1 v1.5 SHA-256 sign", bare_sign(ali_private, message)),
        ("Alipay RSA2 notify verify (content + verify)",
         lambda: alipay_signing.verify_any([ali_public], alipay_signing.notify_sign_content(params), params["sign"]),
         "RSA-2048 PKCS#1 v1.5 SHA-256 verify", bare_verify(ali_public, raw_sig, message)),
        ("WeChat Authorization header (request signing)",
         lambda: wechat_signing.authorization(merchant, mchid=keys["wechat"]["mchid"],
                                              serial_no=keys["wechat"]["merchant_serial"], method="POST",
                                              path_qs="/v3/pay/transactions/native", body=body,
                                              timestamp=str(int(time.time())), nonce=wechat_signing.new_nonce()),
         "RSA-2048 PKCS#1 v1.5 SHA-256 sign", bare_sign(merchant, body)),
        ("WeChat response/callback signature verify",
         lambda: wechat_signing.verify_response(platform_public, ts, nonce, body, answer_sig),
         "RSA-2048 PKCS#1 v1.5 SHA-256 verify", bare_verify(platform_public, answer_raw_sig, answer_message)),
        ("WeChat AES-256-GCM resource decrypt (~700 B)",
         lambda: aead.decrypt(apiv3, gcm_nonce, "transaction", ciphertext),
         "AESGCM.decrypt (key object reused, raw bytes)",
         lambda: gcm.decrypt(gcm_nonce.encode(), raw_ct, b"transaction")),
    ]
