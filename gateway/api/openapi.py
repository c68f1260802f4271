"""The OpenAPI 3.1 document, generated from the pydantic models that validate requests.

Each operation names its models; their JSON Schemas (2020-12, which OpenAPI 3.1 uses as is) go into
``components.schemas``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gateway.api import events, link_models, models, reconciliation
from gateway.api import wallet_models as wm


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    response: type[BaseModel] | None
    status: int = 200
    request: type[BaseModel] | None = None
    query: list[tuple[str, str, str]] = field(default_factory=list)  # name, type, description
    idempotent_post: bool = True
    errors: tuple[int, ...] = (401, 404)


_LIST_QUERY = [("limit", "integer", "1–100, default 20"),
               ("cursor", "string", "next_cursor of the previous page")]

OPERATIONS: list[Operation] = [
    Operation("post", "/payments", "createPayment", "Create a payment", models.Payment, 201,
              models.PaymentCreate, errors=(400, 401, 409, 413, 422, 502, 503)),
    Operation("get", "/payments", "listPayments", "List payments, newest first", models.PaymentList,
              query=[("status", "string", "pending | paid | partially_refunded | refunded | closed"),
                     ("out_trade_no", "string", "your order number"),
                     ("created_gte", "string", "ISO 8601 time, inclusive"),
                     ("created_lt", "string", "ISO 8601 time, exclusive"), *_LIST_QUERY],
              errors=(401, 422)),
    Operation("get", "/payments/{id}", "getPayment", "Retrieve a payment", models.Payment),
    Operation("post", "/payments/{id}/close", "closePayment",
              "Close a pending payment (at the channel first, then here)", models.Payment,
              errors=(401, 404, 409, 503)),
    Operation("post", "/payments/{id}/refunds", "createRefund",
              "Refund a paid payment, in part or in full (repeatable up to the paid amount)", models.Refund, 201,
              models.RefundCreate, errors=(400, 401, 404, 409, 413, 422)),
    Operation("get", "/payments/{id}/refunds", "listPaymentRefunds", "List a payment's refunds, oldest first",
              models.RefundList),
    Operation("get", "/refunds/{id}", "getRefund", "Retrieve a refund", models.Refund),
    Operation("post", "/links", "createPaymentLink", "Create a reusable payment link (fixed or shopper-entered "
              "amount) with its url and printable poster_url", link_models.PaymentLink, 201,
              link_models.PaymentLinkCreate, errors=(400, 401, 413, 422)),
    Operation("get", "/links", "listPaymentLinks", "List payment links, newest first",
              link_models.PaymentLinkList, query=list(_LIST_QUERY), errors=(401, 422)),
    Operation("get", "/links/{id}", "getPaymentLink", "Retrieve a payment link", link_models.PaymentLink),
    Operation("patch", "/links/{id}", "updatePaymentLink", "Edit a payment link (subject, amount or bounds), or "
              "deactivate it with active: false", link_models.PaymentLink, 200, link_models.PaymentLinkUpdate,
              idempotent_post=False, errors=(400, 401, 404, 422)),
    Operation("get", "/events", "listEvents", "List the events sent (or to send) to your webhook, newest first",
              events.EventList, query=[("type", "string", "e.g. payment.succeeded"),
                                       ("object_id", "string", "the payment or refund id"), *_LIST_QUERY],
              errors=(401, 422)),
    Operation("get", "/events/{id}", "getEvent", "Retrieve an event with its delivery log", events.Event),
    Operation("post", "/events/{id}/resend", "resendEvent",
              "Deliver an event again, now, with a fresh retry schedule", events.Event, 202,
              errors=(401, 404, 409)),
    Operation("get", "/reconciliation/batches", "listReconciliationBatches",
              "List the reconciliation batches (one per channel account and bill day) of your accounts, newest "
              "first", reconciliation.ReconBatchList,
              query=[("date", "string", "bill day YYYY-MM-DD (Asia/Shanghai)"),
                     ("status", "string", "pending | running | done | no_bill | not_ready | failed"), *_LIST_QUERY],
              errors=(401, 422)),
    Operation("get", "/reconciliation/batches/{id}", "getReconciliationBatch",
              "Retrieve a reconciliation batch with both sides' totals and its discrepancies",
              reconciliation.ReconBatch),
    Operation("post", "/webhook-secret/rotate", "rotateWebhookSecret",
              "New webhook signing secret (shown once); the old one stays valid for 24 h", events.WebhookSecret,
              201, errors=(401,)),
    # Stored value: customers' wallets (a payment with channel balance|points and customer_id pays from one).
    Operation("get", "/customers/{customer_id}/wallet", "getWallet", "A customer's wallet: cash, bonus, held, "
              "points", wm.Wallet, errors=(401, 422)),
    Operation("get", "/customers/{customer_id}/wallet/statements", "listWalletMovements",
              "A customer's statement, newest first, each line with its ending balance", wm.WalletMovementList,
              query=list(_LIST_QUERY), errors=(401, 422)),
    Operation("post", "/customers/{customer_id}/wallet/adjustments", "adjustWallet",
              "Correct a wallet: signed amounts per part, a reason required", wm.WalletMovement, 201,
              wm.WalletAdjustmentCreate, errors=(400, 401, 402, 409, 422)),
    Operation("post", "/customers/{customer_id}/wallet/freeze", "freezeWallet",
              "Freeze a wallet: it takes credits only", wm.Wallet, errors=(401, 422)),
    Operation("post", "/customers/{customer_id}/wallet/unfreeze", "unfreezeWallet", "Unfreeze a wallet",
              wm.Wallet, errors=(401, 422)),
    Operation("post", "/customers/{customer_id}/checkout_tokens", "createCheckoutToken",
              "Let the checkout offer this customer's balance for one pending payment: a customer_token and "
              "the checkout_url that carries it", wm.CheckoutToken, 201, wm.CheckoutTokenCreate,
              errors=(400, 401, 404, 409, 422)),
    Operation("post", "/customers/{customer_id}/recharges", "createRecharge",
              "Top up a wallet: a payment through a real channel, credited once when paid", models.Payment, 201,
              wm.RechargeCreate, errors=(400, 401, 404, 409, 422, 502, 503)),
    Operation("post", "/customers/{customer_id}/wallet/holds", "createWalletHold",
              "Hold part of a wallet (bonus first, then cash) until captured, released or expired", wm.WalletHold,
              201, wm.WalletHoldCreate, errors=(400, 401, 402, 409, 422)),
    Operation("post", "/customers/{customer_id}/wallet/holds/{hold_id}/capture", "captureWalletHold",
              "Capture a hold before it expires: the amount becomes yours", wm.WalletHold, errors=(401, 404, 409)),
    Operation("post", "/customers/{customer_id}/wallet/holds/{hold_id}/release", "releaseWalletHold",
              "Release a hold: the amount goes back to the parts it came from", wm.WalletHold,
              errors=(401, 404, 409)),
    Operation("post", "/recharge_packages", "createRechargePackage", "Create a recharge package (price → "
              "cash, plus bonus and points)", wm.RechargePackage, 201, wm.RechargePackageCreate,
              errors=(400, 401, 422)),
    Operation("get", "/recharge_packages", "listRechargePackages", "List recharge packages",
              wm.RechargePackageList, errors=(401,)),
]


def _schema_ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def document(server_url: str, operations: list[Operation] | None = None) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    problem = _schema_ref(models.Problem, schemas)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations or OPERATIONS:
        spec: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary,
                                "security": [{"apiKey": []}], "responses": {}}
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in re.findall(r"{(\w+)}", op.path)]
        params += [{"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
                   for n, t, d in op.query]
        if op.method == "post" and op.idempotent_post:
            params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "schema": {"type": "string", "maxLength": 255},
                           "description": "Same key and body replay the first answer for 24 h."})
        if params:
            spec["parameters"] = params
        if op.request is not None:
            spec["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": _schema_ref(op.request, schemas)}}}
        if op.response is not None:
            spec["responses"][str(op.status)] = {"description": "OK", "content": {
                "application/json": {"schema": _schema_ref(op.response, schemas)}}}
        for status in op.errors:
            spec["responses"][str(status)] = {"description": "Problem", "content": {
                "application/problem+json": {"schema": problem}}}
        paths.setdefault(op.path, {})[op.method] = spec
    return {
        "openapi": "3.1.0",
        "info": {"title": "Payment gateway merchant API", "version": "1.0.0",
                 "description": "Amounts are integer minor units (fen). Errors are RFC 9457 problem "
                                "details with a stable `code`."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "Your secret API key."}}},
    }
