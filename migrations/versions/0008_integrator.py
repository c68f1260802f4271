"""integrator: how a payment was paid (channel_trade_no, close_reason) and the index that finds a payment
by a channel's transaction id

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 17:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payments') as batch:
        batch.add_column(sa.Column('channel_trade_no', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('close_reason', sa.String(length=16), nullable=True))
    op.create_index('ix_attempts_merchant_trade_no', 'payment_attempts', ['merchant_id', 'channel_trade_no'],
                    unique=False)
    # Payments paid before this revision: how they were paid, from their paid attempt.
    op.execute(sa.text(
        "UPDATE payments SET "
        "pay_method = (SELECT a.pay_method FROM payment_attempts a WHERE a.id = payments.paid_attempt_id), "
        "channel_trade_no = (SELECT a.channel_trade_no FROM payment_attempts a WHERE a.id = payments.paid_attempt_id) "
        "WHERE paid_attempt_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index('ix_attempts_merchant_trade_no', table_name='payment_attempts')
    with op.batch_alter_table('payments') as batch:
        batch.drop_column('close_reason')
        batch.drop_column('channel_trade_no')
