"""Alipay public-key certificate mode (公钥证书模式): certificate serial numbers, and the store of Alipay's
certificates an app trusts.

An app created in certificate mode signs exactly as in public-key mode, and adds to every request
``app_cert_sn`` (its own certificate's SN) and ``alipay_root_cert_sn`` (the root bundle's SN). Alipay's
answers carry ``alipay_cert_sn``: the SN of the Alipay certificate whose key signed them. When Alipay
rotates its certificate, answers name an SN the app does not know: the app fetches that certificate
with ``alipay.open.app.alipaycert.download`` and accepts it only if it chains to the configured root
(the official SDKs do the same: Java ``AbstractAlipayClient``, PHP ``AopCertClient``).

SN rules, as the official SDKs compute them (Java ``AntCertificationUtil.getCertSN`` /
``getRootCertSN``, PHP ``AopCertClient::getCertSN`` / ``getRootCertSN``, python-alipay-sdk):

* a certificate's SN = ``md5_hex(issuer + serial)``: the issuer DN with its RDNs in reverse order
  (``CN=…,OU=…,O=…,C=…``, Java's ``X500Principal.getName()``, RFC 4514) followed by the serial number
  in decimal;
* the root SN = the SNs of the root bundle's certificates signed with ``sha1WithRSAEncryption`` or
  ``sha256WithRSAEncryption``, in bundle order, joined with ``_`` (the bundle's ECC and SM2 roots are
  left out).

No I/O here: the client asks, this module answers.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys
from cryptography.x509.oid import SignatureAlgorithmOID

from gateway.channels.alipay import signing
from gateway.crypto import rsa

CERT_DOWNLOAD = "alipay.open.app.alipaycert.download"
RSA_ROOT_ALGORITHMS = frozenset({SignatureAlgorithmOID.RSA_WITH_SHA1, SignatureAlgorithmOID.RSA_WITH_SHA256})


class UntrustedCertificate(ValueError):
    """A certificate that does not chain to the configured Alipay root, or is not the one asked for."""


def load_certs(pem: str | bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM text (an Alipay certificate file may hold its intermediate too)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        certs = x509.load_pem_x509_certificates(data.strip())
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate: {exc}") from None
    if not certs:
        raise ValueError("no certificate in the PEM text")
    return certs


def issuer_string(cert: x509.Certificate) -> str:
    """The issuer DN as the SDKs format it: reversed RDN order, ``,`` between, no spaces."""
    return cert.issuer.rfc4514_string()


def cert_sn(cert: x509.Certificate) -> str:
    return hashlib.md5((issuer_string(cert) + str(cert.serial_number)).encode(), usedforsecurity=False).hexdigest()


def pem_cert_sn(pem: str) -> str:
    """The SN of a certificate file: of its first certificate (the leaf; any chain follows it)."""
    return cert_sn(load_certs(pem)[0])


def root_cert_sn(bundle_pem: str) -> str:
    sns = [cert_sn(c) for c in load_certs(bundle_pem) if c.signature_algorithm_oid in RSA_ROOT_ALGORITHMS]
    if not sns:
        raise ValueError("the Alipay root bundle holds no RSA root certificate")
    return "_".join(sns)


def answer_cert_sn(text: str) -> str | None:
    """The top-level ``alipay_cert_sn`` of a gateway.do answer, if it carries one."""
    try:
        spans = signing.top_level_members(text)
    except signing.MalformedResponse:
        return None
    if "alipay_cert_sn" not in spans:
        return None
    start, end = spans["alipay_cert_sn"]
    value = json.loads(text[start:end])
    return value if isinstance(value, str) and value else None


def downloaded_pem(content: object) -> str:
    """``alipay_cert_content`` of a download answer: the certificate file, base64-encoded."""
    if not isinstance(content, str) or not content:
        raise UntrustedCertificate("no alipay_cert_content in the answer")
    try:
        return base64.b64decode(content, validate=True).decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise UntrustedCertificate(f"alipay_cert_content is not base64 PEM: {exc}") from None


def _current(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_chain(certs: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: datetime) -> None:
    """``certs[0]`` ← (the rest of ``certs``)* ← one of ``roots``, each current at ``now``; raises
    :class:`UntrustedCertificate`."""
    current, pool, seen = certs[0], list(certs[1:]), 0
    while seen <= len(certs):
        if not _current(current, now):
            raise UntrustedCertificate("a certificate of the chain is outside its validity period")
        root = next((r for r in roots if _issued_by(current, r)), None)
        if root is not None:
            if not _current(root, now):
                raise UntrustedCertificate("the root certificate is outside its validity period")
            return
        parent = next((c for c in pool if _issued_by(current, c)), None)
        if parent is None:
            raise UntrustedCertificate("the certificate does not chain to the configured Alipay root")
        pool.remove(parent)
        current, seen = parent, seen + 1
    raise UntrustedCertificate("certificate chain loops")


def _public_key(cert: x509.Certificate) -> rsa.PublicKey:
    key = cert.public_key()
    if not isinstance(key, rsa_keys.RSAPublicKey):
        raise ValueError("the Alipay certificate's key is not RSA (RSA2 signatures need one)")
    return key


class CertStore:
    """One app's certificate-mode material: its SNs for requests, and Alipay's certificates by SN.

    ``alipay_certs`` are the configured Alipay certificate files (the first is the current one; more may
    be listed while a rotation is announced); they are trusted as configured. Certificates learned later
    (:meth:`accept`) must chain to the root bundle.
    """

    def __init__(self, *, app_cert: str, alipay_certs: Iterable[str], root_bundle: str) -> None:
        self.app_cert_sn = pem_cert_sn(app_cert)
        self.root_cert_sn = root_cert_sn(root_bundle)
        self._roots = load_certs(root_bundle)
        self._keys: dict[str, rsa.PublicKey] = {}
        for pem in alipay_certs:
            leaf = load_certs(pem)[0]
            self._keys.setdefault(cert_sn(leaf), _public_key(leaf))
        if not self._keys:
            raise ValueError("certificate mode needs the Alipay certificate (alipay_cert)")

    @property
    def known(self) -> list[str]:
        return list(self._keys)

    def key_for(self, sn: str) -> rsa.PublicKey | None:
        return self._keys.get(sn)

    def keys(self) -> tuple[rsa.PublicKey, ...]:
        """Every Alipay key trusted now (a notify names no SN: any of them may have signed it)."""
        return tuple(self._keys.values())

    def accept(self, pem: str, sn: str, now: datetime) -> rsa.PublicKey:
        """Trust a downloaded Alipay certificate file: its leaf must have SN ``sn`` and chain (through
        the intermediates in the file) to the root bundle, every certificate current at ``now``."""
        try:
            certs = load_certs(pem)
        except ValueError as exc:
            raise UntrustedCertificate(str(exc)) from None
        if cert_sn(certs[0]) != sn:
            raise UntrustedCertificate("the downloaded certificate is not the one asked for")
        verify_chain(certs, self._roots, now)
        try:
            key = _public_key(certs[0])
        except ValueError as exc:
            raise UntrustedCertificate(str(exc)) from None
        self._keys[sn] = key
        return key
