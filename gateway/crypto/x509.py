"""X.509 certificates: loading, and checking a certificate against a configured chain.

No channel knowledge: a channel says which root and intermediate it trusts and what the subject must
say; this module checks signatures, issuers and validity periods.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

Certificate = x509.Certificate


class ChainError(Exception):
    """A certificate that does not chain to the trusted root; ``code`` is stable (for logs)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


def load_pem(text: str | bytes) -> Certificate:
    """One PEM certificate; ``ValueError`` if it is not one."""
    data = text.encode() if isinstance(text, str) else text
    return x509.load_pem_x509_certificate(data.strip())


def common_name(cert: Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value.decode() if isinstance(value, bytes) else value


def _current(cert: Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def verify_chain(leaf: Certificate, intermediates: Sequence[Certificate], root: Certificate, now: datetime) -> None:
    """``leaf`` ← one of ``intermediates`` ← ``root``: each issued (name and signature) by the next, each
    within its validity period at ``now`` (aware). Raises :class:`ChainError`."""
    if not _current(leaf, now):
        raise ChainError("certificate_expired", "the certificate is outside its validity period")
    for middle in intermediates:
        try:
            leaf.verify_directly_issued_by(middle)
        except (ValueError, TypeError, InvalidSignature):
            continue
        if not _current(middle, now):
            raise ChainError("certificate_expired", "the intermediate certificate is outside its validity period")
        try:
            middle.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            raise ChainError("untrusted_certificate", "the intermediate is not issued by the root") from None
        if not _current(root, now):
            raise ChainError("certificate_expired", "the root certificate is outside its validity period")
        return
    raise ChainError("untrusted_certificate", "the certificate is not issued by a trusted intermediate")
