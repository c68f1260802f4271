"""Every channel's contract driver: a new channel adds its driver to :data:`DRIVERS`."""
from __future__ import annotations

from tests.contract.drivers.alipay import AlipayDriver
from tests.contract.drivers.alipay_cert import AlipayCertDriver
from tests.contract.drivers.base import ChannelDriver
from tests.contract.drivers.unionpay import UnionPayDriver
from tests.contract.drivers.wechat import WechatDriver

DRIVERS: tuple[ChannelDriver, ...] = (AlipayDriver(), WechatDriver(), UnionPayDriver(), AlipayCertDriver())


def driver_for(pay_method: str) -> ChannelDriver:
    """The driver of the channel that offers ``pay_method``."""
    for driver in DRIVERS:
        if pay_method in driver.pay_methods:
            return driver
    raise KeyError(pay_method)
