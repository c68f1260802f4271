"""QR codes: inline SVG for the page, PNG for download, each rendered once per content and kept in a
small in-process LRU (an attempt's pay data never changes, so the attempt id is a perfect key)."""
from __future__ import annotations

import io
from collections import OrderedDict

import qrcode
import qrcode.image.svg
from markupsafe import Markup
from qrcode.constants import ERROR_CORRECT_M


def svg(data: str) -> str:
    """An ``<svg>`` element (no XML declaration, no script, no style) safe to inline in the page."""
    img = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, border=2,
                      error_correction=ERROR_CORRECT_M)
    text = img.to_string(encoding="unicode")
    return text[text.index("<svg"):]


def png(data: str, box_size: int = 8) -> bytes:
    img = qrcode.make(data, border=2, box_size=box_size, error_correction=ERROR_CORRECT_M)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


class QRCache:
    """``(kind, key)`` → rendered bytes/str; bounded, least recently used evicted first."""

    def __init__(self, max_items: int = 2048) -> None:
        self._items: OrderedDict[tuple[str, str], str | bytes] = OrderedDict()
        self._max = max_items
        self.renders = 0  # how many times we actually rendered: tests check the cache works

    def _get(self, kind: str, key: str, data: str) -> str | bytes:
        item = self._items.get((kind, key))
        if item is not None:
            self._items.move_to_end((kind, key))
            return item
        self.renders += 1
        item = Markup(svg(data)) if kind == "svg" else png(data)  # markup: the page inlines it as it is
        self._items[(kind, key)] = item
        if len(self._items) > self._max:
            self._items.popitem(last=False)
        return item

    def svg(self, key: str, data: str) -> Markup:
        value = self._get("svg", key, data)
        assert isinstance(value, Markup)
        return value

    def png(self, key: str, data: str) -> bytes:
        value = self._get("png", key, data)
        assert isinstance(value, bytes)
        return value
