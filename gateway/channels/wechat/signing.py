"""WeChat Pay APIv3 signatures: the exact messages, the Authorization header and its parsing.

Shared by the client (signs requests, verifies answers and callbacks) and the sandbox (the reverse).
Every message is built as bytes so that the body is signed exactly as it travels.
"""
from __future__ import annotations

import re
import secrets

from gateway.crypto import rsa

SCHEME = "WECHATPAY2-SHA256-RSA2048"
# WeChat sends probe callbacks whose signature starts with this; a merchant must reject them.
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
# Both directions: a timestamp more than 5 minutes away from now is refused before any RSA work.
MAX_SKEW_SECONDS = 300
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"

_PARAM = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*')
_AUTH_PARAMS = frozenset({"mchid", "nonce_str", "signature", "timestamp", "serial_no"})


def new_nonce() -> str:
    """32 upper-case hex characters, like the official SDKs."""
    return secrets.token_hex(16).upper()


def request_message(method: str, path_qs: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """``METHOD\\npath?query\\ntimestamp\\nnonce\\nbody\\n`` -- the path exactly as sent, no host."""
    return f"{method.upper()}\n{path_qs}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"


def authorization(key: rsa.PrivateKey, *, mchid: str, serial_no: str, method: str, path_qs: str,
                  body: bytes, timestamp: str, nonce: str) -> str:
    signature = rsa.sign(key, request_message(method, path_qs, timestamp, nonce, body))
    return (f'{SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{serial_no}"')


def parse_authorization(header: str) -> dict[str, str] | None:
    """The five parameters as a dict, or None. SDKs order them differently, so they are a set; a
    duplicate, a missing or an unknown parameter makes the header invalid."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme != SCHEME:
        return None
    params: dict[str, str] = {}
    for part in rest.split(","):
        m = _PARAM.fullmatch(part)
        if not m or m.group(1) in params:
            return None
        params[m.group(1)] = m.group(2)
    return params if set(params) == _AUTH_PARAMS else None


def response_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """``timestamp\\nnonce\\nbody\\n``; an empty body (204) still ends with its newline."""
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def sign_response(key: rsa.PrivateKey, timestamp: str, nonce: str, body: bytes) -> str:
    return rsa.sign(key, response_message(timestamp, nonce, body))


def timestamp_fresh(timestamp: str, now: float) -> bool:
    if not timestamp.isdigit() or len(timestamp) > 12:
        return False
    return abs(now - int(timestamp)) <= MAX_SKEW_SECONDS


def is_probe(signature: str) -> bool:
    return signature.startswith(PROBE_PREFIX)


def verify_response(key: rsa.PublicKey, timestamp: str, nonce: str, body: bytes, signature: str) -> bool:
    if is_probe(signature):
        return False
    return rsa.verify(key, response_message(timestamp, nonce, body), signature)


def jsapi_message(appid: str, timestamp: str, nonce: str, prepay_id: str) -> bytes:
    return f"{appid}\n{timestamp}\n{nonce}\nprepay_id={prepay_id}\n".encode()


def jsapi_params(key: rsa.PrivateKey, *, appid: str, prepay_id: str, timestamp: str,
                 nonce: str) -> dict[str, str]:
    """The parameters WeixinJSBridge ``getBrandWCPayRequest`` / ``wx.requestPayment`` take."""
    return {
        "appId": appid,
        "timeStamp": timestamp,
        "nonceStr": nonce,
        "package": f"prepay_id={prepay_id}",
        "signType": "RSA",
        "paySign": rsa.sign(key, jsapi_message(appid, timestamp, nonce, prepay_id)),
    }
