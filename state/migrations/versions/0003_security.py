"""security: revocable staff sessions and disabled staff

Revision ID: 0003_security
Revises: 0003_cli
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_security'
down_revision = '0003_cli'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff') as batch:
        batch.add_column(sa.Column('session_generation', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff') as batch:
        batch.drop_column('disabled_at')
        batch.drop_column('session_generation')
