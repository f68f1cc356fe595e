"""segments: an edition's segment (tags and sections) and the segment its approval was given
for; each delivery batch's section set and the content hash of the one body it carries

Revision ID: 0007_segments
Revises: 0007_erasure
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_segments'
down_revision = '0007_erasure'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('editions') as batch:
        batch.add_column(sa.Column('segment', sa.JSON(), nullable=True))
    with op.batch_alter_table('approvals') as batch:
        batch.add_column(sa.Column('segment', sa.JSON(), nullable=True))
    with op.batch_alter_table('delivery_batches') as batch:
        batch.add_column(sa.Column('sections', sa.Text(), nullable=True))
        batch.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('delivery_batches') as batch:
        batch.drop_column('content_hash')
        batch.drop_column('sections')
    with op.batch_alter_table('approvals') as batch:
        batch.drop_column('segment')
    with op.batch_alter_table('editions') as batch:
        batch.drop_column('segment')
