"""AES-256-GCM as WeChat Pay APIv3 uses it: base64(ciphertext ‖ 16-byte tag), text nonce and AAD."""
from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class DecryptError(ValueError):
    pass


def encrypt(key: bytes, nonce: str, associated_data: str, plaintext: bytes) -> str:
    return base64.b64encode(AESGCM(key).encrypt(nonce.encode(), plaintext, associated_data.encode())).decode()


def decrypt(key: bytes, nonce: str, associated_data: str, ciphertext_b64: str) -> bytes:
    if len(key) != 32:
        raise DecryptError("the key must be 32 bytes")
    try:
        data = base64.b64decode(ciphertext_b64, validate=True)
        return AESGCM(key).decrypt(nonce.encode(), data, associated_data.encode())
    except (binascii.Error, ValueError, InvalidTag) as exc:
        raise DecryptError("cannot decrypt the resource") from exc
