"""observability: the built-in alert notifier's state and named job leases (gateway.store.alerts)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 17:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_state',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('firing', sa.Boolean(), nullable=False),
    sa.Column('summary', sa.String(length=512), nullable=False),
    sa.Column('since', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('notified_at', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_alert_state'))
    )
    op.create_table('job_leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=False),
    sa.Column('lease_until', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_job_leases'))
    )


def downgrade() -> None:
    op.drop_table('job_leases')
    op.drop_table('alert_state')
