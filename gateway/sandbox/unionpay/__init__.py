"""A protocol-faithful UnionPay ACP 5.1.0 gateway as an aiohttp app: it checks our signatures with the
merchant certificate named by ``certId``, keeps consumes, refunds and undos, answers with UnionPay's
respCodes, signs every answer and notify with a UnionPay certificate under a sandbox root and middle
CA (generated at first start), and serves the cashier, the QR code and the ZM reconciliation file.
"""
from __future__ import annotations

from gateway.sandbox.unionpay.app import create_app
from gateway.sandbox.unionpay.keys import generate_keys, merchant_credentials

__all__ = ["create_app", "generate_keys", "merchant_credentials"]
