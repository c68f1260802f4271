"""Key material of the WeChat sandbox's APIv2 (barcode pay): the APIv2 key, a test CA, the certificate of
the sandbox's client-certificate port, and the merchant's API client certificate (CN = mchid, as WeChat
issues ``apiclient_cert.pem``)."""
from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from gateway.crypto import rsa


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(subject: x509.Name, key: rsa.PrivateKey, issuer: x509.Name, issuer_key: rsa.PrivateKey, *,
           ca: bool = False, hosts: tuple[str, ...] = ()) -> str:
    moment = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(moment - timedelta(days=1)).not_valid_after(moment + timedelta(days=5 * 365))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(Encoding.PEM).decode()


def v2_keys(mchid: str) -> dict[str, str]:
    ca_key, server_key, client_key = (rsa.generate_private_key() for _ in range(3))
    ca_name = _name("WeChat Pay sandbox test CA", "Tenpay.com")
    return {
        "apiv2_key": "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32)),
        "apiv2_ca_certificate": _issue(ca_name, ca_key, ca_name, ca_key, ca=True),
        "apiv2_server_certificate": _issue(_name("localhost", "Tenpay.com"), server_key, ca_name, ca_key,
                                           hosts=("127.0.0.1", "::1", "localhost")),
        "apiv2_server_key": rsa.private_pem(server_key),
        # WeChat's apiclient_cert.pem names the merchant: CN = mchid.
        "apiv2_client_certificate": _issue(_name(mchid, "Sandbox Merchant"), client_key, ca_name, ca_key),
        "apiv2_client_key": rsa.private_pem(client_key),
    }


def complete_keys(keys: dict[str, Any]) -> bool:
    """Add the APIv2 material to key files made before it existed; True when something was added."""
    if "apiv2_key" in keys:
        return False
    keys.update(v2_keys(keys["mchid"]))
    return True


def merchant_credentials(keys: dict[str, Any]) -> dict[str, str]:
    return {"apiv2_key": keys["apiv2_key"], "apiv2_client_cert": keys["apiv2_client_certificate"],
            "apiv2_client_key": keys["apiv2_client_key"], "apiv2_ca": keys["apiv2_ca_certificate"]}
