"""The README is the front door: its configuration table and set-up commands stay true to the code."""
from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook

from gateway.cli import config_reference, demo_ctx, main, parser
from gateway.store.merchants import first_merchant
from tests.conftest import FAST
from tests.factories import start_gateway
from tests.support.receiver import receiver
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_generated_from_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- config-reference:start -->\n(.*?)\n<!-- config-reference:end -->", readme, re.S)
    assert table is not None and table.group(1).strip() == config_reference().strip()


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "pip install -r requirements-dev.txt && python -m pytest"
    assert command in readme
    assert command in ci


def _documents(text: str) -> list[Any]:
    """The JSON documents curl printed one after another (no separators)."""
    decoder, out, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        doc, at = decoder.raw_decode(text, at)
        out.append(doc)
    return out


async def test_the_quick_start_runs_verbatim_from_create_to_paid_to_refund_to_the_webhook(tmp_path: Path) -> None:
    """The README's quick-start block, run by bash as it stands -- only the base URL and the key differ."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- quickstart:start -->\n```sh\n(.*?)```\n<!-- quickstart:end -->", readme, re.S)
    assert block is not None
    assert "python run.py --demo-webhook-url" in readme
    async with receiver() as hooks, start_gateway(tmp_path, **FAST) as gw:
        m = await gw.merchant(webhook_url=hooks.endpoint("hooks"))
        script = block.group(1).replace("http://127.0.0.1:8080", gw.url)
        script, keyed = re.subn(r"^export KEY=\S+", f"export KEY={m.api_key}", script, flags=re.M)
        assert keyed == 1
        proc = await asyncio.create_subprocess_exec("bash", "-euo", "pipefail", "-c", script,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        paid, refund, events = _documents(out.decode())
        assert paid["status"] == "paid" and paid["pay_method"] and paid["channel_trade_no"], paid
        assert refund["object"] == "refund" and refund["amount"] == 500, refund
        assert "payment.succeeded" in {e["type"] for e in events["data"]}

        def received() -> set[str]:
            return {json.loads(h.body)["type"] for h in hooks.hits if h.status < 300}

        got = await eventually(lambda: asyncio.sleep(0, received()),
                               lambda types: {"payment.succeeded", "refund.succeeded", "payment.partially_refunded"} <= types)
        assert {"payment.succeeded", "refund.succeeded", "payment.partially_refunded"} <= got
        for hit in hooks.hits:  # signed as the README's Webhooks section says
            Webhook(m.webhook_secret).verify(hit.body, hit.headers)


async def test_the_demo_merchant_takes_a_webhook_url(tmp_path: Path) -> None:
    assert parser().parse_args(["--demo-webhook-url", "http://127.0.0.1:9/h"]).demo_webhook_url == "http://127.0.0.1:9/h"
    assert parser().parse_args(["serve", "--demo-webhook-url", "http://x/h"]).demo_webhook_url == "http://x/h"
    assert main(["--demo-webhook-url", "ftp://x"]) == 2
    async with start_gateway(tmp_path) as gw:
        for url in ("http://127.0.0.1:9/first", "http://127.0.0.1:9/second"):  # created, then set again
            ctx = demo_ctx(gw.app, url)
            await anext(ctx)
            async with gw.svc.db.read() as conn:
                demo = await first_merchant(conn)
            assert demo is not None and demo["name"] == "Demo Shop" and demo["webhook_url"] == url
            await ctx.aclose()
