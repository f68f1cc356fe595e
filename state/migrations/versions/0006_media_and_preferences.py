"""media and preferences: item alt text, each post's image, card and uploaded media; each
subscriber's sections, tags and pause, and the log of changes to subscribers

Revision ID: 0006_media_and_preferences
Revises: 0005_weekly_notes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_media_and_preferences'
down_revision = '0005_weekly_notes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('items') as batch:
        batch.add_column(sa.Column('image_alt', sa.Text(), nullable=True))
    with op.batch_alter_table('posts') as batch:
        batch.add_column(sa.Column('image_url', sa.Text(), nullable=True))
        batch.add_column(sa.Column('image_alt', sa.Text(), nullable=True))
        batch.add_column(sa.Column('image_alt_by', sa.String(length=320), nullable=True))
        batch.add_column(sa.Column('card_url', sa.Text(), nullable=True))
        batch.add_column(sa.Column('media_ref', sa.Text(), nullable=True))
    with op.batch_alter_table('subscribers') as batch:
        batch.add_column(sa.Column('sections', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('tags', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True))
    op.create_table('subscriber_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('door', sa.String(length=40), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('old', sa.JSON(), nullable=True),
    sa.Column('new', sa.JSON(), nullable=True),
    sa.Column('by', sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'],
                            name=op.f('fk_subscriber_changes_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriber_changes'))
    )
    op.create_index(op.f('ix_subscriber_changes_subscriber_id'), 'subscriber_changes', ['subscriber_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_subscriber_changes_subscriber_id'), table_name='subscriber_changes')
    op.drop_table('subscriber_changes')
    with op.batch_alter_table('subscribers') as batch:
        batch.drop_column('paused_until')
        batch.drop_column('tags')
        batch.drop_column('sections')
    with op.batch_alter_table('posts') as batch:
        for column in ('media_ref', 'card_url', 'image_alt_by', 'image_alt', 'image_url'):
            batch.drop_column(column)
    with op.batch_alter_table('items') as batch:
        batch.drop_column('image_alt')
