"""What every channel sandbox shares, so that a channel's sandbox is its protocol and nothing else.

* :mod:`.faults` -- one fault vocabulary (:class:`Fault`), one book that hands faults to operations, and
  one way to apply an API fault to an operation's answer;
* :mod:`.notifier` -- callbacks: retry schedules as data, drop/duplicate/delay/reorder, time compression,
  tasks owned by the app and cancelled on reset;
* :mod:`.control` -- the ``/_control/`` API, the same routes and JSON bodies for every channel;
* :mod:`.refunds` -- when an accepted refund becomes final (after a delay, or at once);
* :mod:`.shell` -- the phone-page shell (each channel fills in its content).

:func:`install` wires the first three into a channel's app.
"""
from __future__ import annotations

from gateway.sandbox.kit.control import CONTROLS, ChannelControls, NotPayable, install
from gateway.sandbox.kit.faults import Fault, FaultAnswers, FaultBook, HtmlGatewayErrors
from gateway.sandbox.kit.keys import FAULTS, NOTIFIER, PUBLIC_URL, TIME_SCALE
from gateway.sandbox.kit.notifier import Delivery, Message, Notifier, Schedule
from gateway.sandbox.kit.refunds import REFUND_TIMING, RefundTiming
from gateway.sandbox.kit.shell import page, pay_buttons

__all__ = ["CONTROLS", "FAULTS", "NOTIFIER", "PUBLIC_URL", "REFUND_TIMING", "TIME_SCALE", "ChannelControls", "Delivery", "Fault",
           "FaultAnswers", "FaultBook", "HtmlGatewayErrors", "Message", "NotPayable", "Notifier", "RefundTiming",
           "Schedule", "install", "page", "pay_buttons"]
