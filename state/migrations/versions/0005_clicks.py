"""clicks: counted clicks per edition link; per-reader clicks and opens (opt-in)

Revision ID: 0005_clicks
Revises: 0004_calendar_feeds
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_clicks'
down_revision = '0004_calendar_feeds'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clicks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('edition_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('link', sa.String(length=80), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('clicks', sa.Integer(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['edition_id'], ['editions.id'], name=op.f('fk_clicks_edition_id_editions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_clicks_item_id_items'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clicks')),
    sa.UniqueConstraint('edition_id', 'link', name='uq_clicks_edition_link')
    )
    op.create_table('reader_clicks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('edition_id', sa.Integer(), nullable=False),
    sa.Column('link', sa.String(length=80), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('clicks', sa.Integer(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['edition_id'], ['editions.id'], name=op.f('fk_reader_clicks_edition_id_editions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_reader_clicks_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reader_clicks')),
    sa.UniqueConstraint('edition_id', 'link', 'subscriber_id', name='uq_reader_clicks_edition_link')
    )
    op.create_index(op.f('ix_reader_clicks_subscriber_id'), 'reader_clicks', ['subscriber_id'], unique=False)
    op.create_table('reader_opens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('edition_id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('opens', sa.Integer(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['edition_id'], ['editions.id'], name=op.f('fk_reader_opens_edition_id_editions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_reader_opens_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reader_opens')),
    sa.UniqueConstraint('edition_id', 'subscriber_id', name='uq_reader_opens_edition_subscriber')
    )
    op.create_index(op.f('ix_reader_opens_subscriber_id'), 'reader_opens', ['subscriber_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_reader_opens_subscriber_id'), table_name='reader_opens')
    op.drop_table('reader_opens')
    op.drop_index(op.f('ix_reader_clicks_subscriber_id'), table_name='reader_clicks')
    op.drop_table('reader_clicks')
    op.drop_table('clicks')
