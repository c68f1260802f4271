"""Typed keys of the Alipay sandbox app (the kit's own are in :mod:`gateway.sandbox.kit.keys`)."""
from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from gateway.sandbox.alipay.service import Sandbox

SANDBOX = web.AppKey("alipay_sandbox", Sandbox)
TIMESTAMP_TOLERANCE = web.AppKey("alipay_sandbox_timestamp_tolerance", timedelta)
