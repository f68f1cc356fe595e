"""ledger indexes: the reports' list size reads only the subscribers who came or left lately, an
edition's deliveries page by page in order (issue 20)

Subscribers by status and when they arrived (`coalesce(confirmed_at, created_at)`), and by status
and when it last changed: the list size week by week (`state.figures.list_size_history`) counts the active
subscribers from the status index and corrects each week with the few who arrived or left since,
two index ranges instead of a pass over every subscriber per chart. Deliveries by edition and id: a
page of an edition's deliveries in order (the desk's history) without PostgreSQL walking every
delivery by id and filtering (SQLite's index on edition_id already holds the rowid).

Revision ID: 0009_ledger_indexes
Revises: 0008_scale_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009_ledger_indexes'
down_revision = '0008_scale_indexes'
branch_labels = None
depends_on = None

# (index, table, columns or expressions)
INDEXES = (
    ('ix_subscribers_status_arrived', 'subscribers', ['status', sa.text('coalesce(confirmed_at, created_at)')]),
    ('ix_subscribers_status_changed', 'subscribers', ['status', 'status_changed_at']),
    ('ix_deliveries_edition_id_id', 'deliveries', ['edition_id', 'id']),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE subscribers")  # the planner knows an expression's values only once analysed


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
