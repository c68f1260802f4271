"""What the shopper's browser must do to pay, in our terms: a typed *pay action*, and the browsers that
can perform it.

A channel's transformers build a :class:`PayAction` from the channel's answer; the checkout renders it
by ``kind`` and the merchant API returns it as the payment's ``next_action``. No channel field name
crosses this boundary. Pure data, no I/O.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote


class ActionKind(StrEnum):
    QR = "qr"                # show a code to scan: ``qr`` is its content
    REDIRECT = "redirect"    # send the browser to ``url``
    FORM_POST = "form_post"  # auto-submit a form of ``fields`` to ``url``
    JSAPI = "jsapi"          # inside a wallet's browser: ``params`` go to its JS bridge
    APP = "app"              # a native app: ``params`` go to the wallet's SDK
    CONFIRM = "confirm"      # nothing to show; the shopper confirms on our page


@dataclass(frozen=True, slots=True)
class PayAction:
    """``return_param``: for a redirect, the query parameter under which the channel's page takes the
    URL to send the shopper back to (appended by whoever knows that URL), if it takes one."""

    kind: ActionKind
    qr: str | None = None
    url: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    return_param: str | None = None

    @classmethod
    def show_qr(cls, content: str) -> PayAction:
        return cls(ActionKind.QR, qr=content)

    @classmethod
    def redirect(cls, url: str, *, return_param: str | None = None) -> PayAction:
        return cls(ActionKind.REDIRECT, url=url, return_param=return_param)

    @classmethod
    def form_post(cls, url: str, fields: Mapping[str, str]) -> PayAction:
        return cls(ActionKind.FORM_POST, url=url, fields=dict(fields))

    @classmethod
    def jsapi(cls, params: Mapping[str, str]) -> PayAction:
        return cls(ActionKind.JSAPI, params=dict(params))

    def to_json(self) -> dict[str, Any]:
        """``{"type": kind, …its data}``: the merchant API's ``next_action`` and the stored form."""
        out: dict[str, Any] = {"type": self.kind.value}
        if self.qr is not None:
            out["qr"] = self.qr
        if self.url is not None:
            out["url"] = self.url
        if self.fields:
            out["fields"] = dict(self.fields)
        if self.params:
            out["params"] = dict(self.params)
        if self.return_param is not None:
            out["return_param"] = self.return_param
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PayAction:
        return cls(ActionKind(data["type"]), qr=data.get("qr"), url=data.get("url"),
                   fields=dict(data.get("fields") or {}), params=dict(data.get("params") or {}),
                   return_param=data.get("return_param"))

    @classmethod
    def loads(cls, text: str | None) -> PayAction | None:
        """The action stored with an attempt; ``None`` when there is none (not opened, or stored before
        actions were typed -- such an attempt is simply replaced when the shopper pays)."""
        try:
            data = json.loads(text or "{}")
            return cls.from_json(data) if isinstance(data, dict) and "type" in data else None
        except (ValueError, KeyError):
            return None

    def with_return(self, back: str) -> str:
        """The redirect's URL with ``back`` appended under :attr:`return_param` (URL-encoded)."""
        assert self.url is not None
        if not self.return_param:
            return self.url
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}{self.return_param}={quote(back, safe='')}"


class BrowserKind(StrEnum):
    DESKTOP = "desktop"
    MOBILE = "mobile"
    IN_APP = "in_app"    # a wallet app's own browser; ``Browser.app`` says which channel's


@dataclass(frozen=True, slots=True)
class Browser:
    """Who is paying: a desktop browser, a phone browser, or a wallet app's browser (``app`` = the
    channel name whose wallet it is)."""

    kind: BrowserKind
    app: str | None = None

    @property
    def value(self) -> str:
        return self.app if self.kind is BrowserKind.IN_APP and self.app else self.kind.value


DESKTOP = Browser(BrowserKind.DESKTOP)
MOBILE = Browser(BrowserKind.MOBILE)
