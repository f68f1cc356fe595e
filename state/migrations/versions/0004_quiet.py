"""quiet: editions and threads moved by quiet time, and admins' overrides

Revision ID: 0004_quiet
Revises: 0004_pause
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_quiet'
down_revision = '0004_pause'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'quiet_moves',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subject_kind', sa.String(length=20), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('moved_to', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reasons', sa.JSON(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('override_by', sa.String(length=320), nullable=True),
        sa.Column('override_reason', sa.Text(), nullable=True),
        sa.Column('override_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_quiet_moves')),
        sa.UniqueConstraint('subject_kind', 'subject_id', name='uq_quiet_moves_subject'),
    )


def downgrade() -> None:
    op.drop_table('quiet_moves')
