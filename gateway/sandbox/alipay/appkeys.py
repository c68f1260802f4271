"""Typed keys of the Alipay sandbox app (one place, so no handler guesses a name)."""
from __future__ import annotations

from datetime import timedelta

import aiohttp
from aiohttp import web

from gateway.sandbox.alipay.notify import Notifier
from gateway.sandbox.alipay.service import Sandbox
from gateway.sandbox.alipay.state import SandboxState

STATE = web.AppKey("alipay_sandbox_state", SandboxState)
SANDBOX = web.AppKey("alipay_sandbox", Sandbox)
NOTIFIER = web.AppKey("alipay_sandbox_notifier", Notifier)
HTTP = web.AppKey("alipay_sandbox_http", aiohttp.ClientSession)
PUBLIC_URL = web.AppKey("alipay_sandbox_public_url", str)
TIME_SCALE = web.AppKey("alipay_sandbox_time_scale", float)
TIMESTAMP_TOLERANCE = web.AppKey("alipay_sandbox_timestamp_tolerance", timedelta)
