"""api keys: several per merchant, each with a name, a last-used time, an overlap end and a revocation
(gateway.store.merchant_keys); each merchant's existing key copied in as "default"

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 17:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=32), nullable=False),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('expires_at', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.Column('last_used_at', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_api_keys_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_index(op.f('ix_api_keys_merchant_id'), 'api_keys', ['merchant_id'], unique=False)
    # The keys merchants hold today keep working: one "default" key each (id derived from the merchant's).
    op.execute("INSERT INTO api_keys (id, merchant_id, name, key_hash, prefix, created_at) "
               "SELECT CONCAT('key_', SUBSTR(id, 5)), id, 'default', api_key_hash, CONCAT('sk_…', api_key_hint), "
               "created_at FROM merchants" if op.get_bind().dialect.name == "mysql" else
               "INSERT INTO api_keys (id, merchant_id, name, key_hash, prefix, created_at) "
               "SELECT 'key_' || SUBSTR(id, 5), id, 'default', api_key_hash, 'sk_…' || api_key_hint, "
               "created_at FROM merchants")


def downgrade() -> None:
    op.drop_index(op.f('ix_api_keys_merchant_id'), table_name='api_keys')
    op.drop_table('api_keys')
