"""A protocol-faithful Alipay OpenAPI gateway (gateway.do, RSA2) as an aiohttp app.

``generate_keys()`` makes one sandbox app's key material (JSON-serialisable), ``merchant_credentials``
turns it into the credentials an Alipay channel account is opened with, ``create_app`` builds the
sandbox (see :mod:`.app` for routes; the ``/_control/`` API is the kit's, :mod:`gateway.sandbox.kit.control`).
"""
from __future__ import annotations

import secrets
from typing import Any

from gateway.crypto import rsa
from gateway.sandbox.alipay import certs
from gateway.sandbox.alipay.app import create_app

__all__ = ["create_app", "generate_keys", "merchant_cert_credentials", "merchant_credentials"]


def generate_keys() -> dict[str, Any]:
    """A fresh sandbox app: ids shaped like real ones, the app's and Alipay's RSA-2048 key pairs (PEM),
    and certificate mode's root bundle, app certificate and Alipay certificate (:mod:`.certs`)."""
    app_key, alipay_key = rsa.generate_private_key(), rsa.generate_private_key()
    keys = {
        "app_id": "2021000" + "".join(secrets.choice("0123456789") for _ in range(9)),
        "seller_id": "2088" + "".join(secrets.choice("0123456789") for _ in range(12)),
        "app_private_key": rsa.private_pem(app_key),
        "app_public_key": rsa.public_pem(app_key.public_key()),
        "alipay_private_key": rsa.private_pem(alipay_key),
        "alipay_public_key": rsa.public_pem(alipay_key.public_key()),
    }
    return keys | certs.generate(keys["app_public_key"], keys["alipay_private_key"])


def merchant_credentials(keys: dict[str, Any]) -> dict[str, Any]:
    """What the merchant holds: its own private key and Alipay's public key -- never Alipay's private one."""
    return {
        "app_id": keys["app_id"], "seller_id": keys["seller_id"],
        "app_private_key": keys["app_private_key"], "alipay_public_key": keys["alipay_public_key"],
    }


def merchant_cert_credentials(keys: dict[str, Any]) -> dict[str, Any]:
    """The same app in public-key certificate mode: its private key, its certificate, Alipay's
    certificate and the root bundle (no bare public key)."""
    return {
        "app_id": keys["app_id"], "seller_id": keys["seller_id"], "app_private_key": keys["app_private_key"],
        "app_cert": keys["app_cert"], "alipay_cert": keys["alipay_cert"], "alipay_root_cert": keys["alipay_root_cert"],
    }
