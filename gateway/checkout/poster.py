"""The payment link's printable poster: its QR code with the merchant's name, subject and amount."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from gateway.checkout.qr import png
from gateway.store.base import Row
from gateway.web.i18n import format_amount

# A CJK-capable font where the system has one (Debian: fonts-noto-cjk, fonts-wqy-*); DejaVu otherwise.
_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)


def _font_path() -> str | None:
    return next((p for p in _FONT_CANDIDATES if Path(p).exists()), None)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_path()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size)


def _fit(draw: ImageDraw.ImageDraw, text: str, size: int, width: int) -> tuple[str, Any]:
    font = _font(size)
    while draw.textlength(text, font=font) > width and len(text) > 1:
        text = text[:-2] + "…"
    return text, font


def render_poster(url: str, merchant_name: str, subject: str, amount_text: str | None, caption: str) -> bytes:
    """A 600×860 printable PNG: merchant name, subject, amount (if fixed), the QR code, a caption."""
    width, margin = 600, 40
    img = Image.new("RGB", (width, 860), "white")
    draw = ImageDraw.Draw(img)
    y = margin
    for text, size in ((merchant_name, 34), (subject, 24), (amount_text or "", 40)):
        if text:
            text, font = _fit(draw, text, size, width - 2 * margin)
            draw.text((width // 2, y), text, fill="#1d2129", font=font, anchor="ma")
            y += size + 24
    code = Image.open(io.BytesIO(png(url, box_size=10))).convert("RGB").resize((440, 440), Image.Resampling.NEAREST)
    img.paste(code, ((width - 440) // 2, y + 10))
    caption_text, font = _fit(draw, caption, 22, width - 2 * margin)
    draw.text((width // 2, y + 470), caption_text, fill="#6b7280", font=font, anchor="ma")
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def amount_text(link: Row, lang: str) -> str | None:
    return None if link["amount"] is None else format_amount(link["amount"], link["currency"], lang)
