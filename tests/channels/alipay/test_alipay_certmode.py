"""Alipay public-key certificate mode: the SNs against the SDKs' rule and an independent implementation
(python-alipay-sdk's ``DCAliPay``, which computes them with pyOpenSSL), the credentials, and which
downloaded certificates the store accepts."""
from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.channels.alipay import AlipayFactory, certmode
from gateway.crypto import rsa
from gateway.sandbox.alipay import certs, create_app, merchant_cert_credentials, merchant_credentials
from tests.support.net import free_port

alipay_sdk = pytest.importorskip("alipay")


def test_sns_are_the_independent_implementation(alipay_keys: dict[str, Any]) -> None:
    app_sn = certmode.pem_cert_sn(alipay_keys["app_cert"])
    alipay_sn = certmode.pem_cert_sn(alipay_keys["alipay_cert"])
    root_sn = certmode.root_cert_sn(alipay_keys["alipay_root_cert"])
    assert app_sn == alipay_sdk.DCAliPay.get_cert_sn(alipay_keys["app_cert"])
    assert alipay_sn == alipay_sdk.DCAliPay.get_cert_sn(alipay_keys["alipay_cert"])
    assert root_sn == alipay_sdk.DCAliPay.get_root_cert_sn(alipay_keys["alipay_root_cert"])
    # the bundle holds two RSA roots and one ECC root: the ECC one is left out, the others joined by "_"
    parts = root_sn.split("_")
    assert len(parts) == 2 and all(len(p) == 32 and int(p, 16) >= 0 for p in parts)
    # and the sandbox's own computation agrees (it checks what requests carry)
    authority = certs.Authority.from_keys(alipay_keys)
    assert (authority.app_cert_sn, authority.root_cert_sn, authority.current_sn) == (app_sn, root_sn, alipay_sn)


def test_sn_is_md5_of_the_reversed_issuer_and_the_decimal_serial(alipay_keys: dict[str, Any]) -> None:
    cert = x509.load_pem_x509_certificate(alipay_keys["alipay_cert"].encode())
    issuer = certmode.issuer_string(cert)
    assert issuer == "CN=Sandbox Alipay CA Class 2 R1,OU=Certification Authority,O=Gateway Sandbox Alipay,C=CN"
    assert certmode.cert_sn(cert) == hashlib.md5(f"{issuer}{cert.serial_number}".encode()).hexdigest()


def test_credentials_choose_the_mode(alipay_keys: dict[str, Any]) -> None:
    factory = AlipayFactory()
    cert_channel = factory.open(merchant_cert_credentials(alipay_keys), None, "https://x/gateway.do")  # type: ignore[arg-type]
    params = cert_channel._signed("alipay.trade.query", {"out_trade_no": "1"})
    assert params["app_cert_sn"] == certmode.pem_cert_sn(alipay_keys["app_cert"])
    assert params["alipay_root_cert_sn"] == certmode.root_cert_sn(alipay_keys["alipay_root_cert"])
    # the SNs are signed like every other parameter
    assert rsa.verify(rsa.load_public_key(alipay_keys["app_public_key"]),
                      "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign").encode(), params["sign"])
    key_channel = factory.open(merchant_credentials(alipay_keys), None, "https://x/gateway.do")  # type: ignore[arg-type]
    assert "app_cert_sn" not in key_channel._signed("alipay.trade.query", {"out_trade_no": "1"})
    half = {**merchant_cert_credentials(alipay_keys)}
    del half["alipay_root_cert"]
    with pytest.raises(ValueError, match="alipay_root_cert"):
        factory.open(half, None, "https://x/gateway.do")  # type: ignore[arg-type]


def _store(keys: dict[str, Any]) -> certmode.CertStore:
    return certmode.CertStore(app_cert=keys["app_cert"], alipay_certs=[keys["alipay_cert"]],
                              root_bundle=keys["alipay_root_cert"])


def test_a_rotated_certificate_is_accepted_only_if_it_chains_to_the_root(alipay_keys: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    store = _store(alipay_keys)
    authority = certs.Authority.from_keys(alipay_keys)
    new_key = rsa.generate_private_key()
    pem = authority.issue(new_key, now)
    sn = authority.current_sn
    assert store.key_for(sn) is None
    with pytest.raises(certmode.UntrustedCertificate, match="not the one asked for"):
        store.accept(pem, "0" * 32, now)
    with pytest.raises(certmode.UntrustedCertificate, match="validity"):
        store.accept(pem, sn, now + timedelta(days=365 * 6))
    # the leaf alone, without the intermediate that links it to the root, does not chain
    with pytest.raises(certmode.UntrustedCertificate, match="chain"):
        store.accept(certmode.load_certs(pem)[0].public_bytes(Encoding.PEM).decode(), sn, now)
    accepted = store.accept(pem, sn, now)
    assert rsa.public_pem(accepted) == rsa.public_pem(new_key.public_key()) and sn in store.known


def test_a_certificate_of_another_authority_is_refused(alipay_keys: dict[str, Any]) -> None:
    other = certs.generate(alipay_keys["app_public_key"], rsa.private_pem(rsa.generate_private_key()))
    foreign = other["alipay_cert"]
    with pytest.raises(certmode.UntrustedCertificate, match="chain"):
        _store(alipay_keys).accept(foreign, certmode.pem_cert_sn(foreign), datetime.now(UTC))


def test_downloaded_content_is_base64_pem(alipay_keys: dict[str, Any]) -> None:
    text = certmode.downloaded_pem(base64.b64encode(alipay_keys["alipay_cert"].encode()).decode())
    assert text == alipay_keys["alipay_cert"]
    for bad in (None, "", "%%%"):
        with pytest.raises(certmode.UntrustedCertificate):
            certmode.downloaded_pem(bad)


def test_answer_cert_sn() -> None:
    assert certmode.answer_cert_sn('{"a_response":{"code":"10000"},"alipay_cert_sn":"abc","sign":"x"}') == "abc"
    assert certmode.answer_cert_sn('{"a_response":{"alipay_cert_sn":"inner"},"sign":"x"}') is None
    assert certmode.answer_cert_sn("not json") is None


async def test_python_alipay_sdk_in_certificate_mode_is_accepted(aiohttp_server: Any,
                                                                 alipay_keys: dict[str, Any]) -> None:
    """DCAliPay's requests (its SNs, its signature) pass the sandbox's checks, and the sandbox's
    certificate-mode answers pass DCAliPay's verification."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # python-alipay-sdk stamps requests with the local clock, not Beijing time: no skew check here.
    await aiohttp_server(create_app(alipay_keys, public_url=url, timestamp_tolerance=None), port=port)
    sdk = alipay_sdk.DCAliPay(appid=alipay_keys["app_id"], app_private_key_string=alipay_keys["app_private_key"],
                              app_public_key_cert_string=alipay_keys["app_cert"],
                              alipay_public_key_cert_string=alipay_keys["alipay_cert"],
                              alipay_root_cert_string=alipay_keys["alipay_root_cert"])
    sdk._gateway = f"{url}/gateway.do"
    created = await asyncio.to_thread(sdk.api_alipay_trade_precreate, subject="证书", out_trade_no="C1",
                                      total_amount="1.00")
    assert created["code"] == "10000", created
    answer = await asyncio.to_thread(sdk.api_alipay_trade_query, out_trade_no="C1")
    assert answer["sub_code"] == "ACQ.TRADE_NOT_EXIST", answer  # accepted; the QR is not scanned yet
