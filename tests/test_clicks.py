"""The click redirect and the open pixel (`web.clicks`, `compose.clicks`, click tokens in
`compose.signing`), on SQLite and PostgreSQL: tokens round-trip and refuse any change, the target
comes from the ledger, a forged token or an open-redirect attempt lands on the organisation's site,
no cookie is set and nothing is cached, scanners and HEAD count nothing, nobody is named by default,
and per-reader clicks, the open pixel and the footer notice only when the config turns them on."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from compose.clicks import READER_TOKEN, carries_notice, direct_links, signed_links
from compose.config import Config, Tracking
from compose.signing import ForgedToken, click_token, reader_suffix, verify_click, verify_open
from connectors.channels.base import Recipient, personalise
from state import clicks
from state.db import Database
from state.models import ClickRow, EditionRow, EditionStatus, ReaderClickRow, ReaderOpenRow, SubscriberRow
from tests.helpers import desk_data
from web.app import create_app

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
SITE = "https://www.socitm.net/"

ids = st.integers(min_value=0, max_value=2**31 - 1)


# ---------------------------------------------------------------- tokens


@given(edition=ids, item=ids, subscriber=st.one_of(st.none(), ids), key=st.text(min_size=1, max_size=40))
def test_a_click_token_round_trips_and_stays_short(edition: int, item: int, subscriber: int | None, key: str) -> None:
    token = click_token(key, edition_id=edition, item_id=item)
    if subscriber is not None:
        token += reader_suffix(key, edition_id=edition, subscriber_id=subscriber)
    assert verify_click(key, token) == (edition, item, subscriber)
    assert re.fullmatch(r"[0-9a-z.~A-Z_-]+", token)
    assert len(token) <= (33 if subscriber is None else 33 + 20)


@given(edition=ids, item=ids, position=st.integers(min_value=0), char=st.sampled_from("0aZ_-.~9xq"))
def test_any_change_to_a_token_is_refused(edition: int, item: int, position: int, char: str) -> None:
    token = click_token(SECRET, edition_id=edition, item_id=item) + reader_suffix(SECRET, edition_id=edition,
                                                                                  subscriber_id=7)
    index = position % len(token)
    altered = token[:index] + char + token[index + 1:]
    if altered == token:
        return
    try:
        got = verify_click(SECRET, altered)
    except ForgedToken:
        return
    raise AssertionError(f"{altered!r} (from {token!r}) was accepted as {got}")


def test_tokens_from_another_key_or_another_edition_are_refused() -> None:
    token = click_token("another key", edition_id=3, item_id=4)
    with pytest.raises(ForgedToken):
        verify_click(SECRET, token)
    reader = reader_suffix(SECRET, edition_id=3, subscriber_id=9)
    with pytest.raises(ForgedToken):  # a reader's part moved to another edition's link
        verify_click(SECRET, click_token(SECRET, edition_id=5, item_id=4) + reader)
    with pytest.raises(ForgedToken):
        verify_open(SECRET, "5" + reader)
    assert verify_open(SECRET, "3" + reader) == (3, 9)
    for junk in ("", ".", "..", "3.4", "03.4.x", "3.4." + "A" * 12, "https://evil.example", "3.4.xx~", "é.4.x"):
        with pytest.raises(ForgedToken):
            verify_click(SECRET, junk)


# ---------------------------------------------------------------- the email's links


def _site(db: Database, tmp_path: Path, tracking: Tracking | None = None, *, status: EditionStatus = EditionStatus.SENT
          ) -> tuple[TestClient, Config, int, dict[int, str], object]:
    config = desk_data.example_config(tmp_path)
    config = config.model_copy(update={"tracking": tracking or Tracking(flush_seconds=0)})
    edition_id = desk_data.seed_edition(db, config, now=NOW)
    desk_data.seed_subscribers(db, 3, now=NOW)
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None
        row.status = status
        targets = clicks.link_targets(session, edition_id, config)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW)
    return TestClient(app), config, edition_id, targets, app


def _sent_links(db: Database, config: Config, edition_id: int) -> tuple[list[str], list[str]]:
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None
        html_part, text_part = clicks.as_sent(row, config, secret_key=SECRET)
    public = str(config.edition.public_url).rstrip("/")
    return (re.findall(re.escape(public) + r"/r/[^\"\s<]+", html_part),
            re.findall(re.escape(public) + r"/r/[^\"\s<]+", text_part))


def test_every_article_link_in_both_parts_goes_through_the_redirect_and_no_other(db: Database, tmp_path: Path) -> None:
    _, config, edition_id, targets, _ = _site(db, tmp_path)
    html_links, text_links = _sent_links(db, config, edition_id)
    assert len(set(html_links)) == len(targets) == len(set(text_links))
    assert set(html_links) == set(text_links)
    assert {verify_click(SECRET, link.rsplit("/", 1)[1])[:2] for link in text_links} == {
        (edition_id, item_id) for item_id in targets}
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None
        html_part, text_part = clicks.as_sent(row, config, secret_key=SECRET)
        stored_html = row.html
    for part in (html_part, text_part):
        assert "{{click" not in part and READER_TOKEN not in part
        assert "{{unsubscribe_url}}" in part  # the unsubscribe link is the channel's, never wrapped
    assert f'{config.edition.public_url}editions/' in html_part  # "view in browser" is not wrapped either
    assert "{{click:" in stored_html  # what approval binds to holds no key and no token


def test_the_content_hash_does_not_depend_on_the_key_and_the_preview_shows_the_destination(
        db: Database, tmp_path: Path) -> None:
    _, config, edition_id, targets, _ = _site(db, tmp_path)
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None
        shown_html, shown_text = clicks.as_shown(session, row, config)
        first = signed_links(row.text, public_url=str(config.edition.public_url), secret_key="a", edition_id=1)
        second = signed_links(row.text, public_url=str(config.edition.public_url), secret_key="b", edition_id=1)
    assert first != second  # signed at send with the key of the day; the stored email (and its hash) is neither
    for url in targets.values():
        assert url in shown_text and url.replace("&", "&amp;") in shown_html
    assert "/r/" not in shown_text
    # a marker for an item the ledger no longer has goes to the public site, never stays a marker
    assert direct_links("x http://127.0.0.1:8000/r/{{click:999}} y", public_url="http://127.0.0.1:8000",
                        targets={}, escape=False) == "x http://127.0.0.1:8000 y"


# ---------------------------------------------------------------- the redirect


def _count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.coalesce(func.sum(ClickRow.clicks), 0))) or 0)


def test_a_click_counts_and_redirects_at_once_without_cookie_or_cache(db: Database, tmp_path: Path) -> None:
    client, config, edition_id, targets, _ = _site(db, tmp_path)
    item_id, url = next(iter(targets.items()))
    token = click_token(SECRET, edition_id=edition_id, item_id=item_id)
    response = client.get(f"/r/{token}", headers={"User-Agent": BROWSER}, follow_redirects=False)
    assert response.status_code == 302 and response.headers["location"] == url
    assert "set-cookie" not in response.headers and not response.content
    assert "no-store" in response.headers["cache-control"] and response.headers["referrer-policy"] == "no-referrer"
    assert client.cookies == {} or not dict(client.cookies)
    assert "utm_campaign=" in url  # the edition's UTM tags, as the article link always had
    with db.session() as session:
        counts = {c.item_id: c for c in clicks.click_counts(session, edition_id)}
    assert counts[item_id].clicks == 1 and counts[item_id].readers is None
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ReaderClickRow)) == 0


def test_head_scanners_and_test_sends_redirect_but_count_nothing(db: Database, tmp_path: Path) -> None:
    client, _, edition_id, targets, _ = _site(db, tmp_path)
    item_id, url = next(iter(targets.items()))
    path = f"/r/{click_token(SECRET, edition_id=edition_id, item_id=item_id)}"
    assert client.head(path, headers={"User-Agent": BROWSER}, follow_redirects=False).headers["location"] == url
    for agent in ("", "Mozilla/5.0 (compatible; Barracuda Sentinel)", "python-requests/2.32", "Slackbot-LinkExpanding",
                  "Mozilla/5.0 (compatible; bingbot/2.0)", "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook)"):
        response = client.get(path, headers={"User-Agent": agent}, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (302, url), agent
    assert _count(db) == 0


def test_a_test_send_link_redirects_but_counts_nothing_until_the_edition_is_sent(db: Database, tmp_path: Path) -> None:
    client, _, edition_id, targets, _ = _site(db, tmp_path, status=EditionStatus.APPROVED)
    item_id, url = next(iter(targets.items()))
    response = client.get(f"/r/{click_token(SECRET, edition_id=edition_id, item_id=item_id)}",
                          headers={"User-Agent": BROWSER}, follow_redirects=False)
    assert response.headers["location"] == url and _count(db) == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tail=st.sampled_from(["https://evil.example/", "//evil.example", "%2F%2Fevil.example", "https:evil.example",
                             "3.1.AAAAAAAAAAAA?next=https://evil.example", "..%2F..%2Flogin", "\\\\evil.example"])
       | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#\\"),
                                max_size=60))
def test_forged_tokens_and_open_redirect_attempts_land_on_the_site(sqlite_db: Database, tmp_path: Path,
                                                                   tail: str) -> None:
    if not hasattr(sqlite_db, "_client"):
        sqlite_db._client = _site(sqlite_db, tmp_path)[0]  # type: ignore[attr-defined]
    client: TestClient = sqlite_db._client  # type: ignore[attr-defined]
    response = client.get(f"/r/{tail}", headers={"User-Agent": BROWSER}, follow_redirects=False)
    if response.status_code == 404:  # the path did not reach the route at all ("" or a dot segment)
        return
    assert (response.status_code, response.headers["location"]) == (302, SITE), tail
    assert _count(sqlite_db) == 0


def test_a_genuine_token_for_an_item_the_edition_does_not_carry_lands_on_the_site(db: Database, tmp_path: Path) -> None:
    client, _, edition_id, targets, _ = _site(db, tmp_path)
    for edition, item in ((edition_id, max(targets) + 1000), (edition_id + 50, min(targets))):
        response = client.get(f"/r/{click_token(SECRET, edition_id=edition, item_id=item)}",
                              headers={"User-Agent": BROWSER}, follow_redirects=False)
        assert response.headers["location"] == SITE
    assert _count(db) == 0


def test_by_default_a_reader_token_is_ignored_and_nobody_is_named(db: Database, tmp_path: Path) -> None:
    client, _, edition_id, targets, _ = _site(db, tmp_path)
    item_id = next(iter(targets))
    token = click_token(SECRET, edition_id=edition_id, item_id=item_id) + reader_suffix(
        SECRET, edition_id=edition_id, subscriber_id=1)
    assert client.get(f"/r/{token}", headers={"User-Agent": BROWSER}, follow_redirects=False).status_code == 302
    pixel = client.get(f"/o/{edition_id}" + reader_suffix(SECRET, edition_id=edition_id, subscriber_id=1),
                       headers={"User-Agent": BROWSER})
    assert pixel.headers["content-type"] == "image/gif" and "no-store" in pixel.headers["cache-control"]
    assert _count(db) == 1
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ReaderClickRow)) == 0
        assert session.scalar(select(func.count()).select_from(ReaderOpenRow)) == 0


def test_default_emails_carry_no_notice_no_reader_token_and_no_pixel(db: Database, tmp_path: Path) -> None:
    _, config, edition_id, _, _ = _site(db, tmp_path)
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None
        html_part, text_part = clicks.as_sent(row, config, secret_key=SECRET)
        assert not carries_notice(row.text, Tracking(per_reader_clicks=True).notice_text)
    assert READER_TOKEN not in html_part + text_part and "/o/" not in html_part


def test_opt_in_per_reader_clicks_pixel_and_the_footer_notice(db: Database, tmp_path: Path) -> None:
    notice = "We count which links you follow and whether you opened this email, per reader."
    tracking = Tracking(per_reader_clicks=True, open_pixel=True, notice=notice, flush_seconds=0)
    client, config, edition_id, targets, _ = _site(db, tmp_path, tracking)
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None
        assert notice in row.html and carries_notice(row.text, notice)  # in both parts of the email staff approve
        html_part, text_part = clicks.as_sent(row, config, secret_key=SECRET)
        reader_id = session.scalars(select(SubscriberRow.id).order_by(SubscriberRow.id)).first()
        assert reader_id is not None
    reader = Recipient(subscriber_id=reader_id, email="reader1@example.org",
                       reader=reader_suffix(SECRET, edition_id=edition_id, subscriber_id=reader_id))
    personal_html, personal_text = personalise(html_part, reader, "html"), personalise(text_part, reader, "text")
    link = re.search(r"http://127\.0\.0\.1:8000(/r/[^\s\"]+)", personal_text)
    pixel = re.search(r'src="http://127\.0\.0\.1:8000(/o/[^"]+)"', personal_html)
    assert link and pixel
    assert client.get(link[1], headers={"User-Agent": BROWSER}, follow_redirects=False).headers["location"] in \
        targets.values()
    assert client.get(pixel[1], headers={"User-Agent": BROWSER}).status_code == 200
    with db.session() as session:
        assert [(r.subscriber_id, r.clicks) for r in session.scalars(select(ReaderClickRow))] == [(reader_id, 1)]
        assert clicks.open_counts(session, edition_id) == clicks.Opens(opens=1, readers=1)
        assert sum(c.readers or 0 for c in clicks.click_counts(session, edition_id)) == 1


def test_tracking_turned_on_after_approval_names_nobody_without_the_notice(db: Database, tmp_path: Path) -> None:
    _, config, edition_id, _, _ = _site(db, tmp_path)  # built and approved with tracking off: no notice
    later = config.model_copy(update={"tracking": Tracking(per_reader_clicks=True, open_pixel=True)})
    with db.session() as session:
        row = session.get(EditionRow, edition_id)
        assert row is not None
        html_part, text_part = clicks.as_sent(row, later, secret_key=SECRET)
    assert READER_TOKEN not in html_part + text_part and "/o/" not in html_part


def test_clicks_counted_in_memory_are_written_when_the_app_stops(db: Database, tmp_path: Path) -> None:
    client, _, edition_id, targets, app = _site(db, tmp_path, Tracking(flush_seconds=30))
    item_id = next(iter(targets))
    with client:  # runs the app's startup and shutdown
        for _ in range(5):
            client.get(f"/r/{click_token(SECRET, edition_id=edition_id, item_id=item_id)}",
                       headers={"User-Agent": BROWSER}, follow_redirects=False)
        assert _count(db) == 0 and app.state.click_counter.pending == 5  # type: ignore[attr-defined]
    assert _count(db) == 5 and app.state.click_counter.pending == 0  # type: ignore[attr-defined]


def test_tracking_config_defaults_name_nobody() -> None:
    tracking = Tracking()
    assert (tracking.count_clicks, tracking.per_reader_clicks, tracking.open_pixel) == (True, False, False)
    assert not tracking.identifies_readers and tracking.notice_text == ""
    assert "follows" in Tracking(per_reader_clicks=True).notice_text
    assert "opens" in Tracking(open_pixel=True).notice_text and "follows" not in Tracking(open_pixel=True).notice_text
    assert Tracking(open_pixel=True, notice=" Our  words. ").notice_text == "Our words."


# ---------------------------------------------------------------- through a real send


def _send(db: Database, tmp_path: Path, tracking: Tracking) -> tuple[Config, int, list[dict[str, object]]]:
    from flows.stages.deliver import deliver_edition
    from state import ledger
    from tests.fakes.fake_sendgrid import FakeSendGrid
    from tests.helpers.staff import add_staff_rows

    config = desk_data.example_config(tmp_path).model_copy(update={"tracking": tracking})
    edition_id = desk_data.seed_edition(db, config, now=NOW)
    desk_data.seed_subscribers(db, 3, now=NOW)
    with db.session() as session:
        add_staff_rows(session, {"editor@example.org": "approver"})
        ledger.approve(session, "edition", edition_id, by="editor@example.org", now=NOW)
    with FakeSendGrid(api_key="SG.test") as fake:
        from connectors.channels.sendgrid import SendGridChannel

        summary = deliver_edition(db, config, now=NOW, edition_id=edition_id, secret_key=SECRET,
                                  channel=SendGridChannel("SG.test", host=fake.url, timeout_s=5))
        assert summary.sent, summary.message
        return config, edition_id, list(fake.bodies)


def test_a_default_send_carries_signed_links_and_names_nobody(db: Database, tmp_path: Path) -> None:
    _, edition_id, bodies = _send(db, tmp_path, Tracking(flush_seconds=0))
    content = {part["type"]: part["value"] for part in bodies[0]["content"]}  # type: ignore[union-attr]
    tokens = re.findall(r"/r/([^\s\"<]+)", content["text/plain"])
    assert tokens and all(verify_click(SECRET, token)[0::2] == (edition_id, None) for token in tokens)
    assert READER_TOKEN not in content["text/html"] and "/o/" not in content["text/html"]
    for person in bodies[0]["personalizations"]:  # type: ignore[union-attr]
        assert READER_TOKEN not in person["substitutions"]


def test_an_opted_in_send_names_each_reader_in_their_links_and_pixel(db: Database, tmp_path: Path) -> None:
    config, edition_id, bodies = _send(db, tmp_path, Tracking(per_reader_clicks=True, open_pixel=True,
                                                              flush_seconds=0))
    content = {part["type"]: part["value"] for part in bodies[0]["content"]}  # type: ignore[union-attr]
    link = re.search(r"http://127\.0\.0\.1:8000(/r/[^\s\"<]+)", content["text/plain"])
    assert link and link[1].endswith(READER_TOKEN) and content["text/html"].count("/o/") == 1
    client = TestClient(create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW))
    for person in bodies[0]["personalizations"]:  # type: ignore[union-attr]
        reader = person["substitutions"][READER_TOKEN]
        subscriber_id = int(person["custom_args"]["subscriber_id"])
        assert reader == reader_suffix(SECRET, edition_id=edition_id, subscriber_id=subscriber_id)
        path = link[1].replace(READER_TOKEN, reader)
        assert client.get(path, headers={"User-Agent": BROWSER}, follow_redirects=False).status_code == 302
    with db.session() as session:
        readers = sorted(row.subscriber_id for row in session.scalars(select(ReaderClickRow)))
        assert readers == sorted(int(p["custom_args"]["subscriber_id"])  # type: ignore[index]
                                 for p in bodies[0]["personalizations"])  # type: ignore[union-attr]


def test_clicks_and_opens_never_reach_the_access_log() -> None:
    import logging

    import uvicorn

    from web.access_log import quiet_tokens

    uvicorn.Config("web.app:create_app", log_level="info")  # uvicorn configures its loggers, as `syndicate web` does
    quiet_tokens()
    logger = logging.getLogger("uvicorn.access")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    keeper = Keep()
    logger.addHandler(keeper)
    try:
        token = click_token(SECRET, edition_id=3, item_id=4) + reader_suffix(SECRET, edition_id=3, subscriber_id=5)
        for path in (f"/r/{token}", f"/o/3{reader_suffix(SECRET, edition_id=3, subscriber_id=5)}", "/r/x?y=1",
                     "/editions/2026-12-03"):
            # exactly uvicorn's call (uvicorn/protocols/http/httptools_impl.py)
            logger.info('%s - "%s %s HTTP/%s" %d', "203.0.113.9:5000", "GET", path, "1.1", 302)
    finally:
        logger.removeHandler(keeper)
    assert lines == ['203.0.113.9:5000 - "GET /editions/2026-12-03 HTTP/1.1" 302']
