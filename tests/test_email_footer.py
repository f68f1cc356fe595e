"""The footer names the organisation once, and "Hello there," is the one greeting without a name."""

from __future__ import annotations

import html
import re

from hypothesis import given
from hypothesis import strategies as st

from compose.email import GREETING_FALLBACK, greeting_name, postal_line, render_email, render_text
from connectors.channels.base import first_name
from tests.test_email import _config, _edition


def _plain(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def test_an_address_that_opens_with_the_name_is_not_preceded_by_it_again() -> None:
    address = "Socitm Ltd, 8a Basset Court, Loake Close, Grange Park, Northampton NN4 5EZ, United Kingdom"
    assert postal_line("Socitm", address) == address
    assert postal_line("socitm ltd", address) == address
    assert postal_line("Example", "1 Example Court, Northampton") == "Example, 1 Example Court, Northampton"
    assert postal_line("Soc", "Socitm Ltd, 8a Basset Court") == "Soc, Socitm Ltd, 8a Basset Court"  # a word, not a prefix


def test_the_rendered_footer_says_the_name_once_in_both_parts() -> None:
    config = _config(organisation={"name": "Socitm", "postal_address": "Socitm Ltd, 8a Basset Court, Northampton NN4 5EZ"})
    edition = _edition(config=config)
    rendered = render_email(edition, config=config)
    for part in (_plain(rendered.html), render_text(edition, config=config)):
        assert "Socitm Ltd, 8a Basset Court" in " ".join(part.split())
        assert "Socitm, Socitm Ltd" not in " ".join(part.split())


@given(name=st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
       address=st.text(st.characters(blacklist_categories=("Cs",)), min_size=5, max_size=60))
def test_the_postal_line_always_holds_the_whole_address_and_the_name_at_most_once_more(name: str, address: str) -> None:
    line = postal_line(name, address)
    tidy_address = " ".join(address.split())
    assert line.endswith(tidy_address)
    assert line in (tidy_address, f"{' '.join(name.split())}, {tidy_address}")


def test_one_greeting_rule_for_channels_previews_and_archive() -> None:
    assert first_name is greeting_name
    assert greeting_name("") == greeting_name("   ") == GREETING_FALLBACK == "there"
    assert greeting_name("  Ada Lovelace ") == "Ada"


def test_desk_pages_and_the_confirmation_email_name_the_organisation_once(db, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from tests.helpers import desk_data
    from web.app import create_app

    config = desk_data.example_config(tmp_path)  # Socitm, at "Socitm Ltd, 8a Basset Court, ..."
    app = create_app(config=config, db=db, secret_key="footer-test-secret-key-0123456789", env={})
    page = " ".join(TestClient(app).get("/subscribe").text.split())
    assert "Socitm Ltd, 8a Basset Court" in page and "Socitm · Socitm Ltd" not in page
