"""The OpenAPI 3.1 document, generated from the pydantic models that validate requests.

Each operation names its models; their JSON Schemas (2020-12, which OpenAPI 3.1 uses as is) go into
``components.schemas``. Beside the operations: the pay methods (from the channel registry), the
``next_action`` shapes (one schema per type), every event we send (the ``webhooks`` section), the error
codes (from the one code → status table) and examples.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gateway.api import events, keys, link_models, models, reconciliation, risk, sandbox_helpers
from gateway.api import wallet_models as wm
from gateway.domain.pay import ActionKind
from gateway.web.problems import STATUS


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
    examples: dict[str, Any] = field(default_factory=dict)  # "request" / "response" → an example body

    @property
    def all_errors(self) -> list[int]:
        """The operation's own errors, plus what any request may get: 422 (a query parameter or the
        Idempotency-Key refused), 429 (rate limited) and, with a body, 400 (invalid JSON), 413 and 415."""
        body = {400, 413, 415} if self.method == "post" else set()
        return sorted(set(self.errors) | {422, 429} | body)


_LIST_QUERY = [("limit", "integer", "1–100, default 20"),
               ("cursor", "string", "next_cursor of the previous page")]

# The examples' pay method: the registry's first that shows a code to scan.
_QR_METHOD = next(code for code, spec in models.SPECS.items() if spec.action == ActionKind.QR)

OPERATIONS: list[Operation] = [
    Operation("post", "/payments", "createPayment", "Create a payment (risk rules run first: 403 risk_blocked, "
              "429 when throttled)", models.Payment, 201,
              models.PaymentCreate, errors=(400, 401, 402, 403, 409, 413, 422, 429, 502, 503), examples={
                  "request": {"amount": 1999, "currency": "CNY", "subject": "Green tea", "out_trade_no": "1001",
                              "pay_method": _QR_METHOD, "return_url": "https://shop.example.com/thanks",
                              "notify_url": "https://shop.example.com/hooks/pay"},
                  "response": {"id": "pay_01HZX3K4Q8ABCDEFGHJKMNPQRS", "object": "payment", "status": "pending",
                               "amount": 1999, "currency": "CNY", "refunded_amount": 0, "refundable_amount": 0,
                               "out_trade_no": "1001", "subject": "Green tea", "description": None,
                               "pay_method": _QR_METHOD, "channel": _QR_METHOD,
                               "channel_trade_no": None, "channel_order_no": None,
                               "checkout_url": "https://pay.example.com/pay/pay_01HZX3K4Q8ABCDEFGHJKMNPQRS",
                               "return_url": "https://shop.example.com/thanks",
                               "notify_url": "https://shop.example.com/hooks/pay", "metadata": {},
                               "created_at": "2026-11-30T08:00:00Z", "expires_at": "2026-11-30T08:15:00Z",
                               "paid_at": None, "closed_at": None, "close_reason": None, "late_payment": False,
                               "capture_method": "automatic", "risk": {"decision": "allow", "rules": []},
                               "next_action": {"type": "qr", "qr": "weixin://wxpay/bizpayurl?pr=abc123"}}}),
    Operation("get", "/payments", "listPayments", "List payments, newest first", models.PaymentList,
              query=[("status", "string", "pending | paid | partially_refunded | refunded | closed"),
                     ("out_trade_no", "string", "your order number"),
                     ("channel_trade_no", "string", "the channel's transaction id (as on the shopper's receipt)"),
                     ("channel_order_no", "string", "our order number at the channel (channel_order_no)"),
                     ("created_gte", "string", "ISO 8601 time, inclusive"),
                     ("created_lt", "string", "ISO 8601 time, exclusive"), *_LIST_QUERY],
              errors=(401, 422)),
    Operation("get", "/payments/{id}", "getPayment", "Retrieve a payment", models.Payment),
    Operation("post", "/payments/{id}/close", "closePayment",
              "Close a pending payment (at the channel first, then here)", models.Payment,
              errors=(401, 404, 409, 503)),
    Operation("post", "/payments/{id}/capture", "capturePayment",
              "Capture a payment created with capture=false: what it reserved becomes its payment (repeatable: "
              "a captured payment is answered as it is)", models.Payment,
              errors=(401, 402, 404, 409, 503)),
    Operation("post", "/payments/{id}/refunds", "createRefund",
              "Refund a paid payment, in part or in full (repeatable up to the paid amount)", models.Refund, 201,
              models.RefundCreate, errors=(400, 401, 403, 404, 409, 413, 422), examples={
                  "request": {"amount": 500, "out_refund_no": "1001-r1", "reason": "one cup returned"}}),
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
    Operation("get", "/api-keys", "listApiKeys", "List your API keys (name, prefix, status, last used; never the "
              "secret)", keys.ApiKeyList, errors=(401,)),
    Operation("post", "/api-keys/rotate", "rotateApiKey", "New API key (shown once) replacing the calling key or "
              "key_id; the old one works for the overlap (24 h) unless revoke_old. Under an Idempotency-Key the "
              "answer is kept with the key sealed and a replay returns the same key", keys.NewApiKey, 201,
              keys.ApiKeyRotate, errors=(400, 401, 404, 422)),
    Operation("post", "/api-keys/{id}/revoke", "revokeApiKey", "Revoke an API key now: it gets 401 from then on",
              keys.ApiKey, errors=(401, 404)),
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
    # Sandbox only (404 when the gateway talks to the real channels).
    Operation("post", "/sandbox/payments/{id}/pay", "sandboxPay",
              "Sandbox only: pay a pending payment as a shopper would, on the sandbox's page (the channel's "
              "signed callback tells the gateway)", models.Payment, 200, sandbox_helpers.SandboxPay,
              errors=(401, 404, 409, 422, 502, 503)),
    Operation("post", "/sandbox/payments/{id}/fail", "sandboxFail",
              "Sandbox only: the shopper cancels at the channel; then the payment closes "
              "(close_reason cancelled)", models.Payment, 200, sandbox_helpers.SandboxPay,
              errors=(401, 404, 409, 422, 502, 503)),
    # Risk controls: rules as typed data, IP and payer lists, the decisions taken.
    Operation("post", "/risk/rules", "createRiskRule", "Create a risk rule (typed by `type`; monitor or enforce)",
              risk.RiskRule, 201, risk.RiskRuleCreate, errors=(400, 401, 413, 422)),
    Operation("get", "/risk/rules", "listRiskRules", "List your risk rules, oldest first", risk.RiskRuleList,
              errors=(401,)),
    Operation("get", "/risk/rules/{id}", "getRiskRule", "Retrieve a risk rule", risk.RiskRule),
    Operation("patch", "/risk/rules/{id}", "updateRiskRule", "Change a rule's mode, parameters or enabled",
              risk.RiskRule, request=risk.RiskRulePatch, errors=(400, 401, 404, 422)),
    Operation("delete", "/risk/rules/{id}", "deleteRiskRule", "Delete a risk rule", risk.Deleted),
    Operation("post", "/risk/lists/{kind}", "addRiskListEntry", "Add an IP (address or network) or a payer to "
              "your block list (kind ip | payer), optionally expiring", risk.RiskListEntry, 201,
              risk.RiskListEntryCreate, errors=(400, 401, 404, 413, 422)),
    Operation("get", "/risk/lists/{kind}", "listRiskListEntries", "List a block list's live entries, newest first",
              risk.RiskListEntryList),
    Operation("delete", "/risk/lists/{kind}/{id}", "deleteRiskListEntry", "Remove a block-list entry",
              risk.Deleted),
    Operation("get", "/risk/decisions", "listRiskDecisions", "List risk decisions with a rule fired, newest first",
              risk.RiskDecisionList, query=[("hook", "string", "payment.create | checkout.pay | refund.create | "
                                                              "callback"),
                                            ("decision", "string", "allow | review | throttle | block"),
                                            ("object_id", "string", "a payment id"), *_LIST_QUERY],
              errors=(401, 422)),
]

# Every event, its ``data`` object and when it is sent (gateway.services.settlement, .wallets).
EVENTS: list[tuple[str, type[BaseModel], str]] = [
    ("payment.succeeded", models.Payment, "The payment is paid (also after it was closed: late_payment true)."),
    ("payment.closed", models.Payment, "The payment closed unpaid; close_reason says why."),
    ("payment.partially_refunded", models.Payment, "A refund succeeded; some of the amount is still kept."),
    ("payment.refunded", models.Payment, "Refunds succeeded for the whole amount."),
    ("payment.double_paid", models.Payment, "A second attempt paid the same payment; `extra_attempt` names it "
                                            "and its money is refunded automatically."),
    ("refund.succeeded", models.Refund, "The channel confirmed the refund."),
    ("refund.failed", models.Refund, "The channel refused the refund; the amount is refundable again."),
    ("wallet.credited", wm.WalletMovement, "A customer's wallet gained value (recharge, adjustment, refund)."),
    ("wallet.debited", wm.WalletMovement, "A customer's wallet lost value (a payment from it, an adjustment)."),
]

# What each problem code means; the status comes from gateway.web.problems.STATUS.
ERROR_CODES: dict[str, str] = {
    "validation_error": "A field or query parameter is invalid; errors[].field names it.",
    "invalid_json": "The body is not one JSON object: malformed, a key twice, or nested too deep.",
    "unauthorized": "No or an unknown API key.",
    "not_found": "No such object (or not yours); also the sandbox helpers without the sandbox.",
    "duplicate_out_trade_no": "The out_trade_no is taken; payment_id names the payment that has it.",
    "duplicate_out_refund_no": "The out_refund_no is taken; refund_id names the refund.",
    "idempotency_key_in_use": "A request with this Idempotency-Key is still running; retry later.",
    "idempotency_key_reused": "This Idempotency-Key was used with another request.",
    "payload_too_large": "The body exceeds GATEWAY_MAX_BODY_BYTES.",
    "invalid_state": "The object's state does not allow it (e.g. closing a paid payment).",
    "refund_exceeds_refundable": "More than the refundable amount (refundable_amount says how much).",
    "return_url_not_allowed": "return_url's host is not one of your return domains (allowed_domains lists "
                              "them).",
    "pay_method_unavailable": "The pay method is not enabled for you.",
    "channel_declined": "The channel refused (its code in channel_code); final.",
    "channel_unavailable": "The channel did not answer; the order is being checked. Retry.",
    "database_unavailable": "The database did not answer. Retry.",
    "rate_limited": "Too many requests; Retry-After says when to try again.",
    "method_not_allowed": "That HTTP method is not served here.",
    "unsupported_media_type": "Send JSON with Content-Type: application/json.",
    "internal_error": "A bug on our side, logged with request_id.",
    "insufficient_balance": "The wallet does not hold enough.",
    "wallet_frozen": "The wallet is frozen: credits only.",
}


def _schema_ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


_OPTIONAL_BODY = {"sandboxPay", "sandboxFail"}
_STATUS_TEXT = {400: "Invalid JSON (invalid_json)", 401: "No or an unknown API key", 404: "Not found",
                409: "Conflict with the object's state or another request", 413: "Body too large",
                415: "Not JSON (unsupported_media_type)", 422: "Invalid fields or query parameters",
                429: "Rate limited (Retry-After)", 502: "The channel refused", 503: "Retry later"}


def _media(schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {"schema": schema} | ({"example": example} if example is not None else {})


def pay_methods() -> dict[str, Any]:
    """The pay-method codes from the channel registry, each with its ``next_action`` type."""
    return {"type": "string", "enum": sorted(models.SPECS), "description": "Pay methods: " + "; ".join(
        f"`{code}` → next_action `{spec.action.value}`" + (f" (needs `{spec.payer_field}`)" if spec.needs_payer
                                                           else "")
        for code, spec in sorted(models.SPECS.items()))}


_WEBHOOK_HEADERS = [
    ("webhook-id", "The event id: the same on every retry; drop repeats."),
    ("webhook-timestamp", "Unix seconds of this attempt; reject stale ones."),
    ("webhook-signature", "Space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>` under your "
                          "whsec_ secret (two while a rotation's grace lasts)."),
]


def _webhooks(schemas: dict[str, Any]) -> dict[str, Any]:
    """One entry per event type: what we POST to your webhook_url (or the payment's notify_url)."""
    out: dict[str, Any] = {}
    for type_, model, when in EVENTS:
        data = _schema_ref(model, schemas)
        name = "".join(part.title() for part in type_.replace("_", ".").split(".")) + "Event"
        schemas[name] = {"type": "object", "required": ["id", "type", "created_at", "data"], "properties": {
            "id": {"type": "string", "examples": ["evt_01HZX3K4Q8ABCDEFGHJKMNPQRS"]},
            "type": {"const": type_}, "created_at": {"type": "string", "format": "date-time"}, "data": data}}
        out[type_] = {"post": {
            "summary": when, "operationId": f"on_{type_.replace('.', '_')}",
            "description": "Sent to the payment's notify_url if it has one, else to your webhook_url; "
                           "Standard Webhooks signatures; retried with backoff for over 24 h until a 2xx.",
            "parameters": [{"name": n, "in": "header", "required": True, "schema": {"type": "string"},
                            "description": d} for n, d in _WEBHOOK_HEADERS],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{name}"}}}},
            "responses": {"2XX": {"description": "Received: delivery ends. Anything else is retried."}}}}
    return out


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
            spec["requestBody"] = {"required": op.operation_id not in _OPTIONAL_BODY, "content": {
                "application/json": _media(_schema_ref(op.request, schemas), op.examples.get("request"))}}
        if op.response is not None:
            spec["responses"][str(op.status)] = {"description": "OK", "content": {
                "application/json": _media(_schema_ref(op.response, schemas), op.examples.get("response"))}}
        for status in op.all_errors:
            spec["responses"][str(status)] = {"description": _STATUS_TEXT.get(status, "Problem"), "content": {
                "application/problem+json": {"schema": problem}}}
        paths.setdefault(op.path, {})[op.method] = spec
    schemas["PayMethod"] = pay_methods()
    schemas["ErrorCode"] = {"type": "string", "enum": sorted(STATUS),
                            "description": "Problem codes: " + "; ".join(
                                f"`{c}` ({STATUS[c]}): {ERROR_CODES.get(c, '')}" for c in sorted(STATUS))}
    schemas["Problem"]["properties"]["code"] = {"$ref": "#/components/schemas/ErrorCode"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Payment gateway merchant API", "version": "1.0.0",
                 "description": "Amounts are integer minor units (fen). Errors are RFC 9457 problem "
                                "details with a stable `code`."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "webhooks": _webhooks(schemas),
        "components": {"schemas": schemas, "securitySchemes": {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "Your secret API key."}}},
    }
