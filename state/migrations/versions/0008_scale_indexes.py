"""scale indexes: a ledger of 1,000,000 items and 100,000 subscribers stays fast (issue 20)

Items by published and first-seen time (the next edition's candidates), items held back as backlog
per source, posts by status (failures on the desk and in `syndicate status`) and by the time they went
out (the calendar), threads by edition, the audit log by row and by action, subscribers by address in
any case (`lower(email)`: webhooks, imports, unsubscribe, erasure).

Revision ID: 0008_scale_indexes
Revises: 0007_segments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_scale_indexes'
down_revision = '0007_segments'
branch_labels = None
depends_on = None

# (index, table, columns or expressions)
INDEXES = (
    ('ix_items_published_at', 'items', ['published_at']),
    ('ix_items_first_seen_at', 'items', ['first_seen_at']),
    ('ix_posts_status', 'posts', ['status']),
    ('ix_posts_posted_at', 'posts', ['posted_at']),
    ('ix_threads_edition_id', 'threads', ['edition_id']),
    ('ix_audit_log_subject', 'audit_log', ['subject_kind', 'subject_id']),
    ('ix_audit_log_action_at', 'audit_log', ['action', 'at']),
    ('ix_subscribers_email_lower', 'subscribers', [sa.text('lower(email)')]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    # partial: only the held-back items, so no planner mistakes it for a way to the others
    op.create_index('ix_items_backlog_source', 'items', ['source_id'], unique=False,
                    sqlite_where=sa.text('backlog IS 1'), postgresql_where=sa.text('backlog IS true'))


def downgrade() -> None:
    op.drop_index('ix_items_backlog_source', table_name='items')
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
