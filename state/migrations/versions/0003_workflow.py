"""threads follow their edition: what derivation last wrote, and why a thread stopped

Revision ID: 0003_workflow
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_workflow'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('threads') as batch:
        # the hash of the posts as derived from the edition when they were last written from it;
        # a thread whose content_hash differs was edited by hand
        batch.add_column(sa.Column('derived_hash', sa.String(length=64), nullable=True))
        # why the thread was cancelled (its edition was cancelled, replaced or sent without it)
        batch.add_column(sa.Column('status_reason', sa.Text(), nullable=True))
        # where a roundup puts its links when staff chose other than the config (e.g. "first": cheaper on X)
        batch.add_column(sa.Column('link_placement', sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('threads') as batch:
        batch.drop_column('link_placement')
        batch.drop_column('status_reason')
        batch.drop_column('derived_hash')
