"""Who may do what in the console -- the one place roles and merchant scope are decided.

Every handler is wrapped by :func:`guard` with the permission it needs: it loads the signed-in operator
from the session (or sends the visitor to sign in), refuses a missing permission with 403 (audited), and
for money-moving actions asks for a fresh TOTP code (step-up). A merchant-bound operator's ``scope`` is
its merchant id; the store's console queries take that scope and apply it themselves, and an object
outside it is answered 404, exactly like one that does not exist.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from gateway import keys
from gateway.admin import auth
from gateway.store import audit
from gateway.store import operators as repo
from gateway.web.pages import render_page

OPERATOR = "admin_operator"  # request key: the signed-in Operator
SESSION_OPERATOR = "op"  # session key: operator id
SESSION_MFA_AT = "mfa_at"  # session key: unix time of the last TOTP code this session gave
STEP_UP_FIELD = "totp"  # the form field a step-up code comes in
STEP_UP_FOR = 300.0  # seconds a TOTP code counts as fresh for a money-moving action

READ, EXPORT, PAY_ACTIONS, REFUND, RESEND, MERCHANT_KEYS, OPERATORS, AUDIT, RECONCILE, RISK = (
    "read", "export", "pay_actions", "refund", "resend", "merchant_keys", "operators", "audit", "reconcile", "risk")
PERMISSIONS: dict[str, frozenset[str]] = {
    "owner": frozenset({READ, EXPORT, PAY_ACTIONS, REFUND, RESEND, MERCHANT_KEYS, OPERATORS, AUDIT, RECONCILE,
                        RISK}),
    "operator": frozenset({READ, EXPORT, PAY_ACTIONS, REFUND, RESEND, RISK}),
    "finance": frozenset({READ, EXPORT, AUDIT, RECONCILE}),
    "viewer": frozenset({READ}),
}
assert set(PERMISSIONS) == set(repo.ROLES)


@dataclass(frozen=True)
class Operator:
    id: str
    email: str
    role: str
    merchant_id: str | None

    @property
    def scope(self) -> str | None:
        """The only merchant this operator sees, or None for all."""
        return self.merchant_id

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    def sees(self, merchant_id: str | None) -> bool:
        return self.merchant_id is None or merchant_id == self.merchant_id


def operator_of(request: web.Request) -> Operator:
    return request[OPERATOR]


def client_ip(request: web.Request) -> str | None:
    return request.remote


async def record(request: web.Request, action: str, *, outcome: str = "success", object_type: str | None = None,
                 object_id: str | None = None, merchant_id: str | None = None,
                 detail: dict[str, Any] | None = None, actor: str | None = None) -> None:
    """One audit entry for this request."""
    op: Operator | None = request.get(OPERATOR)
    await audit.append(request.config_dict[keys.DB], actor=actor or (op.email if op else "anonymous"),
                       action=action, outcome=outcome, ip=client_ip(request), object_type=object_type,
                       object_id=object_id, merchant_id=merchant_id, detail=detail)


async def load_operator(request: web.Request) -> Operator | None:
    session = await get_session(request)
    operator_id = session.get(SESSION_OPERATOR)
    if not isinstance(operator_id, str):
        return None
    async with request.config_dict[keys.DB].read() as conn:
        row = await repo.get(conn, operator_id)
    if row is None or row["disabled"] or row["password_hash"] is None:
        session.invalidate()
        return None
    return Operator(row["id"], row["email"], row["role"], row["merchant_id"])


def fresh_mfa(session: Any) -> bool:
    at = session.get(SESSION_MFA_AT)
    return isinstance(at, int | float) and time.time() - at <= STEP_UP_FOR


async def step_up_satisfied(request: web.Request, op: Operator) -> web.StreamResponse | None:
    """None when this session gave a TOTP code in the last few minutes, or the form carries a new one;
    otherwise the step-up page, which posts the same form again with a code."""
    session = await get_session(request)
    if fresh_mfa(session):
        return None
    form = await request.post()
    code = str(form.get(STEP_UP_FIELD, ""))
    db, settings = request.config_dict[keys.DB], request.config_dict[keys.SETTINGS]
    if code:
        async with db.read() as conn:
            row = await repo.get(conn, op.id)
        if row is not None and await auth.check_code(db, settings, row, code):
            session[SESSION_MFA_AT] = int(time.time())
            await record(request, "step_up", object_type="operator", object_id=op.id)
            return None
        await record(request, "step_up", outcome="denied", object_type="operator", object_id=op.id)
    fields = [(k, str(v)) for k, v in form.items() if k not in (STEP_UP_FIELD, "csrf_token")]
    return render_page(request, "admin/step_up.html", {"action": request.path, "fields": fields,
                                                        "failed": bool(code)}, status=401)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guard(permission: str = READ, *, step_up: bool = False) -> Callable[[Handler], Handler]:
    """Signed in, allowed, and (``step_up``) a fresh TOTP code: else sign-in page, 403 or the step-up form."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            op = await load_operator(request)
            if op is None:
                if request.method == "GET":
                    raise web.HTTPSeeOther(f"{request.app.router['login'].url_for()}?next={request.rel_url}")
                raise web.HTTPUnauthorized()
            request[OPERATOR] = op
            if not op.can(permission):
                await record(request, "permission_denied", outcome="denied",
                             detail={"permission": permission, "path": request.path})
                raise web.HTTPForbidden()
            if step_up:
                refused = await step_up_satisfied(request, op)
                if refused is not None:
                    return refused
            return await handler(request)

        guarded.permission = permission  # type: ignore[attr-defined]
        return guarded

    return wrap
