"""The checkout's channel wording comes from the registry and reads as it did when it was written out."""
from __future__ import annotations

from gateway.channels.registry import default_registry
from gateway.checkout.labels import scan_prompt, texts


def test_channel_names_fill_the_sentences() -> None:
    registry = default_registry()
    zh, en = texts(registry, "zh-CN"), texts(registry, "en")
    assert zh["aggregated"] == "微信或支付宝扫码均可" and en["aggregated"] == "Scan with WeChat or Alipay"
    assert en["other_scanner"] == "Scan this code with WeChat or Alipay"
    assert zh["other_scanner_detail"].startswith("此二维码需要在微信或支付宝中打开。")
    assert (zh["wechat_native"], en["alipay_page"], en["alipay_wap"]) == ("微信支付", "Alipay (web)", "Alipay")
    assert scan_prompt(registry, "zh-CN", "wechat_native") == "请使用微信扫一扫"
    assert scan_prompt(registry, "en", "alipay_qr") == "Scan with Alipay"
