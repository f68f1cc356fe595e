"""Commands about sources: `gather` (fetch every source once), `sources discover` and `sources list`,
and `backlog release` (what a source's first gather held back).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flows.cli import CLI_GC_THRESHOLD, terminal
from flows.cli.context import BY, Abort, as_json, config, database, now, person
from flows.cli.status import source_health

if TYPE_CHECKING:
    from flows.stages.gather import SourceSummary

BACKLOG_RELEASE = "syndicate backlog release [--source NAME] [--since DATE]"
GATHER_ROWS = 20  # sources with news listed by `gather` (every failing or moved source is, whatever their number)


@contextmanager
def _few_collections() -> Iterator[None]:
    """Fewer garbage collections for one gather: the cyclic collector runs less often, and what is
    alive when `freeze` is called (the imported modules, the config) is never scanned again. With
    the defaults, a cold gather of 500 feeds spent about 0.4 s of its 3 s of CPU scanning objects
    that live to the end (a run of 304s 0.15 s of 1.2 s). Put back as it was when done."""
    threshold = gc.get_threshold()
    gc.set_threshold(*CLI_GC_THRESHOLD)  # as `main` sets them, for a caller in-process too
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def gather(
    include_backlog: Annotated[bool, typer.Option("--include-backlog", help="Treat what a new source already has as new (may flood subscribers).")] = False,
    every_source: Annotated[bool, typer.Option("--all", help="List every source, not only those with something to say.")] = False,
) -> None:
    """Fetch every source once and report per source."""
    with _few_collections():
        from flows.stages.gather import gather_sources

        cfg, db = config(), database()
        gc.freeze()
        with db.session() as session:
            summary = gather_sources(session, cfg, now=now(), include_backlog=include_backlog)
    every_source_failed = bool(summary.sources) and summary.failed == len(summary.sources)
    refusal = f"every source failed ({summary.failed}): nothing was gathered; see the errors and hints"
    if as_json():
        terminal.emit_json(summary.as_dict())
        if every_source_failed:
            raise Abort(refusal)
        return
    listed = [s for s in summary.sources if every_source or _has_news(s)]
    hidden = 0
    if not every_source and len(listed) > GATHER_ROWS:  # a first gather of 500 sources: the rows that matter
        alarming = [s for s in listed if _alarming(s)]
        news_only = [s for s in listed if not _alarming(s)]
        shown = news_only[:max(GATHER_ROWS - len(alarming), 0)]
        hidden = len(news_only) - len(shown)
        keep = {s.name for s in alarming + shown}
        listed = [s for s in listed if s.name in keep]
    if listed:
        terminal.table("Sources", ["source", "section", "result", ("new", "number"), ("upd", "number"),
                                   ("HTTP", "number"), ("bytes", "number"), ("ms", "number")], [
            (s.name, s.section, ("ok" + (" (not modified)" if s.not_modified else "")) if s.ok else "FAILED",
             s.new, s.updated, s.status, f"{s.bytes:,}", round(s.elapsed_ms)) for s in listed])
    if hidden:
        terminal.say(f"and {hidden} more source(s) with new or updated items")
    quiet = len(summary.sources) - len(listed) - hidden
    if quiet:
        not_modified = sum(1 for s in summary.sources if s.not_modified and not _has_news(s))
        terminal.say(f"{quiet} other source(s) fine with nothing new ({not_modified} not modified); "
                     "`syndicate gather --all` lists every source")
    for s in summary.sources:  # the full text where it has the width to read, not one word a line in a cell
        if s.moved_to:
            terminal.say(f"{s.name}: moved permanently to {s.moved_to}")
        if not s.ok:
            terminal.labelled(f"{s.name}: ", f"{s.skipped or s.error}" + (f" (hint: {s.hint})" if s.hint else ""),
                              "bold red")
    terminal.say(f"{summary.new} new, {summary.updated} updated, {summary.failed} source(s) failing")
    if summary.released:
        terminal.say(f"released {summary.released} item(s) earlier gathers held back as backlog: the next edition may include them")
    if summary.backlog:
        terminal.say(f"{summary.backlog} of the new items were held back as backlog: a source's first gather never floods "
                     f"subscribers. To include them: {BACKLOG_RELEASE}")
    if every_source_failed:
        raise Abort(f"{refusal} above")


def _alarming(source: SourceSummary) -> bool:
    """A source whose row is always shown: it failed, moved or was skipped."""
    return bool(not source.ok or source.moved_to or source.skipped)


def _has_news(source: SourceSummary) -> bool:
    """A source worth a row of its own: it found something, failed, moved or was skipped."""
    return bool(source.new or source.updated or not source.ok or source.moved_to or source.skipped)


def sources_discover(url: Annotated[str, typer.Argument(metavar="URL")]) -> None:
    """Look at a page: does it advertise a feed? Proposes the [[sources]] config."""
    from connectors.sources.discovery import discover

    found = discover(url)
    if as_json():
        terminal.emit_json({"url": url, "feeds": found})
        return
    if not found:
        terminal.say(f"{url} advertises no feed: configure it as kind = \"html\" with CSS selectors "
                     "(see the commented example syndicate.toml)")
        return
    for feed in found:
        title = f" \"{feed['title']}\"" if feed.get("title") else ""
        terminal.say(f"{feed['url']} is a feed{title}. Add it to syndicate.toml (set the section to one of yours):"
                     if feed["url"] == url or feed.get("type") == "feed" else
                     f"{url} advertises a feed{title}: {feed['url']} ({feed['type']}). Add it to syndicate.toml "
                     "(set the section to one of yours):")
        terminal.toml(feed["toml"])


def sources_list() -> None:
    """Configured sources and their health."""
    from state.items import sync_sources
    from state.status_report import sources_health

    cfg = config()
    with database().session() as session:
        sync_sources(session, cfg.sources)
        rows = sources_health(session, cfg)
    if as_json():
        terminal.emit_json({"sources": rows})
        return
    terminal.table("Sources", ["source (section, kind)", "url", ("last success", "time"), "health"],
                   [(f"{r['name']}\n({r['section']}, {r['kind']})", r["url"],
                     terminal.when(r["last_success"], cfg.zone, now=now()), source_health(r)) for r in rows])
    if any(r["retired"] for r in rows):
        terminal.say("retired: gathered before, no longer in syndicate.toml; nothing to do")


def backlog_release(
    source: Annotated[str | None, typer.Option("--source", help="Only this source (its name in syndicate.toml).")] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="DATE",
                                              help="Only items published on or after this date (YYYY-MM-DD, in the config's time zone).")] = None,
    by: Annotated[str | None, BY] = None,
) -> None:
    """Let items held back as backlog (a source's first gather) into the next edition."""
    from sqlalchemy import select

    from state.items import backlog_counts, release_backlog
    from state.ledger import audit
    from state.models import SourceRow

    cfg = config()
    since_at = _parse_since(since, cfg.zone) if since else None
    with database().session() as session:
        source_id = None
        if source is not None:
            source_id = session.scalar(select(SourceRow.id).where(SourceRow.name == source))
            if source_id is None:
                known = ", ".join(s.name for s in cfg.sources) or "none configured"
                raise Abort(f"no source named {source!r} has been gathered: use one of {known}")
        released = release_backlog(session, source_id, since=since_at)
        left = sum(backlog_counts(session).values())
        audit(session, actor=person(session, by), action="release-backlog",
              kind="items", ident=None,
              now=now(), released=released, source=source, since=since)
    if as_json():
        terminal.emit_json({"released": released, "backlog_left": left})
        return
    terminal.say(f"released {released} backlog item(s) into the next edition ({left} still held back)"
                 + ("; `syndicate edition build` composes it" if released else ""))


def _parse_since(value: str, zone: Any) -> Any:
    from datetime import date, datetime

    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Abort(f"--since {value!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-11-01") from None
    return datetime(day.year, day.month, day.day, tzinfo=zone)
