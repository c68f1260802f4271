"""Channels and their pay methods. The only module that names the channel packages.

Adding a channel: its packages (``channels/<name>/``, ``sandbox/<name>/``) and one line in
:data:`FACTORIES`. The core builds everything channel-shaped -- pay-method enums, CLI choices, settings
and the config reference, checkout choices and labels, CSP hosts -- from here.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from gateway.channels.alipay import AlipayFactory
from gateway.channels.base import ChannelFactory, EndpointSetting, FactoryBase, PayMethodSpec, Ports
from gateway.channels.prepaid import PrepaidFactory
from gateway.channels.unionpay import UnionPayFactory
from gateway.channels.wechat import WechatFactory
from gateway.domain.barcode import CodeRule

# Every channel we speak, in the order the checkout names them. ``timeout`` bounds each channel call.
FACTORIES: tuple[type[FactoryBase], ...] = (
    WechatFactory,
    AlipayFactory,
    UnionPayFactory,
    PrepaidFactory,
)


class UnknownPayMethod(LookupError):
    pass


class Registry:
    def __init__(self, factories: Iterable[ChannelFactory]) -> None:
        self._channels: dict[str, ChannelFactory] = {}
        self._methods: dict[str, ChannelFactory] = {}
        self._specs: dict[str, PayMethodSpec] = {}
        for factory in factories:
            self._channels[factory.name] = factory
            for spec in factory.methods:
                if spec.code in self._methods:
                    raise ValueError(f"pay method {spec.code} registered twice")
                self._methods[spec.code] = factory
                self._specs[spec.code] = spec
        # Fixed from here on: the lists the hot paths ask for are made once.
        self._pay_methods = sorted(self._methods)
        self._channel_names = sorted(self._channels)
        self._pay_method_channels = {m: f.name for m, f in self._methods.items()}

    def knows(self, pay_method: str) -> bool:
        return pay_method in self._specs

    @property
    def method_channels(self) -> Mapping[str, str]:
        """Pay method → the name of its channel."""
        return MappingProxyType(self._pay_method_channels)

    def bind(self, ports: Ports) -> None:
        """Hand every factory the gateway's services an in-process channel needs (the composition root)."""
        for factory in self._channels.values():
            factory.bind(ports)

    def for_method(self, pay_method: str) -> ChannelFactory:
        try:
            return self._methods[pay_method]
        except KeyError:
            raise UnknownPayMethod(pay_method) from None

    def spec(self, pay_method: str) -> PayMethodSpec:
        try:
            return self._specs[pay_method]
        except KeyError:
            raise UnknownPayMethod(pay_method) from None

    def channel(self, name: str) -> ChannelFactory:
        try:
            return self._channels[name]
        except KeyError:
            raise UnknownPayMethod(name) from None

    @property
    def factories(self) -> list[ChannelFactory]:
        return list(self._channels.values())

    @property
    def specs(self) -> list[PayMethodSpec]:
        return list(self._specs.values())

    @property
    def pay_methods(self) -> list[str]:
        return list(self._pay_methods)

    @property
    def channels(self) -> list[str]:
        return list(self._channel_names)


def default_registry(*, timeout: float = 10.0) -> Registry:
    """Every channel we speak; ``timeout`` bounds each channel call (then the answer is *unknown*)."""
    return Registry(factory(timeout=timeout) for factory in FACTORIES)  # type: ignore[misc]


def channel_names() -> list[str]:
    return sorted(f.name for f in FACTORIES)


def credentials_help() -> str:
    """Each channel's credential fields, for the CLI's help ("?" = optional)."""
    return "; ".join(f"{f.name}: {', '.join(f.credential_fields)}" for f in sorted(FACTORIES, key=lambda f: f.name))


def pay_method_specs() -> list[PayMethodSpec]:
    """Every pay method, in registry order (for enums and documentation, before any app exists)."""
    return [spec for f in FACTORIES for spec in f.methods]


def payment_code_rules() -> list[CodeRule]:
    """Every channel's payment-code rules (barcode pay), in registry order."""
    return [rule for f in FACTORIES for rule in f.payment_codes]


def endpoint_settings() -> list[EndpointSetting]:
    return [s for f in sorted(FACTORIES, key=lambda f: f.name) for s in f.settings]


def account_ref(channel: str, credentials: Mapping[str, Any]) -> str:
    """An account's public identity at its channel (the factory's rule), without a registry at hand."""
    for factory in FACTORIES:
        if factory.name == channel:
            return factory().account_ref(credentials)
    raise UnknownPayMethod(channel)
