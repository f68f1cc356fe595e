"""A new user's first run, through the `syndicate` commands on the example site served on loopback:
status before any gather lists the configured sources; the first gather holds what the site already
has back as backlog and says how to release it; `edition build` explains a ledger with only backlog;
`backlog release` (all, one source, since a date) and the desk's button let it in; `posts draft`
drafts the per-item posts the `social-drafts` flow drafts; `gather` fails when every source does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flows.cli import main
from flows.demo import EXAMPLES, PLACEHOLDER_ORIGIN, serve_site
from flows.settings import load_config
from state.db import connect
from state.models import AuditRow, ItemRow, ThreadRow
from tests.helpers import desk_data
from web.app import create_app

RELEASE_HINT = "syndicate backlog release [--source NAME] [--since DATE]"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    for key in ("SYNDICATE_SECRET_KEY", "SYNDICATE_DATABASE_URL", "SYNDICATE_CONFIG", "SENDGRID_API_KEY",
                "X_API_KEY", "MASTODON_ACCESS_TOKEN", "BLUESKY_HANDLE"):
        monkeypatch.delenv(key, raising=False)
    with serve_site() as origin:
        text = (EXAMPLES / "syndicate.toml").read_text("utf-8").replace(PLACEHOLDER_ORIGIN, origin)
        (tmp_path / "syndicate.toml").write_text(text, "utf-8")
        yield tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr, with whitespace runs made single (the console wraps long lines)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), " ".join(err.split())


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, out, err = run(capsys, "--json", *args)
    assert code == 0, err
    return json.loads(out)  # JSON does not mind the whitespace


def backlog_items() -> int:
    with connect().session() as session:
        return session.scalar(select(func.count()).select_from(ItemRow).where(ItemRow.backlog.is_(True))) or 0


def test_status_lists_configured_sources_before_their_first_gather(workdir: Path, capsys) -> None:
    code, out, err = run(capsys, "status")
    assert code == 0, err
    for name in ("news", "blogs", "publications"):
        assert name in out
    assert "never" in out and "No edition built yet" in out
    report = run_json(capsys, "status")
    assert [s["name"] for s in report["sources"]] == ["blogs", "news", "publications"]
    assert all(s["last_success"] is None for s in report["sources"])
    assert report["backlog"]["items"] == 0


def test_first_gather_holds_back_backlog_and_every_command_says_how_to_release_it(workdir: Path, capsys) -> None:
    code, out, err = run(capsys, "gather")
    assert code == 0, err
    assert "13 of the new items were held back as backlog" in out and RELEASE_HINT in out
    assert backlog_items() == 13

    code, out, _ = run(capsys, "status")
    assert "Backlog: 13 item(s)" in out and RELEASE_HINT in out
    assert "(13 more held back as backlog)" in out
    assert run_json(capsys, "status")["backlog"]["by_source"] == {"blogs": 3, "news": 6, "publications": 4}

    built = run_json(capsys, "edition", "build")
    assert built["id"] is None and not built["built"]
    assert "no new items yet" in built["reason"] and "13 item(s) are held back as backlog" in built["reason"]
    assert RELEASE_HINT in built["reason"] and "since the last edition" not in built["reason"]

    assert run_json(capsys, "backlog", "release", "--source", "news") == {"released": 6, "backlog_left": 7}
    assert run_json(capsys, "backlog", "release") == {"released": 7, "backlog_left": 0}
    built = run_json(capsys, "edition", "build")
    assert built["built"] and built["id"] == 1 and built["threads"], built


def test_release_since_a_date_lets_in_only_what_was_published_from_then(workdir: Path, capsys) -> None:
    run(capsys, "gather")
    with connect().session() as session:
        dates = sorted(session.scalars(select(ItemRow.published_at)))
    middle = dates[len(dates) // 2]
    zone = load_config("syndicate.toml").zone
    day = middle.replace(tzinfo=UTC).astimezone(zone).date()
    since = datetime(day.year, day.month, day.day, tzinfo=zone)
    expected = sum(1 for d in dates if d.replace(tzinfo=UTC) >= since)
    released = run_json(capsys, "backlog", "release", "--since", day.isoformat())
    assert released == {"released": expected, "backlog_left": 13 - expected}
    assert 0 < expected < 13


@pytest.mark.parametrize(("args", "message"), [
    (["--source", "nope"], "no source named 'nope' has been gathered: use one of news, blogs, publications"),
    (["--since", "last tuesday"], "--since 'last tuesday' is not a date: write it as YYYY-MM-DD"),
])
def test_release_refuses_what_it_cannot_do_and_changes_nothing(workdir: Path, capsys, args, message) -> None:
    run(capsys, "gather")
    code, _, err = run(capsys, "backlog", "release", *args)
    assert code == 1 and message in err
    assert backlog_items() == 13


def test_gather_lists_only_sources_with_news_unless_all(workdir: Path, capsys) -> None:
    code, out, _ = run(capsys, "gather")
    assert code == 0 and "Sources" in out and all(name in out for name in ("news", "blogs", "publications"))
    code, out, _ = run(capsys, "gather")  # nothing new anywhere: one line says so, no table of 3 rows
    assert code == 0 and "Sources" not in out and "blogs" not in out
    assert "3 other source(s) fine with nothing new" in out and "syndicate gather --all" in out
    code, out, _ = run(capsys, "gather", "--all")
    assert code == 0 and "Sources" in out and all(name in out for name in ("news", "blogs", "publications"))
    assert run_json(capsys, "gather")["sources"][0]["name"], "--json keeps every source"


def test_gather_lists_the_first_sources_with_news_and_counts_the_rest(workdir: Path, capsys, monkeypatch) -> None:
    from flows.cli import sources

    monkeypatch.setattr(sources, "GATHER_ROWS", 1)
    code, out, _ = run(capsys, "gather")
    assert code == 0 and "and 2 more source(s) with new or updated items" in out
    assert "other source(s) fine" not in out


def test_gather_include_backlog_later_releases_what_the_first_gather_held_back(workdir: Path, capsys) -> None:
    run(capsys, "gather")
    again = run_json(capsys, "gather", "--include-backlog")
    assert again["released"] == 13 and backlog_items() == 0


def test_gather_exits_1_when_every_source_failed(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNDICATE_DATABASE_URL", raising=False)
    with serve_site() as origin:
        pass  # the site is gone: every source fails to connect
    text = (EXAMPLES / "syndicate.toml").read_text("utf-8").replace(PLACEHOLDER_ORIGIN, origin)
    (tmp_path / "syndicate.toml").write_text(text, "utf-8")
    code, out, err = run(capsys, "gather")
    assert code == 1 and "every source failed (3)" in err and "FAILED" in out
    code, out, _ = run(capsys, "--json", "gather")
    assert code == 1 and json.loads(out)["failed"] == 3


def test_posts_draft_drafts_what_the_social_drafts_flow_drafts(workdir: Path, capsys) -> None:
    run(capsys, "gather", "--include-backlog")
    drafted = run_json(capsys, "posts", "draft")["threads"]
    config = load_config("syndicate.toml")
    with connect().session() as session:
        items = session.scalars(select(ItemRow).where(ItemRow.section.in_(config.social.x.sections))).all()
        threads = session.scalars(select(ThreadRow).where(ThreadRow.kind == "item")).all()
    assert sorted(t.id for t in threads) == sorted(drafted)
    assert {t.key for t in threads} == {f"item:{item.id}" for item in items} and items
    assert run_json(capsys, "posts", "draft")["threads"] == [], "drafting again drafts nothing"


def test_the_cli_and_the_flows_call_the_same_stages() -> None:
    """One path whoever starts it: the flow tasks are thin wrappers of the stages the CLI calls."""
    import inspect

    from flows import pipeline

    build = inspect.getsource(pipeline.build_task.fn)
    drafts = inspect.getsource(pipeline.draft_posts_task.fn)
    assert "build_edition_and_threads(" in build and "draft_roundup" not in build
    assert "draft_item_posts(" in drafts
    cli = "".join(path.read_text("utf-8") for path in sorted(Path(pipeline.__file__).with_name("cli").glob("*.py")))
    assert "build_edition_and_threads(" in cli and "draft_roundup" not in cli and "draft_item_posts(" in cli


# --- the desk's button ---------------------------------------------------------------------------

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture
def desk_with_backlog(db, tmp_path):
    from compose.models import FetchReport, Item
    from state.items import store_report, sync_sources

    config = desk_data.example_config(tmp_path)
    with db.session() as session:
        rows = sync_sources(session, config.sources)
        items = tuple(Item(url=f"https://www.socitm.net/news/{n}", title=f"News {n}", section="news", source="news",
                           summary_text="s", summary_html="<p>s</p>", published=NOW, image_url=None) for n in range(4))
        store_report(session, rows["news"], FetchReport(source="news", items=items, status=200), now=NOW)
    for email, role in (("ed@example.org", "editor"), ("ap@example.org", "approver")):
        desk_data.seed_staff(db, email, role, now=NOW)
    return create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={}), db


def _signed_in(app, email: str) -> TestClient:
    client = TestClient(app)
    assert desk_data.sign_in(client, email).status_code == 303
    return client


def _backlog(db) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(ItemRow).where(ItemRow.backlog.is_(True))) or 0


def test_desk_shows_the_backlog_and_an_approver_releases_it(desk_with_backlog) -> None:
    app, db = desk_with_backlog
    approver = _signed_in(app, "ap@example.org")
    page = approver.get("/desk").text
    assert "4 item(s) held back as backlog" in page and 'id="release-backlog"' in page
    refused = approver.post("/desk/backlog/release", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403 and _backlog(db) == 4
    token = desk_data.csrf_from(page)
    done = approver.post("/desk/backlog/release", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/desk?released=4"
    assert _backlog(db) == 0
    after = approver.get("/desk?released=4").text
    assert "4 backlog item(s) released" in after and "held back as backlog" not in after
    with db.session() as session:
        audit = session.scalars(select(AuditRow).where(AuditRow.action == "release-backlog")).one()
        assert audit.actor == "ap@example.org"


def test_an_editor_sees_the_backlog_but_may_not_release_it(desk_with_backlog) -> None:
    app, db = desk_with_backlog
    editor = _signed_in(app, "ed@example.org")
    page = editor.get("/desk").text
    assert "4 item(s) held back as backlog" in page and 'id="release-backlog"' not in page
    response = editor.post("/desk/backlog/release", data={"csrf_token": desk_data.csrf_from(page)},
                           follow_redirects=False)
    assert response.status_code == 403 and _backlog(db) == 4
