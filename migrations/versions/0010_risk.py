"""risk: rules, lists and decisions (gateway.store.risk); the decision kept with each payment; the index the
purge of refused callbacks reads

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 17:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('risk_rules',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=True),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('params', sa.Text(), nullable=False),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('updated_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_rules'))
    )
    with op.batch_alter_table('risk_rules', schema=None) as batch_op:
        batch_op.create_index('ix_risk_rules_merchant', ['merchant_id'], unique=False)
    op.create_table('risk_lists',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=128), nullable=False),
    sa.Column('note', sa.String(length=256), nullable=True),
    sa.Column('created_by', sa.String(length=254), nullable=False),
    sa.Column('expires_at', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_lists'))
    )
    with op.batch_alter_table('risk_lists', schema=None) as batch_op:
        batch_op.create_index('ix_risk_lists_merchant_kind', ['merchant_id', 'kind'], unique=False)
    op.create_table('risk_decisions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=True),
    sa.Column('hook', sa.String(length=24), nullable=False),
    sa.Column('object_id', sa.String(length=40), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('rules', sa.Text(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('payer', sa.String(length=32), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_decisions'))
    )
    with op.batch_alter_table('risk_decisions', schema=None) as batch_op:
        batch_op.create_index('ix_risk_decisions_created', ['created_at'], unique=False)
        batch_op.create_index('ix_risk_decisions_merchant_created', ['merchant_id', 'created_at', 'id'], unique=False)
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('risk', sa.Text(), nullable=True))
    with op.batch_alter_table('notify_log', schema=None) as batch_op:
        batch_op.create_index('ix_notify_log_result_created', ['result', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notify_log', schema=None) as batch_op:
        batch_op.drop_index('ix_notify_log_result_created')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('risk')
    with op.batch_alter_table('risk_decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_decisions_merchant_created')
        batch_op.drop_index('ix_risk_decisions_created')
    op.drop_table('risk_decisions')
    with op.batch_alter_table('risk_lists', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_lists_merchant_kind')
    op.drop_table('risk_lists')
    with op.batch_alter_table('risk_rules', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_rules_merchant')
    op.drop_table('risk_rules')
