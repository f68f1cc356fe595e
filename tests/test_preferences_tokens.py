"""The preference link's token (compose/signing.py): bound to the subscriber and their address (any
case), expiring after `TokenPolicy.preferences_max_age`, refused when altered or made with another
key; one token per reader in a batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compose.signing import (
    ExpiredToken,
    ForgedToken,
    TokenPolicy,
    preferences_subscriber,
    preferences_token,
    preferences_tokens,
    preferences_url,
    verify_preferences,
)

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
KEY = "test-secret-key-0123456789abcdef"


@given(subscriber_id=st.integers(min_value=0, max_value=2**40), email=st.emails())
def test_a_token_names_its_reader_for_their_address_in_any_case(subscriber_id: int, email: str) -> None:
    token = preferences_token(KEY, subscriber_id=subscriber_id, email=email, now=NOW)
    assert preferences_subscriber(token) == subscriber_id
    assert verify_preferences(KEY, token, email=email.upper(), now=NOW + timedelta(days=300)) == subscriber_id
    with pytest.raises(ForgedToken):
        verify_preferences(KEY, token, email="x" + email, now=NOW)
    with pytest.raises(ForgedToken):
        verify_preferences("another-secret-key-0123456789", token, email=email, now=NOW)


def test_an_old_token_expires_and_an_altered_one_is_refused() -> None:
    token = preferences_token(KEY, subscriber_id=7, email="a@example.org", now=NOW)
    later = NOW + TokenPolicy.preferences_max_age + timedelta(seconds=1)
    with pytest.raises(ExpiredToken, match="expired"):
        verify_preferences(KEY, token, email="a@example.org", now=later)
    ident, issued, signature = token.split(".")
    for bad in (f"8.{issued}.{signature}", f"{ident}.{issued}z.{signature}", f"{ident}.{issued}.{signature[:-1]}A",
                token + ".x", "", "é" * 10, "0" * 70):
        with pytest.raises(ForgedToken):
            verify_preferences(KEY, bad, email="a@example.org", now=NOW)


def test_a_batch_gives_each_reader_their_own_token() -> None:
    readers = [(1, "a@example.org"), (2, "b@example.org"), (3, "c@example.org")]
    tokens = preferences_tokens(KEY, readers=readers, now=NOW)
    assert len(set(tokens)) == 3
    assert [verify_preferences(KEY, t, email=e, now=NOW) for t, (_, e) in zip(tokens, readers, strict=True)] == [1, 2, 3]
    assert preferences_url("https://news.example.org/", tokens[0]) == f"https://news.example.org/preferences/{tokens[0]}"
    assert len(tokens[0]) < 40  # short enough for a plain-text footer line


def test_the_access_log_never_shows_a_preference_token() -> None:
    from web.access_log import redact

    token = preferences_token(KEY, subscriber_id=7, email="a@example.org", now=NOW)
    line = f'127.0.0.1:5000 - "POST /preferences/{token} HTTP/1.1" 200'
    assert redact(line) == '127.0.0.1:5000 - "POST /preferences/[token] HTTP/1.1" 200'
