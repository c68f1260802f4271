"""Identifiers: a prefix naming the kind, then a time-ordered, random, URL- and channel-safe body.

The body is 10 characters of millisecond time and 14 of randomness in Crockford base32 (lower case), so
ids sort by creation -- which keyset pagination relies on -- and fit every channel's order-number rules
(WeChat: 6–32 of ``[A-Za-z0-9_-*|]``; Alipay: ≤ 64).
"""
from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    return f"{prefix}_{_b32(time.time_ns() // 1_000_000, 10)}{_b32(secrets.randbits(70), 14)}"


def new_slug() -> str:
    return _b32(secrets.randbits(60), 12)
