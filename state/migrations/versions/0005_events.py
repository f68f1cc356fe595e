"""events: provider events per delivery, per-edition counters, suppression for good

Revision ID: 0005_events
Revises: 0004_calendar_feeds

Adds to `deliveries` the stamps of the provider events not kept before (a blocked bounce, a drop,
a deferral, an unsubscribe), an index for the live figures of an edition being sent, the
`edition_counters` table (filled here from what the deliveries already say), `suppressions`
(filled here from the subscribers who already bounced or complained) and `reputation_trips`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_events'
down_revision = '0004_calendar_feeds'
branch_labels = None
depends_on = None

_STAMPS = ('blocked_at', 'dropped_at', 'deferred_at', 'unsubscribed_at')
_COUNTERS = ('delivered', 'bounced', 'blocked', 'dropped', 'deferred', 'complaints', 'unsubscribes', 'opened',
             'clicked', 'recipients', 'accepted', 'failed', 'ambiguous', 'skipped', 'pending')


def upgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        for name in _STAMPS:
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_deliveries_edition_status', 'deliveries', ['edition_id', 'status'], unique=False)
    op.create_table(
        'edition_counters',
        sa.Column('edition_id', sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTERS),
        sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['edition_id'], ['editions.id'], name=op.f('fk_edition_counters_edition_id_editions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('edition_id', name=op.f('pk_edition_counters')),
    )
    op.create_table(
        'suppressions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=True),
        sa.Column('edition_id', sa.Integer(), nullable=True),
        sa.Column('suppressed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lifted_by', sa.String(length=320), nullable=True),
        sa.Column('lifted_reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_suppressions_subscriber_id_subscribers'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['edition_id'], ['editions.id'], name=op.f('fk_suppressions_edition_id_editions'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressions')),
    )
    op.create_index(op.f('ix_suppressions_email'), 'suppressions', ['email'], unique=False)
    op.create_table(
        'reputation_trips',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('level', sa.String(length=10), nullable=False),
        sa.Column('said', sa.Text(), nullable=False),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.Column('pause_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['pause_id'], ['pauses.id'], name=op.f('fk_reputation_trips_pause_id_pauses'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reputation_trips')),
        sa.UniqueConstraint('key', 'level', name='uq_reputation_trips_key_level'),
    )
    # what the ledger already knows: counters from the deliveries' stamps, frozen status counts for
    # sent editions, and a suppression for every subscriber who bounced or complained
    op.execute("""
        INSERT INTO edition_counters (edition_id, delivered, bounced, blocked, dropped, deferred, complaints,
            unsubscribes, opened, clicked, recipients, accepted, failed, ambiguous, skipped, pending, settled_at,
            updated_at)
        SELECT d.edition_id, COUNT(d.delivered_at), COUNT(d.bounced_at), 0, 0, 0, COUNT(d.complained_at), 0,
            COUNT(d.opened_at), COUNT(d.clicked_at), COUNT(*),
            SUM(CASE WHEN d.status = 'accepted' THEN 1 ELSE 0 END),
            SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END),
            SUM(CASE WHEN d.status = 'ambiguous' THEN 1 ELSE 0 END),
            SUM(CASE WHEN d.status = 'skipped' THEN 1 ELSE 0 END),
            SUM(CASE WHEN d.status IN ('planned', 'sending') THEN 1 ELSE 0 END),
            MAX(CASE WHEN e.status = 'sent' THEN e.sent_at END), MAX(d.updated_at)
        FROM deliveries d JOIN editions e ON e.id = d.edition_id
        GROUP BY d.edition_id
    """)
    op.execute("""
        INSERT INTO suppressions (email, kind, detail, subscriber_id, edition_id, suppressed_at)
        SELECT LOWER(email), CASE WHEN status = 'complained' THEN 'complaint' ELSE 'bounce' END,
            COALESCE(status_reason, ''), id, NULL, COALESCE(status_changed_at, created_at)
        FROM subscribers WHERE status IN ('bounced', 'complained')
    """)


def downgrade() -> None:
    op.drop_table('reputation_trips')
    op.drop_index(op.f('ix_suppressions_email'), table_name='suppressions')
    op.drop_table('suppressions')
    op.drop_table('edition_counters')
    op.drop_index('ix_deliveries_edition_status', table_name='deliveries')
    with op.batch_alter_table('deliveries') as batch:
        for name in reversed(_STAMPS):
            batch.drop_column(name)
