"""Every ``web.AppKey`` of the WeChat Pay sandbox app."""
from __future__ import annotations

import aiohttp
from aiohttp import web

from gateway.sandbox.wechat.notify import Notifier
from gateway.sandbox.wechat.state import SandboxState

STATE = web.AppKey("wechat_sandbox_state", SandboxState)
NOTIFIER = web.AppKey("wechat_sandbox_notifier", Notifier)
HTTP = web.AppKey("wechat_sandbox_http", aiohttp.ClientSession)
PUBLIC_URL = web.AppKey("wechat_sandbox_public_url", str)
TIME_SCALE = web.AppKey("wechat_sandbox_time_scale", float)
