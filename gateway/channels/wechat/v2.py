"""WeChat Pay APIv2's wire format, for the calls that exist only there (micropay): flat XML bodies and
the key-based signature. Shared by the channel and the sandbox (facts about WeChat, not our mapping).

Signature (安全规范, pay.weixin.qq.com/wiki/doc/api/micropay.php?chapter=4_3): keep the parameters with
a non-empty value other than ``sign``, sort them by name (ASCII), join ``name=value`` with ``&``, append
``&key=<APIv2 key>``; ``MD5`` of that string, or ``HMAC-SHA256`` of it keyed with the APIv2 key, as
upper-case hex. ``sign_type`` is itself a signed parameter. An answer is signed the same way, with the
request's sign type.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from xml.sax.saxutils import escape

HMAC_SHA256 = "HMAC-SHA256"
MD5 = "MD5"
SUCCESS = "SUCCESS"
FAIL = "FAIL"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def sign_string(params: Mapping[str, str], key: str) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != "sign" and v not in ("", None))
    return "&".join(f"{k}={v}" for k, v in pairs) + f"&key={key}"


def sign(params: Mapping[str, str], key: str, sign_type: str = HMAC_SHA256) -> str:
    text = sign_string(params, key).encode()
    if sign_type == HMAC_SHA256:
        return hmac.new(key.encode(), text, hashlib.sha256).hexdigest().upper()
    if sign_type == MD5:
        return hashlib.md5(text).hexdigest().upper()
    raise ValueError(f"unknown sign_type {sign_type!r}")


def verify(params: Mapping[str, str], key: str, sign_type: str) -> bool:
    given = params.get("sign") or ""
    try:
        expected = sign(params, key, sign_type)
    except ValueError:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def nonce() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


def to_xml(params: Mapping[str, str]) -> bytes:
    for name in params:
        if not _NAME.match(name):
            raise ValueError(f"not an XML element name: {name!r}")
    return ("<xml>" + "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in params.items()) + "</xml>").encode()


def from_xml(body: bytes) -> dict[str, str]:
    """A flat ``<xml><name>value</name>…</xml>`` body as a dict; ``ValueError`` for anything else. A
    document type (entities, external references) is refused before parsing."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise ValueError("XML with a document type is refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"malformed XML: {exc}") from None
    if root.tag != "xml":
        raise ValueError("root element must be <xml>")
    out: dict[str, str] = {}
    for child in root:
        if len(child):
            raise ValueError(f"nested element in <{child.tag}>")
        out[child.tag] = child.text or ""
    return out
