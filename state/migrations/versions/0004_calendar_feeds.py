"""calendar feeds: each member of staff's signed iCalendar link (its nonce)

Revision ID: 0004_calendar_feeds
Revises: 0004_slots
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_calendar_feeds'
down_revision = '0004_slots'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calendar_feeds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_calendar_feeds_staff_id_staff'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_feeds')),
    sa.UniqueConstraint('staff_id', name=op.f('uq_calendar_feeds_staff_id'))
    )


def downgrade() -> None:
    op.drop_table('calendar_feeds')
