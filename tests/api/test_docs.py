"""The OpenAPI document and /api/v1/docs: pay methods from the registry, next_action shapes, every event
in ``webhooks``, the error codes, examples that are valid, and 415/422/429 on every operation."""
from __future__ import annotations

import re
from pathlib import Path

from openapi_spec_validator import validate

from gateway.api import models
from gateway.domain.pay import ActionKind
from gateway.web.problems import STATUS
from tests.factories import Gateway

ROOT = Path(__file__).resolve().parents[2]


def _emitted_event_types() -> set[str]:
    """Every event type the code emits (literal names, and payment.{status} after a refund)."""
    found: set[str] = set()
    for path in (ROOT / "gateway" / "services").glob("*.py"):
        if path.name.startswith("risk"):  # the risk engine's hook names (payment.create …) are not events
            continue
        found |= set(re.findall(r'"((?:payment|refund|wallet)\.[a-z_]+)"', path.read_text()))
    return found | {"payment.partially_refunded", "payment.refunded"}


async def test_the_document_describes_methods_actions_events_and_errors(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    doc = (await gw.api(None, "GET", "/openapi.json")).body
    validate(doc)
    schemas = doc["components"]["schemas"]
    assert schemas["PayMethod"]["enum"] == sorted(gw.svc.registry.pay_methods)
    assert set(models.ACTION_SCHEMAS) == {k.value for k in ActionKind}
    for kind, name in models.ACTION_SCHEMAS.items():
        assert schemas[name]["properties"]["type"]["const"] == kind and schemas[name]["description"]
    assert _emitted_event_types() <= set(doc["webhooks"])
    for type_, hook in doc["webhooks"].items():
        assert {p["name"] for p in hook["post"]["parameters"]} == {"webhook-id", "webhook-timestamp",
                                                                   "webhook-signature"}, type_
    assert schemas["ErrorCode"]["enum"] == sorted(STATUS)
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            codes = set(op["responses"])
            assert {"422", "429"} <= codes, (method, path)
            assert method != "post" or {"400", "413", "415"} <= codes, (method, path)
    create = doc["paths"]["/payments"]["post"]
    models.PaymentCreate.model_validate(create["requestBody"]["content"]["application/json"]["example"])
    models.Payment.model_validate(create["responses"]["201"]["content"]["application/json"]["example"])
    listed = {p["name"] for p in doc["paths"]["/payments"]["get"]["parameters"]}
    assert {"channel_trade_no", "channel_order_no"} <= listed


async def test_the_docs_page_shows_it(sqlite_gateway: Gateway) -> None:
    async with sqlite_gateway.http.get(f"{sqlite_gateway.url}/api/v1/docs") as r:
        assert r.status == 200
        page = await r.text()
    for needle in ("wechat_native", "QrAction", "form_post", "payment.succeeded", "refund.failed",
                   "return_url_not_allowed", "rate_limited", "sandboxPay", '"amount": 1999',
                   'name="viewport"'):
        assert needle in page, needle
