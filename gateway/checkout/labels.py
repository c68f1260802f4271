"""The checkout's strings with the channels' names filled in: pay-method labels and the wallet app names
come from the channel registry, the sentences around them from :mod:`gateway.checkout.i18n`."""
from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

from gateway.channels.registry import Registry
from gateway.checkout.i18n import STRINGS

_WITH_APPS = ("aggregated", "other_scanner", "other_scanner_detail", "scan_any")


@functools.lru_cache(maxsize=16)  # a registry's texts in a language never change: made once, read-only
def texts(registry: Registry, lang: str) -> Mapping[str, str]:
    base = STRINGS[lang]
    apps = base["or"].join(f.app_names[lang] for f in registry.factories if f.in_app_marker)
    out = dict(base)
    for key in _WITH_APPS:
        out[key] = base[key].format(apps=apps)
    for spec in registry.specs:
        out[spec.code] = spec.labels[lang]
    return MappingProxyType(out)


def scan_prompt(registry: Registry, lang: str, method: str) -> str:
    """"Scan with <the app of this method's channel>"."""
    return STRINGS[lang]["scan_with"].format(app=registry.for_method(method).app_names[lang])
