"""The payment link's printable poster: its QR code with the merchant's name, subject and amount.

An SVG with real text, not a raster drawn on the server: the server needs no CJK font (a Debian host
without ``fonts-noto-cjk`` drew boxes for Chinese into the former PNG), the viewer's or printer's own fonts
set the Chinese, and the vector prints sharp at any size. Its nominal size is 1200 × 1700 px (A-series
proportions, 10 cm wide at 300 dpi); the QR code is one path of whole modules, so scaling keeps it
scannable.
"""
from __future__ import annotations

from xml.sax.saxutils import escape

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from gateway.store.base import Row
from gateway.web.i18n import format_amount

WIDTH, HEIGHT = 1200, 1700
_FONTS = "'PingFang SC','Hiragino Sans GB','Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei',sans-serif"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def qr_path(data: str, x: int, y: int, size: int) -> str:
    """The code as one ``<path>`` of unit squares, scaled to ``size`` px at ``(x, y)``."""
    code = qrcode.QRCode(border=2, error_correction=ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    n = len(matrix)
    d = "".join(f"M{c} {r}h1v1h-1z" for r, row in enumerate(matrix) for c, on in enumerate(row) if on)
    scale = size / n
    return (f'<g transform="translate({x} {y}) scale({scale:.5f})"><rect width="{n}" height="{n}" fill="#fff"/>'
            f'<path d="{d}" fill="#000" shape-rendering="crispEdges"/></g>')


def render_poster(url: str, merchant_name: str, subject: str, amount_text: str | None, caption: str) -> str:
    """A standalone SVG document: merchant name, subject, amount (if fixed), the QR code, a caption."""
    lines = [(_clip(merchant_name, 24), 64, "700", "#1d2129"), (_clip(subject, 32), 46, "400", "#1d2129")]
    if amount_text:
        lines.append((amount_text, 84, "700", "#1d2129"))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="{_FONTS}">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>']
    y = 150
    for text, size, weight, colour in lines:
        out.append(f'<text x="{WIDTH // 2}" y="{y}" font-size="{size}" font-weight="{weight}" fill="{colour}" '
                   f'text-anchor="middle">{escape(text)}</text>')
        y += size + 50
    side = 900
    out.append(qr_path(url, (WIDTH - side) // 2, y, side))
    out.append(f'<text x="{WIDTH // 2}" y="{y + side + 90}" font-size="44" fill="#4b5563" '
               f'text-anchor="middle">{escape(_clip(caption, 40))}</text>')
    out.append("</svg>")
    return "".join(out)


def amount_text(link: Row, lang: str) -> str | None:
    return None if link["amount"] is None else format_amount(link["amount"], link["currency"], lang)
