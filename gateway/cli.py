"""``python run.py [command]``: serve (default), migrate, create-merchant, sandbox, sandbox-credentials,
config-reference, check-ledger, reconcile, create-operator, check-audit, rotate-api-key, doctor.

An operator's mistake (database not migrated or unreachable, busy port, unreadable key file, no
GATEWAY_SECRET_KEY for a configured database) ends in one line naming the fix and exit code 2
(:mod:`gateway.preflight`), never a traceback."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway import keys, preflight
from gateway.channels.registry import channel_names, credentials_help
from gateway.config import VARIABLES, Settings
from gateway.observability.logging import configure as configure_logging
from gateway.store.db import Database
from gateway.store.migrate import upgrade_async

log = logging.getLogger("gateway")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="address to listen on (GATEWAY_HOST)")
    p.add_argument("--port", type=int, help="port (GATEWAY_PORT)")
    p.add_argument("--data-dir", help="data directory (GATEWAY_DATA_DIR)")


def _demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--demo-webhook-url", default=argparse.SUPPRESS,
                   help="with the sandboxes: the demo merchant's webhook URL (set at every start)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run.py", description="Payment gateway")
    _common(p)
    _demo(p)
    sub = p.add_subparsers(dest="command")
    sv = sub.add_parser("serve", help="serve the gateway (default)")
    _common(sv)
    _demo(sv)
    _common(sub.add_parser("migrate", help="apply database migrations"))
    cm = sub.add_parser("create-merchant", help="create a merchant; prints its credentials once")
    _common(cm)
    cm.add_argument("--name", required=True)
    cm.add_argument("--return-domain", action="append", default=[], dest="return_domains")
    cm.add_argument("--webhook-url")
    cm.add_argument("--no-sandbox-accounts", action="store_true",
                    help="do not give the merchant sandbox channel accounts")
    um = sub.add_parser("update-merchant", help="change a merchant's webhook URL or return domains")
    _common(um)
    um.add_argument("--merchant", required=True)
    um.add_argument("--webhook-url")
    um.add_argument("--no-webhook", action="store_true", help="stop sending webhooks")
    um.add_argument("--return-domain", action="append", dest="return_domains",
                    help="replaces the list; repeat for several")
    sc = sub.add_parser("set-channel", help="configure a merchant's channel account (credentials from a JSON file)")
    _common(sc)
    sc.add_argument("--merchant", required=True)
    sc.add_argument("--channel", required=True, choices=channel_names())
    sc.add_argument("--credentials", required=True,
                    help=f"JSON file; '-' for standard input. Fields -- {credentials_help()}")
    sc.add_argument("--methods", help="comma-separated pay methods to enable (default: all of the channel's)")
    sc.add_argument("--no-check", action="store_true",
                    help="store without first trying the credentials against the channel (a signed query)")
    sb = sub.add_parser("sandbox", help="run the channel sandboxes as their own process")
    _common(sb)
    _common(sub.add_parser("sandbox-credentials", help="print what a merchant integration needs per sandbox"))
    sub.add_parser("config-reference", help="print the configuration reference (Markdown)")
    _common(sub.add_parser("check-ledger", help="recompute the books from the ledger; exit 1 on any violation"))
    rc = sub.add_parser("reconcile", help="reconcile a day against the channels' bills (exit 0 consistent, "
                        "1 open discrepancies, 2 failed, 3 bill not ready)")
    _common(rc)
    from gateway.services.reconciliation.command import add_arguments

    add_arguments(rc)
    co = sub.add_parser("create-operator", help="invite a console operator; prints a one-time enrolment link")
    _common(co)
    co.add_argument("--email", required=True)
    co.add_argument("--role", required=True, choices=["owner", "operator", "finance", "viewer"])
    co.add_argument("--merchant", help="bind the operator to this merchant: it sees nothing else")
    _common(sub.add_parser("check-audit", help="verify the audit log's hash chain; exit 1 if it is broken"))
    rk = sub.add_parser("rotate-api-key", help="new API key for a merchant (printed once as JSON); the old keys "
                        "work for GATEWAY_API_KEY_OVERLAP unless --revoke-old")
    _common(rk)
    rk.add_argument("--merchant", required=True)
    rk.add_argument("--key", help="replace only this key (an id from the console or GET /api/v1/api-keys); "
                    "default: all the merchant's working keys")
    rk.add_argument("--name", help="the new key's name (default: the replaced key's)")
    rk.add_argument("--revoke-old", action="store_true", help="the replaced keys stop working now")
    _common(sub.add_parser("doctor", help="check this configuration for production; exit 1 if anything is wrong"))
    return p


# Commands that seal, hash or open secrets: against a configured database they need GATEWAY_SECRET_KEY.
NEEDS_KEY = frozenset({"create-merchant", "set-channel", "reconcile", "create-operator", "rotate-api-key"})
# Commands that need the database at this code's migration (checked first: one line instead of a traceback).
NEEDS_DATABASE = NEEDS_KEY | {"serve", "update-merchant", "check-ledger", "check-audit"}


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings.from_env(host=args.host, port=args.port, data_dir=args.data_dir)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = args.command or "serve"
    if command == "config-reference":
        print(config_reference())
        return 0
    settings = settings_from(args)
    configure_logging(settings.log_level, settings.log_format)
    try:
        return dispatch(command, settings, args)
    except Exception as exc:
        line = preflight.explain(exc, settings)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return preflight.EXIT


def dispatch(command: str, settings: Settings, args: argparse.Namespace) -> int:
    if command in NEEDS_KEY:
        settings = preflight.require_secret_key(settings)
    if command in ("serve", "sandbox"):
        preflight.check_port(settings)
    if command in NEEDS_DATABASE and not settings.embedded:
        asyncio.run(preflight.check_database(settings))
    if command == "doctor":
        from gateway import doctor

        return doctor.main(settings)
    if command == "rotate-api-key":
        return asyncio.run(rotate_api_key_cmd(settings, args))
    if command == "serve":
        demo_webhook = getattr(args, "demo_webhook_url", None)
        if demo_webhook is not None and not demo_webhook.startswith(("http://", "https://")):
            print(json.dumps({"error": "--demo-webhook-url must be an http(s) URL"}), file=sys.stderr)
            return 2
        serve(settings, demo_webhook_url=demo_webhook)
    elif command == "migrate":
        asyncio.run(upgrade_async(settings.effective_database_url))
        print(json.dumps({"migrated": True}))
    elif command == "create-merchant":
        print(json.dumps(asyncio.run(create_merchant_cmd(settings, args)), ensure_ascii=False))
    elif command == "update-merchant":
        return asyncio.run(update_merchant_cmd(settings, args))
    elif command == "set-channel":
        return asyncio.run(set_channel_cmd(settings, args))
    elif command == "sandbox":
        serve_sandbox(settings)
    elif command == "check-ledger":
        return asyncio.run(check_ledger_cmd(settings))
    elif command == "reconcile":
        from gateway.services.reconciliation.command import run_command

        return asyncio.run(run_command(settings, args))
    elif command == "create-operator":
        return asyncio.run(create_operator_cmd(settings, args))
    elif command == "check-audit":
        return asyncio.run(check_audit_cmd(settings))
    elif command == "sandbox-credentials":
        from gateway.sandbox.key_material import load_or_create, merchant_credentials

        print(json.dumps(merchant_credentials(load_or_create(settings.data_dir)), indent=2))
    return 0


async def check_ledger_cmd(settings: Settings) -> int:
    from gateway.store.ledger_check import check_database

    db = Database(settings.effective_database_url)
    try:
        report = await check_database(db)
    finally:
        await db.dispose()
    print(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    return 0 if report.ok else 1


async def create_operator_cmd(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.admin.auth import create_operator
    from gateway.store import audit
    from gateway.store.merchants import get_merchant

    if settings.embedded:
        await upgrade_async(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    try:
        if args.merchant:
            async with db.read() as conn:
                if await get_merchant(conn, args.merchant) is None:
                    print(json.dumps({"error": f"no merchant {args.merchant}"}), file=sys.stderr)
                    return 2
        try:
            created = await create_operator(db, email=args.email, role=args.role, merchant_id=args.merchant)
        except ValueError as exc:
            print(json.dumps({"error": str(exc)}), file=sys.stderr)
            return 2
        await audit.append(db, actor="cli", action="operator.invite", object_type="operator",
                           object_id=created.operator_id, merchant_id=created.merchant_id,
                           detail={"role": created.role, "email": created.email})
    finally:
        await db.dispose()
    print(json.dumps({"operator_id": created.operator_id, "email": created.email, "role": created.role,
                      "merchant_id": created.merchant_id,
                      "enroll_url": f"{settings.public_url}/admin/enroll/{created.enroll_token}"}))
    return 0


async def rotate_api_key_cmd(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.domain.errors import NotFound
    from gateway.services import api_keys

    if settings.embedded:
        await upgrade_async(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    try:
        created = await api_keys.rotate(db, settings, args.merchant, replace=args.key, name=args.name,
                                        revoke_old=args.revoke_old)
    except NotFound as exc:
        print(json.dumps({"error": "not_found", "detail": exc.detail}), file=sys.stderr)
        return 2
    finally:
        await db.dispose()
    print(json.dumps(created, ensure_ascii=False))
    return 0


async def check_audit_cmd(settings: Settings) -> int:
    from gateway.store.audit import verify

    db = Database(settings.effective_database_url)
    try:
        report = await verify(db)
    finally:
        await db.dispose()
    print(json.dumps(report.as_json()))
    return 0 if report.ok else 1


def config_reference() -> str:
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {default} | {text} |" for name, _type, default, text in VARIABLES]
    return "\n".join(lines)


def sandbox_accounts(settings: Settings) -> dict[str, dict[str, Any]]:
    from gateway.sandbox.key_material import load_or_create, merchant_credentials

    return merchant_credentials(load_or_create(settings.data_dir))


async def create_merchant_cmd(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    from gateway.channels.registry import default_registry
    from gateway.services.merchants import create_merchant

    await upgrade_async(settings.effective_database_url) if settings.embedded else None
    db = Database(settings.effective_database_url)
    registry = default_registry()
    creds = None if args.no_sandbox_accounts or not settings.sandbox_base else sandbox_accounts(settings)
    try:
        return await create_merchant(
            db, settings, name=args.name, return_domains=args.return_domains, webhook_url=args.webhook_url,
            channel_credentials=creds,
            registry_methods={c: sorted(registry.channel(c).pay_methods) for c in registry.channels})
    finally:
        await db.dispose()


async def update_merchant_cmd(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.services.merchants import update_merchant

    if args.webhook_url and not args.webhook_url.startswith(("http://", "https://")):
        print(json.dumps({"error": "webhook_url must be an http(s) URL"}), file=sys.stderr)
        return 2
    if settings.embedded:
        await upgrade_async(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    try:
        await update_merchant(db, args.merchant, webhook_url=args.webhook_url, clear_webhook=args.no_webhook,
                              return_domains=args.return_domains)
    except LookupError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
    finally:
        await db.dispose()
    print(json.dumps({"merchant_id": args.merchant, "updated": True}))
    return 0


async def set_channel_cmd(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.channels.registry import default_registry
    from gateway.services.merchants import CredentialsRejected, set_channel_account

    text = sys.stdin.read() if args.credentials == "-" else Path(args.credentials).read_text(encoding="utf-8")  # noqa: ASYNC240
    if settings.embedded:
        await upgrade_async(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    try:
        account_id = await set_channel_account(
            db, settings, default_registry(), args.merchant, args.channel, json.loads(text),
            args.methods.split(",") if args.methods else None, check=not getattr(args, "no_check", False))
    except CredentialsRejected as exc:  # one line: what the channel said, nothing stored
        print(json.dumps({"error": "credentials_rejected", "channel": args.channel, "problem": exc.result.problem,
                          "detail": exc.result.detail, "stored": False}, ensure_ascii=False), file=sys.stderr)
        return 3
    except (ValueError, KeyError, LookupError) as exc:  # never echo the credentials themselves
        print(json.dumps({"error": type(exc).__name__, "detail": str(exc)[:200]}), file=sys.stderr)
        return 2
    finally:
        await db.dispose()
    print(json.dumps({"merchant_id": args.merchant, "channel": args.channel, "account_id": account_id}))
    return 0


def demo_ctx(app: web.Application, webhook_url: str | None = None) -> AsyncIterator[None]:
    """First start of the embedded default: a demo merchant, its credentials printed this once.
    ``webhook_url`` (``--demo-webhook-url``): the demo merchant's webhook URL, also set on later starts."""
    return _demo_ctx(app, webhook_url)


