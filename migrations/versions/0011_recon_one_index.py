"""recon_lines: one secondary index fewer -- a day's trades are looked for on the neighbouring days'
batches through ``ix_recon_lines_batch_kind_key``; staging a million lines maintains two indexes, not three

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 20:40:00
"""
from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('recon_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_recon_lines_kind_key')


def downgrade() -> None:
    with op.batch_alter_table('recon_lines', schema=None) as batch_op:
        batch_op.create_index('ix_recon_lines_kind_key', ['kind', 'key'], unique=False)
