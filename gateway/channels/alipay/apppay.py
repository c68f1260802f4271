"""Alipay APP payments (``alipay.trade.app.pay``): no server call. The merchant's server signs an
*order string* and its app hands it to the Alipay App SDK (``payV2(orderStr)``), which submits it.

The order string is what the official Java SDK's ``sdkExecute`` builds: every common parameter plus
``biz_content`` and ``sign``, sorted by key, each value URL-encoded in the charset (``URLEncoder``:
space as ``+``), empty values left out. What is signed is the usual request content (signing.py).
The shopper's app then answers ``resultStatus`` (9000 paid, 8000/6004 unknown, 6001 cancelled); only
the notify or a query settles the payment. Reference protocols-wave2 §2.1.
"""
from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote_plus

from gateway.domain.pay import ActionKind, PayAction

ORDER_STRING = "order_string"  # the one ``params`` entry of the pay action


def _encode(value: str, charset: str) -> str:
    """Java's ``URLEncoder.encode``: like ``quote_plus``, but ``*`` stays and ``~`` is escaped."""
    return quote_plus(value, safe="*", encoding=charset).replace("~", "%7E")


def order_string(params: Mapping[str, str], charset: str = "utf-8") -> str:
    return "&".join(f"{k}={_encode(params[k], charset)}" for k in sorted(params) if params[k])


def action(params: Mapping[str, str], charset: str = "utf-8") -> PayAction:
    return PayAction(ActionKind.APP, params={ORDER_STRING: order_string(params, charset)})
