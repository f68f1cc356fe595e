"""editions.key_fingerprint: which secret key signed an edition's links

Revision ID: 0003_cli
Revises: 0003_workflow
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_cli'
down_revision = '0003_workflow'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('editions') as batch:
        batch.add_column(sa.Column('key_fingerprint', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('editions') as batch:
        batch.drop_column('key_fingerprint')
