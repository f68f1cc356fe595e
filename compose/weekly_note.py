"""The weekly note to staff: what went out last week, how it did, what failed, what is waiting.

Pure composition: `compose_weekly_note(data, ...)` turns what `state.weekly_note` gathered from the
ledger into a subject, a plain-text part and an HTML part. Times are shown in the organisation's
zone (`zone` is a parameter); nothing here reads the clock or the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from markupsafe import Markup

from compose.reports import EditionReport, percent


@dataclass(frozen=True, slots=True)
class PostsSent:
    """Posts published on one network in the week."""

    network: str
    threads: int
    posts: int


@dataclass(frozen=True, slots=True)
class SourceTrouble:
    """A source failing at the time of the note."""

    name: str
    failures: int
    error: str
    hint: str | None
    since: datetime | None


@dataclass(frozen=True, slots=True)
class Waiting:
    """One thing waiting for staff, in a sentence, and where the desk shows it."""

    what: str
    where: str  # a desk path, e.g. /desk/editions/3


@dataclass(frozen=True, slots=True)
class WeeklyNoteData:
    """Everything the note says, as gathered from the ledger for the week [start, end)."""

    week_start: date
    start: datetime
    end: datetime
    editions: tuple[EditionReport, ...] = ()
    posts: tuple[PostsSent, ...] = ()
    sources: tuple[SourceTrouble, ...] = ()
    waiting: tuple[Waiting, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class WeeklyNote:
    subject: str
    text: str
    html: str


def week_label(start: date) -> str:
    """"30 Nov – 6 Dec 2026": the seven days from `start`."""
    last = start + timedelta(days=6)
    first = f"{start.day} {start:%b}" + (f" {start.year}" if start.year != last.year else "")
    return f"{first} – {last.day} {last:%b} {last.year}"


def _when(moment: datetime | None, zone: tzinfo) -> str:
    if moment is None:
        return "not sent"
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M} {local.tzname() or ''}".rstrip()


def _edition_lines(report: EditionReport, zone: tzinfo) -> list[str]:
    f = report.figures
    lines = [f"{report.subject} (sent {_when(report.sent_at, zone)})",
             f"  {f.recipients} recipients, {f.delivered} delivered, {f.bounced} bounced "
             f"({percent(f.bounce_rate)}), {f.complaints} complaints ({percent(f.complaint_rate, digits=2)}), "
             f"{f.unsubscribes} unsubscribed, {report.clicks} clicks ({percent(report.click_rate)} of delivered)"]
    top = report.top_items()
    if top:
        lines.append("  Most clicked: " + "; ".join(f"{line.title} ({line.clicks})" for line in top))
    return lines


def compose_weekly_note(data: WeeklyNoteData, *, zone: tzinfo, desk_url: str, title: str,
                        organisation: str) -> WeeklyNote:
    """The note for the week `data` covers: subject, text and HTML (the same sections, in order)."""
    label = week_label(data.week_start)
    sections: list[tuple[str, list[str], list[tuple[str, str]]]] = []  # heading, lines, (text, link) items

    went: list[str] = []
    for report in data.editions:
        went += _edition_lines(report, zone)
    for posts in data.posts:
        went.append(f"{posts.network}: {posts.threads} thread(s), {posts.posts} post(s) published")
    sections.append(("What went out", went or ["Nothing went out this week."], []))

    trouble = [f"{s.name}: failed {s.failures} time(s) in a row: {s.error}" + (f" (hint: {s.hint})" if s.hint else "")
               for s in data.sources]
    sections.append(("Sources that failed", trouble or ["Every source was gathered without a failure."], []))

    waiting = [(w.what, f"{desk_url}{w.where}") for w in data.waiting]
    sections.append(("Waiting for you", [] if waiting else ["Nothing is waiting."], waiting))

    subject = f"{title}: the week of {label}"
    text = _text(subject, organisation, sections, desk_url)
    html = _html(subject, sections, desk_url, data.editions)
    return WeeklyNote(subject=subject, text=text, html=html)


def _text(subject: str, organisation: str, sections: list[tuple[str, list[str], list[tuple[str, str]]]],
          desk_url: str) -> str:
    out = [subject, "=" * min(len(subject), 72), ""]
    for heading, lines, links in sections:
        out += [heading, "-" * len(heading)]
        out += lines
        out += [f"- {what}: {url}" for what, url in links]
        out.append("")
    out.append(f"The review desk: {desk_url}/desk/reports (this note: {desk_url}/desk/weekly-note)")
    out.append(f"Sent to the staff of {organisation} by syndicate once a week.")
    return "\n".join(out) + "\n"


def _html(subject: str, sections: list[tuple[str, list[str], list[tuple[str, str]]]], desk_url: str,
          editions: tuple[EditionReport, ...]) -> str:
    parts = [Markup('<div style="font-family:Helvetica,Arial,sans-serif;color:#1f2933;max-width:640px">'),
             Markup("<h1 style=\"font-size:20px\">{}</h1>").format(subject)]
    for heading, lines, links in sections:
        parts.append(Markup('<h2 style="font-size:16px;margin-top:20px">{}</h2>').format(heading))
        if heading == "What went out" and editions:
            parts.append(_editions_table(editions))
            lines = [line for line in lines if not _is_edition_line(line, editions)]
        parts += [Markup("<p>{}</p>").format(line.strip()) for line in lines]
        if links:
            parts.append(Markup("<ul>") + Markup("").join(
                Markup('<li><a href="{}">{}</a></li>').format(url, what) for what, url in links) + Markup("</ul>"))
    parts.append(Markup('<p style="font-size:13px;color:#52606d">Reports on the review desk: '
                        '<a href="{0}/desk/reports">{0}/desk/reports</a></p>').format(desk_url))
    parts.append(Markup("</div>"))
    return str(Markup("\n").join(parts))


def _is_edition_line(line: str, editions: tuple[EditionReport, ...]) -> bool:
    return line.startswith("  ") or any(line.startswith(f"{r.subject} (sent") for r in editions)


def _editions_table(editions: tuple[EditionReport, ...]) -> Markup:
    head = ("Edition", "Delivered", "Bounced", "Complaints", "Unsubscribed", "Clicks", "Most clicked")
    cell = 'style="padding:4px 8px;border-bottom:1px solid #d9dee4;text-align:{}"'
    rows = [Markup("<tr>") + Markup("").join(Markup('<th scope="col" ' + cell.format("left") + ">{}</th>").format(h)
                                             for h in head) + Markup("</tr>")]
    for report in editions:
        f = report.figures
        top = ", ".join(f"{line.title} ({line.clicks})" for line in report.top_items()) or "–"
        values = (report.subject, f"{f.delivered} of {f.recipients}", f"{f.bounced} ({percent(f.bounce_rate)})",
                  f"{f.complaints} ({percent(f.complaint_rate, digits=2)})", str(f.unsubscribes),
                  f"{report.clicks} ({percent(report.click_rate)})", top)
        rows.append(Markup("<tr>") + Markup("").join(
            Markup("<td " + cell.format("right" if 0 < n < 6 else "left") + ">{}</td>").format(v)
            for n, v in enumerate(values)) + Markup("</tr>"))
    return Markup('<table style="border-collapse:collapse;font-size:14px">') + Markup("").join(rows) + Markup("</table>")

