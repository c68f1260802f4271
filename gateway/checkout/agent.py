"""Which browser is this? Decides the pay flow: QR on a desktop, redirects on a phone, the wallet's own
flow inside a wallet app. User-Agent sniffing is what the channels document for this choice; each
channel's factory names its app's marker and which browsers can complete each of its pay methods."""
from __future__ import annotations

from gateway.channels.registry import Registry
from gateway.domain.pay import DESKTOP, MOBILE, ActionKind, Browser, BrowserKind

_MOBILE_MARKERS = ("Mobile", "Android", "iPhone", "iPad", "iPod", "HarmonyOS", "Windows Phone")


def detect(registry: Registry, user_agent: str | None) -> Browser:
    ua = user_agent or ""
    for factory in registry.factories:
        if factory.in_app_marker and factory.in_app_marker in ua:
            return Browser(BrowserKind.IN_APP, factory.name)
    if any(marker in ua for marker in _MOBILE_MARKERS):
        return MOBILE
    return DESKTOP


def usable(registry: Registry, browser: Browser, allowed: list[str]) -> list[str]:
    """The allowed methods this browser can complete, in order of preference."""
    specs = [registry.spec(m) for m in allowed if registry.knows(m)]
    return [s.code for s in sorted(specs, key=lambda s: (s.rank, s.code)) if browser.value in s.browsers]


def kind_of(registry: Registry, method: str) -> ActionKind:
    return registry.spec(method).action


def in_app_methods(registry: Registry, allowed: list[str]) -> list[str]:
    """Allowed methods some wallet app's browser can complete (the aggregated code leads there)."""
    browsers = {f.name for f in registry.factories}
    return [m for m in allowed if registry.knows(m) and registry.spec(m).browsers & browsers]
