"""Key material of the UnionPay sandbox: a test root and middle CA, UnionPay's signing certificate under
them (owner ``中国银联股份有限公司`` in the CN, as the client checks), and the test merchant's signing
key and certificate. JSON-serialisable PEM strings, kept by :mod:`gateway.sandbox.key_material`.
"""
from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from gateway.channels.unionpay.protocol import OWNER_NAME
from gateway.crypto import rsa


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(key: rsa.PrivateKey, subject: x509.Name, issuer_key: rsa.PrivateKey, issuer: x509.Name, *, ca: bool,
          days: int = 5 * 365, not_before: datetime | None = None) -> str:
    """A certificate (PEM) for ``key`` signed by ``issuer_key``."""
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number() >> 96)  # a short decimal certId, like UnionPay's
            .not_valid_before(start).not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256()))
    return cert.public_bytes(Encoding.PEM).decode()


ROOT_NAME = _name("CFCA TEST CS CA (sandbox)", "China Financial Certification Authority")
MIDDLE_NAME = _name("CFCA TEST OCA1 (sandbox)", "China Financial Certification Authority")


def unionpay_signer(middle_key: rsa.PrivateKey, *, days: int = 5 * 365, owner: str = OWNER_NAME,
                    not_before: datetime | None = None) -> dict[str, str]:
    """A UnionPay signing key and its certificate under the sandbox middle CA."""
    key = rsa.generate_private_key()
    cn = f"041@Z{secrets.randbelow(10**11):011d}@{owner}@00000001"
    cert = issue(key, _name(cn, "China UnionPay"), middle_key, MIDDLE_NAME, ca=False, days=days,
                 not_before=not_before)
    return {"unionpay_private_key": rsa.private_pem(key), "unionpay_certificate": cert}


def generate_keys() -> dict[str, Any]:
    root, middle, merchant = rsa.generate_private_key(), rsa.generate_private_key(), rsa.generate_private_key()
    mer_id = "777290058" + "".join(secrets.choice("0123456789") for _ in range(6))
    return {
        "mer_id": mer_id,
        "root_private_key": rsa.private_pem(root),
        "root_certificate": issue(root, ROOT_NAME, root, ROOT_NAME, ca=True, days=20 * 365),
        "middle_private_key": rsa.private_pem(middle),
        "middle_certificate": issue(middle, MIDDLE_NAME, root, ROOT_NAME, ca=True, days=10 * 365),
        **unionpay_signer(middle),
        "merchant_private_key": rsa.private_pem(merchant),
        "merchant_certificate": issue(merchant, _name(f"041@Z{mer_id}@sandbox merchant@00000001", "Sandbox Merchant"),
                                      middle, MIDDLE_NAME, ca=False),
    }


def merchant_credentials(keys: dict[str, Any]) -> dict[str, Any]:
    """What the merchant holds: its signing key and certificate, and the chain UnionPay's certificates
    must verify against -- never UnionPay's or the CAs' private keys."""
    return {"mer_id": keys["mer_id"], "sign_private_key": keys["merchant_private_key"],
            "sign_certificate": keys["merchant_certificate"], "root_certificate": keys["root_certificate"],
            "middle_certificate": keys["middle_certificate"]}
