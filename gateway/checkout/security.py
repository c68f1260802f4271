"""Where the checkout's forms may lead: our own pages, and the channels' cashier hosts (a few forms answer
with a redirect there, and browsers check redirects after a form submission against ``form-action`` too).
Each channel's factory declares its hosts; the CSP itself, the nonce and the error pages are
:mod:`gateway.web.pages`."""
from __future__ import annotations

from urllib.parse import urlsplit

from gateway.channels.registry import Registry
from gateway.config import Settings


def form_targets(settings: Settings, registry: Registry) -> list[str]:
    targets = [target for f in registry.factories for target in f.form_targets]
    browser_targets = [settings.endpoint(s) for f in registry.factories for s in f.settings if s.browser_target]
    for url in (settings.sandbox_base, *browser_targets):
        if url:
            parts = urlsplit(url)
            targets.append(f"{parts.scheme}://{parts.netloc}")
    return list(dict.fromkeys(targets))
