"""The WeChat Pay sandbox's own ``web.AppKey`` (the kit's are in :mod:`gateway.sandbox.kit.keys`)."""
from __future__ import annotations

from aiohttp import web

from gateway.sandbox.wechat.state import SandboxState

STATE = web.AppKey("wechat_sandbox_state", SandboxState)
