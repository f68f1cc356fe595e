"""items by link: the desk's threads page finds the item each post's link card shows (issue 20)

A post's card shows the item at its link (`web.post_previews.card_items`): a roundup thread's posts
link the edition's items, and with no index on `items.url` each look-up read every item (0.75 s on
PostgreSQL with 1,000,000 items, once for the page since the look-ups are batched; once a post
before). An index on the link makes it a few index probes.

Revision ID: 0010_item_url_index
Revises: 0009_ledger_indexes
"""

from __future__ import annotations

from alembic import op

revision = '0010_item_url_index'
down_revision = '0009_ledger_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_items_url', 'items', ['url'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_items_url', table_name='items')
