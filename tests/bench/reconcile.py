"""Reconciliation at scale: a generated 1,000,000-line bill per channel, reconciled end to end.

``python -m tests.bench.reconcile [--db sqlite|mysql|both] [--lines N] [--mysql-url URL]``

For each database and channel: N paid payments and attempts are seeded (one INSERT … SELECT over a
generated series), a bill with their N lines in the channel's format is written (WeChat: gzip CSV with
backticks and a summary; Alipay: a zip with GBK entry names and a GBK CSV), plus a duplicated line, an
amount mismatch and a foreign trade. Then, each in its own process so peak RSS is its own:
``read`` -- merely decompress and decode the file line by line (the floor), and
``reconcile`` -- the whole run as ``reconcile --file`` does it (copy, hash, parse, stage, match, totals).
Goal (issue 12): ≤ 20 s and ≤ 150 MB peak RSS.
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

DAY = date(2026, 11, 1)
MERCHANT = "mch_bench_recon"
ACCOUNTS = {"wechat": "acct_bench_wechat", "alipay": "acct_bench_alipay"}
PREFIX = {"wechat": "w", "alipay": "a"}
AMOUNT = 1999


def attempt_id(channel: str, n: int) -> str:
    return f"att_{PREFIX[channel]}{n:012d}"


# -- seeding ------------------------------------------------------------------------------------------

async def seed(url: str, channel: str, lines: int) -> float:
    from gateway.channels.pool import seal_credentials
    from gateway.store.base import utcnow
    from gateway.store.db import Database
    from gateway.store.tables import channel_accounts, merchants

    db = Database(url)
    started = time.perf_counter()
    p, s = PREFIX[channel], "n" if db.is_sqlite else "seq"
    if db.is_sqlite:
        pay_id = f"printf('pay_{p}%012d', n)"
        att_id = f"printf('att_{p}%012d', n)"
        # Payments spread over the bill day (Asia/Shanghai 2026-11-01 = UTC 10-31 16:00 onwards).
        paid = "datetime('2026-10-31 16:00:00', printf('+%d seconds', n % 86000)) || '.000000'"
        series = "WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series WHERE n < :lines) "
        source = "FROM series"
    else:
        pay_id = f"CONCAT('pay_{p}', LPAD(seq, 12, '0'))"
        att_id = f"CONCAT('att_{p}', LPAD(seq, 12, '0'))"
        paid = "TIMESTAMPADD(SECOND, seq % 86000, '2026-10-31 16:00:00')"
        series = ""
        source = f"FROM seq_1_to_{lines}"
    now = utcnow()
    async with db.begin() as conn:
        if not (await conn.execute(sa.select(merchants.c.id).where(merchants.c.id == MERCHANT))).first():
            await conn.execute(sa.insert(merchants).values(
                id=MERCHANT, name="Recon Bench", api_key_hash="1" * 64, api_key_hint="0000",
                webhook_secret_sealed="-", return_domains="[]", created_at=now))
    from gateway.config import Settings

    settings = Settings.from_env({}, database_url=url).with_secret_key()
    async with db.begin() as conn:
        await conn.execute(sa.insert(channel_accounts).values(
            id=ACCOUNTS[channel], merchant_id=MERCHANT, channel=channel, account_ref="bench",
            credentials_sealed=seal_credentials(settings, channel, {}), pay_methods="[]", created_at=now))
        if not db.is_sqlite:
            await conn.exec_driver_sql("SET SESSION foreign_key_checks = 0, unique_checks = 0")
        await conn.execute(sa.text(
            f"INSERT INTO payments (id, merchant_id, out_trade_no, amount, currency, subject, status, "
            f"refundable_amount, refunded_amount, metadata, late, paid_attempt_id, expires_at, created_at, "
            f"updated_at, paid_at) {series}SELECT {pay_id}, '{MERCHANT}', {pay_id}, {AMOUNT}, 'CNY', 'Bench', "
            f"'paid', {AMOUNT}, 0, '{{}}', 0, {att_id}, {paid}, {paid}, {paid}, {paid} {source}"),
            {"lines": lines})
        await conn.execute(sa.text(
            f"INSERT INTO payment_attempts (id, payment_id, merchant_id, account_id, channel, pay_method, amount, "
            f"currency, status, pay_data, sync_count, created_at, updated_at, paid_at) {series}SELECT {att_id}, "
            f"{pay_id}, '{MERCHANT}', '{ACCOUNTS[channel]}', '{channel}', '{channel}', {AMOUNT}, 'CNY', "
            f"'succeeded', '{{}}', 0, {paid}, {paid}, {paid} {source}"), {"lines": lines})
        if not db.is_sqlite:
            await conn.exec_driver_sql("SET SESSION foreign_key_checks = 1, unique_checks = 1")
    await db.dispose()
    assert s
    return time.perf_counter() - started


# -- bill files ---------------------------------------------------------------------------------------

def _at(n: int) -> str:
    return (datetime(2026, 11, 1) + timedelta(seconds=n % 86000)).strftime("%Y-%m-%d %H:%M:%S")


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def wechat_bill(path: Path, lines: int) -> None:
    from gateway.sandbox.wechat.bill import HEADER, SUMMARY

    fee = AMOUNT * 6  # units of 0.00001 yuan
    count = settle = fees = 0
    with gzip.open(path, "wt", encoding="utf-8", newline="", compresslevel=6) as out:
        out.write(HEADER + "\r\n")

        def row(n: int, trade_no: str, fen: int) -> None:
            nonlocal count, settle, fees
            out.write(f"`{_at(n)},`wx_bench,`1900000000,`0,`,`4200{n:014d},`{trade_no},`o_bench,`NATIVE,`SUCCESS,"
                      f"`OTHERS,`CNY,`{_yuan(fen)},`0.00,`0,`0,`0.00,`0.00,`,`,`商品,`,`0.{fen * 6:05d},`0.60%,"
                      f"`{_yuan(fen)},`0.00,`\r\n")
            count, settle, fees = count + 1, settle + fen, fees + fen * 6

        for n in range(1, lines + 1):
            row(n, attempt_id("wechat", n), AMOUNT if n != 7 else AMOUNT - 1)  # one amount mismatch
        row(5, attempt_id("wechat", 5), AMOUNT)                                  # one duplicated line
        row(lines + 1, "FOREIGN-1", 500)                                          # another system's trade
        out.write(SUMMARY + "\r\n")
        out.write(f"`{count},`{_yuan(settle)},`0.00,`0.00,`{fees // 100000}.{fees % 100000:05d},`{_yuan(settle)},"
                  f"`0.00\r\n")
    assert fee


def alipay_bill(path: Path, lines: int) -> None:
    from gateway.sandbox.alipay.bill import HEADER, _GbkName

    stem = "20880000000000000156_20261101"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        detail = _GbkName(f"{stem}_业务明细.csv", date_time=(2026, 11, 2, 9, 0, 0))
        detail.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(detail, "w") as raw, \
                io.TextIOWrapper(raw, encoding="gbk", newline="") as out:
            out.write("#支付宝业务明细查询\r\n#账号：[20880000000000000156]\r\n")
            out.write("#-----------------------------------------业务明细列表----------------------------------------\r\n")
            out.write(",".join(HEADER) + "\r\n")
            count = total = 0

            def row(n: int, trade_no: str, fen: int) -> None:
                nonlocal count, total
                out.write(f"2026110122001{n:014d}\t,{trade_no}\t,交易,商品,{_at(n)},{_at(n)},,,,,b***@x.com,"
                          f"{_yuan(fen)},{_yuan(fen)},0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,0.00,0.00,\r\n")
                count, total = count + 1, total + fen

            for n in range(1, lines + 1):
                row(n, attempt_id("alipay", n), AMOUNT if n != 7 else AMOUNT - 1)
            row(5, attempt_id("alipay", 5), AMOUNT)
            row(lines + 1, "FOREIGN-1", 500)
            out.write("#-----------------------------------------业务明细列表结束------------------------------------\r\n")
            out.write(f"#交易合计：{count}笔，商家实收共{_yuan(total)}元，商家优惠共0.00元\r\n")
            out.write("#退款合计：0笔，商家实收退款共0.00元，商家优惠退款共0.00元\r\n")
        zf.writestr(_GbkName(f"{stem}_业务明细(汇总).csv"), "#支付宝业务汇总查询\r\n".encode("gbk"))


# -- measured phases (each in its own process) ----------------------------------------------------------

def read_only(channel: str, path: Path) -> int:
    n = 0
    if channel == "wechat":
        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            for _ in fh:
                n += 1
    else:
        with zipfile.ZipFile(path, metadata_encoding="gbk") as zf:
            name = next(x for x in zf.namelist() if x.endswith("_业务明细.csv"))
            with zf.open(name) as raw, io.TextIOWrapper(raw, encoding="gbk", newline="") as fh:
                for _ in fh:
                    n += 1
    return n


async def reconcile_file(url: str, channel: str, path: Path, data_dir: Path) -> dict[str, Any]:
    from gateway.config import Settings
    from gateway.services.reconciliation import Options, reconcile
    from gateway.services.reconciliation.command import standalone_services

    settings = Settings.from_env({}, database_url=url, data_dir=str(data_dir))
    started, phases = time.perf_counter(), dict[str, float]()

    def progress(phase: str, **_: Any) -> None:  # when each phase began, seconds from the start
        phases.setdefault(phase, round(time.perf_counter() - started, 1))

    async with standalone_services(settings) as svc:
        (report,) = await reconcile(svc, DAY, Options(file=path, progress=progress), account_id=ACCOUNTS[channel])
    return {"status": report["status"], "matched": report["matched"], "foreign": report["foreign"],
            "discrepancies": sorted(d["type"] for d in report["discrepancies"]), "error": report["error_message"],
            "phases": {**phases, "end": round(time.perf_counter() - started, 1)}}


def peak_rss_mb() -> float:
    """This process's own peak RSS. Linux's ``ru_maxrss`` is not: it keeps the high-water mark of the
    process it was forked from (here the parent, which wrote the bills), so ``VmHWM`` is read instead."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    if args.phase == "read":
        result: Any = read_only(args.channel, Path(args.file))
    else:
        result = asyncio.run(reconcile_file(args.url, args.channel, Path(args.file), Path(args.data_dir)))
    seconds = time.perf_counter() - started
    rss_mb = peak_rss_mb()
    print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mb": round(rss_mb, 1), "result": result}))


