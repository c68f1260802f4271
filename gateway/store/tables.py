"""The schema, as SQLAlchemy Core tables. Alembic migrations in ``migrations/`` create it.

Money columns are BIGINT minor units. The database, not the code, holds the invariants that matter
under concurrency: unique merchant order and refund numbers, ``refundable_amount >= 0`` (no refund can
reserve more than was paid), unique ledger entries per movement.
"""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive UTC with microseconds."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[datetime]:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


ID = sa.String(40)
Money = sa.BigInteger
Text = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


merchants = sa.Table(
    "merchants", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("api_key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("api_key_hint", sa.String(16), nullable=False),
    sa.Column("webhook_url", sa.String(2048)),
    sa.Column("webhook_secret_sealed", sa.Text, nullable=False),
    sa.Column("webhook_secret_prev_sealed", sa.Text),
    _ts("webhook_secret_prev_until", True),
    sa.Column("return_domains", sa.Text, nullable=False, server_default="[]"),
    _ts("created_at"),
)

# A merchant's API keys (gateway.store.merchant_keys). Authentication reads only this table; the merchant row's
# api_key_hash / api_key_hint mirror the newest key. A key works while revoked_at is null and expires_at (the
# end of a rotation's overlap) is null or in the future.
api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False, index=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(32), nullable=False),  # "sk_test_AbCd…wxyz": enough to tell keys apart
    _ts("created_at"),
    _ts("expires_at", True),
    _ts("revoked_at", True),
    _ts("last_used_at", True),
)

channel_accounts = sa.Table(
    "channel_accounts", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False, index=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("account_ref", sa.String(64), nullable=False),  # Alipay app_id, WeChat mchid
    sa.Column("credentials_sealed", sa.Text, nullable=False),
    sa.Column("pay_methods", sa.Text, nullable=False),  # JSON list of enabled pay-method codes
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    _ts("created_at"),
    sa.Index("ix_channel_accounts_channel_ref", "channel", "account_ref"),
)

