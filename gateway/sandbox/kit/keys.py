"""The kit's ``web.AppKey``s, set on every channel sandbox app by :func:`gateway.sandbox.kit.install`."""
from __future__ import annotations

from aiohttp import web

from gateway.sandbox.kit.faults import FaultBook
from gateway.sandbox.kit.notifier import Notifier

FAULTS = web.AppKey("sandbox_faults", FaultBook)
NOTIFIER = web.AppKey("sandbox_notifier", Notifier)
PUBLIC_URL = web.AppKey("sandbox_public_url", str)
TIME_SCALE = web.AppKey("sandbox_time_scale", float)
