"""URLs as a browser reads them (the WHATWG URL Standard, through ada, the parser Node.js uses).

The check that a ``return_url`` stays on the merchant's return domains must read the URL exactly as the
shopper's browser will, or the two disagree on the host: Python's ``urlsplit`` reads
``https://shop.example\\@evil.example/`` as host ``evil.example`` where a browser goes to ``shop.example``
(and the other way round with the backslash elsewhere); it keeps full-width ``ｓｈｏｐ．example`` as is
where a browser maps it to ``shop.example``; it raises on ``http://[::1`` -- a page answering 500 for good.

So: one parser here, used when a URL is accepted and again when it is followed, and the URL followed is
the parser's own serialisation. A URL is refused outright when a browser would quietly repair it
(control characters or whitespace anywhere, which browsers strip) or when it hides a second name
(user info before ``@``).
"""
from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass

import ada_url


@dataclass(frozen=True)
class HttpUrl:
    href: str  # the browser's serialisation: what to redirect to
    host: str  # lower-case ASCII (punycode), without a trailing dot; IPv6 in brackets
    port: int | None


def parse_http_url(raw: object) -> HttpUrl | None:
    """An absolute ``http``/``https`` URL as a browser reads it, or None when it is not one we follow."""
    if not isinstance(raw, str) or not raw or len(raw) > 2048:
        return None
    if any(ch.isspace() or ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in raw):
        return None  # browsers strip tabs and newlines and trim controls: what they follow is not what we saw
    try:
        url = ada_url.URL(raw)
        scheme, host, port = url.protocol, url.hostname, url.port
        userinfo = url.username or url.password
        href = url.href
    except (ValueError, TypeError, UnicodeError):
        return None
    if scheme not in ("http:", "https:") or not host or userinfo:
        return None
    if not raw.lower().startswith(scheme + "//"):  # "https:shop.example", "https:/\\shop": browsers fix, we refuse
        return None
    return HttpUrl(href=href, host=host.lower().rstrip("."), port=int(port) if port else None)


def normalise_domain(domain: object) -> str | None:
    """A registered return domain (``Shop.Example``, ``bücher.example``, ``127.0.0.1``) as the host a
    browser would show for it, or None if it is not a bare host name."""
    if not isinstance(domain, str) or not domain.strip() or any(c in domain for c in "/\\@?#:"):
        return None
    parsed = parse_http_url(f"https://{domain.strip()}/")
    return parsed.host if parsed is not None else None


def return_domains(stored: object) -> list[str]:
    """A merchant's return domains as stored (a JSON list), normalised; anything unreadable is none."""
    if isinstance(stored, str):
        return list(_stored_domains(stored))  # every checkout page reads them: parsed once per text
    return list(_domains(stored))


@functools.lru_cache(maxsize=1024)
def _stored_domains(stored: str) -> tuple[str, ...]:
    return _domains(stored)


def _domains(stored: object) -> tuple[str, ...]:
    try:
        values = json.loads(stored) if isinstance(stored, str) else stored
    except ValueError:
        return ()
    if not isinstance(values, list):
        return ()
    return tuple(sorted({d for d in (normalise_domain(v) for v in values) if d}))


def allowed_return(raw: object, domains: Iterable[str]) -> str | None:
    """The URL to send the shopper back to -- ``raw`` as a browser would serialise it -- if its host is
    exactly one of ``domains`` (any port); else None. Never raises, whatever ``raw`` holds."""
    parsed = parse_http_url(raw)
    if parsed is None:
        return None
    return parsed.href if parsed.host in set(domains) else None
