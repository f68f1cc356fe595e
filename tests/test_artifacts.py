"""What a flow run shows in the Prefect UI (`flows.artifacts`), without Prefect: the tables and markdown
built from a stage's summary and the ledger, and the reasons a run ends Failed for staff.
The same content read back through the Prefect client is in tests/test_flows_prefect.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flows.artifacts import (
    ArtifactKeys,
    build_markdown,
    gather_attention,
    gather_table,
    publish_attention,
    publish_markdown,
    send_attention,
    send_table,
)
from state.db import Database
from state.models import EditionItemRow, EditionRow, ItemRow, PostRow, PostStatus, SourceRow, ThreadRow

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
PUBLIC = "https://news.socitm.example/"


def _source(name: str, *, ok: bool = True, **extra: object) -> dict[str, object]:
    return {"name": name, "section": "news", "ok": ok, "status": 200 if ok else 503, "not_modified": False,
            "new": 2 if ok else 0, "updated": 1 if ok else 0, "consecutive_failures": 0 if ok else 3,
            "error": None if ok else "HTTP 503", "hint": None if ok else "the site is down; it will be retried",
            "skipped": None, "moved_to": None, **extra}


def test_artifact_keys_are_prefect_keys() -> None:
    keys = [v for k, v in vars(ArtifactKeys).items() if not k.startswith("_")]
    assert len(keys) == 5 and all(re.fullmatch(r"[a-z0-9-]+", key) for key in keys)


def test_the_gather_table_has_a_row_per_source_and_fails_only_when_every_source_failed() -> None:
    summary = {"new": 2, "updated": 1, "failed": 1,
               "sources": [_source("Socitm news"), _source("Blog", ok=False), _source("Events", not_modified=True)]}
    table = gather_table(summary)
    assert [(r["source"], r["status"], r["new"], r["failing"]) for r in table.rows] == [
        ("Socitm news", "ok", 2, 0), ("Blog", "failing (503)", 0, 3), ("Events", "not modified", 2, 0)]
    assert table.rows[1]["hint"] == "the site is down; it will be retried"
    assert set(table.rows[0]) == {"source", "section", "status", "new", "updated", "failing", "hint"}
    assert table.description == "2 new, 1 updated, 1 of 3 source(s) failing"
    assert gather_attention(summary) is None
    down = {"sources": [_source("Socitm news", ok=False), _source("Blog", ok=False)]}
    reason = gather_attention(down)
    assert reason and reason.startswith("every source failed (2)") and "the site is down" in reason
    assert gather_attention({"sources": []}) is None  # no sources configured is not a failure


def _edition(db: Database, *, html_bytes: int, warnings: list[str]) -> int:
    with db.session() as session:
        source = SourceRow(name="Socitm news", kind="rss", url="https://www.socitm.net/feed", section="news")
        session.add(source)
        session.flush()
        items = [ItemRow(key=f"k{i}", url=f"https://www.socitm.net/{i}", title=f"Item {i}", section=section,
                         source_id=source.id, content_hash="c" * 64, published_at=NOW, first_seen_at=NOW)
                 for i, section in enumerate(["news", "news", "events"])]
        edition = EditionRow(slug="2026-11-26", title="In Our View", subject="In Our View #12 | 26 November",
                             html="<p>x</p>", text="x", content_hash="h" * 64, built_at=NOW, html_bytes=html_bytes,
                             scheduled_for=NOW + timedelta(days=7), warnings=warnings)
        session.add_all([*items, edition])
        session.flush()
        session.add_all([EditionItemRow(edition_id=edition.id, item_id=item.id, section=item.section,
                                        section_position=0 if item.section == "news" else 1, position=n)
                         for n, item in enumerate(items)])
        return edition.id


def test_the_build_markdown_shows_subject_sections_size_warnings_and_the_desk_page(db: Database) -> None:
    edition_id = _edition(db, html_bytes=120_000, warnings=["a link is broken: Item 2"])
    with db.session() as session:
        markdown = build_markdown(session, {"id": edition_id, "built": True, "warnings": ["a link is broken: Item 2"],
                                            "threads": [4, 5]}, public_url=PUBLIC, budget_bytes=100_000,
                                 zone=ZoneInfo("Europe/London"))
    text = markdown.text
    assert text.startswith("# In Our View #12 \\| 26 November\n")
    assert f"[Review it on the desk](https://news.socitm.example/desk/editions/{edition_id})" in text
    assert "| news | 2 |" in text and "| events | 1 |" in text
    assert "send time Thu 3 Dec 2026, 14:00 GMT." in text  # the organisation's zone, as staff say it
    assert "**3 item(s)** in 2 section(s)" in text
    assert "120,000 bytes of the 100,000-byte budget (120 %" in text and "**over budget**" in text
    assert "- a link is broken: Item 2" in text and "2 roundup thread(s)" in text
    assert markdown.description == "In Our View #12 | 26 November (3 items, 120,000 bytes)"
    with db.session() as session:
        nothing = build_markdown(session, {"id": None, "built": False, "reason": "no new items yet"},
                                 public_url=PUBLIC, budget_bytes=100_000)
    assert nothing.text == "# No edition built\n\nno new items yet\n"


def test_the_send_table_gives_figures_and_who_got_it_and_fails_on_ambiguous_or_refused(db: Database) -> None:
    edition_id = _edition(db, html_bytes=40_000, warnings=[])
    sent = {"edition_id": edition_id, "recipients": 10, "accepted": 7, "failed": 1, "ambiguous": 2, "skipped": 0,
            "sent": False}
    with db.session() as session:
        table = send_table(session, [sent], [], public_url=PUBLIC)
        assert send_table(session, [{"edition_id": None}], [], public_url=PUBLIC) is None  # nothing due: no artifact
        held = send_table(session, [], [edition_id], public_url=PUBLIC)
    assert table is not None and held is not None
    (row,) = table.rows
    assert (row["edition"], row["accepted"], row["failed"], row["ambiguous"], row["held"]) == ("2026-11-26", 7, 1, 2, 0)
    assert row["who_got_it"] == f"https://news.socitm.example/desk/history/editions/{edition_id}"
    assert table.description == "7 accepted, 1 failed, 2 ambiguous, 0 held"
    assert held.rows[0]["held"] == 1 and held.rows[0]["outcome"].startswith("held")
    reason = send_attention([sent])
    assert reason and "2 recipient(s) in an ambiguous batch" in reason and "1 recipient(s) refused" in reason
    assert send_attention([{**sent, "failed": 0, "ambiguous": 0}]) is None


def test_the_publish_markdown_links_the_posts_this_run_made(db: Database) -> None:
    with db.session() as session:
        thread = ThreadRow(network="mastodon", key="item:1", kind="item", content_hash="t" * 64, created_at=NOW)
        thread.posts = [PostRow(position=0, text="a", status=PostStatus.POSTED, provider_url="https://mastodon.example/@s/1",
                                posted_at=NOW + timedelta(minutes=1)),
                        PostRow(position=1, text="b", status=PostStatus.POSTED, provider_url="https://mastodon.example/@s/0",
                                posted_at=NOW - timedelta(days=1))]  # an earlier run's
        session.add(thread)
        session.flush()
        thread_id = thread.id
    summary = {"message": "1 post(s) published, 0 thread(s) complete", "failed": []}
    with db.session() as session:
        markdown = publish_markdown(session, summary, since=NOW, public_url=PUBLIC)
        assert publish_markdown(session, summary, since=NOW + timedelta(hours=1), public_url=PUBLIC) is None
    assert markdown is not None
    assert f"- mastodon, thread {thread_id} post 1: [https://mastodon.example/@s/1](https://mastodon.example/@s/1)" \
        in markdown.text
    assert "@s/0" not in markdown.text and markdown.description == "1 post(s), 0 stopped"
    stopped = {"failed": ["bluesky thread 3: 401 the app password was revoked"]}
    assert publish_attention(stopped) == "1 thread(s) stopped: bluesky thread 3: 401 the app password was revoked"
    assert publish_attention(summary) is None
