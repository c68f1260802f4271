"""deploy/prometheus/alerts.yml parses, every rule has a threshold and a summary, and every metric its
expressions name is one a running gateway exports (so a renamed metric cannot silently blind an alert)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from gateway.crypto.secrets import Secret
from tests.factories import start_gateway
from tests.observability.helpers import TOKEN

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
REQUIRED = {"GatewayHigh5xxRate", "GatewayCallbackLag", "GatewayStuckPendingPayments", "GatewayWebhookBacklogOld",
            "GatewayWebhookBacklogLarge", "GatewayChannelErrors", "GatewayRefundFailures",
            "GatewayReconciliationFailed", "GatewayDiscrepanciesOpen", "GatewayCredentialExpiry",
            "GatewayPaidVolumeDrop"}


def rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_the_rules_file_has_every_required_alert_with_a_threshold() -> None:
    found = rules()
    assert REQUIRED <= {r["alert"] for r in found}
    for rule in found:
        assert re.search(r"[<>]=?\s*[\d(]", rule["expr"]), rule["alert"]  # a comparison with a threshold
        assert rule["annotations"]["summary"] and rule["labels"]["severity"] in {"page", "warn"}
    # promtool is Debian's prometheus package: CI installs it, and there its absence is a failure.
    assert shutil.which("promtool") or os.environ.get("CI") != "true", "CI must have promtool"
    if shutil.which("promtool"):
        for args in (["check", "rules", RULES.name], ["test", "rules", "alerts_test.yml"]):
            done = subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=RULES.parent)
            assert done.returncode == 0, done.stdout + done.stderr


async def test_every_metric_the_rules_name_is_exported(tmp_path: Path) -> None:
    async with start_gateway(tmp_path, metrics_token=Secret(TOKEN)) as gw:
        async with gw.http.get(f"{gw.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            text = await r.text()
    exported = set(re.findall(r"^# TYPE (\S+) (\S+)", text, re.M))
    names = {name for name, _ in exported}
    # a counter family "x" is sampled as "x_total"; a histogram's as "x_bucket", "x_count", "x_sum"
    samples = names | {f"{n}_total" for n, t in exported if t == "counter"} | \
        {f"{n}_{s}" for n, t in exported if t == "histogram" for s in ("bucket", "count", "sum")}
    used = {m for rule in rules() for m in re.findall(r"\bgateway_[a-z_]+", rule["expr"])}
    assert used and used <= samples, used - samples
