"""``set-channel`` tries the credentials against the channel (here: the sandbox of a running gateway)
before it stores them: a refusal is one line on stderr, exit code 3 and no row; ``--no-check`` skips it."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from gateway.admin import actions
from gateway.cli import sandbox_accounts
from gateway.services.fresh import FRESH_FOR
from gateway.store.tables import channel_accounts
from tests.factories import Gateway, shared_sandbox_keys, unique
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


async def _set_channel(gw: Gateway, merchant_id: str, channel: str, creds: dict[str, Any],
                       *extra: str) -> tuple[int, str, str]:
    path = gw.tmp / f"{channel}.json"
    path.write_text(json.dumps(creds))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_SANDBOX_URL"] = f"{gw.url}/sandbox"  # the running gateway's sandboxes
    # The gateway answers from this event loop: the command runs beside it, not blocking it.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "run.py", "set-channel", "--merchant", merchant_id, "--channel", channel,
        "--credentials", str(path), "--data-dir", str(gw.tmp / "data"), *extra, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _accounts(gw: Gateway, merchant_id: str) -> int:
    return await gw.count(channel_accounts, channel_accounts.c.merchant_id == merchant_id)


async def test_set_channel_refuses_credentials_the_channel_refuses(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant(sandbox_accounts=False)
    good = sandbox_accounts(gw.svc.settings)["wechat"]
    wrong = good | {"merchant_private_key": json.loads(shared_sandbox_keys())["alipay"]["app_private_key"]}

    code, out, err = await _set_channel(gw, m.id, "wechat", wrong)
    assert code == 3 and out == "", (code, out, err)
    lines = [line for line in err.strip().splitlines() if " alembic." not in line]  # migration log aside
    assert len(lines) == 1, err
    said = json.loads(lines[0])
    assert said["problem"] == "signature_rejected" and said["stored"] is False and "SIGN_ERROR" in said["detail"]
    assert "PRIVATE KEY" not in err
    assert await _accounts(gw, m.id) == 0

    code, out, err = await _set_channel(gw, m.id, "wechat", good)
    assert code == 0, err
    assert json.loads(out)["channel"] == "wechat" and await _accounts(gw, m.id) == 1


async def test_no_check_stores_without_asking_the_channel(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant(sandbox_accounts=False)
    unverifiable = sandbox_accounts(gw.svc.settings)["alipay"] | {
        "alipay_public_key": json.loads(shared_sandbox_keys())["wechat"]["public_key"]}
    code, _, err = await _set_channel(gw, m.id, "alipay", unverifiable)
    assert code == 3 and json.loads(err.strip().splitlines()[-1])["problem"] == "answer_unverifiable"
    assert await _accounts(gw, m.id) == 0
    code, _, err = await _set_channel(gw, m.id, "alipay", unverifiable, "--no-check")
    assert code == 0, err
    assert await _accounts(gw, m.id) == 1


async def test_an_account_is_offered_at_once_from_the_console_and_within_seconds_from_elsewhere(
        sqlite_gateway: Gateway) -> None:
    """What a merchant can pay with is kept in process (``svc.accounts``): the console's change is seen at
    once; another process's (the CLI here) within FRESH_FOR seconds -- never a stale answer for good."""
    gw = sqlite_gateway
    m = await gw.merchant(sandbox_accounts=False)
    body = {"amount": 100, "currency": "CNY", "subject": "Tea"}

    async def create(**extra: Any) -> int:
        return (await gw.api(m, "POST", "/payments", json_body={**body, "out_trade_no": unique("o"), **extra})).status

    assert await create() == 422  # nothing to pay with (and now remembered)
    code, _, err = await _set_channel(gw, m.id, "alipay", sandbox_accounts(gw.svc.settings)["alipay"])
    assert code == 0, err
    assert await eventually(create, lambda status: status == 201, seconds=3 * FRESH_FOR) == 201

    assert await create(pay_method="wechat_native") == 422  # remembered: alipay only
    await actions.set_channel(gw.svc, m.id, "wechat", sandbox_accounts(gw.svc.settings)["wechat"])
    assert await create(pay_method="wechat_native") == 201
