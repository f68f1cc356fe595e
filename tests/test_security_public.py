"""Attacks from issue 13, rows 10-12: flooding an inbox through /subscribe, probing who subscribes,
mail scanners confirming sign-ups with a GET, and tokens in the access log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from compose.signing import confirm_token, unsubscribe_token
from state.models import SubscriberRow
from tests.helpers import desk_data
from web.access_log import TokenFilter, quiet_tokens, redact
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture
def app(sqlite_db, tmp_path):  # type: ignore[no-untyped-def]
    config = desk_data.example_config(tmp_path)
    app = create_app(config=config, db=sqlite_db, secret_key=SECRET, now=desk_data.Clock(NOW), env={})
    desk_data.seed_subscribers(sqlite_db, 1, now=NOW)  # reader1@example.org is active
    return app


def _outbox(app) -> Path:  # type: ignore[no-untyped-def]
    return Path(app.state.syndicate.config.email.outbox_dir) / "email" / "confirmations"


def _post(client: TestClient, address: str, name: str = ""):  # type: ignore[no-untyped-def]
    token = desk_data.csrf_from(client.get("/subscribe").text)
    return client.post("/subscribe", data={"csrf_token": token, "email": address, "name": name})


def _emails_sent(app, client: TestClient, address: str, posts: int) -> int:  # type: ignore[no-untyped-def]
    sent = 0
    for _ in range(posts):
        for old in _outbox(app).glob("*.eml") if _outbox(app).exists() else ():
            old.unlink()
        assert _post(client, address).status_code == 200
        sent += len(list(_outbox(app).glob("*.eml"))) if _outbox(app).exists() else 0
    return sent


def test_five_posts_for_one_address_send_at_most_three_confirmations(app):
    # from five different clients, as a flood would come
    sent = sum(_emails_sent(app, TestClient(app, client=(f"192.0.2.{n}", 5000)), "victim@example.org", 1)
               for n in range(5))
    assert sent == 3


def test_one_client_is_throttled_across_addresses(app):
    client = TestClient(app, client=("192.0.2.77", 5000))
    statuses = [_post(client, f"person{n}@example.org").status_code for n in range(12)]
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]
    assert "try again" in _post(client, "late@example.org").text
    assert _post(TestClient(app, client=("192.0.2.78", 5000)), "other@example.org").status_code == 200


def test_known_and_unknown_addresses_get_the_same_answer(app):
    known = _post(TestClient(app), "reader1@example.org")
    unknown = _post(TestClient(app), "stranger@example.org")
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("reader1@example.org", "X") == unknown.text.replace("stranger@example.org", "X")


def test_a_get_on_a_confirmation_link_confirms_nothing_only_the_button_does(app, sqlite_db):
    client = TestClient(app)
    _post(client, "new@example.org")
    with sqlite_db.session() as session:
        sid = session.query(SubscriberRow).filter_by(email="new@example.org").one().id
    token = confirm_token(SECRET, subscriber_id=sid, email="new@example.org", now=NOW)
    for _ in range(3):  # a mail scanner following the link, repeatedly
        page = TestClient(app).get(f"/confirm/{token}")
        assert page.status_code == 200 and 'method="post"' in page.text
    assert _status(sqlite_db, sid) == "pending"
    assert TestClient(app).post(f"/confirm/{token}").status_code == 403  # no CSRF token: not from the page
    assert _status(sqlite_db, sid) == "pending"
    page = client.get(f"/confirm/{token}")
    confirmed = client.post(f"/confirm/{token}", data={"csrf_token": desk_data.csrf_from(page.text)})
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
    assert _status(sqlite_db, sid) == "active"
    assert TestClient(app).get(f"/confirm/{token[:-3]}abc").status_code == 400


def _status(db, sid: int) -> str:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return session.get(SubscriberRow, sid).status


# --- row 12: tokens in the access log ---------------------------------------------------------------------------------


def test_tokens_are_redacted_from_the_access_log_as_uvicorn_writes_it(app, caplog):
    unsubscribe = unsubscribe_token(SECRET, subscriber_id=1, edition_id=None, now=NOW)
    uvicorn.Config(app, log_level="info")  # uvicorn configures its loggers here, as `syndicate web` does
    token_filter = quiet_tokens()
    assert quiet_tokens() is token_filter  # installed once
    logger = logging.getLogger("uvicorn.access")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    keeper = Keep()
    logger.addHandler(keeper)
    try:
        for path in (f"/unsubscribe/{unsubscribe}", "/setup/abcDEF123_-x", "/confirm/tok.en-1?x=1",
                     "/websub/0123456789abcdef", "/desk/editions/3"):
            # exactly uvicorn's call (uvicorn/protocols/http/h11_impl.py)
            logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200)
    finally:
        logger.removeHandler(keeper)
    joined = "\n".join(lines)
    assert unsubscribe not in joined and "abcDEF123" not in joined and "tok.en-1" not in joined
    assert "0123456789abcdef" not in joined
    assert "/unsubscribe/[token]" in joined and "/confirm/[token]?x=1" in joined and "/desk/editions/3" in joined
    assert isinstance(token_filter, TokenFilter)


def test_redact_leaves_paths_without_tokens_alone():
    assert redact("/editions/2026-11-26") == "/editions/2026-11-26"
    assert redact("/setup/") == "/setup/"
