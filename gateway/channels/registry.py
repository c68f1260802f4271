"""Pay-method codes → channels. The only module that names the channel packages."""
from __future__ import annotations

from collections.abc import Iterable

from gateway.channels.base import ChannelFactory


class UnknownPayMethod(LookupError):
    pass


class Registry:
    def __init__(self, factories: Iterable[ChannelFactory]) -> None:
        self._channels: dict[str, ChannelFactory] = {}
        self._methods: dict[str, ChannelFactory] = {}
        for factory in factories:
            self._channels[factory.name] = factory
            for method in factory.pay_methods:
                if method in self._methods:
                    raise ValueError(f"pay method {method} registered twice")
                self._methods[method] = factory

    def for_method(self, pay_method: str) -> ChannelFactory:
        try:
            return self._methods[pay_method]
        except KeyError:
            raise UnknownPayMethod(pay_method) from None

    def channel(self, name: str) -> ChannelFactory:
        try:
            return self._channels[name]
        except KeyError:
            raise UnknownPayMethod(name) from None

    @property
    def pay_methods(self) -> list[str]:
        return sorted(self._methods)

    @property
    def channels(self) -> list[str]:
        return sorted(self._channels)


def default_registry(*, timeout: float = 10.0) -> Registry:
    """Every channel we speak; ``timeout`` bounds each channel call (then the answer is *unknown*)."""
    from gateway.channels.alipay import AlipayFactory
    from gateway.channels.wechat import WechatFactory

    return Registry([AlipayFactory(timeout=timeout), WechatFactory(timeout=timeout)])
