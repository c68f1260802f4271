"""WeChat Pay's verification keys for one merchant: platform certificates and/or the public key.

``Wechatpay-Serial`` picks the key: ``PUB_KEY_ID_…`` → the configured public key; anything else → the
platform certificate with that serial. Both may be configured during WeChat's certificate → public-key
migration, when answers may come signed either way.

An unknown certificate serial triggers one refresh from ``GET /v3/certificates``: single-flight (all
concurrent lookups share one fetch) and at most one per ``min_interval`` so that a flood of forged
serials cannot turn into a flood of requests to WeChat.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from gateway.channels.wechat import signing
from gateway.channels.wechat.protocol import serial_key
from gateway.crypto import aead, rsa

# fetch() -> (status, headers, body) of GET /v3/certificates, or raises on a network failure.
Fetch = Callable[[], Awaitable[tuple[int, Mapping[str, str], bytes]]]


def load_certificate(pem: str) -> tuple[int, rsa.PublicKey] | None:
    cert = x509.load_pem_x509_certificate(pem.encode())
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return None
    return cert.serial_number, rsa.load_public_key(pem)


class KeyStore:
    def __init__(self, *, apiv3_key: bytes, certificates: Iterable[str] = (),
                 public_key_id: str | None = None, public_key: str | None = None,
                 fetch: Fetch, min_interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._apiv3_key = apiv3_key
        self._certs: dict[int, rsa.PublicKey] = {}
        for pem in certificates:
            loaded = load_certificate(pem)
            if loaded:
                self._certs[loaded[0]] = loaded[1]
        self._public_key_id = public_key_id
        self._public_key = rsa.load_public_key(public_key) if public_key else None
        self._fetch = fetch
        self._min_interval = min_interval
        self._clock = clock
        self._last_refresh: float | None = None
        self._inflight: asyncio.Future[None] | None = None
        self.fetches = 0  # how many times GET /v3/certificates was asked; for tests and metrics

    def cached(self, serial: str) -> rsa.PublicKey | None:
        if serial.startswith(signing.PUBLIC_KEY_ID_PREFIX):
            return self._public_key if serial == self._public_key_id else None
        number = serial_key(serial)
        return self._certs.get(number) if number is not None else None

    async def key_for(self, serial: str) -> rsa.PublicKey | None:
        key = self.cached(serial)
        if key is not None or serial.startswith(signing.PUBLIC_KEY_ID_PREFIX) or serial_key(serial) is None:
            # A public key cannot be fetched: a new PUB_KEY_ID is downloaded by the merchant by hand.
            return key
        await self.refresh()
        return self.cached(serial)

    async def refresh(self) -> None:
        if self._inflight is None:
            now = self._clock()
            if self._last_refresh is not None and now - self._last_refresh < self._min_interval:
                return
            self._last_refresh = now
            self._inflight = asyncio.ensure_future(self._do_refresh())
            self._inflight.add_done_callback(self._clear)
        fut = self._inflight
        # shield: one caller being cancelled must not cancel the fetch the others wait for
        await asyncio.shield(fut)

    def _clear(self, fut: asyncio.Future[None]) -> None:
        self._inflight = None
        if not fut.cancelled():
            fut.exception()  # consumed; _do_refresh never raises

    async def _do_refresh(self) -> None:
        self.fetches += 1
        try:
            status, headers, body = await self._fetch()
        except Exception:  # network trouble: keep what we have; the caller answers UNKNOWN
            return
        if status != 200:
            return
        found = self._decrypt_list(body)
        if not found:
            return
        # The list is trusted because it decrypts under the APIv3 key (AEAD authenticates it); the
        # answer's signature is still checked, with the keys we had plus the ones just decrypted.
        candidates = {**self._certs, **found}
        serial = headers.get("Wechatpay-Serial", "")
        if serial.startswith(signing.PUBLIC_KEY_ID_PREFIX):
            key = self._public_key if serial == self._public_key_id else None
        else:
            number = serial_key(serial)
            key = candidates.get(number) if number is not None else None
        if key is None or not signing.timestamp_fresh(headers.get("Wechatpay-Timestamp", ""), time.time()):
            return
        if not signing.verify_response(key, headers.get("Wechatpay-Timestamp", ""),
                                       headers.get("Wechatpay-Nonce", ""), body,
                                       headers.get("Wechatpay-Signature", "")):
            return
        self._certs.update(found)

    def _decrypt_list(self, body: bytes) -> dict[int, rsa.PublicKey]:
        try:
            data: Any = json.loads(body)
            items = data["data"]
        except (ValueError, KeyError, TypeError):
            return {}
        found: dict[int, rsa.PublicKey] = {}
        for item in items if isinstance(items, list) else []:
            enc = item.get("encrypt_certificate") if isinstance(item, dict) else None
            if not isinstance(enc, dict) or enc.get("algorithm") != "AEAD_AES_256_GCM":
                continue
            try:
                pem = aead.decrypt(self._apiv3_key, str(enc.get("nonce", "")),
                                   str(enc.get("associated_data", "")), str(enc.get("ciphertext", "")))
                loaded = load_certificate(pem.decode())
            except (aead.DecryptError, ValueError):
                continue
            if loaded and serial_key(str(item.get("serial_no", ""))) == loaded[0]:
                found[loaded[0]] = loaded[1]
        return found