async def _demo_ctx(app: web.Application, webhook_url: str | None) -> AsyncIterator[None]:
    from gateway.services.merchants import create_merchant, update_merchant
    from gateway.services.payments import NewPayment, create_payment
    from gateway.store.merchants import first_merchant

    svc = app[keys.SERVICES]
    async with svc.db.read() as conn:
        existing = await first_merchant(conn)
    if existing is not None and webhook_url and svc.settings.sandbox_base:
        await update_merchant(svc.db, existing["id"], webhook_url=webhook_url)
        print(json.dumps({"demo_merchant": existing["id"], "webhook_url": webhook_url}), flush=True)
    if existing is None and svc.settings.sandbox_base:
        registry = svc.registry
        created = await create_merchant(
            svc.db, svc.settings, name="Demo Shop", return_domains=["127.0.0.1", "localhost"],
            webhook_url=webhook_url,
            channel_credentials=sandbox_accounts(svc.settings),
            registry_methods={c: sorted(registry.channel(c).pay_methods) for c in registry.channels})
        async with svc.db.read() as conn:
            from gateway.store.merchants import get_merchant

            merchant = await get_merchant(conn, created["merchant_id"])
        assert merchant is not None
        sample = await create_payment(svc, merchant, NewPayment(
            amount=1, currency="CNY", subject="Demo order", out_trade_no="demo-0001", expires_in=86400))
        print(json.dumps({"demo_merchant": created, "sample_checkout_url": sample["checkout_url"],
                          "api": f"{svc.settings.public_url}/api/v1/docs"}, indent=2, ensure_ascii=False),
              flush=True)
    yield


