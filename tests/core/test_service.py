"""Health, the OpenAPI document and docs page, secrets at rest, the command line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from openapi_spec_validator import validate

from gateway.api.models import Payment
from gateway.config import Settings
from gateway.crypto.secrets import Secret
from gateway.store.tables import channel_accounts, merchants
from tests.factories import Gateway

ROOT = Path(__file__).resolve().parents[2]


async def test_health_and_readiness(gateway: Gateway) -> None:
    async with gateway.http.get(f"{gateway.url}/healthz") as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"
    async with gateway.http.get(f"{gateway.url}/readyz") as r:
        body = await r.json()
        assert r.status == 200 and body["checks"]["database"] == "ok"


async def test_openapi_document_is_valid_and_matches_answers(gateway: Gateway) -> None:
    async with gateway.http.get(f"{gateway.url}/api/v1/openapi.json") as r:
        doc = await r.json()
    validate(doc)  # OpenAPI 3.1
    assert doc["openapi"] == "3.1.0"
    create = doc["paths"]["/payments"]["post"]
    schema = doc["components"]["schemas"][create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                                          .split("/")[-1]]
    assert schema["properties"]["amount"]["type"] == "integer" and schema["additionalProperties"] is False
    m = await gateway.merchant()
    Payment.model_validate(await gateway.create_payment(m))  # the answer has the documented shape
    async with gateway.http.get(f"{gateway.url}/api/v1/docs") as r:
        html = await r.text()
        assert r.status == 200 and "createPayment" in html and "/payments/{id}/close" in html


async def test_secrets_are_hashed_or_sealed_and_never_shown(gateway: Gateway) -> None:
    m = await gateway.merchant()
    async with gateway.svc.db.read() as conn:
        row = (await conn.execute(sa.select(merchants).where(merchants.c.id == m.id))).mappings().one()
        accounts = (await conn.execute(sa.select(channel_accounts.c.credentials_sealed)
                                       .where(channel_accounts.c.merchant_id == m.id))).scalars().all()
    stored = json.dumps({k: str(v) for k, v in row.items()})
    assert m.api_key not in stored and m.webhook_secret not in stored
    assert m.webhook_secret.startswith("whsec_")
    assert accounts and all("PRIVATE KEY" not in a for a in accounts)
    settings = Settings.from_env({"GATEWAY_SECRET_KEY": "topsecret", "GATEWAY_REDIS_URL": "redis://:pw@h/0"})
    assert "topsecret" not in repr(settings) and "pw@" not in repr(settings)
    assert repr(Secret("x")) == "Secret('**********')"


def _run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return subprocess.run([sys.executable, "run.py", *args, "--data-dir", str(data_dir)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_create_merchant_command(tmp_path: Path) -> None:
    from tests.factories import seed_sandbox_keys

    seed_sandbox_keys(tmp_path)
    done = _run("create-merchant", "--name", "Shop", "--return-domain", "shop.example",
                "--webhook-url", "https://shop.example/hook", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["merchant_id"].startswith("mch_") and out["api_key"].startswith("sk_")
    assert out["webhook_secret"].startswith("whsec_")
    assert out["api_key"] not in done.stderr
    creds = _run("sandbox-credentials", data_dir=tmp_path)
    assert creds.returncode == 0
    assert {"alipay", "wechat"} <= set(json.loads(creds.stdout))
    assert _run("migrate", data_dir=tmp_path).returncode == 0


def test_set_channel_replaces_credentials_in_place(tmp_path: Path) -> None:
    from tests.factories import seed_sandbox_keys

    seed_sandbox_keys(tmp_path)
    merchant = json.loads(_run("create-merchant", "--name", "Shop", "--no-sandbox-accounts",
                               data_dir=tmp_path).stdout)
    creds = json.loads(_run("sandbox-credentials", data_dir=tmp_path).stdout)
    path = tmp_path / "alipay.json"
    path.write_text(json.dumps(creds["alipay"]))
    first = _run("set-channel", "--merchant", merchant["merchant_id"], "--channel", "alipay",
                 "--credentials", str(path), "--methods", "alipay_qr", "--no-check", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    again = _run("set-channel", "--merchant", merchant["merchant_id"], "--channel", "alipay",
                 "--credentials", str(path), "--no-check", data_dir=tmp_path)  # no sandbox runs here
    assert json.loads(again.stdout)["account_id"] == json.loads(first.stdout)["account_id"]
    path.write_text(json.dumps({**creds["alipay"], "app_private_key": "not a key"}))
    bad = _run("set-channel", "--merchant", merchant["merchant_id"], "--channel", "alipay",
               "--credentials", str(path), data_dir=tmp_path)
    assert bad.returncode == 2 and "not a key" not in bad.stderr


def test_update_merchant_changes_webhook_and_return_domains(tmp_path: Path) -> None:
    import sqlite3

    merchant = json.loads(_run("create-merchant", "--name", "Shop", "--no-sandbox-accounts", data_dir=tmp_path).stdout)
    done = _run("update-merchant", "--merchant", merchant["merchant_id"], "--webhook-url", "https://shop.example/h",
                "--return-domain", "Shop.Example", "--return-domain", "pay.shop.example", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "gateway.sqlite3") as db:
        url, domains = db.execute("SELECT webhook_url, return_domains FROM merchants").fetchone()
    assert url == "https://shop.example/h" and json.loads(domains) == ["shop.example", "pay.shop.example"]
    assert _run("update-merchant", "--merchant", "mch_nope", "--no-webhook", data_dir=tmp_path).returncode == 2
    assert _run("update-merchant", "--merchant", merchant["merchant_id"], "--webhook-url", "ftp://x",
                data_dir=tmp_path).returncode == 2
