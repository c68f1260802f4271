"""Charts drawn on the server as inline SVG: no script, nothing for the CSP to allow. Each chart has a
``<title>`` per mark (the browser's tooltip) and the pages show the same numbers in a table beside it."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from markupsafe import Markup

ACCENT, REFUND, GRID, MUTED = "#1677ff", "#f59e0b", "#e5e7eb", "#6b7280"


def _nice_max(value: int) -> int:
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def daily_bars(days: Sequence[Mapping[str, Any]], label: Callable[[int], str], *, width: int = 720,
               height: int = 220, title: str = "") -> Markup:
    """Paid amount per day as bars, refunds as a thinner bar in front."""
    pad_l, pad_b, pad_t = 56, 22, 8
    n = max(len(days), 1)
    top = _nice_max(max([int(d["amount"]) for d in days] + [int(d["refunded"]) for d in days] + [0]))
    plot_w, plot_h = width - pad_l - 4, height - pad_b - pad_t
    slot = plot_w / n
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="system-ui,sans-serif">']
    for i in range(5):
        y = pad_t + plot_h * i / 4
        parts.append(f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - 4}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">'
                     f'{escape(label(round(top * (4 - i) / 4)))}</text>')
    every = max(1, n // 8)
    for i, d in enumerate(days):
        x = pad_l + i * slot
        for value, color, shrink in ((int(d["amount"]), ACCENT, 0.15), (int(d["refunded"]), REFUND, 0.35)):
            if value:
                h = plot_h * value / top
                parts.append(f'<rect x="{x + slot * shrink:.1f}" y="{pad_t + plot_h - h:.1f}" '
                             f'width="{max(slot * (1 - 2 * shrink), 1):.1f}" height="{h:.1f}" fill="{color}">'
                             f'<title>{escape(str(d["day"]))}: {escape(label(value))}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{height - 6}" text-anchor="middle" fill="{MUTED}">'
                         f'{escape(str(d["day"])[5:])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def share_bars(rows: Sequence[tuple[str, int]], label: Callable[[int], str], *, width: int = 720,
               title: str = "") -> Markup:
    """One horizontal bar per row (e.g. channel × pay method), scaled to the largest."""
    bar_h, gap, pad_l = 18, 8, 150
    height = max(len(rows), 1) * (bar_h + gap) + gap
    top = max([v for _, v in rows] + [1])
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg" font-size="12" font-family="system-ui,sans-serif">']
    for i, (name, value) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = (width - pad_l - 110) * value / top
        parts.append(f'<text x="{pad_l - 6}" y="{y + 13}" text-anchor="end">{escape(name)}</text>')
        parts.append(f'<rect x="{pad_l}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" fill="{ACCENT}">'
                     f'<title>{escape(name)}: {escape(label(value))}</title></rect>')
        parts.append(f'<text x="{pad_l + w + 6:.1f}" y="{y + 13}" fill="{MUTED}">{escape(label(value))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
