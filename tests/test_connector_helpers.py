"""The small helpers every connector shares: waits from headers, secret masking, web URLs,
and how `find_post` compares texts."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compose.urls import is_web_url
from connectors.channels.base import comparable_text
from connectors.redact import SecretFilter
from connectors.retry_after import reset_in_s, retry_after_s

NOW = 1_767_268_800.0  # 2026-01-01T12:00:00Z


@pytest.mark.parametrize(("value", "wait"), [
    ("120", 120.0), (" 7 ", 7.0), ("Thu, 01 Jan 2026 12:01:30 GMT", 90.0),
    ("Thu, 01 Jan 2026 11:00:00 GMT", 0.0),  # a date already past: no wait, never negative
    ("garbage", None), ("", None), (None, None), ("-5", None), ("1.5", None),
])
def test_retry_after_is_delta_seconds_or_an_http_date(value: str | None, wait: float | None) -> None:
    assert retry_after_s(value, now=NOW) == wait


@pytest.mark.parametrize(("value", "wait"), [
    (str(int(NOW) + 300), 300.0), ("2026-01-01T12:02:00.000Z", 120.0), ("2026-01-01T12:02:00+00:00", 120.0),
    ("2026-01-01T11:59:00Z", -60.0),  # past: the caller applies its floor
    ("soon", None), ("", None), (None, None), ("nan", None), ("inf", None),
])
def test_a_reset_is_epoch_seconds_or_an_iso_time(value: str | None, wait: float | None) -> None:
    assert reset_in_s(value, now=NOW) == wait


def test_the_secret_filter_masks_every_secret_and_detaches(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.some_client_library")
    masking = SecretFilter(["s3cret", "t0ken", ""], mask="***").attach(logger.name)
    with caplog.at_level(logging.DEBUG):
        logger.debug("Authorization: Bearer %s; oauth_token=%s", "s3cret", "t0ken")
        masking.detach()
        logger.debug("after: %s", "s3cret")
    assert caplog.messages == ["Authorization: Bearer ***; oauth_token=***", "after: s3cret"]


@pytest.mark.parametrize(("url", "web"), [
    ("https://example.org/a", True), ("http://127.0.0.1:8000/", True), ("HTTP://EXAMPLE.ORG", True),
    ("https:///no-host", False), ("mailto:a@example.org", False), ("javascript:alert(1)", False),
    ("ftp://example.org/f", False), ("http://[bad", False), ("/relative", False), ("", False),
])
def test_a_web_url_is_http_or_https_with_a_host(url: str, web: bool) -> None:
    assert is_web_url(url) is web


@given(st.sampled_from(["http://", "https://", "HTTP://", "http:/", "ftp://", "", "http://:", "https://@"]),
       st.text(alphabet="aZ09.-:/?#@[]% \t\n\x00é", max_size=14))
def test_the_fast_path_agrees_with_urlsplit(scheme: str, rest: str) -> None:
    """is_web_url decides plain links without urlsplit: always as urlsplit would."""
    url = scheme + rest
    try:
        parts = urlsplit(url)
        expected = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        expected = False
    assert is_web_url(url) is expected


def test_comparable_text_is_nfc_with_whitespace_collapsed() -> None:
    assert comparable_text("Cafe\u0301  and\n\nmore\t") == comparable_text("Café and more") == "Café and more"
