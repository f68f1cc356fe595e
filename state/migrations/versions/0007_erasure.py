"""erasure: the salted hashes of addresses erased on request (erased_addresses)

Revision ID: 0007_erasure
Revises: 0007_api
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_erasure'
down_revision = '0007_api'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('erased_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('salt_mark', sa.String(length=16), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('erased_by', sa.String(length=320), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erased_addresses')),
    sa.UniqueConstraint('digest', name=op.f('uq_erased_addresses_digest'))
    )


def downgrade() -> None:
    op.drop_table('erased_addresses')
