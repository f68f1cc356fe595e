"""Output a person reads (issue 14.8): every table-printing command, run as a person runs it (a
subprocess, piped) at COLUMNS=80, prints no line longer than 80 and cuts no date; times are local and
human while --json keeps ISO 8601; text from data is never read as Rich markup; config errors are
ours; flags look like flags; `sources discover` prints the `[[sources]]` block; retired sources are
not "needs attention"; and every change made at the terminal names a person, never "cli" or "system".
"""

from __future__ import annotations

import http.server
import io
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import typer.main
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from compose.models import FetchReport
from flows.cli import app, terminal
from flows.settings import ConfigError, parse_config
from state.db import Database
from state.items import store_report, sync_sources
from state.models import AuditRow, SourceRow, SubscriberRow, SubscriberStatus
from tests.helpers import desk_data

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")
HUMAN_TIME = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2}(?: \d{4})?, \d{2}:\d{2} [A-Z]{3,4}\b")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
LONG_ERROR = ("the page answered HTTP 503 Service Unavailable three times in a row: add a [sections.news] table "
              "for it, or [bold]check[/bold] the selectors")
LONG_HINT = "the site may be down for maintenance; if it persists, ask whoever runs it"


# --- a ledger with awkward data ----------------------------------------------------------------


@pytest.fixture
def ledger(sqlite_db: Database, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], int]]:
    """The example config and a ledger holding an edition waiting for approval, a failing source with a
    long error full of brackets, a source retired from the config (failing too), a long source name,
    subscribers with long addresses and names that look like markup, and staff."""
    config_path = tmp_path / "syndicate.toml"
    config_path.write_text(desk_data.EXAMPLE_CONFIG.read_text("utf-8"), "utf-8")
    config = parse_config(config_path.read_text("utf-8"))
    edition_id = desk_data.seed_edition(sqlite_db, config, now=NOW)
    desk_data.seed_staff(sqlite_db, "editor@example.org", "editor", now=NOW)
    desk_data.seed_staff(sqlite_db, "boss@example.org", "admin", now=NOW)
    with sqlite_db.session() as session:
        rows = sync_sources(session, config.sources)
        store_report(session, rows["news"], FetchReport(source="news", status=503, error=LONG_ERROR, hint=LONG_HINT),
                     now=NOW)
        session.add(SourceRow(name="Old regional digital leaders' programme feed", kind="feed", section="news",
                              url="https://www.socitm.net/old/feed.xml", consecutive_failures=4,
                              last_error="HTTP 404: the feed was moved", last_status=404, last_attempt_at=NOW))
        for n, (email, name) in enumerate([
            ("a.very.long.address.for.the.head.of.digital.transformation@some-council.gov.uk", "[red]Ann[/red]"),
            ("bob@example.org", "Bob [the builder]"),
        ]):
            session.add(SubscriberRow(email=email, name=name, status=SubscriberStatus.ACTIVE,
                                      consent_source=f"import:the-{n}-long-export-from-the-old-mailing-list.csv",
                                      consent_at=NOW, confirmed_at=NOW, status_changed_at=NOW, created_at=NOW))
    env = _env(sqlite_db, config_path)
    yield config_path, env, edition_id