payments = sa.Table(
    "payments", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("out_trade_no", sa.String(64), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("subject", sa.String(256), nullable=False),
    sa.Column("description", sa.String(1024)),
    sa.Column("status", sa.String(24), nullable=False),
    # Fixed through the API (NULL = the shopper chooses); once paid, the paid attempt's method.
    sa.Column("pay_method", sa.String(24)),
    # Reserved for refunds: set to ``amount`` when paid, decremented by each refund (pending or
    # succeeded) with a conditional update, given back when a refund fails. The CHECK makes an
    # over-refund impossible even for code that forgot to look.
    sa.Column("refundable_amount", Money, nullable=False, server_default="0"),
    sa.Column("refunded_amount", Money, nullable=False, server_default="0"),
    sa.Column("return_url", sa.String(2048)),
    sa.Column("notify_url", sa.String(2048)),
    sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
    sa.Column("link_id", ID),
    sa.Column("paid_attempt_id", ID),
    sa.Column("late", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("channel_trade_no", sa.String(64)),  # the paid attempt's transaction id at its channel
    sa.Column("close_reason", sa.String(16)),  # merchant | expired | operator | cancelled
    # automatic | manual: a manual payment's channel only reserves the amount (a wallet hold) until
    # the merchant captures it
    sa.Column("capture_method", sa.String(16), nullable=False, server_default="automatic"),
    _ts("expires_at"), _ts("created_at"), _ts("updated_at"), _ts("paid_at", True), _ts("closed_at", True),
    _ts("lease_until", True),  # held by the process expiring this payment (background tasks)
    # The risk decision taken with it, JSON {"decision", "rules"} (gateway.services.risk); NULL = allow.
    sa.Column("risk", sa.Text),
    sa.UniqueConstraint("merchant_id", "out_trade_no", name="uq_payments_merchant_out_trade_no"),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.CheckConstraint("refundable_amount >= 0", name="refundable_nonnegative"),
    sa.CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refunded_within_amount"),
    sa.CheckConstraint("refundable_amount + refunded_amount <= amount", name="reserved_within_amount"),
    sa.Index("ix_payments_merchant_created", "merchant_id", "created_at", "id"),
    # The expiry sweep reads only due pending rows through this index, never the table.
    sa.Index("ix_payments_status_expires", "status", "expires_at"),
)

attempts = sa.Table(
    "payment_attempts", metadata,
    sa.Column("id", ID, primary_key=True),  # also the channel's out_trade_no
    sa.Column("payment_id", ID, sa.ForeignKey("payments.id"), nullable=False, index=True),
    sa.Column("merchant_id", ID, nullable=False),
    sa.Column("account_id", ID, sa.ForeignKey("channel_accounts.id"), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("pay_method", sa.String(24), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("pay_data", sa.Text, nullable=False, server_default="{}"),
    sa.Column("channel_trade_no", sa.String(64)),
    sa.Column("sync_count", sa.Integer, nullable=False, server_default="0"),
    _ts("next_sync_at", True), _ts("lease_until", True),
    _ts("created_at"), _ts("updated_at"), _ts("paid_at", True),
    sa.Index("ix_attempts_next_sync", "next_sync_at"),
    sa.Index("ix_attempts_account_paid", "account_id", "paid_at"),  # reconciliation: a day's successes
    # GET /payments?channel_trade_no=: the payment a channel's transaction id (any attempt's) belongs to.
    sa.Index("ix_attempts_merchant_trade_no", "merchant_id", "channel_trade_no"),
)

refunds = sa.Table(
    "refunds", metadata,
    sa.Column("id", ID, primary_key=True),  # also the channel's out_request_no / out_refund_no
    sa.Column("merchant_id", ID, nullable=False),
    sa.Column("payment_id", ID, sa.ForeignKey("payments.id"), nullable=False, index=True),
    sa.Column("attempt_id", ID, sa.ForeignKey("payment_attempts.id"), nullable=False),
    sa.Column("out_refund_no", sa.String(64), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reason", sa.String(256)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("automatic", sa.String(32)),  # why the gateway refunded by itself (late_paid, double_paid)
    sa.Column("channel_refund_no", sa.String(64)),
    sa.Column("failure_code", sa.String(64)),
    sa.Column("failure_message", sa.String(256)),
    sa.Column("sync_count", sa.Integer, nullable=False, server_default="0"),
    _ts("next_sync_at", True), _ts("lease_until", True),
    _ts("created_at"), _ts("updated_at"), _ts("succeeded_at", True),
    sa.UniqueConstraint("merchant_id", "out_refund_no", name="uq_refunds_merchant_out_refund_no"),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.Index("ix_refunds_next_sync", "next_sync_at"),
)

ledger_entries = sa.Table(
    "ledger_entries", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(96), nullable=False, unique=True),  # one entry per movement, ever
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("merchant_id", ID, nullable=False, index=True),
    sa.Column("payment_id", ID),
    sa.Column("refund_id", ID),
    _ts("created_at"),
)

ledger_postings = sa.Table(
    "ledger_postings", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("entry_id", sa.BigInteger, sa.ForeignKey("ledger_entries.id"), nullable=False, index=True),
    sa.Column("account", sa.String(96), nullable=False, index=True),
    sa.Column("amount", Money, nullable=False),  # signed: debit positive, credit negative
    sa.Column("currency", sa.String(3), nullable=False),
    sa.CheckConstraint("amount <> 0", name="amount_nonzero"),
)

events = sa.Table(
    "events", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, nullable=False),
    sa.Column("type", sa.String(48), nullable=False),
    sa.Column("payload", Text, nullable=False),
    sa.Column("object_id", ID),
    sa.Column("delivery_status", sa.String(16), nullable=False),  # pending | delivered | failed | none
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    _ts("next_attempt_at", True), _ts("lease_until", True), _ts("delivered_at", True),
    _ts("created_at"),
    sa.Index("ix_events_merchant_created", "merchant_id", "created_at", "id"),
    sa.Index("ix_events_due", "delivery_status", "next_attempt_at"),
)

deliveries = sa.Table(
    "webhook_deliveries", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("event_id", ID, sa.ForeignKey("events.id"), nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("latency_ms", sa.Integer),
    sa.Column("response_excerpt", sa.String(512)),
    sa.Column("error", sa.String(256)),
    _ts("attempted_at"),
)

notify_log = sa.Table(
    "notify_log", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("account_id", ID),
    sa.Column("trade_no", ID),
    sa.Column("remote", sa.String(64)),
    sa.Column("headers", sa.Text, nullable=False),
    sa.Column("body", Text, nullable=False),
    sa.Column("result", sa.String(16), nullable=False),  # applied | duplicate | ignored | rejected | error
    sa.Column("error", sa.String(256)),
    _ts("created_at"),
    sa.Index("ix_notify_log_result_created", "result", "created_at"),  # the purge of refused callbacks
)

idempotency_keys = sa.Table(
    "idempotency_keys", metadata,
    sa.Column("merchant_id", ID, primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # in_flight | done
    sa.Column("response_status", sa.Integer),
    sa.Column("response_body", Text),
    _ts("locked_until"), _ts("created_at"), _ts("expires_at"),
    sa.Index("ix_idempotency_expires", "expires_at"),
)

payment_links = sa.Table(
    "payment_links", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("slug", sa.String(32), nullable=False, unique=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False, index=True),
    sa.Column("subject", sa.String(256), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount", Money),          # fixed amount, or NULL for shopper-entered within bounds
    sa.Column("min_amount", Money),
    sa.Column("max_amount", Money),
    sa.Column("pay_method", sa.String(24)),
    sa.Column("return_url", sa.String(2048)),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    _ts("created_at"),
)

# -- stored value: customers' wallets (gateway.store.wallets) ----------------------------------------
# A wallet per (merchant, customer): cash (paid in by the customer), bonus (given by the merchant), held
# (reserved for a capture), points (a unit of its own, never money). Every change is a conditional UPDATE
# with a wallet_movements row and its ledger entry (same ``ref``) in one transaction; the CHECK makes an
# overdraft impossible even for code that forgot to look.

wallets = sa.Table(
    "wallets", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("customer_id", sa.String(64), nullable=False),  # the merchant's own id for its customer
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("cash", Money, nullable=False, server_default="0"),
    sa.Column("bonus", Money, nullable=False, server_default="0"),
    sa.Column("held", Money, nullable=False, server_default="0"),
    sa.Column("points", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("status", sa.String(16), nullable=False),  # active | frozen (a frozen wallet takes credits only)
    _ts("created_at"), _ts("updated_at"),
    sa.UniqueConstraint("merchant_id", "customer_id", name="uq_wallets_merchant_customer"),
    sa.CheckConstraint("cash >= 0 AND bonus >= 0 AND held >= 0 AND points >= 0", name="nonnegative"),
)

wallet_movements = sa.Table(
    "wallet_movements", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("ref", sa.String(96), nullable=False, unique=True),  # = its ledger entry's ref: once, ever
    sa.Column("wallet_id", ID, sa.ForeignKey("wallets.id"), nullable=False),
    sa.Column("merchant_id", ID, nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),  # recharge, pay, refund, adjustment, recharge_refund, …
    # Signed changes as the customer sees them (+ = credited), and the balances after.
    sa.Column("cash", Money, nullable=False), sa.Column("bonus", Money, nullable=False),
    sa.Column("held", Money, nullable=False), sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("cash_after", Money, nullable=False), sa.Column("bonus_after", Money, nullable=False),
    sa.Column("held_after", Money, nullable=False), sa.Column("points_after", sa.BigInteger, nullable=False),
    sa.Column("payment_id", ID),
    sa.Column("refund_id", ID),
    sa.Column("trade_no", ID),  # the attempt a pay movement paid
    sa.Column("reason", sa.String(256)),
    _ts("created_at"),
    sa.Index("ix_wallet_movements_wallet_created", "wallet_id", "created_at", "id"),
    sa.Index("ix_wallet_movements_trade", "trade_no"),
)

recharge_packages = sa.Table(
    "recharge_packages", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False, index=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("price", Money, nullable=False),   # paid, and credited as cash
    sa.Column("bonus", Money, nullable=False, server_default="0"),
    sa.Column("points", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("sort_order", sa.Integer, nullable=False, server_default="0"),
    _ts("created_at"),
    sa.CheckConstraint("price > 0 AND bonus >= 0 AND points >= 0", name="amounts"),
)

recharges = sa.Table(
    "recharges", metadata,
    sa.Column("payment_id", ID, sa.ForeignKey("payments.id"), primary_key=True),
    sa.Column("merchant_id", ID, nullable=False),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("package_id", ID),
    sa.Column("amount", Money, nullable=False),  # = the payment's amount, credited as cash
    sa.Column("bonus", Money, nullable=False, server_default="0"),
    sa.Column("points", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("status", sa.String(16), nullable=False),  # pending | credited
    _ts("created_at"), _ts("credited_at", True),
)

wallet_holds = sa.Table(
    "wallet_holds", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, nullable=False),
    sa.Column("wallet_id", ID, sa.ForeignKey("wallets.id"), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("cash", Money, nullable=False),   # the parts it took (bonus first), given back on release
    sa.Column("bonus", Money, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # held | captured | released | expired
    sa.Column("reason", sa.String(256)),
    # the payment attempt it reserves for (a manual-capture payment), or NULL for a hold made through
    # the wallet API; such a hold is captured or released only through its payment
    sa.Column("trade_no", ID),
    _ts("expires_at"), _ts("created_at"), _ts("updated_at"),
    sa.CheckConstraint("amount > 0 AND cash >= 0 AND bonus >= 0 AND cash + bonus = amount", name="parts"),
    sa.Index("ix_wallet_holds_status_expires", "status", "expires_at"),
    sa.Index("uq_wallet_holds_trade_no", "trade_no", unique=True),
)

# -- risk controls (gateway.services.risk) -------------------------------------------------------------
# Rules are typed data: ``params`` is the JSON of the rule's validated model; merchant_id NULL = global.

risk_rules = sa.Table(
    "risk_rules", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),  # monitor | enforce
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("params", sa.Text, nullable=False),
    _ts("created_at"), _ts("updated_at"),
    sa.Index("ix_risk_rules_merchant", "merchant_id"),
)

risk_lists = sa.Table(
    "risk_lists", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID),
    sa.Column("kind", sa.String(16), nullable=False),  # ip (an address or a network) | payer
    sa.Column("value", sa.String(128), nullable=False),
    sa.Column("note", sa.String(256)),
    sa.Column("created_by", sa.String(254), nullable=False),
    _ts("expires_at", True), _ts("created_at"),
    sa.Index("ix_risk_lists_merchant_kind", "merchant_id", "kind"),
)

risk_decisions = sa.Table(
    "risk_decisions", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID),
    sa.Column("hook", sa.String(24), nullable=False),  # payment.create | checkout.pay | refund.create | callback
    sa.Column("object_id", ID),  # the payment or refund, when there is one
    sa.Column("decision", sa.String(16), nullable=False),  # allow | review | throttle | block
    sa.Column("rules", sa.Text, nullable=False),  # JSON list of the rules that fired, enforce and monitor
    sa.Column("ip", sa.String(64)),
    sa.Column("payer", sa.String(32)),  # masked
    sa.Column("amount", Money),
    _ts("created_at"),
    sa.Index("ix_risk_decisions_merchant_created", "merchant_id", "created_at", "id"),
    sa.Index("ix_risk_decisions_created", "created_at"),
)
