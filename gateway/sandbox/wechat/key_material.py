"""Key material for the WeChat Pay sandbox: the test merchant's, and WeChat's own (both modes).

All values are JSON-serialisable strings so that ``gateway.sandbox.key_material`` can store them.
"""
from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from gateway.crypto import rsa
from gateway.sandbox.wechat import v2_keys
from gateway.sandbox.wechat.oauth import app_secret as oauth_app_secret


def self_signed(key: rsa.PrivateKey, common_name: str, organisation: str) -> tuple[str, str]:
    """A self-signed certificate (PEM) and its serial as WeChat prints it: upper-case hex."""
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=5 * 365))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(Encoding.PEM).decode(), format(cert.serial_number, "X")


def new_platform() -> dict[str, str]:
    key = rsa.generate_private_key()
    cert, serial = self_signed(key, "Tenpay.com Root CA (sandbox)", "Tenpay.com")
    return {"platform_private_key": rsa.private_pem(key), "platform_certificate": cert, "platform_serial": serial}


def new_public_key(mchid: str) -> dict[str, str]:
    key = rsa.generate_private_key()
    suffix = "".join(secrets.choice(string.digits) for _ in range(16))
    return {"public_key_private": rsa.private_pem(key), "public_key": rsa.public_pem(key.public_key()),
            "public_key_id": f"PUB_KEY_ID_01{mchid}{datetime.now(UTC):%Y%m%d}{suffix}"}


def generate_keys() -> dict[str, Any]:
    mchid = "1" + "".join(secrets.choice(string.digits) for _ in range(9))
    merchant = rsa.generate_private_key()
    merchant_cert, merchant_serial = self_signed(merchant, f"{mchid} sandbox merchant", "Sandbox Merchant")
    return {
        "mchid": mchid,
        "appid": "wx" + secrets.token_hex(8),
        "app_appid": "wx" + secrets.token_hex(8),  # the Open Platform mobile app's, for APP pay
        "merchant_private_key": rsa.private_pem(merchant),
        "merchant_certificate": merchant_cert,
        "merchant_serial": merchant_serial,
        "apiv3_key": "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32)),
        **new_platform(),
        **new_public_key(mchid),
        **v2_keys.v2_keys(mchid),
        "mode": "public_key",
    }


def merchant_credentials(keys: dict[str, Any]) -> dict[str, Any]:
    """Both verification modes at once, so that switching the sandbox's ``mode`` needs no change here."""
    return {
        "mchid": keys["mchid"],
        "appid": keys["appid"],
        "merchant_serial": keys["merchant_serial"],
        "merchant_private_key": keys["merchant_private_key"],
        "apiv3_key": keys["apiv3_key"],
        "platform_certificates": [keys["platform_certificate"]],
        "public_key_id": keys["public_key_id"],
        "public_key": keys["public_key"],
        "app_secret": oauth_app_secret(keys),  # the official account's, for the checkout's OAuth (JSAPI)
        "app_appid": app_appid(keys),
        **v2_keys.merchant_credentials(keys),  # APIv2: barcode pay (micropay) and its reverse (mTLS)
    }


def app_appid(keys: dict[str, Any]) -> str:
    """The mobile app's appid (APP pay); key material made before it existed uses the account's."""
    return str(keys.get("app_appid") or keys["appid"])
