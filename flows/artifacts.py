"""What each flow run says in the Prefect UI: the artifacts it publishes and why it needs staff.

Plain functions from a stage's summary (and the ledger) to an artifact's content, so they are
tested without Prefect; `flows.pipeline` publishes them under stable keys, so the latest one of a
deployment is one click away in the UI (Artifacts, then the key). Keys are Prefect's: lowercase
letters, numbers and dashes.

`attention` is the reason a run must end `Failed` rather than `Completed`: something staff must act
on was recorded (every source failing, an ambiguous or refused batch, a thread stopped). The ledger
already holds it and staff are emailed; the run's state makes it visible where Prefect users look.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.cli.terminal import when
from state.models import EditionItemRow, EditionRow, PostRow, PostStatus, ThreadRow


class ArtifactKeys:
    gather = "gather-sources"
    build = "build-edition"
    send = "send-edition"
    send_link = "send-edition-who-got-it"
    publish = "publish-posts"


GMAIL_CLIP_BYTES = 102 * 1024  # Gmail cuts an email's HTML at about 102 KB ("[Message clipped]")


@dataclass(frozen=True)
class Table:
    rows: list[dict[str, Any]]
    description: str


@dataclass(frozen=True)
class Markdown:
    text: str
    description: str


def desk_url(public_url: object, path: str) -> str:
    return f"{str(public_url).rstrip('/')}{path}"


def _cell(text: object) -> str:
    """A value safe inside a markdown table cell: one line, no pipes."""
    return " ".join(str(text if text is not None else "").split()).replace("|", "\\|")


# gather ---------------------------------------------------------------------------------------


def gather_table(summary: Mapping[str, Any]) -> Table:
    """One row per source: how it went, what it brought, and the hint when it failed."""
    rows = []
    for entry in summary.get("sources") or ():
        if entry.get("skipped"):
            status = f"skipped: {entry['skipped']}"
        elif not entry.get("ok"):
            status = f"failing ({entry.get('status') or 'no answer'})"
        elif entry.get("not_modified"):
            status = "not modified"
        else:
            status = "ok"
        if entry.get("moved_to"):
            status += f", moved to {entry['moved_to']}"
        rows.append({"source": entry["name"], "section": entry.get("section", ""), "status": status,
                     "new": entry.get("new", 0), "updated": entry.get("updated", 0),
                     "failing": entry.get("consecutive_failures", 0) if not entry.get("ok") else 0,
                     "hint": entry.get("hint") or entry.get("error") or ""})
    description = (f"{summary.get('new', 0)} new, {summary.get('updated', 0)} updated, "
                   f"{summary.get('failed', 0)} of {len(rows)} source(s) failing")
    return Table(rows, description)


def gather_attention(summary: Mapping[str, Any]) -> str | None:
    sources = [s for s in summary.get("sources") or () if not s.get("skipped")]
    if sources and all(not s.get("ok") for s in sources):
        first = sources[0]
        return (f"every source failed ({len(sources)}): nothing was gathered; first: {first['name']}: "
                f"{first.get('hint') or first.get('error') or 'no answer'}")
    return None


# build-edition --------------------------------------------------------------------------------


def build_markdown(session: Session, built: Mapping[str, Any], *, public_url: object, budget_bytes: int,
                   zone: tzinfo = UTC) -> Markdown:
    """The edition as staff will review it: subject, sections, items, size, warnings, its desk page;
    its send time in the organisation's `zone`."""
    edition_id = built.get("id")
    row = session.get(EditionRow, edition_id) if edition_id is not None else None
    if row is None:
        return Markdown(f"# No edition built\n\n{built.get('reason') or 'nothing new'}\n", "no edition built")
    sections: dict[str, int] = {}
    for (section,) in session.execute(select(EditionItemRow.section).where(EditionItemRow.edition_id == row.id)
                                      .order_by(EditionItemRow.section_position, EditionItemRow.position)):
        sections[section] = sections.get(section, 0) + 1
    items = sum(sections.values())
    size = row.html_bytes or len(row.html.encode("utf-8"))
    page = desk_url(public_url, f"/desk/editions/{row.id}")
    state = "built" if built.get("built") else "unchanged"
    lines = [f"# {_cell(row.subject)}", "",
             f"Edition `{row.slug}` ({state}, {row.status}); "
             f"send time {when(row.scheduled_for, zone)}." if row.scheduled_for else
             f"Edition `{row.slug}` ({state}, {row.status}).", "",
             f"**[Review it on the desk]({page})**", "",
             "| Section | Items |", "|---|---:|"]
    lines += [f"| {_cell(section)} | {count} |" for section, count in sections.items()]
    over = " **over budget**" if size > budget_bytes else ""
    lines += ["", f"**{items} item(s)** in {len(sections)} section(s). "
              f"**Size:** {size:,} bytes of the {budget_bytes:,}-byte budget ({100 * size / budget_bytes:.0f} %; "
              f"Gmail clips at about {GMAIL_CLIP_BYTES:,}){over}.", ""]
    warnings = list(built.get("warnings") or row.warnings or [])
    lines += ["## Warnings", ""] + [f"- {_cell(w)}" for w in warnings] if warnings else ["No warnings."]
    threads = built.get("threads") or []
    if threads:
        lines += ["", f"{len(threads)} roundup thread(s) drafted for approval: "
                  f"[threads on the desk]({desk_url(public_url, '/desk/threads')})."]
    return Markdown("\n".join(lines) + "\n", f"{row.subject} ({items} items, {size:,} bytes)")


