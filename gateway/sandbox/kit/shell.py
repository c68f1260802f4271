"""The phone-page shell: what a shopper's phone shows at a channel's cashier, QR or pay link.

One skeleton for every channel -- tiny, self-contained (no external assets), escaped, unframeable --
into which a channel puts its name, colour and content. Its buttons POST ``action=pay|cancel`` to the
page's own URL, so a person and a test drive the same code path.
"""
from __future__ import annotations

from html import escape

from aiohttp import web

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:26em;margin:3em auto;padding:0 1em;color:#222}"
          "h1{font-size:1.2em;color:%s}.amount{font-size:2em;margin:.3em 0}"
          "button{font-size:1em;padding:.5em 1.2em;margin:.3em .5em .3em 0}.muted{color:#777;font-size:.85em}")
# Inline style only: no script, no frame. No form-action: a pay button's POST ends in a redirect to
# the merchant's return URL, which may be on another origin than the sandbox.
_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'", "X-Frame-Options": "DENY"}


def page(title: str, body: str, *, heading: str, accent: str, status: int = 200) -> web.Response:
    """``body`` is trusted HTML (the channel escapes what it puts in); ``title`` and ``heading`` are text."""
    text = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_STYLE % accent}</style></head>"
            f"<body><h1>{escape(heading)}</h1>{body}</body></html>")
    return web.Response(text=text, content_type="text/html", charset="utf-8", status=status,
                        headers=_HEADERS)


def pay_buttons(action_url: str, pay: str = "确认付款 Pay", cancel: str = "取消 Cancel") -> str:
    return (f'<form method="post" action="{escape(action_url)}">'
            f'<button type="submit" name="action" value="pay" id="pay">{escape(pay)}</button>'
            f'<button type="submit" name="action" value="cancel" id="cancel">{escape(cancel)}</button></form>')
