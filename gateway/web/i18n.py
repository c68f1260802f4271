"""Languages for every HTML audience: Simplified Chinese (the default) and English, negotiated per request,
and locale-aware amounts.

Each audience (the checkout, later the operator console) registers its own :class:`Catalogue` of messages;
the messages every page shares -- the error pages' titles -- are :data:`COMMON`, and an audience's own
messages override them. The language is the visitor's explicit choice (a cookie the audience names),
else the best match of ``Accept-Language``, else zh-CN.
"""
from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from gateway.domain.money import format_major

LANGS = ("zh-CN", "en")
DEFAULT = "zh-CN"

COMMON: dict[str, dict[str, str]] = {
    "zh-CN": {"error": "出错了", "not_found": "找不到该页面", "forbidden": "请求已失效，请刷新页面后重试。",
              "switch_lang": "English", "unavailable": "服务暂时繁忙，请稍后刷新页面重试。"},
    "en": {"error": "Something went wrong", "not_found": "No such page",
           "forbidden": "This request has expired; reload the page and try again.", "switch_lang": "中文",
           "unavailable": "We are briefly unavailable; reload the page in a moment."},
}


class Catalogue:
    """One audience's messages per language (over :data:`COMMON`) and the cookie holding the visitor's
    choice."""

    def __init__(self, messages: Mapping[str, Mapping[str, str]], *, cookie: str) -> None:
        missing = set(LANGS) ^ set(messages)
        if missing:
            raise ValueError(f"catalogue languages differ from {LANGS}: {sorted(missing)}")
        self.cookie = cookie
        self.strings: dict[str, dict[str, str]] = {lang: {**COMMON[lang], **messages[lang]} for lang in LANGS}

    def language(self, request: web.Request) -> str:
        return negotiate(request, self.cookie)


def negotiate(request: web.Request, cookie: str) -> str:
    chosen = request.cookies.get(cookie)
    if chosen in LANGS:
        return chosen
    best, best_q = DEFAULT, 0.0
    for part in request.headers.get("Accept-Language", "").split(","):
        tag, _, params = part.strip().partition(";")
        try:
            q = float(params.strip().removeprefix("q=")) if params.strip().startswith("q=") else 1.0
        except ValueError:
            continue
        tag = tag.strip().lower()
        lang = "zh-CN" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if lang and q > best_q:
            best, best_q = lang, q
    return best


def other_language(lang: str) -> str:
    """The language the switch offers."""
    return LANGS[1 - LANGS.index(lang)]


def format_amount(minor: int, currency: str, lang: str) -> str:
    """Exact, from integer fen: ``123456`` → ``¥1,234.56`` (zh-CN) / ``CN¥1,234.56`` (en)."""
    whole, _, frac = format_major(minor, currency).partition(".")
    grouped = f"{int(whole):,}" + (f".{frac}" if frac else "")
    if currency == "CNY":
        return ("¥" if lang == "zh-CN" else "CN¥") + grouped
    return f"{currency} {grouped}"
