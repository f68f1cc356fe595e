"""What staff read about how editions did: one edition's report and the trend across editions.

Pure: the figures come in as values (the ledger's rollups are read by `state.reports`), and the
functions here add them up per section, work out the rates and lay them out for the desk, the
CLI and the weekly note. No clock, no I/O.

Rates, as staff read them:
- the bounce rate is over the messages the provider accepted; complaint and unsubscribe rates
  are over the messages delivered (over those accepted while no delivery is reported yet), as
  the mailbox providers count them (the same definitions as `state.figures`);
- the click rate is clicks per delivered message. Clicks are counted per item and edition,
  never per reader (unless the config opts in to per-reader records), so it is not a count of
  people: a reader clicking two stories counts twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from compose.figures import EditionFigures

#: The counts a report shows (and gives in --json).
_SHOWN = ("recipients", "accepted", "delivered", "bounced", "dropped", "deferred", "complaints", "unsubscribes",
          "failed")


def per(part: int, whole: int) -> float | None:
    """`part` per `whole` (clicks per message delivered: it may pass 1); None when there is nothing
    to divide by (shown as "–", never 0%). The delivery rates are `compose.figures`'."""
    return part / whole if whole > 0 else None


def percent(value: float | None, *, digits: int = 1) -> str:
    """A rate as staff read it: "0.12%", "–" when there is none."""
    if value is None:
        return "–"
    shown = f"{value * 100:.{digits}f}"
    if value and float(shown) == 0:  # a tiny rate is not zero: 0.004% says something a complaint would
        shown = f"{value * 100:.{digits + 2}f}"
    return f"{shown}%"


@dataclass(frozen=True, slots=True)
class ItemClicksLine:
    """One item of an edition (or a link in it that is no item) and how often it was clicked."""

    title: str
    url: str
    section: str | None
    clicks: int
    readers: int | None = None  # distinct readers, only when per-reader clicks are kept


@dataclass(frozen=True, slots=True)
class SectionClicks:
    """One section of an edition: its title, how many items it had and their clicks."""

    key: str
    title: str
    items: int
    clicks: int


@dataclass(frozen=True, slots=True)
class EditionReport:
    """One edition's figures and its clicks per item and per section."""

    edition_id: int
    subject: str
    slug: str
    status: str
    sent_at: datetime | None
    figures: EditionFigures
    items: tuple[ItemClicksLine, ...] = ()
    sections: tuple[SectionClicks, ...] = ()

    @property
    def clicks(self) -> int:
        return sum(line.clicks for line in self.items)

    @property
    def click_rate(self) -> float | None:
        return per(self.clicks, self.figures.reached)

    def top_items(self, count: int = 3) -> list[ItemClicksLine]:
        """The most clicked items (none that nobody clicked), most first, then in edition order."""
        ranked = sorted(enumerate(self.items), key=lambda pair: (-pair[1].clicks, pair[0]))
        return [line for _, line in ranked if line.clicks > 0][:count]

    def as_dict(self) -> dict[str, Any]:
        f = self.figures
        return {
            "edition": {"id": self.edition_id, "subject": self.subject, "slug": self.slug, "status": self.status,
                        "sent_at": self.sent_at.isoformat() if self.sent_at else None},
            "figures": {name: getattr(f, name) for name in _SHOWN},
            "rates": {"bounce": f.bounce_rate, "complaint": f.complaint_rate, "unsubscribe": f.unsubscribe_rate,
                      "click": self.click_rate},
            "clicks": self.clicks,
            "items": [{"title": i.title, "url": i.url, "section": i.section, "clicks": i.clicks, "readers": i.readers}
                      for i in self.items],
            "sections": [{"key": s.key, "title": s.title, "items": s.items, "clicks": s.clicks} for s in self.sections],
        }


def section_clicks(items: Sequence[ItemClicksLine], titles: Mapping[str, str],
                   order: Sequence[str] = ()) -> tuple[SectionClicks, ...]:
    """Clicks added up per section, in the edition's order of sections (then any other, by name).
    Links that belong to no item (the archive, the site) are "Other links"."""
    counts: dict[str, list[int]] = {}
    for line in items:
        key = line.section or ""
        items_and_clicks = counts.setdefault(key, [0, 0])
        items_and_clicks[0] += 1 if line.section else 0
        items_and_clicks[1] += line.clicks
    keys = [k for k in order if k in counts] + sorted(k for k in counts if k not in order and k)
    if "" in counts:
        keys.append("")
    return tuple(SectionClicks(key=k, title=titles.get(k, k) if k else "Other links", items=counts[k][0],
                               clicks=counts[k][1]) for k in keys)


def edition_report(*, edition_id: int, subject: str, slug: str, status: str, sent_at: datetime | None,
                   figures: EditionFigures, items: Iterable[ItemClicksLine], section_titles: Mapping[str, str],
                   section_order: Sequence[str] = ()) -> EditionReport:
    """An edition's report from its rollup and its clicks (items in the edition's order)."""
    lines = tuple(items)
    return EditionReport(edition_id=edition_id, subject=subject, slug=slug, status=status, sent_at=sent_at,
                         figures=figures, items=lines,
                         sections=section_clicks(lines, section_titles, section_order))


# --- across editions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListWeek:
    """The list at the end of one week (`week`: its last day): active subscribers, and the change from
    the week before."""

    week: date
    size: int
    growth: int | None  # None for the first week shown (nothing to compare with)


def list_weeks(history: Sequence[tuple[date, int]]) -> tuple[ListWeek, ...]:
    """Weekly list sizes (oldest first) with each week's growth."""
    out: list[ListWeek] = []
    for index, (week, size) in enumerate(history):
        out.append(ListWeek(week=week, size=size, growth=None if index == 0 else size - history[index - 1][1]))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class EditionTrend:
    """One sent edition in the trend: its delivery, clicks and rates."""

    edition_id: int
    slug: str
    subject: str
    sent_at: datetime | None
    figures: EditionFigures
    clicks: int

    @property
    def click_rate(self) -> float | None:
        return per(self.clicks, self.figures.reached)

    @property
    def complaint_rate(self) -> float | None:
        return self.figures.complaint_rate if self.figures.reached else None

    def label(self, zone: Any) -> str:
        """Short, for a chart's axis: "3 Dec", else the slug."""
        if self.sent_at is None:
            return self.slug
        local = self.sent_at.astimezone(zone)
        return f"{local.day} {local:%b}"


@dataclass(frozen=True, slots=True)
class Trend:
    """The list week by week, and the editions sent (oldest first)."""

    weeks: tuple[ListWeek, ...] = ()
    editions: tuple[EditionTrend, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "weeks": [{"week": w.week.isoformat(), "list_size": w.size, "growth": w.growth} for w in self.weeks],
            "editions": [{"id": e.edition_id, "slug": e.slug, "subject": e.subject,
                          "sent_at": e.sent_at.isoformat() if e.sent_at else None,
                          "recipients": e.figures.recipients, "delivered": e.figures.delivered,
                          "clicks": e.clicks, "complaints": e.figures.complaints,
                          "click_rate": e.click_rate, "complaint_rate": e.complaint_rate}
                         for e in self.editions],
        }
