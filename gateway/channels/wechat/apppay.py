"""WeChat Pay APP payments (APIv3): after the prepay (``POST /v3/pay/transactions/app``), the merchant
app hands WeChat's OpenSDK ``PayReq`` these signed parameters.

``sign = base64(SHA256withRSA(merchant key, "appid\\ntimestamp\\nnoncestr\\nprepayid\\n"))`` -- the
fourth line is the bare ``prepay_id`` (JSAPI signs ``prepay_id=…``); ``package`` is the constant
``Sign=WXPay``; ``partnerid`` is the mchid. ``appid`` is the Open Platform mobile app's appid, which
may differ from the official account's (credential ``app_appid``). Sources: WeChat Pay APIv3 "APP调起支付"
(pay.weixin.qq.com/doc/v3/merchant/4013070351), reference protocols-wave2 §2.2.
"""
from __future__ import annotations

from gateway.crypto import rsa

PACKAGE = "Sign=WXPay"
PARAMS = ("appid", "partnerid", "prepayid", "package", "noncestr", "timestamp", "sign")


def app_message(appid: str, timestamp: str, nonce: str, prepay_id: str) -> bytes:
    return f"{appid}\n{timestamp}\n{nonce}\n{prepay_id}\n".encode()


def app_params(key: rsa.PrivateKey, *, appid: str, mchid: str, prepay_id: str, timestamp: str,
               nonce: str) -> dict[str, str]:
    """What the app passes to OpenSDK ``PayReq`` (``appId``, ``partnerId``, ``prepayId``,
    ``packageValue``, ``nonceStr``, ``timeStamp``, ``sign``), under the names WeChat's docs give them."""
    return {
        "appid": appid, "partnerid": mchid, "prepayid": prepay_id, "package": PACKAGE,
        "noncestr": nonce, "timestamp": timestamp,
        "sign": rsa.sign(key, app_message(appid, timestamp, nonce, prepay_id)),
    }


def verify_app_params(key: rsa.PublicKey, params: dict[str, str]) -> bool:
    """What WeChat checks when the app calls it: the signature over the four lines, and the constant."""
    if params.get("package") != PACKAGE or any(not params.get(name) for name in PARAMS):
        return False
    message = app_message(params["appid"], params["timestamp"], params["noncestr"], params["prepayid"])
    return rsa.verify(key, message, params["sign"])
