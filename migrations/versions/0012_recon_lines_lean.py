"""recon_lines keeps only what matching reads (kind, key, trade number, amount, status, ours): the
channel's number, the fee and the time stay in the kept bill file -- a million lines a day are written,
indexed and read with a third fewer bytes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 00:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('recon_lines', schema=None) as batch_op:
        batch_op.drop_column('channel_no')
        batch_op.drop_column('fee')
        batch_op.drop_column('occurred_at')


def downgrade() -> None:
    with op.batch_alter_table('recon_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel_no', sa.String(64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('fee', sa.BigInteger, nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('occurred_at', gateway.store.tables.UTCDateTime(), nullable=True))