def serve(settings: Settings, *, demo_webhook_url: str | None = None) -> None:
    from gateway.app import create_app

    app = create_app(settings, extra_contexts=[lambda a: demo_ctx(a, demo_webhook_url)])
    print(f"gateway on {settings.public_url} (database: {'embedded SQLite' if settings.embedded else 'configured'}"
          f", sandbox: {'on' if settings.sandbox_base else 'off'})", flush=True)
    asyncio.run(_serve(app, settings))


# SIGTERM/SIGINT: stop listening, then keep answering on the connections already open, each answer with
# "Connection: close", until the clients have closed them all (at most DRAIN_SECONDS); only then close
# what is left and wait (up to SHUTDOWN_TIMEOUT) for the requests in flight. A proxy therefore never sends
# a request on a connection we close under it: new connections are refused (nginx tries the next upstream,
# POSTs included, as nothing was sent), busy ones are closed by our answer, and idle ones nginx drops
# itself (its upstream keepalive_timeout in nginx.conf, 2 s).
DRAIN_SECONDS = 5.0
SHUTDOWN_TIMEOUT = 15.0


async def _serve(app: web.Application, settings: Settings) -> None:
    import signal

    draining = app[keys.DRAINING]
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        await stop.wait()
        await site.stop()
        draining.active = True
        server, deadline = runner.server, loop.time() + DRAIN_SECONDS
        log.info("stopping: no new connections; draining %d open ones", len(server.connections) if server else 0)
        while server is not None and server.connections and loop.time() < deadline:  # noqa: ASYNC110
            # aiohttp has no event for "a connection closed": look again shortly
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()


def serve_sandbox(settings: Settings) -> None:
    from gateway.sandbox.app import standalone_app
    from gateway.sandbox.key_material import load_or_create

    public = settings.public_url or f"http://{settings.host}:{settings.port}"
    app = standalone_app(load_or_create(settings.data_dir), public_url=public,
                         time_scale=settings.sandbox_time_scale)
    print(f"sandbox on {public}/sandbox", flush=True)
    web.run_app(app, host=settings.host, port=settings.port, print=None, shutdown_timeout=5, access_log=None)


if __name__ == "__main__":
    sys.exit(main())
