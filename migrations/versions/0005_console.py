"""console: operators, the hash-chained audit log, the dashboard's daily rollup (gateway.store.operators,
gateway.store.audit, gateway.store.rollup)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 15:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('operators',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('totp_secret_sealed', sa.Text(), nullable=True),
    sa.Column('last_totp_step', sa.BigInteger(), nullable=True),
    sa.Column('failed_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.Column('enroll_token_hash', sa.String(length=64), nullable=True),
    sa.Column('enroll_expires_at', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.Column('disabled', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('last_login_at', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operators')),
    sa.UniqueConstraint('email', name=op.f('uq_operators_email')),
    sa.UniqueConstraint('enroll_token_hash', name=op.f('uq_operators_enroll_token_hash'))
    )
    op.create_table('audit_log',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=True),
    sa.Column('object_id', sa.String(length=64), nullable=True),
    sa.Column('merchant_id', sa.String(length=40), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), server_default='{}', nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_at', ['at'], unique=False)
    op.create_table('stats_daily',
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('pay_method', sa.String(length=24), nullable=False),
    sa.Column('created_count', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('paid_count', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('paid_amount', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('refund_count', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('refund_amount', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('day', 'merchant_id', 'channel', 'pay_method', name=op.f('pk_stats_daily'))
    )
    op.create_table('stats_days',
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('computed_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_stats_days'))
    )
    # Console search and the dashboard read payments by paid time and by the channel's trade number.
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_paid_at', ['paid_at'], unique=False)
        batch_op.create_index('ix_payments_created_at', ['created_at'], unique=False)
        # Covers the console's totals of a time range: read from the index alone.
        batch_op.create_index('ix_payments_created_totals',
                              ['created_at', 'merchant_id', 'status', 'amount', 'refunded_amount'], unique=False)
        batch_op.create_index('ix_payments_out_trade_no', ['out_trade_no'], unique=False)
    with op.batch_alter_table('payment_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_attempts_channel_trade_no', ['channel_trade_no'], unique=False)
        batch_op.create_index('ix_attempts_status_created', ['status', 'created_at'], unique=False)
    with op.batch_alter_table('notify_log', schema=None) as batch_op:
        batch_op.create_index('ix_notify_log_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notify_log', schema=None) as batch_op:
        batch_op.drop_index('ix_notify_log_created_at')
    with op.batch_alter_table('payment_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_attempts_status_created')
        batch_op.drop_index('ix_attempts_channel_trade_no')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_out_trade_no')
        batch_op.drop_index('ix_payments_created_totals')
        batch_op.drop_index('ix_payments_created_at')
        batch_op.drop_index('ix_payments_paid_at')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_at')
    op.drop_table('stats_days')
    op.drop_table('stats_daily')
    op.drop_table('audit_log')
    op.drop_table('operators')
