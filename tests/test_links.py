"""Broken links in an edition become warnings staff must acknowledge before approval."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from compose.config import Fetch
from compose.models import FetchReport, Item
from connectors.link_check import broken_links
from connectors.outbound import OutboundGuard
from flows.settings import load_config
from flows.stages.edition import build_next_edition
from state import ledger
from state.db import Database
from state.items import store_reports, sync_sources
from tests.helpers.feedserver import body, redirect, serve
from tests.helpers.staff import add_staff_rows

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_broken_links_are_found_with_their_reason() -> None:
    with serve({"/ok": body(b"fine"), "/moved": redirect("/ok"), "/gone": body(b"", 410)}) as site:
        dead = f"http://127.0.0.1:{_closed_port()}/x"
        found = broken_links([site.url("/ok"), site.url("/moved"), site.url("/gone"), site.url("/missing"), dead,
                              "mailto:hello@socitm.example"], guard=OutboundGuard.trusting(allow_hosts=["127.0.0.1"]))
    assert found == {site.url("/gone"): "HTTP 410", site.url("/missing"): "HTTP 404",
                     dead: "unreachable (ConnectError)"}


def test_an_edition_with_a_broken_link_needs_acknowledging(db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    example = load_config("examples/syndicate.toml")
    with serve({"/news/alive": body(b"<html>alive</html>")}) as site:
        config = example.model_copy(update={"edition": example.edition.model_copy(update={"check_links": True}),
                                            "fetch": Fetch(allow_hosts=("127.0.0.1",))})  # the test site is on loopback
        items = [Item(url=site.url(path), title=title, section="news", source="news", summary_text="Summary",
                      published=NOW) for path, title in (("/news/alive", "Alive"), ("/news/dead", "Dead"))]
        with db.session() as session:
            rows = sync_sources(session, config.sources)
            news = rows["news"]
            news.first_gathered_at = NOW  # not a first gather: the items are new, not backlog
            store_reports(session, [(news, FetchReport(source="news", items=tuple(items), status=200))], now=NOW)
            result = build_next_edition(session, config, now=NOW)
    assert result.built
    assert [w for w in result.warnings if "broken link" in w] == [
        f"broken link in \"Dead\": {site.url('/news/dead')} (HTTP 404)"]
    with db.session() as session, pytest.raises(ledger.LedgerError, match="must be acknowledged"):
        add_staff_rows(session, {"a@socitm.example": "approver"})
        ledger.approve(session, "edition", result.edition_id, by="a@socitm.example", now=NOW)
