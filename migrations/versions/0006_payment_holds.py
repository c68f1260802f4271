"""payment holds: a payment from balance authorized now and captured later (payments.capture_method,
wallet_holds.trade_no -- the attempt a hold reserves for)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 17:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('payments', sa.Column('capture_method', sa.String(length=16), server_default='automatic',
                                        nullable=False))
    op.add_column('wallet_holds', sa.Column('trade_no', sa.String(length=40), nullable=True))
    op.create_index(op.f('uq_wallet_holds_trade_no'), 'wallet_holds', ['trade_no'], unique=True)


def downgrade() -> None:
    op.drop_index(op.f('uq_wallet_holds_trade_no'), table_name='wallet_holds')
    with op.batch_alter_table('wallet_holds') as batch:
        batch.drop_column('trade_no')
    with op.batch_alter_table('payments') as batch:
        batch.drop_column('capture_method')
