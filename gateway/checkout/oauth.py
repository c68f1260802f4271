"""The payer-identity step some pay methods need before an attempt can open (``PayMethodSpec.needs_payer``):
the checkout sends the shopper to the channel (``ChannelFactory.payer_redirect``), the channel sends them
back to ``/pay/{id}/oauth?code&state`` and the code is exchanged for the payer's identity
(``ChannelFactory.payer_exchange``). How, and with which credentials, is the channel's business.

The ``state`` is bound to the payment and MACed (:class:`~gateway.checkout.oauth_state.OAuthState`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.channels.base import ChannelFactory
from gateway.services.context import Services
from gateway.store import merchants as merchants_repo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PayerStep:
    """A merchant account that can identify payers for ``method``."""

    method: str
    factory: ChannelFactory
    credentials: dict[str, Any]

    def redirect(self, svc: Services, redirect_uri: str, state: str) -> str | None:
        return self.factory.payer_redirect(self.credentials, svc.settings.endpoints(self.factory.settings),
                                           redirect_uri, state)

    async def exchange(self, svc: Services, http: aiohttp.ClientSession, code: str) -> str:
        """The payer's identity; raises :class:`gateway.channels.base.PayerIdentityFailed`."""
        return await self.factory.payer_exchange(self.credentials, svc.settings.endpoints(self.factory.settings),
                                                 http, code)


async def payer_step(svc: Services, merchant_id: str, method: str, redirect_uri: str,
                     state: str) -> tuple[PayerStep, str] | None:
    """The merchant's account for ``method`` that can identify the payer, and where to send the shopper;
    ``None`` when no account can (then the method is not offered)."""
    factory = svc.registry.for_method(method)
    async with svc.db.read() as conn:
        accounts = await merchants_repo.accounts_of(conn, merchant_id)
    for account in accounts:
        if account["channel"] != factory.name or method not in account["pay_methods"]:
            continue
        step = PayerStep(method, factory, svc.pool.credentials(account))
        url = step.redirect(svc, redirect_uri, state)
        if url is not None:
            return step, url
    return None
