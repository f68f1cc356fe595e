"""`syndicate report EDITION_ID`, `syndicate report --trend` and `syndicate weekly-note show|send` as a
person runs them, at 80 columns, on a ledger with a real send, real provider events and clicks;
--json gives one object with the same figures; a missing edition and a second note in one week are
refused with one clear message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.cli import main
from flows.settings import parse_config
from state import provider_events
from state.db import Database, connect
from tests.helpers import desk_data, report_data

SENT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@pytest.fixture
def ledger_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Database, int]]:
    config_path = tmp_path / "syndicate.toml"
    text = desk_data.EXAMPLE_CONFIG.read_text("utf-8").replace('outbox_dir = "outbox"',
                                                               f'outbox_dir = "{tmp_path / "outbox"}"')
    config_path.write_text(text, "utf-8")
    config = parse_config(text)
    db = connect(f"sqlite:///{tmp_path / 'ledger.db'}")
    edition_id = report_data.send_edition(db, config, now=SENT, subscribers=30)
    people = report_data.recipients(db)
    with db.session() as session:
        provider_events.apply_provider_events(session, [
            *report_data.events_for(edition_id, people[:28], "delivered", at=SENT),
            *report_data.events_for(edition_id, people[28:30], "bounce", at=SENT, type="bounce", reason="550"),
            *report_data.events_for(edition_id, people[:1], "spamreport", at=SENT),
            *report_data.events_for(edition_id, people[1:3], "unsubscribe", at=SENT)], now=SENT + timedelta(hours=1))
    report_data.click_items(db, edition_id, [5, 0, 1, 3, 0, 2], now=SENT + timedelta(hours=1))
    desk_data.seed_staff(db, "boss@example.org", "admin", now=SENT)
    for key in ("SYNDICATE_SECRET_KEY", "SENDGRID_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SYNDICATE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("SYNDICATE_CONFIG", str(config_path))
    monkeypatch.setenv("SYNDICATE_NOW", NOW.isoformat())
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    yield db, edition_id
    db.dispose()


def run(capsys: pytest.CaptureFixture[str], *words: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(words))
    out, err = capsys.readouterr()
    for line in (err if "--json" in words else out + err).splitlines():
        assert len(line) <= 80, f"{' '.join(words)}: a line of {len(line)} columns:\n{line}"
    return code, out, err


def test_report_of_an_edition_fits_80_columns_and_has_every_figure(ledger_at, capsys):
    _, edition_id = ledger_at
    code, out, err = run(capsys, "report", str(edition_id))
    assert code == 0, err
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert lines[0].startswith(f"Edition {edition_id}: In Our View #1") and lines[1] == "Sent Thu 3 Dec, 10:00 GMT (sent)."
    for expected in ("recipients 30", "delivered 28", "bounced 2 6.7%", "complaints 1 3.57%", "unsubscribed 2 7.1%",
                     "clicks 11 39.3%"):
        assert expected in lines, (expected, out)
    assert "News 3 6" in lines and "Blogs 2 3" in lines and "Publications 1 2" in lines
    assert any(line.startswith("Councils join the digital skills compact news 5") for line in lines)
    assert f"/desk/reports/editions/{edition_id}" in out.replace("\n", "")


def test_report_json_is_one_object_with_the_same_figures(ledger_at, capsys):
    _, edition_id = ledger_at
    code, out, _ = run(capsys, "report", str(edition_id), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["figures"]["delivered"] == 28 and data["figures"]["complaints"] == 1 and data["clicks"] == 11
    assert data["rates"]["complaint"] == pytest.approx(1 / 28) and data["rates"]["bounce"] == pytest.approx(2 / 30)
    assert [s["clicks"] for s in data["sections"]] == [6, 3, 2]
    assert [i["clicks"] for i in data["items"]] == [5, 0, 1, 3, 0, 2]


def test_report_trend_lists_the_weeks_and_the_editions(ledger_at, capsys):
    _, edition_id = ledger_at
    code, out, err = run(capsys, "report", "--trend")
    assert code == 0, err
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "7 Dec 2026 25 -5" in lines  # 30 joined in October; 2 bounced, 1 complained, 2 unsubscribed
    assert any(line.startswith(f"{edition_id} Thu 3 Dec, 10:00 GMT 28 11 39.3% 1 3.57%") for line in lines), out
    code, out, _ = run(capsys, "report", "--json")
    assert code == 0 and json.loads(out)["editions"][0]["clicks"] == 11


def test_report_of_a_missing_edition_is_refused_clearly(ledger_at, capsys):
    code, out, err = run(capsys, "report", "99")
    assert code == 1 and err.startswith("error: there is no edition 99: `syndicate status` lists the editions")


def test_the_weekly_note_is_shown_then_sent_once(ledger_at, capsys):
    code, out, err = run(capsys, "weekly-note", "show")
    assert code == 0, err
    assert out.startswith("In Our View: the week of 30 Nov – 6 Dec 2026")
    code, out, err = run(capsys, "weekly-note", "send", "--by", "boss@example.org")
    assert code == 0, err
    assert "to approver@socitm.example, boss@example.org" in " ".join(out.split())
    code, out, err = run(capsys, "weekly-note", "send")
    assert code == 1 and err.startswith("error: not sent: the weekly note for the week of 30 Nov 2026 went on")
    assert "never sent twice" in " ".join(err.split())