def _env(db: Database, config_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNDICATE_", "COLUMNS", "LINES"))}
    env.update(SYNDICATE_DATABASE_URL=db.engine.url.render_as_string(hide_password=False),
               SYNDICATE_CONFIG=str(config_path), SYNDICATE_NOW=NOW.isoformat(), PYTHONPATH=str(REPO), **extra)
    return env


def run(words: list[str], env: dict[str, str], *, columns: str | None = "80") -> subprocess.CompletedProcess[str]:
    """`syndicate WORDS` as a person runs it, its output piped (as into `less` or a file)."""
    env = dict(env)
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run([sys.executable, "-m", "flows.cli", *words], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _fits(text: str, width: int = 80) -> None:
    long = [line for line in text.splitlines() if len(line) > width]
    assert not long, f"{len(long)} line(s) wider than {width}:\n" + "\n".join(long)
    assert "…" not in text, f"something was cut:\n{text}"
    assert not ISO_TIME.search(text), f"an ISO time where a person reads:\n{text}"


TABLE_COMMANDS = [["status"], ["sources", "list"], ["subscribers", "list"], ["edition", "show", "{edition}"],
                  ["gather"]]


@pytest.mark.parametrize("words", TABLE_COMMANDS, ids=lambda w: " ".join(w))
def test_every_table_fits_80_columns_piped_and_cuts_no_date(ledger, words: list[str]) -> None:
    _, env, edition_id = ledger
    words = [w.format(edition=edition_id) for w in words]
    for columns in ("80", None):  # COLUMNS=80, and piped with no COLUMNS at all: 80 too, never 160
        done = run(words, env, columns=columns)
        assert done.returncode in (0, 1), done.stdout + done.stderr
        assert "unexpected" not in done.stderr and "Traceback" not in done.stderr, done.stderr
        _fits(done.stdout)
        _fits(done.stderr)
        for line in done.stdout.splitlines():  # a date is on one line, whole
            for part in re.findall(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2}\b[^\n]{0,20}", line):
                assert HUMAN_TIME.match(part), f"a date cut or wrapped: {part!r} in\n{done.stdout}"


def test_columns_is_honoured_when_piped(ledger) -> None:
    _, env, _ = ledger
    wide = run(["subscribers", "list"], env, columns="200").stdout
    assert max(len(line) for line in wide.splitlines()) > 80, "COLUMNS=200 gives the table room"
    assert "a.very.long.address.for.the.head.of.digital.transformation@some-council.gov.uk" in wide


def test_status_reads_like_a_person_wrote_it(ledger) -> None:
    _, env, edition_id = ledger
    text = run(["status"], env).stdout
    flat = _flat(text)
    news_failed_at = terminal.when(NOW, LONDON, now=NOW)
    assert news_failed_at == "Tue 1 Dec, 09:30 GMT"
    assert "Next build Thu 3 Dec, 14:00 GMT, next send Thu 3 Dec, 10:00 GMT" in flat  # the example's schedule
    assert f"edition {edition_id}" in flat and "Waiting for approval" in text
    # the error keeps its brackets, and has room: it spans a few lines, not one word a line
    assert _flat(LONG_ERROR) in flat.replace(" (hint:", " (hint:")
    lines = [line for line in text.splitlines() if any(w in line for w in ("Unavailable", "selectors", "[bold]"))]
    assert lines and all(len(line.split()) > 3 for line in lines), "\n".join(lines)
    # the retired source is shown as retired, and not under "needs attention"
    attention = text[text.index("Needs attention"):]
    assert "Old regional" not in attention and "news" in attention
    assert "retired" in flat


def test_json_keeps_iso_times_and_says_which_sources_are_retired(ledger) -> None:
    _, env, _ = ledger
    report = json.loads(run(["--json", "status"], env).stdout)
    assert datetime.fromisoformat(report["now"]) == NOW
    news = next(s for s in report["sources"] if s["name"] == "news")
    assert news["retired"] is False and datetime.fromisoformat(news["last_attempt"]) == NOW
    old = next(s for s in report["sources"] if s["name"].startswith("Old regional"))
    assert old["retired"] is True
    assert [f["name"] for f in report["failures"] if f["kind"] == "source"] == ["news"]
    datetime.fromisoformat(report["schedule"]["next_send"])


def test_subscribers_with_markup_in_their_names_are_listed_as_they_are(ledger) -> None:
    _, env, _ = ledger
    flat = _flat(run(["subscribers", "list"], env, columns="200").stdout)
    assert "[red]Ann[/red]" in flat and "Bob [the builder]" in flat


# --- times ----------------------------------------------------------------------------------------


def test_times_are_local_and_human() -> None:
    assert terminal.when(datetime(2026, 12, 3, 10, 0, tzinfo=UTC), LONDON, now=NOW) == "Thu 3 Dec, 10:00 GMT"
    assert terminal.when("2026-07-02T09:00:00+00:00", LONDON, now=NOW) == "Thu 2 Jul, 10:00 BST"
    assert terminal.when(datetime(2025, 12, 3, 10, 0, tzinfo=UTC), LONDON, now=NOW) == "Wed 3 Dec 2025, 10:00 GMT"
    assert terminal.when(None, LONDON) == "never"


@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
       st.sampled_from(["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]))
def test_a_human_time_is_the_same_moment_in_the_zone(moment: datetime, zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    shown = terminal.when(moment, zone)
    local = moment.astimezone(zone)
    assert shown.startswith(f"{local:%a} {local.day} {local:%b} {local.year}, {local:%H:%M}")
    assert len(shown) <= 32 and "\n" not in shown


# --- markup never eaten -----------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.sampled_from(" éßЖ[]/\\"),
                min_size=1, max_size=200)


def _printed(call, *args) -> str:  # type: ignore[no-untyped-def]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        call(*args)
    return out.getvalue() + err.getvalue()


@settings(max_examples=80, deadline=None)
@given(_TEXT)
def test_text_from_data_is_printed_as_it_is(text: str) -> None:
    squeezed = "".join(text.split())
    for call, args in ((terminal.say, (text,)), (terminal.warn, (text,)), (terminal.fail, (text,)),
                         (terminal.table, ("Title", ["column"], [(text,)]))):
        printed = _printed(call, *args)
        assert squeezed in "".join(printed.split()), f"{call.__name__} changed {text!r} into {printed!r}"
        assert all(len(line) <= 80 for line in printed.splitlines())


def test_a_config_error_with_brackets_keeps_them(tmp_path: Path) -> None:
    text = desk_data.EXAMPLE_CONFIG.read_text("utf-8").replace('section = "blogs"', 'section = "blog"', 1)
    bad = tmp_path / "syndicate.toml"
    bad.write_text(text, "utf-8")
    done = run(["status"], {**os.environ, "SYNDICATE_CONFIG": str(bad), "PYTHONPATH": str(REPO)})
    assert done.returncode == 1
    assert "or add a [[sections]] table for it" in _flat(done.stderr), done.stderr


# --- config errors in our words -----------------------------------------------------------------------


def test_a_url_without_a_scheme_gets_our_message_not_pydantics() -> None:
    text = desk_data.EXAMPLE_CONFIG.read_text("utf-8").replace('public_url = "http://127.0.0.1:8000"',
                                                             'public_url = "news.socitm.net"')
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    message = str(info.value)
    assert "edition.public_url: not a full web address (it is 'news.socitm.net'): write it with http:// or https://" \
        in message
    assert "Input should" not in message and "relative URL" not in message


# --- flags look like flags ---------------------------------------------------------------------------


def test_help_shows_flags_as_flags() -> None:
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(REPO)}
    top = subprocess.run([sys.executable, "-m", "flows.cli", "--help"], env=env, capture_output=True, text=True)
    assert re.search(r"^\s+--json\s+Print one JSON object", top.stdout, re.M), top.stdout
    helped = subprocess.run([sys.executable, "-m", "flows.cli", "gather", "--help"], env=env, capture_output=True,
                            text=True)
    assert re.search(r"^\s+--include-backlog\s+Treat what", helped.stdout, re.M), helped.stdout
    root = typer.main.get_command(app)
    for path, command in _commands(root):
        with click_context(command, path) as ctx:
            text = command.get_help(ctx)
        assert "<bool>" not in text, f"syndicate {path} --help:\n{text}"


def _commands(group, prefix=""):  # type: ignore[no-untyped-def]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def click_context(command, path):  # type: ignore[no-untyped-def]
    return type(typer.main.get_command(app)).context_class(command, info_name=f"syndicate {path}")


# --- sources discover ---------------------------------------------------------------------------------


@pytest.fixture
def page_with_a_feed(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "index.html").write_text(
        '<html><head><title>Council news</title><link rel="alternate" type="application/rss+xml" '
        'title="Council news [all]" href="/feed.xml"></head><body>news</body></html>', "utf-8")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):  # type: ignore[no-untyped-def]
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_sources_discover_prints_the_sources_block_to_paste(page_with_a_feed: str, tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "flows.cli", "sources", "discover", page_with_a_feed], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    block = done.stdout[done.stdout.index("[[sources]]"):]
    import tomllib

    parsed = tomllib.loads(block)["sources"][0]
    assert parsed == {"name": "Council news all", "kind": "feed", "url": f"{page_with_a_feed}feed.xml",
                      "section": "news"}


# --- who did it ----------------------------------------------------------------------------------------


def _actors(db: Database, action: str) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(AuditRow.actor).where(AuditRow.action == action).order_by(AuditRow.id)))


