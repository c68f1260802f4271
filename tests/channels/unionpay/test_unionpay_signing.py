"""ACP 5.1.0 signMethod 01: the sign string, the digest-then-sign rule against a signature UnionPay made,
and every way a notify's certificate or signature can fail verification."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.channels.base import VerificationError
from gateway.channels.unionpay import signing
from gateway.crypto import rsa, x509
from gateway.sandbox.unionpay.keys import MIDDLE_NAME, _name, issue, unionpay_signer
from tests.channels.unionpay.recorded import TEST_ENV_NOTIFY
from tests.support import forge


def _verifier(keys: dict[str, Any], **kw: Any) -> signing.CertVerifier:
    return signing.CertVerifier(keys["root_certificate"], [keys["middle_certificate"]], **kw)


def _signed_by(key_pem: str, cert_pem: str, **fields: str) -> dict[str, str]:
    out = {"version": "5.1.0", "encoding": "UTF-8", "merId": "777290058110097", "orderId": "att01abcdefgh",
           "txnAmt": "100", "respCode": "00", "signMethod": "01", **fields}
    out["signPubKeyCert"] = cert_pem.replace("\n", "\r\n")
    out["signature"] = signing.sign(rsa.load_private_key(key_pem), out)
    return out


def test_sign_string_sorts_drops_empty_values_and_the_signature() -> None:
    fields = {"txnAmt": "1", "accessType": "0", "reqReserved": "", "signature": "xyz", "bizType": "000201",
              "reqReserved2": "{a=1&b=2}"}
    assert signing.sign_string(fields) == "accessType=0&bizType=000201&reqReserved2={a=1&b=2}&txnAmt=1"
    # the RSA input is the 64 lower-case hex characters of SHA-256 over that string
    assert signing.digest(fields) == \
        __import__("hashlib").sha256(signing.sign_string(fields).encode()).hexdigest().encode()


def test_a_signature_made_by_unionpay_verifies_with_the_digest_rule() -> None:
    """The genuine test-environment notify: UnionPay signed the hex digest, not the sign string itself."""
    cert = x509.load_pem(TEST_ENV_NOTIFY["signPubKeyCert"])
    key = cert.public_key()
    assert rsa.verify(key, signing.digest(TEST_ENV_NOTIFY), TEST_ENV_NOTIFY["signature"])  # type: ignore[arg-type]
    assert not rsa.verify(key, signing.sign_string(TEST_ENV_NOTIFY).encode(),  # type: ignore[arg-type]
                          TEST_ENV_NOTIFY["signature"])
    tampered = TEST_ENV_NOTIFY | {"txnAmt": "100"}
    assert not rsa.verify(key, signing.digest(tampered), TEST_ENV_NOTIFY["signature"])  # type: ignore[arg-type]
    # its owner, as the client reads it: field 3 of the CN split on "@"
    assert signing.owner(cert) == "中国银联股份有限公司"
    assert x509.common_name(cert).startswith("041@")


def test_the_real_test_certificate_is_refused_without_its_chain(unionpay_keys: dict[str, Any]) -> None:
    verifier = _verifier(unionpay_keys, clock=lambda: datetime(2022, 9, 8, tzinfo=UTC))
    with pytest.raises(VerificationError) as err:
        verifier.verify(TEST_ENV_NOTIFY)
    assert err.value.code == "untrusted_certificate"


def test_cert_id_is_the_decimal_serial(unionpay_keys: dict[str, Any]) -> None:
    cert = x509.load_pem(unionpay_keys["merchant_certificate"])
    assert signing.cert_id(cert) == str(cert.serial_number) and signing.cert_id(cert).isdigit()
    out = signing.signed(rsa.load_private_key(unionpay_keys["merchant_private_key"]), signing.cert_id(cert),
                         {"merId": "1", "txnAmt": "5"})
    assert out["certId"] == signing.cert_id(cert) and out["signMethod"] == "01"
    assert rsa.verify(cert.public_key(), signing.digest(out), out["signature"])  # type: ignore[arg-type]


def test_a_genuine_answer_verifies(unionpay_keys: dict[str, Any]) -> None:
    fields = _signed_by(unionpay_keys["unionpay_private_key"], unionpay_keys["unionpay_certificate"])
    _verifier(unionpay_keys).verify(fields)
    _verifier(unionpay_keys).verify(fields)  # the second time from the cache


def _code(verifier: signing.CertVerifier, fields: dict[str, str]) -> str:
    with pytest.raises(VerificationError) as err:
        verifier.verify(fields)
    return err.value.code


def test_verification_failures(unionpay_keys: dict[str, Any]) -> None:
    good = _signed_by(unionpay_keys["unionpay_private_key"], unionpay_keys["unionpay_certificate"])
    verifier = _verifier(unionpay_keys)
    assert _code(verifier, good | {"txnAmt": "1"}) == "bad_signature"                 # tampered field
    assert _code(verifier, good | {"extra": "1"}) == "bad_signature"                  # added field
    assert _code(verifier, good | {"signature": good["signature"][:-4] + "AAA="}) == "bad_signature"
    assert _code(verifier, {k: v for k, v in good.items() if k != "signature"}) == "missing_signature"
    assert _code(verifier, {k: v for k, v in good.items() if k != "signPubKeyCert"}) == "missing_certificate"
    assert _code(verifier, good | {"signMethod": "11"}) == "unsupported_sign_method"
    assert _code(verifier, good | {"signPubKeyCert": "-----BEGIN CERTIFICATE-----\r\nAAAA\r\n"}) == "bad_certificate"
    # a self-made certificate claiming to be UnionPay's: right owner, wrong chain
    key, cert = forge.unionpay_impostor()
    assert _code(verifier, _signed_by(key, cert)) == "untrusted_certificate"
    # chained correctly, but its owner is not UnionPay
    middle = rsa.load_private_key(unionpay_keys["middle_private_key"])
    other = unionpay_signer(middle, owner="某某科技有限公司")
    assert _code(verifier, _signed_by(other["unionpay_private_key"], other["unionpay_certificate"])) == "wrong_owner"
    # the test environment's owner name only when CN validation is off (ifValidateCNName=false)
    test_owner = unionpay_signer(middle, owner="00040000:SIGN")
    signed = _signed_by(test_owner["unionpay_private_key"], test_owner["unionpay_certificate"])
    assert _code(verifier, signed) == "wrong_owner"
    _verifier(unionpay_keys, validate_owner=False).verify(signed)
    # expired
    old = unionpay_signer(middle, days=30, not_before=datetime.now(UTC) - timedelta(days=60))
    assert _code(verifier, _signed_by(old["unionpay_private_key"], old["unionpay_certificate"])) == \
        "certificate_expired"


def test_a_certificate_signed_by_the_root_directly_is_not_trusted(unionpay_keys: dict[str, Any]) -> None:
    """The signing certificate must come from the middle CA: the root's name on it is not enough."""
    root = rsa.load_private_key(unionpay_keys["root_private_key"])
    key = rsa.generate_private_key()
    cert = issue(key, _name("041@Z1@中国银联股份有限公司@00000001", "China UnionPay"), root, MIDDLE_NAME, ca=False)
    assert _code(_verifier(unionpay_keys), _signed_by(rsa.private_pem(key), cert)) == "untrusted_certificate"


