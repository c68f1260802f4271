"""``python run.py reconcile``: the CLI around :func:`gateway.services.reconciliation.reconcile`, and
``python run.py reconcile resolve DISCREPANCY_ID --action ... --reason ...`` around :mod:`.resolve`.

Exit codes: 0 consistent, 1 open discrepancies, 2 a batch failed, 3 a bill not ready. Progress (phase,
rows, bytes) goes to stderr when it is a terminal; ``--json`` prints one object with ``batches``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from gateway.config import Settings
from gateway.domain.errors import InvalidState, NotFound, ValidationFailed
from gateway.services.context import Services
from gateway.services.reconciliation import Options, exit_code, reconcile
from gateway.services.reconciliation.days import today
from gateway.services.reconciliation.resolve import ACTIONS, ChannelNotConfirmed, resolve


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", help="bill day YYYY-MM-DD (Asia/Shanghai); default yesterday")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--channel", help="only this channel's accounts (a channel name of the registry)")
    which.add_argument("--account", help="only this channel account id")
    p.add_argument("--file", type=Path, help="reconcile this bill file (as the channel serves it) instead "
                                             "of downloading; needs --account")
    p.add_argument("--rerun", action="store_true", help="run a day again (uses the stored bill file)")
    p.add_argument("--refetch", action="store_true", help="with --rerun: download the bill again")
    p.add_argument("--dry-run", action="store_true", help="match and report only: no remedy, no fee posting")
    p.add_argument("--json", action="store_true", help="print one JSON object with every batch")
    sub = p.add_subparsers(dest="recon_command", metavar="{resolve}")
    rs = sub.add_parser("resolve", help="resolve an open discrepancy by hand (exit 0 resolved, 1 refused, "
                                        "2 not found or invalid)")
    rs.add_argument("discrepancy_id", metavar="DISCREPANCY_ID")
    rs.add_argument("--action", required=True, choices=ACTIONS,
                    help="accept_channel: settle through the settlement after a confirming query; "
                         "accept_ours: our records stand; ignore: close it without action")
    rs.add_argument("--reason", required=True, help="why (recorded on the discrepancy)")
    # SUPPRESS: the sub-command's defaults must not overwrite what was given before "resolve".
    rs.add_argument("--data-dir", default=argparse.SUPPRESS, help="data directory (GATEWAY_DATA_DIR)")
    rs.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the discrepancy as JSON")


@asynccontextmanager
async def standalone_services(settings: Settings) -> AsyncIterator[Services]:
    """The services a command needs, without the web app (same database, cache and channels)."""
    from gateway.cache.memory import MemoryCache
    from gateway.cache.status import StatusBus
    from gateway.channels.pool import ChannelPool
    from gateway.channels.registry import default_registry
    from gateway.services.merchants import Authenticator
    from gateway.store.db import Database
    from gateway.store.migrate import upgrade_async

    settings = settings.with_secret_key()
    if settings.embedded:
        await upgrade_async(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    cache: Any
    if settings.redis_url:
        from gateway.cache.redis import RedisCache

        cache = RedisCache(settings.redis_url.reveal())
    else:
        cache = MemoryCache()
    registry = default_registry(timeout=settings.channel_timeout)
    try:
        async with aiohttp.ClientSession() as http:
            yield Services(settings=settings, db=db, cache=cache, registry=registry,
                           pool=ChannelPool(settings, registry, http), status=StatusBus(cache),
                           auth=Authenticator(db, settings))
    finally:
        await cache.close()
        await db.dispose()


class _Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled, self.last = enabled, 0.0
        self.state: dict[str, Any] = {}

    def __call__(self, phase: str, **counts: Any) -> None:
        if not self.enabled:
            return
        self.state.update(counts, phase=phase)
        now = time.monotonic()
        if now - self.last < 0.2 and phase == "parsing":
            return
        self.last = now
        parts = [self.state["phase"]] + [f"{k}={v:,}" for k, v in self.state.items()
                                         if k != "phase" and isinstance(v, int)]
        sys.stderr.write("\r\x1b[K" + "  ".join(parts))
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")


async def resolve_command(settings: Settings, args: argparse.Namespace) -> int:
    """``reconcile resolve``: 0 resolved (now or before, the same way), 1 refused (the channel's side
    cannot be taken, or it was resolved otherwise), 2 no such discrepancy or an invalid request."""
    async with standalone_services(settings) as svc:
        try:
            done = await resolve(svc, args.discrepancy_id, args.action, args.reason, operator="cli")
        except (NotFound, ValidationFailed) as exc:
            print(json.dumps({"error": exc.code, "detail": exc.detail}, ensure_ascii=False), file=sys.stderr)
            return 2
        except (InvalidState, ChannelNotConfirmed) as exc:
            print(json.dumps({"error": exc.code, "detail": exc.detail}, ensure_ascii=False), file=sys.stderr)
            return 1
    d = done.discrepancy
    if args.json:
        print(json.dumps({"applied": done.applied, "discrepancy": d}, ensure_ascii=False, indent=2))
    else:
        print(f"{d['id']} {d['type']} {d['key']}: {d['state']}{'' if done.applied else ' (already)'}"
              f" -- {d['action']} -- by {d['resolved_by']}: {d['note']}")
    return 0


async def run_command(settings: Settings, args: argparse.Namespace) -> int:
    if getattr(args, "recon_command", None) == "resolve":
        return await resolve_command(settings, args)
    day = date.fromisoformat(args.date) if args.date else today() - timedelta(days=1)
    if args.file and not args.account:
        print(json.dumps({"error": "--file needs --account"}), file=sys.stderr)
        return 2
    progress = _Progress(sys.stderr.isatty())
    opts = Options(file=args.file, rerun=args.rerun or bool(args.file), refetch=args.refetch,
                   dry_run=args.dry_run, progress=progress)
    async with standalone_services(settings) as svc:
        reports = await reconcile(svc, day, opts, channel=args.channel, account_id=args.account)
    progress.done()
    code = exit_code(reports)
    if args.json:
        print(json.dumps({"date": day.isoformat(), "exit_code": code, "batches": reports}, ensure_ascii=False,
                         indent=2))
    else:
        for r in reports:
            open_ = sum(1 for d in r["discrepancies"] if d["state"] == "open")
            print(f"{r['bill_date']} {r['channel']} {r['account_id']}: {r['status']}"
                  f"{' (' + str(r['error_code']) + ')' if r['error_code'] else ''}, bill "
                  f"{r['totals']['bill']['pay_count']} payments / {r['totals']['bill']['refund_count']} refunds, "
                  f"matched {r['matched']}, foreign {r['foreign']}, open {open_}, auto-resolved {r['auto_resolved']}")
            for d in r["discrepancies"]:
                print(f"  {d['state']:13} {d['type']:22} {d['key']}  channel {d['channel']['amount']} "
                      f"local {d['local']['amount']}  {d['action'] or ''}")
        if not reports:
            print("no active channel account matched")
    return code
