"""The console's POST actions. Each is guarded (role, merchant scope, step-up for money and keys),
audited (succeeded or failed), and done by :mod:`gateway.admin.actions` -- the services' own functions."""
from __future__ import annotations

import json

from aiohttp import web

from gateway import keys
from gateway.admin import actions, auth
from gateway.admin.access import MERCHANT_KEYS, OPERATORS, PAY_ACTIONS, REFUND, RESEND, guard, operator_of
from gateway.admin.common import audited, in_scope, page
from gateway.admin.views import merchant_page
from gateway.domain.errors import NotFound, ValidationFailed
from gateway.domain.money import parse_major
from gateway.store import operators as operators_repo
from gateway.store import stats
from gateway.store.base import Row

routes = web.RouteTableDef()


async def _payment(request: web.Request) -> Row:
    async with request.config_dict[keys.DB].read() as conn:
        p = await stats.payment(conn, request.match_info["id"], operator_of(request).scope)
    if p is None:
        raise NotFound("No payment")
    return p


def _back(request: web.Request, name: str, done: str, **parts: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{request.app.router[name].url_for(**parts)}?done={done}")


@routes.post("/payments/{id}/sync", name="payment_sync")
@guard(PAY_ACTIONS)
async def payment_sync(request: web.Request) -> web.Response:
    p = await _payment(request)
    async with audited(request, "payment.sync", object_type="payment", object_id=p["id"],
                       merchant_id=p["merchant_id"]) as detail:
        detail["asked"] = await actions.sync_payment(request.config_dict[keys.SERVICES], p)
    raise _back(request, "payment", "sync", id=p["id"])


@routes.post("/payments/{id}/close", name="payment_close")
@guard(PAY_ACTIONS, step_up=True)
async def payment_close(request: web.Request) -> web.Response:
    p = await _payment(request)
    async with audited(request, "payment.close", object_type="payment", object_id=p["id"],
                       merchant_id=p["merchant_id"]):
        await actions.close_payment(request.config_dict[keys.SERVICES], p)
    raise _back(request, "payment", "close", id=p["id"])


@routes.post("/payments/{id}/refund", name="payment_refund")
@guard(REFUND, step_up=True)
async def payment_refund(request: web.Request) -> web.Response:
    p = await _payment(request)
    form = await request.post()
    try:
        amount = parse_major(str(form.get("amount", "")), p["currency"])
    except ValueError:
        raise ValidationFailed("amount: an amount in yuan expected") from None
    refund_no = str(form.get("refund_no", ""))
    if not refund_no.startswith("console-") or len(refund_no) > 64:
        raise ValidationFailed("refund_no missing")
    reason = str(form.get("reason", "")).strip()[:256] or None
    async with audited(request, "payment.refund", object_type="payment", object_id=p["id"],
                       merchant_id=p["merchant_id"], detail={"amount": amount, "out_refund_no": refund_no}) as detail:
        refund = await actions.refund(request.config_dict[keys.SERVICES], p, amount=amount, out_refund_no=refund_no,
                                      reason=reason)
        detail["refund_id"] = refund["id"]
    raise _back(request, "payment", "refund", id=p["id"])


@routes.post("/webhooks/{id}/resend", name="webhook_resend")
@guard(RESEND)
async def webhook_resend(request: web.Request) -> web.Response:
    async with request.config_dict[keys.DB].read() as conn:
        event = await stats.event(conn, request.match_info["id"], operator_of(request).scope)
    if event is None:
        raise NotFound("No event")
    async with audited(request, "event.resend", object_type="event", object_id=event["id"],
                       merchant_id=event["merchant_id"]):
        await actions.resend_event(request.config_dict[keys.SERVICES], event["merchant_id"], event["id"])
    raise _back(request, "webhook", "resend", id=event["id"])


async def _merchant(request: web.Request) -> Row:
    async with request.config_dict[keys.DB].read() as conn:
        m = await stats.merchant(conn, request.match_info["id"], operator_of(request).scope)
    if m is None:
        raise NotFound("No merchant")
    return m


@routes.post("/merchants/{id}/api-key/{what:rotate|revoke}", name="merchant_api_key")
@guard(MERCHANT_KEYS, step_up=True)
async def merchant_api_key(request: web.Request) -> web.Response:
    m, revoke = await _merchant(request), request.match_info["what"] == "revoke"
    async with audited(request, f"merchant.api_key_{request.match_info['what']}", object_type="merchant",
                       object_id=m["id"], merchant_id=m["id"]):
        key = await actions.rotate_api_key(request.config_dict[keys.SERVICES], m["id"], revoke=revoke)
    return page(request, "admin/shown_once.html", {"m": m, "label": "api_key", "secret": key})


@routes.post("/merchants/{id}/api-keys/revoke", name="merchant_api_key_revoke")
@guard(MERCHANT_KEYS, step_up=True)
async def merchant_api_key_revoke(request: web.Request) -> web.Response:
    """Revoke one of the merchant's keys (form field ``key``: its id)."""
    m, key_id = await _merchant(request), str((await request.post()).get("key", ""))
    async with audited(request, "merchant.api_key_revoke", object_type="api_key", object_id=key_id,
                       merchant_id=m["id"]):
        await actions.revoke_api_key(request.config_dict[keys.SERVICES], m["id"], key_id)
    raise web.HTTPSeeOther(f"/admin/merchants/{m['id']}?done=revoke_key")


@routes.post("/merchants/{id}/webhook-secret/rotate", name="merchant_webhook_secret")
@guard(MERCHANT_KEYS, step_up=True)
async def merchant_webhook_secret(request: web.Request) -> web.Response:
    m = await _merchant(request)
    async with audited(request, "merchant.webhook_secret_rotate", object_type="merchant", object_id=m["id"],
                       merchant_id=m["id"]):
        secret = await actions.rotate_webhook_secret(request.config_dict[keys.SERVICES], m["id"])
    return page(request, "admin/shown_once.html", {"m": m, "label": "rotate_webhook_secret", "secret": secret})


@routes.post("/operators", name="operator_invite")
@guard(OPERATORS, step_up=True)
async def operator_invite(request: web.Request) -> web.Response:
    form, op = await request.post(), operator_of(request)
    role = str(form.get("role", ""))
    merchant_id = op.scope or (str(form.get("merchant", "")).strip() or None)  # bound owners invite into theirs
    email = str(form.get("email", ""))
    async with audited(request, "operator.invite", object_type="operator", object_id=email[:64],
                       merchant_id=merchant_id, detail={"role": role}):
        try:
            created = await auth.create_operator(request.config_dict[keys.DB], email=email, role=role,
                                                 merchant_id=merchant_id)
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from None
    return page(request, "admin/shown_once.html", {"label": "enroll_link", "secret": enroll_url(request, created.enroll_token)})


def enroll_url(request: web.Request, token: str) -> str:
    base = request.config_dict[keys.SETTINGS].public_url or ""
    return f"{base}/admin/enroll/{token}"


async def _operator(request: web.Request) -> Row:
    async with request.config_dict[keys.DB].read() as conn:
        row = await operators_repo.get(conn, request.match_info["id"])
    return in_scope(request, row, "operator")


@routes.post("/operators/{id}/{what:role|disable|enable|reset}", name="operator_change")
@guard(OPERATORS, step_up=True)
async def operator_change(request: web.Request) -> web.Response:
    target, what = await _operator(request), request.match_info["what"]
    db = request.config_dict[keys.DB]
    form = await request.post()
    async with audited(request, f"operator.{what}", object_type="operator", object_id=target["id"],
                       merchant_id=target["merchant_id"]) as detail:
        if target["id"] == operator_of(request).id and what != "reset":
            raise ValidationFailed("change your own role or access through another owner")
        if what == "reset":
            token = await auth.new_enrolment_token(db, target["id"])
            return page(request, "admin/shown_once.html", {"label": "enroll_link", "secret": enroll_url(request, token)})
        async with db.begin() as conn:
            if what == "role":
                role = str(form.get("role", ""))
                if role not in operators_repo.ROLES:
                    raise ValidationFailed("unknown role")
                detail["role"] = role
                await operators_repo.set_role(conn, target["id"], role)
            else:
                await operators_repo.set_disabled(conn, target["id"], what == "disable")
    raise web.HTTPSeeOther(str(request.app.router["operators"].url_for()))


@routes.post("/refunds/{id}/sync", name="refund_sync")
@guard(PAY_ACTIONS)
async def refund_sync(request: web.Request) -> web.Response:
    async with request.config_dict[keys.DB].read() as conn:
        rows = await stats.list_refunds(conn, operator_of(request).scope, q=request.match_info["id"], limit=1)
    if not rows or rows[0]["id"] != request.match_info["id"]:
        raise NotFound("No refund")
    refund = rows[0]
    async with audited(request, "refund.sync", object_type="refund", object_id=refund["id"],
                       merchant_id=refund["merchant_id"]):
        await actions.sync_refund(request.config_dict[keys.SERVICES], refund["id"])
    raise web.HTTPSeeOther(f"{request.app.router['refunds'].url_for()}?done=sync")


def _domains(text: str) -> list[str]:
    return [d.strip().lower() for d in text.replace(",", "\n").splitlines() if d.strip()]


def _webhook_url(text: str) -> str | None:
    url = text.strip()
    if url and not url.startswith(("http://", "https://")):
        raise ValidationFailed("webhook URL: http(s) expected")
    return url or None


@routes.post("/merchants", name="merchant_create")
@guard(MERCHANT_KEYS, step_up=True)
async def merchant_create(request: web.Request) -> web.Response:
    if operator_of(request).scope is not None:
        raise web.HTTPForbidden()  # a merchant-bound owner manages its own merchant only
    form = await request.post()
    name = str(form.get("name", "")).strip()[:128]
    if not name:
        raise ValidationFailed("name required")
    async with audited(request, "merchant.create", object_type="merchant", object_id=name[:64],
                       merchant_id=None) as detail:
        created = await actions.create_merchant(request.config_dict[keys.SERVICES], name=name,
                                                webhook_url=_webhook_url(str(form.get("webhook_url", ""))),
                                                return_domains=_domains(str(form.get("return_domains", ""))))
        detail["merchant_id"] = created["merchant_id"]
    return page(request, "admin/shown_once.html", {
        "m": {"id": created["merchant_id"], "name": name}, "label": "merchants",
        "secrets": [("api_key", created["api_key"]), ("rotate_webhook_secret", created["webhook_secret"])]})


@routes.post("/merchants/{id}/settings", name="merchant_settings")
@guard(MERCHANT_KEYS, step_up=True)
async def merchant_settings(request: web.Request) -> web.Response:
    m, form = await _merchant(request), await request.post()
    url, domains = _webhook_url(str(form.get("webhook_url", ""))), _domains(str(form.get("return_domains", "")))
    async with audited(request, "merchant.settings", object_type="merchant", object_id=m["id"], merchant_id=m["id"],
                       detail={"webhook_url": url, "return_domains": domains}):
        await actions.update_merchant(request.config_dict[keys.SERVICES], m["id"], webhook_url=url,
                                      return_domains=domains)
    raise _back(request, "merchant", "settings", id=m["id"])


@routes.post("/merchants/{id}/channel", name="merchant_channel")
@guard(MERCHANT_KEYS, step_up=True)
async def merchant_channel(request: web.Request) -> web.Response:
    m, form = await _merchant(request), await request.post()
    svc = request.config_dict[keys.SERVICES]
    channel = str(form.get("channel", ""))
    if channel not in svc.registry.channels:
        raise ValidationFailed("unknown channel")
    try:
        credentials = json.loads(str(form.get("credentials", "")))
        if not isinstance(credentials, dict):
            raise ValueError
    except ValueError:
        raise ValidationFailed("credentials: a JSON object expected") from None
    # The audit entry names the fields, never their values.
    async with audited(request, "merchant.channel_credentials", object_type="merchant", object_id=m["id"],
                       merchant_id=m["id"], detail={"channel": channel, "fields": sorted(credentials)}) as detail:
        try:
            detail["account_id"] = await actions.set_channel(svc, m["id"], channel, credentials)
        except actions.CredentialsRejected as exc:
            detail["check"] = exc.result.problem
            raise ValidationFailed(f"the channel refused the credentials: {exc.result.problem}"
                                   + (f" ({exc.result.detail})" if exc.result.detail else "")) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationFailed(f"the credentials do not work: {type(exc).__name__}") from None
    raise _back(request, "merchant", "channel", id=m["id"])


@routes.post("/merchants/{id}/check", name="merchant_check")
@guard(MERCHANT_KEYS)
async def merchant_check(request: web.Request) -> web.Response:
    """"Test credentials": try a stored account's credentials against its channel (a signed query; nothing
    changes, so no step-up) and show the result on the merchant's page."""
    m, form = await _merchant(request), await request.post()
    account_id = str(form.get("account", ""))[:64]
    async with audited(request, "merchant.channel_check", object_type="channel_account", object_id=account_id,
                       merchant_id=m["id"]) as detail:
        result = await actions.check_account(request.config_dict[keys.SERVICES], m["id"], account_id)
        detail |= {"ok": result.ok, "problem": result.problem}
    return await merchant_page(request, {"check": result, "check_account": account_id})