def test_changes_at_the_terminal_name_a_person(sqlite_db: Database, tmp_path: Path) -> None:
    config_path = tmp_path / "syndicate.toml"
    config_path.write_text(desk_data.EXAMPLE_CONFIG.read_text("utf-8"), "utf-8")
    config = parse_config(config_path.read_text("utf-8"))
    desk_data.seed_items(sqlite_db, config, now=NOW - timedelta(hours=1))
    desk_data.seed_staff(sqlite_db, "boss@example.org", "admin", now=NOW)
    desk_data.seed_staff(sqlite_db, "ed@example.org", "editor", now=NOW)
    env = _env(sqlite_db, config_path)
    csv = tmp_path / "people.csv"
    csv.write_text("email,name\nann@example.org,Ann\n", "utf-8")

    assert run(["edition", "build", "--by", "nobody@example.org"], env).returncode == 1  # not staff: refused
    assert run(["edition", "build", "--by", "ED@example.org"], env).returncode == 0
    assert _actors(sqlite_db, "build") == ["ed@example.org"]
    assert run(["subscribers", "import", str(csv), "--by", "ed@example.org"], env).returncode == 0
    assert run(["subscribers", "import", str(csv)], env).returncode == 0
    assert run(["subscribers", "unsubscribe", "ann@example.org", "--by", "boss@example.org"], env).returncode == 0
    refused = run(["staff", "add", "new@example.org", "--role", "editor", "--by", "ed@example.org"], env)
    assert refused.returncode == 1 and "only admins may add staff" in _flat(refused.stderr)
    assert run(["staff", "add", "new@example.org", "--role", "editor", "--by", "boss@example.org"], env).returncode == 0
    imports = _actors(sqlite_db, "import")
    assert imports[0] == "ed@example.org" and imports[1].endswith("(terminal login)")
    assert _actors(sqlite_db, "unsubscribe") == ["boss@example.org"]
    assert _actors(sqlite_db, "staff.add")[-1] == "boss@example.org"
    with sqlite_db.session() as session:
        actors = set(session.scalars(select(AuditRow.actor)))
    assert not actors & {"cli", "system"}, actors