# send-edition ---------------------------------------------------------------------------------


def send_table(session: Session, delivered: Sequence[Mapping[str, Any]], held: Sequence[int], *,
               public_url: object) -> Table | None:
    """One row per edition sent (or held) by the run, with where to see who got it. None when the run
    had nothing to do (most runs of the 5-minute safety net): the latest artifact stays the last send."""
    rows = []
    for result in delivered:
        if result.get("edition_id") is None:
            continue
        row = session.get(EditionRow, result["edition_id"])
        rows.append({"edition": row.slug if row else str(result["edition_id"]),
                     "subject": row.subject if row else "", "outcome": _send_outcome(result),
                     "recipients": result.get("recipients", 0), "accepted": result.get("accepted", 0),
                     "failed": result.get("failed", 0), "ambiguous": result.get("ambiguous", 0),
                     "skipped": result.get("skipped", 0), "held": 0,
                     "who_got_it": desk_url(public_url, f"/desk/history/editions/{result['edition_id']}")})
    for edition_id in held:
        row = session.get(EditionRow, edition_id)
        rows.append({"edition": row.slug if row else str(edition_id), "subject": row.subject if row else "",
                     "outcome": "held: not approved by its send time", "recipients": 0, "accepted": 0, "failed": 0,
                     "ambiguous": 0, "skipped": 0, "held": 1,
                     "who_got_it": desk_url(public_url, f"/desk/editions/{edition_id}")})
    if not rows:
        return None
    total = {k: sum(int(r[k]) for r in rows) for k in ("accepted", "failed", "ambiguous", "held")}
    return Table(rows, ", ".join(f"{v} {k}" for k, v in total.items()))


def _send_outcome(result: Mapping[str, Any]) -> str:
    """"sent", "partly sent", or "paused: email is paused by who since when: why" (not a failure)."""
    if result.get("sent"):
        return "sent"
    pause = result.get("paused")
    return f"paused: {pause['said']}" if pause else "partly sent"


def send_attention(delivered: Sequence[Mapping[str, Any]]) -> str | None:
    reasons = []
    for result in delivered:
        if result.get("ambiguous"):
            reasons.append(f"edition {result['edition_id']}: {result['ambiguous']} recipient(s) in an ambiguous batch "
                           "(the provider may have accepted it): check the provider, then resolve it on the desk")
        if result.get("failed"):
            reasons.append(f"edition {result['edition_id']}: {result['failed']} recipient(s) refused by the provider")
    return "; ".join(reasons) or None


# publish-posts --------------------------------------------------------------------------------


def publish_markdown(session: Session, summary: Mapping[str, Any], *, since: datetime,
                     public_url: object) -> Markdown | None:
    """Links to the posts this run made, and the threads that stopped. None when it did nothing."""
    posts = session.execute(select(PostRow, ThreadRow.network).join(ThreadRow, ThreadRow.id == PostRow.thread_id)
                            .where(PostRow.status == PostStatus.POSTED, PostRow.posted_at >= since)
                            .order_by(PostRow.posted_at, PostRow.id)).all()
    failed = list(summary.get("failed") or [])
    paused = dict(summary.get("paused") or {})
    if not posts and not failed and not paused:
        return None
    lines = [f"# {summary.get('message') or 'Posts published'}", ""]
    for post, network in posts:
        where = post.provider_url or post.provider_id or "(no address given)"
        link = f"[{_cell(where)}]({post.provider_url})" if (post.provider_url or "").startswith("http") else _cell(where)
        lines.append(f"- {network}, thread {post.thread_id} post {post.position + 1}: {link}")
    if failed:
        lines += ["", "## Stopped (staff must act)", ""] + [f"- {_cell(f)}" for f in failed]
    if paused:
        lines += ["", "## Paused (they go on where they stopped once resumed)", ""]
        lines += [f"- {_cell(said)}" for _, said in sorted(paused.items())]
        lines += [f"- {_cell(held)}" for held in summary.get("held") or ()]
    lines += ["", f"[Threads on the desk]({desk_url(public_url, '/desk/threads')})"]
    description = f"{len(posts)} post(s), {len(failed)} stopped" + (f", {len(paused)} network(s) paused" if paused else "")
    return Markdown("\n".join(lines) + "\n", description)


def publish_attention(summary: Mapping[str, Any]) -> str | None:
    failed = list(summary.get("failed") or [])
    return f"{len(failed)} thread(s) stopped: " + "; ".join(failed) if failed else None
