"""wallets: stored value (gateway.store.wallets)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 15:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('recharge_packages',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('bonus', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('points', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('1'), nullable=False),
    sa.Column('sort_order', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.CheckConstraint('price > 0 AND bonus >= 0 AND points >= 0', name=op.f('ck_recharge_packages_amounts')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_recharge_packages_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recharge_packages'))
    )
    with op.batch_alter_table('recharge_packages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recharge_packages_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('wallets',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('cash', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('bonus', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('held', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('points', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('updated_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.CheckConstraint('cash >= 0 AND bonus >= 0 AND held >= 0 AND points >= 0', name=op.f('ck_wallets_nonnegative')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_wallets_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallets')),
    sa.UniqueConstraint('merchant_id', 'customer_id', name='uq_wallets_merchant_customer')
    )
    op.create_table('recharges',
    sa.Column('payment_id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('package_id', sa.String(length=40), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('bonus', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('points', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('credited_at', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_recharges_payment_id_payments')),
    sa.PrimaryKeyConstraint('payment_id', name=op.f('pk_recharges'))
    )
    op.create_table('wallet_movements',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('ref', sa.String(length=96), nullable=False),
    sa.Column('wallet_id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('cash', sa.BigInteger(), nullable=False),
    sa.Column('bonus', sa.BigInteger(), nullable=False),
    sa.Column('held', sa.BigInteger(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('cash_after', sa.BigInteger(), nullable=False),
    sa.Column('bonus_after', sa.BigInteger(), nullable=False),
    sa.Column('held_after', sa.BigInteger(), nullable=False),
    sa.Column('points_after', sa.BigInteger(), nullable=False),
    sa.Column('payment_id', sa.String(length=40), nullable=True),
    sa.Column('refund_id', sa.String(length=40), nullable=True),
    sa.Column('trade_no', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.String(length=256), nullable=True),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['wallet_id'], ['wallets.id'], name=op.f('fk_wallet_movements_wallet_id_wallets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_movements')),
    sa.UniqueConstraint('ref', name=op.f('uq_wallet_movements_ref'))
    )
    with op.batch_alter_table('wallet_movements', schema=None) as batch_op:
        batch_op.create_index('ix_wallet_movements_trade', ['trade_no'], unique=False)
        batch_op.create_index('ix_wallet_movements_wallet_created', ['wallet_id', 'created_at', 'id'], unique=False)

    op.create_table('wallet_holds',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('wallet_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('cash', sa.BigInteger(), nullable=False),
    sa.Column('bonus', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=256), nullable=True),
    sa.Column('expires_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('updated_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.CheckConstraint('amount > 0 AND cash >= 0 AND bonus >= 0 AND cash + bonus = amount', name=op.f('ck_wallet_holds_parts')),
    sa.ForeignKeyConstraint(['wallet_id'], ['wallets.id'], name=op.f('fk_wallet_holds_wallet_id_wallets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_holds'))
    )
    with op.batch_alter_table('wallet_holds', schema=None) as batch_op:
        batch_op.create_index('ix_wallet_holds_status_expires', ['status', 'expires_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('wallet_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_wallet_holds_status_expires')

    op.drop_table('wallet_holds')
    with op.batch_alter_table('wallet_movements', schema=None) as batch_op:
        batch_op.drop_index('ix_wallet_movements_wallet_created')
        batch_op.drop_index('ix_wallet_movements_trade')

    op.drop_table('wallet_movements')
    op.drop_table('recharges')
    op.drop_table('wallets')
    with op.batch_alter_table('recharge_packages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recharge_packages_merchant_id'))

    op.drop_table('recharge_packages')
