"""The channel marks (``templates/checkout/marks.html``) as a template global, each rendered once: a page
shows several, and a mark depends on nothing but its channel and size."""
from __future__ import annotations

import functools
from collections.abc import Callable

import jinja2
from markupsafe import Markup


def mark_renderer(env: jinja2.Environment) -> Callable[..., Markup]:
    macro = env.get_template("checkout/marks.html").module.mark  # type: ignore[attr-defined]

    @functools.lru_cache(maxsize=64)
    def mark(channel: str, size: int = 24) -> Markup:
        return Markup(macro(channel, size))

    return mark
