"""items by link: the desk's threads page finds the item each post's link card shows (issue 20)

A post's card shows the item at its link (`web.post_previews.card_items`): a roundup thread's posts
link the edition's items, and with no index on `items.url` each look-up read every item (0.75 s on
PostgreSQL with 1,000,000 items, once for the page since the look-ups are batched; once a post
before). An index on the link makes it a few index probes. On PostgreSQL it is a hash index: a
link has no length limit, and a B-tree entry over 2,704 bytes (a long link that hardly compresses)
is refused, which would have failed the whole gather's insert; the look-up is by equality only.

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
    op.create_index('ix_items_url', 'items', ['url'], unique=False, postgresql_using='hash')


def downgrade() -> None:
    op.drop_index('ix_items_url', table_name='items')