def _child(*extra: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "tests.bench.reconcile", *extra], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def reset(url: str, tmp: Path) -> str:
    if url.startswith("sqlite"):
        from gateway.store.migrate import upgrade

        db_url = f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}"
        upgrade(db_url)
        return db_url
    from tests.factories import reset_mysql

    reset_mysql(url)
    return url


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m tests.bench.reconcile", description=__doc__)
    p.add_argument("--db", choices=["sqlite", "mysql", "both"], default="both")
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--channel", choices=["wechat", "alipay", "both"], default="both")
    p.add_argument("--mysql-url", default=os.environ.get("GATEWAY_BENCH_MYSQL_URL",
                                                        "mysql+aiomysql://root@127.0.0.1:3306/test_bench"))
    p.add_argument("--phase", choices=["read", "reconcile"], help=argparse.SUPPRESS)
    p.add_argument("--file", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase:
        phase_main(args)
        return
    dbs = ["sqlite", "mysql"] if args.db == "both" else [args.db]
    channels = ["wechat", "alipay"] if args.channel == "both" else [args.channel]
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bills = {}
        for channel in channels:
            started = time.perf_counter()
            path = tmp / ("bill.csv.gz" if channel == "wechat" else "bill.csv.zip")
            (wechat_bill if channel == "wechat" else alipay_bill)(path, args.lines)
            bills[channel] = path
            print(f"# {channel} bill: {args.lines:,} lines, {path.stat().st_size / 1e6:.1f} MB, "
                  f"written in {time.perf_counter() - started:.1f} s", flush=True)
        for db in dbs:
            url = reset("sqlite" if db == "sqlite" else args.mysql_url, tmp)
            for channel in channels:
                seeded = asyncio.run(seed(url, channel, args.lines))
                read = _child("--phase", "read", "--channel", channel, "--file", str(bills[channel]))
                run = _child("--phase", "reconcile", "--channel", channel, "--file", str(bills[channel]),
                             "--url", url, "--data-dir", str(tmp / "data"))
                rows.append((db, channel, seeded, read, run))
                print(f"# {db} {channel}: seeded in {seeded:.1f} s; read {read['seconds']} s "
                      f"({read['peak_rss_mb']} MB); reconcile {run['seconds']} s ({run['peak_rss_mb']} MB) "
                      f"{run['result']}", flush=True)
    print("\n| database | channel | lines | read only | reconcile end to end | ÷ read | stage / match / rest "
          "| peak RSS (read / reconcile) |")
    print("|---|---|---|---|---|---|---|---|")
    for db, channel, _, read, run in rows:
        print(f"| {db} | {channel} | {args.lines:,} | {read['seconds']} s | {run['seconds']} s | "
              f"{run['seconds'] / max(read['seconds'], 0.01):.0f}× | {_split(run['result'].get('phases', {}))} | "
              f"{read['peak_rss_mb']} / {run['peak_rss_mb']} MB |")


def _split(phases: dict[str, float]) -> str:
    """Seconds parsing and staging / matching / remedies, totals and the rest."""
    try:
        return (f"{phases['matching'] - phases['parsing']:.1f} / {phases['remediating'] - phases['matching']:.1f} / "
                f"{phases['end'] - phases['remediating']:.1f} s")
    except KeyError:
        return "-"


if __name__ == "__main__":
    main()
