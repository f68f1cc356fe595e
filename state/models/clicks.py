"""Clicks and opens, kept per link and, when [tracking] names readers, per reader."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from state.models.base import Base

# --- clicks -------------------------------------------------------------------------------------


class ClickRow(Base):
    """How many times one link of one sent edition was followed through `/r/<token>`, counted and
    never attributed: no reader, no address, no user agent, only the edition, the item (None for a
    link that is not an item's) and the URL. `link` names the link within its edition ("item:<id>",
    or "url:<hash>") so batches of clicks add to one row. Written only by `state.clicks`."""

    __tablename__ = "clicks"
    __table_args__ = (UniqueConstraint("edition_id", "link", name="uq_clicks_edition_link"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"))
    link: Mapped[str] = mapped_column(String(80))
    url: Mapped[str] = mapped_column(Text)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]


class ReaderClickRow(Base):
    """A reader's clicks on one link of an edition: kept only when `[tracking] per_reader_clicks` is
    on (the email's footer then says so). Deleted with the subscriber. Written only by `state.clicks`."""

    __tablename__ = "reader_clicks"
    __table_args__ = (UniqueConstraint("edition_id", "link", "subscriber_id", name="uq_reader_clicks_edition_link"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    link: Mapped[str] = mapped_column(String(80))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]


class ReaderOpenRow(Base):
    """A reader's opens of an edition (its images loaded the open pixel): kept only when
    `[tracking] open_pixel` is on. Deleted with the subscriber. Written only by `state.clicks`."""

    __tablename__ = "reader_opens"
    __table_args__ = (UniqueConstraint("edition_id", "subscriber_id", name="uq_reader_opens_edition_subscriber"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    opens: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]