def test_the_signing_key_from_a_pfx_like_unionpay_issues(unionpay_keys: dict[str, Any]) -> None:
    """acp_test_sign.pfx style: a PKCS#12 with a password; certId is its certificate's serial."""
    import base64

    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    from gateway.channels.unionpay import signing_material

    key = rsa.load_private_key(unionpay_keys["merchant_private_key"])
    cert = x509.load_pem(unionpay_keys["merchant_certificate"])
    pfx = pkcs12.serialize_key_and_certificates(b"sign", key, cert, None, BestAvailableEncryption(b"000000"))
    from_pfx = signing_material({"sign_pfx": base64.b64encode(pfx).decode(), "sign_pfx_password": "000000"})
    from_pem = signing_material({"sign_private_key": unionpay_keys["merchant_private_key"],
                                 "sign_certificate": unionpay_keys["merchant_certificate"]})
    assert from_pfx[1] == from_pem[1] == str(cert.serial_number)
    assert from_pfx[0].private_numbers() == from_pem[0].private_numbers()


def test_the_file_host_matches_the_gateway_host() -> None:
    from gateway.channels.unionpay.client import FILE_HOSTS

    assert FILE_HOSTS["https://gateway.95516.com"] == "https://filedownload.95516.com"
    assert FILE_HOSTS["https://gateway.test.95516.com"] == "https://filedownload.test.95516.com"
