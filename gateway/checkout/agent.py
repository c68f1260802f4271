"""Which browser is this? Decides the pay flow: QR on a desktop, H5/WAP on a phone, the app's own flow
inside WeChat or Alipay. User-Agent sniffing is what both channels document for this choice."""
from __future__ import annotations

from enum import StrEnum


class Client(StrEnum):
    DESKTOP = "desktop"
    MOBILE = "mobile"
    WECHAT = "wechat"    # inside the WeChat app (MicroMessenger): JSAPI
    ALIPAY = "alipay"    # inside the Alipay app (AlipayClient): WAP pay opens in-app

_MOBILE_MARKERS = ("Mobile", "Android", "iPhone", "iPad", "iPod", "HarmonyOS", "Windows Phone")

# Pay methods each client can complete, best first.
METHODS: dict[Client, tuple[str, ...]] = {
    Client.DESKTOP: ("wechat_native", "alipay_qr", "alipay_page"),
    Client.MOBILE: ("wechat_h5", "alipay_wap"),
    Client.WECHAT: ("wechat_jsapi",),
    Client.ALIPAY: ("alipay_wap",),
}
QR_METHODS = frozenset({"wechat_native", "alipay_qr"})
REDIRECT_METHODS = frozenset({"wechat_h5", "alipay_wap", "alipay_page"})


def detect(user_agent: str | None) -> Client:
    ua = user_agent or ""
    if "MicroMessenger" in ua:
        return Client.WECHAT
    if "AlipayClient" in ua:
        return Client.ALIPAY
    if any(marker in ua for marker in _MOBILE_MARKERS):
        return Client.MOBILE
    return Client.DESKTOP


def usable(client: Client, allowed: list[str]) -> list[str]:
    """The allowed methods this client can complete, in the client's order of preference."""
    return [m for m in METHODS[client] if m in allowed]
