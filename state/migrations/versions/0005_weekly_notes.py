"""weekly notes: the note to staff, once per week

Revision ID: 0005_weekly_notes
Revises: 0005_events
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_weekly_notes'
down_revision = '0005_events'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('weekly_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('claimed_by', sa.String(length=320), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_weekly_notes')),
    sa.UniqueConstraint('week_start', name=op.f('uq_weekly_notes_week_start'))
    )


def downgrade() -> None:
    op.drop_table('weekly_notes')
