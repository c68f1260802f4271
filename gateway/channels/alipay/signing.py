"""Alipay's RSA2 sign-content rules, byte for byte.

Three different messages are signed (sources: official Java SDK ``AlipaySignature`` getSignContent /
getSignCheckContentV1, official Python SDK ``SignatureUtils``):

* a request: every parameter except ``sign``, empty values dropped, ``sign_type`` *included*;
* a notify or return_url redirect: the same minus ``sign`` *and* ``sign_type`` (rsaCheckV1);
* a synchronous response: the exact text of the ``*_response`` object as it stands in the body.

Values are the decoded strings, joined ``k=v`` with ``&`` in ASCII key order -- never re-quoted and
never re-serialised (``biz_content`` is signed as the JSON text actually sent).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.crypto import rsa

SIGN_TYPE = "RSA2"


def _content(params: Mapping[str, str], drop: frozenset[str]) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in drop and params[k] != "")


def request_sign_content(params: Mapping[str, str]) -> str:
    """What the app signs and the gateway verifies."""
    return _content(params, frozenset({"sign"}))


def notify_sign_content(params: Mapping[str, str]) -> str:
    """What Alipay signs in an async notify / return redirect (``sign_type`` is not part of it)."""
    return _content(params, frozenset({"sign", "sign_type"}))


def sign(key: rsa.PrivateKey, content: str, charset: str = "utf-8") -> str:
    return rsa.sign(key, content.encode(charset))


def verify_any(keys: Iterable[rsa.PublicKey], content: str, signature: str, charset: str = "utf-8") -> bool:
    """True if any of ``keys`` verifies: during a key rotation both the old and the new key are valid."""
    try:
        message = content.encode(charset)
    except (LookupError, UnicodeEncodeError):
        return False
    return any(rsa.verify(key, message, signature) for key in keys)


def verify_response(keys: Iterable[rsa.PublicKey], content: str, signature: str, charset: str = "utf-8") -> bool:
    """A synchronous answer's signature over its exact ``*_response`` text; if that fails and the text
    escapes ``/`` as ``\\/``, once more with ``/`` -- as the official SDKs do ("针对JSON \\/问题，替换/后再
    尝试做一次验证", ``AbstractAlipayClient.checkResponseSign``): Alipay signs URLs unescaped."""
    keys = tuple(keys)
    if verify_any(keys, content, signature, charset):
        return True
    return "\\/" in content and verify_any(keys, content.replace("\\/", "/"), signature, charset)


@dataclass(frozen=True, slots=True)
class SignedBody:
    """The members of a gateway.do answer located in its text: ``content`` is the exact substring of
    the response object (what the signature covers), ``key`` its member name."""

    key: str
    content: str
    sign: str | None


class MalformedResponse(ValueError):
    pass


_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def top_level_members(text: str) -> dict[str, tuple[int, int]]:
    """Span ``(start, end)`` in ``text`` of each top-level member value.

    Walks the outer object with the JSON decoder itself, so braces or quotes inside string values
    cannot mislead it (unlike a brace counter), and a nested ``"x_response"`` key is never taken for
    the top-level one.
    """
    i = _skip_ws(text, 0)
    if i >= len(text) or text[i] != "{":
        raise MalformedResponse("not a JSON object")
    spans: dict[str, tuple[int, int]] = {}
    i = _skip_ws(text, i + 1)
    if i < len(text) and text[i] == "}":
        return spans
    while True:
        try:
            key, i = _DECODER.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise MalformedResponse(str(exc)) from None
        if not isinstance(key, str):
            raise MalformedResponse("member name is not a string")
        i = _skip_ws(text, i)
        if i >= len(text) or text[i] != ":":
            raise MalformedResponse("expected ':'")
        start = _skip_ws(text, i + 1)
        try:
            _, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            raise MalformedResponse(str(exc)) from None
        if key in spans:
            raise MalformedResponse(f"duplicate member {key!r}")  # never pick one of two candidates
        spans[key] = (start, end)
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
            continue
        if i < len(text) and text[i] == "}":
            if _skip_ws(text, i + 1) != len(text):
                raise MalformedResponse("trailing data")
            return spans
        raise MalformedResponse("expected ',' or '}'")


def locate_response(text: str, method: str) -> SignedBody:
    """Find the ``<method>_response`` (or gateway-level ``error_response``) object and the ``sign``."""
    spans = top_level_members(text)
    wanted = method.replace(".", "_") + "_response"
    key = wanted if wanted in spans else "error_response" if "error_response" in spans else None
    if key is None:
        raise MalformedResponse(f"no {wanted} in answer")
    start, end = spans[key]
    if text[start] != "{":
        raise MalformedResponse(f"{key} is not an object")
    sign_value: str | None = None
    if "sign" in spans:
        s, e = spans["sign"]
        raw = json.loads(text[s:e])
        if not isinstance(raw, str):
            raise MalformedResponse("sign is not a string")
        sign_value = raw
    return SignedBody(key=key, content=text[start:end], sign=sign_value)


def signed_response_body(method_key: str, content: str, signature: str) -> str:
    """``{"<key>":<content>,"sign":"..."}`` with ``sign`` right after the object: the official SDK's
    regex fails if anything stands between them."""
    return '{"' + method_key + '":' + content + ',"sign":"' + signature + '"}'
