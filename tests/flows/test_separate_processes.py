"""The gateway and the channel sandboxes as separate processes, speaking only HTTP: every pay method goes
create → pay on the sandbox page → callback → ``paid``. Also: the first start's demo merchant."""
from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.factories import seed_sandbox_keys
from tests.processes import clean_env, run_cli, run_py
from tests.support.net import free_port
from tests.support.paying import phone_page, press

METHODS = ["alipay_qr", "alipay_wap", "alipay_page", "wechat_native", "wechat_h5", "wechat_jsapi"]


@pytest.mark.slow
async def test_every_pay_method_with_a_separate_sandbox_process(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_sandbox_keys(data)
    sandbox_port, gateway_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}/sandbox"
    env = clean_env(GATEWAY_DATA_DIR=str(data), GATEWAY_SANDBOX_TIME_SCALE="0.001",
                    GATEWAY_SANDBOX_URL=sandbox_url)
    with run_py("sandbox", port=sandbox_port, env=env, log=tmp_path / "sandbox.log"), \
            run_py("serve", port=gateway_port, env=env, log=tmp_path / "gateway.log"):
        merchant = json.loads(await run_cli("create-merchant", "--name", "Separate Shop", env=env))
        base = f"http://127.0.0.1:{gateway_port}/api/v1"
        auth = {"Authorization": f"Bearer {merchant['api_key']}"}
        async with aiohttp.ClientSession() as http:
            for method in METHODS:
                body = {"amount": 888, "subject": "Separate", "out_trade_no": f"sep-{method}", "channel": method}
                if method == "wechat_jsapi":
                    body["payer_openid"] = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
                async with http.post(f"{base}/payments", json=body, headers=auth) as r:
                    payment = await r.json()
                    assert r.status == 201, payment
                await press(http, phone_page(sandbox_url, method, payment))
                for _ in range(200):
                    async with http.get(f"{base}/payments/{payment['id']}", headers=auth) as r:
                        status = (await r.json())["status"]
                    if status == "paid":
                        break
                    await asyncio.sleep(0.05)
                assert status == "paid", method
    gateway_log = (tmp_path / "gateway.log").read_text()
    assert merchant["api_key"] not in gateway_log  # a secret is shown once, never logged


@pytest.mark.slow
async def test_first_start_prints_demo_credentials_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed_sandbox_keys(data)
    env = clean_env(GATEWAY_DATA_DIR=str(data))
    log = tmp_path / "first.log"
    port = free_port()
    with run_py("serve", port=port, env=env, log=log) as proc:
        await asyncio.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0  # graceful shutdown
    first = log.read_text()
    demo = json.loads(first[first.index("{"):first.rindex("}") + 1])
    api_key = demo["demo_merchant"]["api_key"]
    assert demo["sample_checkout_url"].startswith(f"http://127.0.0.1:{port}/pay/pay_")
    with run_py("serve", port=port, env=env, log=tmp_path / "second.log"):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/api/v1/payments",
                                headers={"Authorization": f"Bearer {api_key}"}) as r:
                assert r.status == 200 and (await r.json())["data"][0]["out_trade_no"] == "demo-0001"
            async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                assert r.status == 200
    assert api_key not in (tmp_path / "second.log").read_text()
