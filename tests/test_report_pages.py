"""The desk's reports through HTTP on SQLite and PostgreSQL, with real figures: an edition sent by the
real deliver stage to the outbox, SendGrid's signed event webhook posted to the app, clicks through
the email's signed links (`/r/<token>`), counted by the redirect. The edition report shows delivered, bounced, complaints, unsubscribes and
clicks per item and per section, as tables and as charts (SVG images with their own strict policy,
nothing fetched from elsewhere); the trend page shows the list and the editions; only staff see them."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.helpers import desk_data, report_data
from web.app import create_app

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)
CLICKS = [12, 3, 0, 7, 1, 2]  # per item, in the edition's order: news x3, blogs x2, publications x1


@pytest.fixture
def sent(db, tmp_path):
    config = report_data.counting_config(desk_data.example_config(tmp_path))
    edition_id = report_data.send_edition(db, config, now=NOW, subscribers=40)
    keys = report_data.WebhookKeys()
    app = create_app(config=config, db=db, secret_key=report_data.SECRET, now=lambda: LATER,
                     env={"SENDGRID_WEBHOOK_PUBLIC_KEY": keys.public})
    people = report_data.recipients(db)
    events = (report_data.events_for(edition_id, people[:36], "delivered", at=NOW + timedelta(minutes=2))
              + report_data.events_for(edition_id, people[36:38], "bounce", at=NOW, type="bounce",
                                       reason="550 5.1.1 no such user")
              + report_data.events_for(edition_id, people[38:39], "deferred", at=NOW, response="try later")
              + report_data.events_for(edition_id, people[39:40], "dropped", at=NOW, reason="Bounced Address")
              + report_data.events_for(edition_id, people[:1], "spamreport", at=NOW + timedelta(hours=1))
              + report_data.events_for(edition_id, people[1:2], "unsubscribe", at=NOW + timedelta(hours=1)))
    raw, headers = keys.signed(events, now=LATER)
    answer = TestClient(app).post("/webhooks/sendgrid", content=raw, headers=headers)
    assert answer.status_code == 200 and answer.json()["applied"] == len(events), answer.text
    report_data.click_items(db, edition_id, CLICKS, now=NOW + timedelta(minutes=30), client=TestClient(app))
    for email, role in (("ed@example.org", "editor"), ("boss@example.org", "admin")):
        desk_data.seed_staff(db, email, role, now=NOW)
    return app, edition_id


def _as(app, email: str = "ed@example.org") -> TestClient:
    client = TestClient(app)
    assert desk_data.sign_in(client, email).status_code == 303
    return client


def _table(page: str, ident: str) -> list[list[str]]:
    found = re.search(rf'<table[^>]*id="{ident}".*?</table>', page, re.S)
    assert found, f"no table #{ident}"
    rows = re.findall(r"<tr>(.*?)</tr>", found.group(0), re.S)
    return [[" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
             for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)] for row in rows]


def test_the_edition_report_shows_what_the_ledger_made_of_the_send_and_the_events(sent):
    app, edition_id = sent
    page = _as(app).get(f"/desk/reports/editions/{edition_id}")
    assert page.status_code == 200
    delivery = {row[0]: row[1:] for row in _table(page.text, "delivery-table")[1:]}
    assert delivery["Recipients"] == ["40", ""] and delivery["Accepted by the provider"] == ["40", ""]
    assert delivery["Delivered"][0] == "36" and delivery["Bounced"] == ["2", "5.0%"]  # 2 of 40 accepted
    assert delivery["Complaints"] == ["1", "2.78%"] and delivery["Unsubscribed"] == ["1", "2.8%"]  # of 36 delivered
    assert delivery["Deferred"][0] == "1" and delivery["Dropped"][0] == "1" and delivery["Failed"][0] == "0"
    items = _table(page.text, "items-table")[1:]
    assert [row[2] for row in items] == [str(n) for n in CLICKS]
    assert [row[1] for row in items] == ["news"] * 3 + ["blogs"] * 2 + ["publications"]
    assert items[0][0] == "Councils join the digital skills compact"
    sections = _table(page.text, "sections-table")[1:]
    assert sections == [["News", "3", "15"], ["Blogs", "2", "8"], ["Publications", "1", "2"]]
    tiles = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", re.search(r'id="report-tiles".*?</dl>', page.text,
                                                                      re.S).group(0))).split())
    assert "Clicks 25 69.4% of delivered" in tiles  # 25 clicks over 36 delivered


def test_every_chart_is_an_svg_image_in_two_sizes_with_words_and_nothing_from_elsewhere(sent):
    app, edition_id = sent
    client = _as(app)
    page = client.get(f"/desk/reports/editions/{edition_id}").text
    images = re.findall(r'<img src="([^"]+)\?size=wide" alt="([^"]+)"', page)
    narrow = re.findall(r'<source media="\(max-width: 40rem\)" srcset="([^"]+)\?size=narrow">', page)
    assert [src for src, _ in images] == narrow == [f"/desk/reports/editions/{edition_id}/charts/{name}.svg"
                                                    for name in ("delivery", "items", "sections")]
    alts = [html.unescape(alt) for _, alt in images]
    assert "36 delivered, 2 bounced" in alts[0] and "most clicked: Councils join the digital skills compact (12)" in alts[1]
    assert "News 15, Blogs 8, Publications 2" in alts[2]
    for src in narrow:
        for size in ("wide", "narrow"):
            svg = client.get(f"{src}?size={size}")
            assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
            assert svg.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
            body = svg.text
            assert body.startswith("<svg") and "<script" not in body
            assert not [url for url in re.findall(r'(?:href|src)="([^"]+)"', body) if not url.startswith("#")]
    items_svg = client.get(f"{narrow[1]}?size=narrow").text
    assert 'viewBox="0 0 360 ' in items_svg and ">12<" in items_svg  # drawn for a phone, values printed on bars
    assert client.get(f"{narrow[0]}?size=huge").status_code == 400
    assert client.get(f"/desk/reports/editions/{edition_id}/charts/pie.svg").status_code == 404


def test_the_trend_page_shows_the_list_and_each_edition_with_its_rates(sent):
    app, edition_id = sent
    client = _as(app)
    page = client.get("/desk/reports")
    assert page.status_code == 200
    editions = _table(page.text, "editions-table")[1:]
    assert len(editions) == 1
    subject, when, delivered, clicks, through, complaints, rate = editions[0]
    assert (delivered, clicks, through, complaints, rate) == ("36 of 40", "25", "69.4%", "1", "2.78%")
    assert when == "3 Dec 2026"
    assert f'href="/desk/reports/editions/{edition_id}"' in page.text
    weeks = _table(page.text, "weeks-table")[1:]
    # 40 joined six weeks before the send; then 2 bounced, 1 complained, 1 unsubscribed and 1 was dropped
    # as a known bounced address: 35 left, 5 fewer than the week before
    assert len(weeks) == 12 and weeks[-1] == ["3 Dec 2026", "35", "-5"]
    assert ["22 Oct 2026", "40", "+40"] in weeks and weeks[0] == ["17 Sep 2026", "0", "–"]
    for name in ("list-size", "growth", "click-rate", "complaint-rate"):
        svg = client.get(f"/desk/reports/charts/{name}.svg?size=narrow")
        assert svg.status_code == 200 and svg.text.startswith("<svg"), name
    complaints = client.get("/desk/reports/charts/complaint-rate.svg").text
    assert "Dashed: staff warned at 0.1%" in complaints and "Dotted: email paused at 0.3%" in complaints


def test_the_edition_page_and_the_history_link_to_the_report(sent):
    app, edition_id = sent
    client = _as(app)
    assert f'href="/desk/reports/editions/{edition_id}"' in client.get(f"/desk/editions/{edition_id}").text
    assert f'href="/desk/reports/editions/{edition_id}"' in client.get("/desk/history").text
    assert 'href="/desk/reports"' in client.get("/desk").text  # the navigation


def test_only_staff_see_reports_and_an_unknown_edition_is_a_clear_404(sent):
    app, edition_id = sent
    anonymous = TestClient(app)
    for path in ("/desk/reports", f"/desk/reports/editions/{edition_id}", "/desk/reports/charts/growth.svg",
                 f"/desk/reports/editions/{edition_id}/charts/items.svg", "/desk/weekly-note"):
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), path
    missing = _as(app).get("/desk/reports/editions/999")
    assert missing.status_code == 404 and "There is no edition 999." in missing.text
