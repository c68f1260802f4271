"""Sign-in, sign-out, enrolment and the step-up form."""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pyotp
from aiohttp import web
from aiohttp_session import get_session

from gateway import keys
from gateway.admin import auth
from gateway.admin.access import SESSION_MFA_AT, SESSION_OPERATOR, load_operator, record
from gateway.checkout import qr
from gateway.web.pages import render_page
from gateway.web.sessions import rotate_session

routes = web.RouteTableDef()
ENROLL_SECRET = "enroll_secret"  # session key: (token hash, secret) shown on the enrolment page


def _safe_next(value: str | None) -> str:
    """Only a path of the console itself: never an open redirect."""
    if value and value.startswith("/admin/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/admin/"


@routes.get("/login", name="login")
async def login_form(request: web.Request) -> web.Response:
    return render_page(request, "admin/login.html", {"next": _safe_next(request.query.get("next")), "failed": False})


@routes.post("/login", name="login_post")
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    email, password, code = (str(form.get(k, "")) for k in ("email", "password", "code"))
    next_url = _safe_next(str(form.get("next", "")))
    svc_db, settings = request.config_dict[keys.DB], request.config_dict[keys.SETTINGS]
    try:
        operator = await auth.sign_in(svc_db, settings, email, password, code)
    except auth.SignInFailed as exc:
        await record(request, "sign_in", outcome="denied", actor=email.strip().lower()[:254] or "anonymous",
                     detail={"reason": str(exc)})
        return render_page(request, "admin/login.html", {"next": next_url, "failed": True, "email": email},
                           status=401)
    session = await rotate_session(request)
    session[SESSION_OPERATOR] = operator["id"]
    session[SESSION_MFA_AT] = int(time.time())
    await record(request, "sign_in", actor=operator["email"], object_type="operator", object_id=operator["id"])
    raise web.HTTPSeeOther(next_url)


@routes.post("/logout", name="logout")
async def logout(request: web.Request) -> web.Response:
    op = await load_operator(request)
    if op is not None:
        await record(request, "sign_out", object_type="operator", object_id=op.id, actor=op.email)
    (await get_session(request)).invalidate()
    raise web.HTTPSeeOther(str(request.app.router["login"].url_for()))


@routes.get("/lang/{lang}", name="lang")
async def switch_language(request: web.Request) -> web.Response:
    response = web.HTTPSeeOther(_safe_next(request.query.get("next")))
    if request.match_info["lang"] in ("zh-CN", "en"):
        response.set_cookie("admin_lang", request.match_info["lang"], path="/admin", httponly=True, samesite="Lax",
                            max_age=365 * 86400)
    raise response


async def _enrol_context(request: web.Request, token: str, operator: Mapping[str, Any]) -> dict[str, Any]:
    session = await get_session(request)
    held = session.get(ENROLL_SECRET)
    if isinstance(held, list) and len(held) == 2 and held[0] == auth.token_hash(token):
        secret = str(held[1])
    else:
        secret = pyotp.random_base32()
        session[ENROLL_SECRET] = [auth.token_hash(token), secret]
    uri = auth.provisioning_uri(secret, operator["email"])
    return {"token": token, "email": operator["email"], "uri": uri, "secret": secret, "qr": qr.svg(uri)}


@routes.get("/enroll/{token}", name="enroll")
async def enroll_form(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    operator = await auth.enrolling(request.config_dict[keys.DB], token)
    if operator is None:
        return render_page(request, "admin/enroll.html", {"invalid": True}, status=404)
    return render_page(request, "admin/enroll.html", await _enrol_context(request, token, operator))


@routes.post("/enroll/{token}", name="enroll_post")
async def enroll(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    db, settings = request.config_dict[keys.DB], request.config_dict[keys.SETTINGS]
    operator = await auth.enrolling(db, token)
    if operator is None:
        return render_page(request, "admin/enroll.html", {"invalid": True}, status=404)
    form = await request.post()
    context = await _enrol_context(request, token, operator)
    try:
        done = await auth.enroll(db, settings, token, secret=context["secret"], password=str(form.get("password", "")),
                                 code=str(form.get("code", "")))
    except auth.EnrolmentInvalid as exc:
        return render_page(request, "admin/enroll.html", context | {"problem": f"enroll_{exc.field}"}, status=400)
    session = await get_session(request)
    session.pop(ENROLL_SECRET, None)
    await record(request, "enroll", actor=done["email"], object_type="operator", object_id=done["id"])
    raise web.HTTPSeeOther(str(request.app.router["login"].url_for()) + "?enrolled=1")
