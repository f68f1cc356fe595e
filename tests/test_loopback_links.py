"""Links that point at this machine (`edition.public_url` on loopback) are fine for the outbox,
but a build or an approval warns, on the desk and in the CLI, once a real channel is set up."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from connectors.channels.reach import is_loopback, loopback_warning, real_channels
from flows.stages.edition import build_next_edition
from state.models import EditionRow
from tests.helpers import desk_data
from web.app import create_app

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"
SENDGRID = {"SENDGRID_API_KEY": "SG.test-key", "SENDGRID_API_HOST": "http://127.0.0.1:9"}


def _with(config, *, public_url: str | None = None, provider: str | None = None):
    edition = config.edition.model_copy(update={"public_url": public_url}) if public_url else config.edition
    email = config.email.model_copy(update={"provider": provider}) if provider else config.email
    return config.model_copy(update={"edition": edition, "email": email})


def test_loopback_hosts_are_recognised_and_others_are_not() -> None:
    for url in ("http://127.0.0.1:8000", "http://localhost/", "http://LOCALHOST.:8080/x", "http://[::1]:8000",
                "http://127.8.9.10/", "http://desk.localhost/"):
        assert is_loopback(url), url
    for url in ("https://news.example.org", "http://10.0.0.5:8000", "http://localhost.example.org/", "http://[::2]/"):
        assert not is_loopback(url), url


@given(st.ip_addresses())
def test_an_ip_address_is_loopback_exactly_when_python_says_so(address) -> None:
    host = f"[{address}]" if address.version == 6 else str(address)
    assert is_loopback(f"http://{host}:8000/") == address.is_loopback


def test_no_warning_for_the_outbox_or_a_public_address(tmp_path) -> None:
    config = desk_data.example_config(tmp_path)
    assert real_channels(config, {}) == [] and loopback_warning(config, {}) is None
    public = _with(config, public_url="https://news.example.org", provider="sendgrid")
    assert loopback_warning(public, SENDGRID) is None


def test_sendgrid_with_its_key_and_a_loopback_public_url_warns_with_what_to_fix(tmp_path) -> None:
    config = _with(desk_data.example_config(tmp_path), provider="sendgrid")
    warning = loopback_warning(config, SENDGRID)
    assert warning is not None
    assert "edition.public_url is http://127.0.0.1:8000" in warning and "SendGrid is set up" in warning
    assert "Set edition.public_url in syndicate.toml" in warning
    assert loopback_warning(config, {}) is None  # sendgrid chosen but no key: the outbox, nobody reached


def test_a_build_with_a_real_channel_and_loopback_links_carries_the_warning(db, tmp_path) -> None:
    config = _with(desk_data.example_config(tmp_path), provider="sendgrid")
    desk_data.seed_items(db, config, now=NOW)
    with db.session() as session:
        result = build_next_edition(session, config, now=NOW, env=SENDGRID)
    assert result.edition_id is not None
    assert any(w.startswith("edition.public_url is http://127.0.0.1:8000") for w in result.warnings)
    with db.session() as session:
        assert any("SendGrid is set up" in w for w in session.get(EditionRow, result.edition_id).warnings)


def test_the_desk_shows_the_warning_after_an_approval(db, tmp_path) -> None:
    config = _with(desk_data.example_config(tmp_path), provider="sendgrid")
    edition_id = desk_data.seed_edition(db, config, now=NOW)
    desk_data.seed_staff(db, "ap@example.org", "approver", now=NOW)
    for env, expected in ((SENDGRID, True), ({}, False)):
        app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env=env)
        client = TestClient(app)
        assert desk_data.sign_in(client, "ap@example.org").status_code == 303
        page = " ".join(client.get(f"/desk/editions/{edition_id}?done=approved").text.split())
        assert ("Check before it goes out:" in page and "SendGrid is set up" in page) is expected
        threads = " ".join(client.get("/desk/threads?done=approved").text.split())
        assert ("SendGrid is set up" in threads) is expected


def test_a_network_with_credentials_counts_as_a_real_channel(tmp_path) -> None:
    config = desk_data.example_config(tmp_path)  # X enabled in the example; email to the outbox
    x = {"X_API_KEY": "ck", "X_API_SECRET": "cs", "X_ACCESS_TOKEN": "at", "X_ACCESS_TOKEN_SECRET": "ats"}
    assert real_channels(config, x) == ["X"]
    warning = loopback_warning(_with(config, provider="sendgrid"), {**x, **SENDGRID})
    assert warning is not None and "SendGrid and X are set up" in warning
