"""The sandbox's certificate authority for Alipay's public-key certificate mode.

Shaped like Alipay's: a root bundle of three self-signed roots (two RSA, one ECC, like the real
``alipayRootCert.crt`` whose SM2 root we cannot mint), a "Class 1" intermediate that issues app
certificates and a "Class 2" intermediate that issues Alipay's own; an Alipay certificate file holds
its leaf followed by that intermediate. :func:`generate` makes the material (JSON-serialisable, kept
with the sandbox keys); :class:`Authority` holds it while the sandbox runs and issues a new Alipay
certificate when Alipay's key rotates.

SNs are computed here independently of the client (:mod:`gateway.channels.alipay.certmode`) from the
SDKs' rule -- ``md5(reversed issuer RDNs "K=V" joined by "," + decimal serial)`` -- so a test of one
against the other means something.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from gateway.crypto import rsa

_ORG = "Gateway Sandbox Alipay"
_SHORT = {NameOID.COUNTRY_NAME: "C", NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
          NameOID.COMMON_NAME: "CN"}
_RSA_ROOTS = (SignatureAlgorithmOID.RSA_WITH_SHA1, SignatureAlgorithmOID.RSA_WITH_SHA256)


def _name(cn: str, ou: str = "Certification Authority") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(subject: x509.Name, public_key: Any, issuer: x509.Name, issuer_key: CertificateIssuerPrivateKeyTypes, *,
           ca: bool, years: int, now: datetime) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365 * years))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def _key_pem(key: Any) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def sn_of(cert: x509.Certificate) -> str:
    issuer = ",".join(f"{_SHORT.get(a.oid, a.oid.dotted_string)}={a.value!s}" for a in reversed(list(cert.issuer)))
    return hashlib.md5((issuer + str(cert.serial_number)).encode(), usedforsecurity=False).hexdigest()


def root_sn_of(bundle: list[x509.Certificate]) -> str:
    return "_".join(sn_of(c) for c in bundle if c.signature_algorithm_oid in _RSA_ROOTS)


def generate(app_public_pem: str, alipay_private_pem: str) -> dict[str, str]:
    """Roots, intermediates, the app's certificate (for ``app_public_pem``) and Alipay's (for the key
    of ``alipay_private_pem``), as PEM texts."""
    now = datetime.now(UTC)
    r1_key, r2_key, e1_key = rsa.generate_private_key(), rsa.generate_private_key(), ec.generate_private_key(ec.SECP256R1())
    r1, r2, e1 = _name("Sandbox Alipay Root R1"), _name("Sandbox Alipay Root R2"), _name("Sandbox Alipay Root E1")
    roots = [_issue(r1, r1_key.public_key(), r1, r1_key, ca=True, years=20, now=now),
             _issue(e1, e1_key.public_key(), e1, e1_key, ca=True, years=20, now=now),
             _issue(r2, r2_key.public_key(), r2, r2_key, ca=True, years=20, now=now)]
    class1_key, class2_key = rsa.generate_private_key(), rsa.generate_private_key()
    class1, class2 = _name("Sandbox Alipay CA Class 1 R1"), _name("Sandbox Alipay CA Class 2 R1")
    class1_cert = _issue(class1, class1_key.public_key(), r1, r1_key, ca=True, years=10, now=now)
    class2_cert = _issue(class2, class2_key.public_key(), r1, r1_key, ca=True, years=10, now=now)
    app_cert = _issue(_name("sandbox app", "Alipay Open Platform"),
                      rsa.load_public_key(app_public_pem), class1, class1_key, ca=False, years=5, now=now)
    alipay_key = rsa.load_private_key(alipay_private_pem)
    alipay_cert = _issue(_name("支付宝(中国)网络技术有限公司-Sandbox", "Alipay.com"), alipay_key.public_key(), class2,
                         class2_key, ca=False, years=5, now=now)
    return {
        "alipay_root_cert": "\n".join(_pem(c) for c in roots),  # a blank line between, like Alipay's file
        "app_cert": _pem(app_cert, class1_cert),
        "alipay_cert": _pem(alipay_cert, class2_cert),
        "alipay_ca_private_key": _key_pem(class2_key),
    }


@dataclass
class Authority:
    """The certificates while the sandbox runs: the app's SN and the root SN it must send, every Alipay
    certificate issued so far (by SN, for the download API) and the current one."""

    app_cert_sn: str
    root_cert_sn: str
    current_sn: str
    _ca_key_pem: str  # parsed when a certificate is issued (rotation only): a 50 ms parse at every start
    _ca_cert: x509.Certificate
    issued: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_keys(cls, keys: dict[str, Any]) -> Authority:
        alipay = x509.load_pem_x509_certificates(keys["alipay_cert"].encode())
        sn = sn_of(alipay[0])
        return cls(app_cert_sn=sn_of(x509.load_pem_x509_certificate(keys["app_cert"].encode())),
                   root_cert_sn=root_sn_of(x509.load_pem_x509_certificates(keys["alipay_root_cert"].encode())),
                   current_sn=sn, _ca_key_pem=keys["alipay_ca_private_key"],
                   _ca_cert=alipay[1], issued={sn: keys["alipay_cert"]})

    def issue(self, alipay_key: rsa.PrivateKey, now: datetime) -> str:
        """A new Alipay certificate for ``alipay_key``, now the current one; its PEM file."""
        leaf = _issue(_name("支付宝(中国)网络技术有限公司-Sandbox", "Alipay.com"), alipay_key.public_key(),
                      self._ca_cert.subject, self._ca_key(), ca=False, years=5, now=now)
        pem = _pem(leaf, self._ca_cert)
        self.current_sn = sn_of(leaf)
        self.issued[self.current_sn] = pem
        return pem

    def _ca_key(self) -> CertificateIssuerPrivateKeyTypes:
        key = serialization.load_pem_private_key(self._ca_key_pem.encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey | RSAPrivateKey), type(key)
        return key

    def content(self, sn: str) -> str | None:
        """``alipay_cert_content`` of the download API: the certificate file, base64."""
        pem = self.issued.get(sn)
        return base64.b64encode(pem.encode()).decode() if pem is not None else None

    @property
    def current_pem(self) -> str:
        return self.issued[self.current_sn]


def download(authority: Authority, biz: dict[str, Any]) -> dict[str, Any]:
    """``alipay.open.app.alipaycert.download`` {``alipay_cert_sn``} → ``alipay_cert_content``.
    [U: the answer for an unknown SN is not documented; the gateway's list has isv.alipay-cert-not-exist.]"""
    sn = biz.get("alipay_cert_sn")
    content = authority.content(sn) if isinstance(sn, str) else None
    if content is None:
        return {"code": "40004", "msg": "Business Failed", "sub_code": "isv.alipay-cert-not-exist",
                "sub_msg": "证书不存在 no certificate with this alipay_cert_sn"}
    return {"code": "10000", "msg": "Success", "alipay_cert_content": content}
