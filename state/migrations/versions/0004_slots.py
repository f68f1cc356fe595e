"""slots: the posting slot (or staff-fixed time) each thread holds

Revision ID: 0004_slots
Revises: 0004_quiet (chained after quiet's, merged into this branch)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_slots'
down_revision = '0004_quiet'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'thread_slots',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('thread_id', sa.Integer(), nullable=False),
        sa.Column('network', sa.String(length=20), nullable=False),
        sa.Column('slot_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('set_by', sa.String(length=320), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_thread_slots_thread_id_threads'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_thread_slots')),
        sa.UniqueConstraint('network', 'slot_at', name='uq_thread_slots_network_slot_at'),
        sa.UniqueConstraint('thread_id', name=op.f('uq_thread_slots_thread_id')),
    )


def downgrade() -> None:
    op.drop_table('thread_slots')
