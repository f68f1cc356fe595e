"""pause: the switch that stops every outbound call, or one channel's

Revision ID: 0004_pause
Revises: 0003_security
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_pause'
down_revision = '0003_security'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pauses',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=40), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('paused_by', sa.String(length=320), nullable=False),
        sa.Column('paused_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resumed_by', sa.String(length=320), nullable=True),
        sa.Column('resumed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pauses')),
    )
    op.create_index(op.f('ix_pauses_channel'), 'pauses', ['channel'], unique=False)
    op.create_index(op.f('ix_pauses_resumed_at'), 'pauses', ['resumed_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_pauses_resumed_at'), table_name='pauses')
    op.drop_index(op.f('ix_pauses_channel'), table_name='pauses')
    op.drop_table('pauses')
