"""ACP 5.1.0 ``signMethod=01``: RSA with certificates.

Sign: every field but ``signature``, empty values dropped, keys sorted by ASCII, ``key=value`` joined
with ``&`` (raw values, no URL encoding); ``d`` = lower-case hex of SHA-256 over that string in UTF-8;
``signature`` = base64(SHA256withRSA(private key, the 64 ASCII bytes of ``d``)). ``certId`` is the
signing certificate's serial number in decimal.

Verify (answers and notifies): the message carries its own certificate, ``signPubKeyCert``. It is
trusted only once it chains to the configured middle and root certificates, is within its validity
period and names UnionPay as its owner (field 3 of the subject CN split on ``@``); then its public key
checks the signature. Never verify with an unvalidated ``signPubKeyCert``: anyone can mint one.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import rsa as rsa_types

from gateway.channels.base import VerificationError
from gateway.channels.unionpay import protocol as wire
from gateway.crypto import rsa, x509

SIGNATURE = "signature"
CERT_FIELD = "signPubKeyCert"


def sign_string(fields: Mapping[str, str]) -> str:
    return "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != SIGNATURE and fields[k] not in ("", None))


def digest(fields: Mapping[str, str]) -> bytes:
    """The hex SHA-256 of the sign string: the bytes the RSA signature is over."""
    return hashlib.sha256(sign_string(fields).encode("utf-8")).hexdigest().encode("ascii")


def sign(key: rsa.PrivateKey, fields: Mapping[str, str]) -> str:
    return rsa.sign(key, digest(fields))


def signed(key: rsa.PrivateKey, cert_id: str, fields: Mapping[str, str]) -> dict[str, str]:
    """``fields`` with ``signMethod``, ``certId`` and ``signature`` set."""
    out = {k: v for k, v in fields.items() if k != SIGNATURE}
    out |= {"signMethod": wire.SIGN_METHOD_RSA, "certId": cert_id}
    out[SIGNATURE] = sign(key, out)
    return out


def cert_id(cert: x509.Certificate) -> str:
    return str(cert.serial_number)


def owner(cert: x509.Certificate) -> str:
    parts = x509.common_name(cert).split("@")
    return parts[2] if len(parts) > 2 else ""


class CertVerifier:
    """Checks ``signPubKeyCert`` against the configured chain and owner, caching the certificates that
    passed by their PEM text (UnionPay rotates its signing certificate without telling the merchant)."""

    def __init__(self, root_pem: str, middle_pems: list[str], *, validate_owner: bool = True,
                 clock: Callable[[], datetime] | None = None) -> None:
        self._root = x509.load_pem(root_pem)
        self._middles = [x509.load_pem(p) for p in middle_pems]
        self._owners = {wire.OWNER_NAME} if validate_owner else {wire.OWNER_NAME, wire.TEST_OWNER_NAME}
        self._clock = clock or (lambda: datetime.now(UTC))
        self._good: dict[str, tuple[rsa.PublicKey, datetime]] = {}

    def public_key(self, pem: str) -> rsa.PublicKey:
        """The key of a certificate that passed; :class:`VerificationError` otherwise."""
        now = self._clock()
        cached = self._good.get(pem)
        if cached is not None and now <= cached[1]:
            return cached[0]
        try:
            cert = x509.load_pem(pem)
        except ValueError:
            raise VerificationError("bad_certificate", "signPubKeyCert is not a certificate") from None
        try:
            x509.verify_chain(cert, self._middles, self._root, now)
        except x509.ChainError as exc:
            raise VerificationError(exc.code, str(exc)) from None
        if owner(cert) not in self._owners:
            raise VerificationError("wrong_owner", f"certificate owner {x509.common_name(cert)!r} is not UnionPay")
        key = cert.public_key()
        if not isinstance(key, rsa_types.RSAPublicKey):
            raise VerificationError("bad_certificate", "not an RSA certificate")
        if len(self._good) > 64:
            self._good.clear()
        self._good[pem] = (key, cert.not_valid_after_utc)
        return key

    def verify(self, fields: Mapping[str, str]) -> None:
        """Raise :class:`VerificationError` unless ``fields`` are signed by a validated UnionPay certificate."""
        signature, pem = fields.get(SIGNATURE), fields.get(CERT_FIELD)
        if not signature:
            raise VerificationError("missing_signature")
        if fields.get("signMethod") != wire.SIGN_METHOD_RSA:
            # An attacker must not pick a weaker method (11/12 are keyed hashes with a shared secret).
            raise VerificationError("unsupported_sign_method", str(fields.get("signMethod")))
        if not pem:
            raise VerificationError("missing_certificate")
        key = self.public_key(pem)
        if not rsa.verify(key, digest(fields), signature):
            raise VerificationError("bad_signature")
