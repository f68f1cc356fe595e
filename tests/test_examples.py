"""The bundled example: the demo site, its config and sample subscribers stay valid together.

`syndicate demo` gathers `examples/site/` through `examples/syndicate.toml`; these tests make
sure the config validates, the feeds and the listing page parse into the expected items, and
every item link is an absolute https URL on the organisation's site.
"""

from __future__ import annotations

import csv
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest
from email_validator import EmailNotValidError, validate_email
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from compose.config import Config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SITE = EXAMPLES / "site"
ORG_HOST = "www.socitm.net"
DEMO_ORIGIN = "http://127.0.0.1:8642"  # placeholder origin that `syndicate demo` rewrites
RFC2606_DOMAINS = ("example.com", "example.org", "example.net")
EXPECTED_ENTRIES = {"news": 6, "blogs": 3, "publications": 4}
MAX_EXAMPLE_BYTES = 60_000


@pytest.fixture(scope="module")
def config() -> Config:
    with (EXAMPLES / "syndicate.toml").open("rb") as handle:
        return Config.model_validate(tomllib.load(handle))


def _site_file(url: str) -> Path:
    """The file under examples/site/ that a demo-server URL serves."""
    assert url.startswith(DEMO_ORIGIN + "/"), url
    return SITE / urlsplit(url).path.lstrip("/")


def _feed(config: Config, name: str) -> feedparser.FeedParserDict:
    source = next(source for source in config.sources if source.name == name)
    return feedparser.parse(_site_file(str(source.url)).read_bytes())


def _assert_org_https(url: str) -> None:
    parts = urlsplit(url)
    assert parts.scheme == "https", url
    assert parts.netloc == ORG_HOST, url


def test_config_validates_with_three_sections_and_sources(config: Config) -> None:
    assert [section.key for section in config.sections] == ["news", "blogs", "publications"]
    assert [section.title for section in config.sections] == ["News", "Blogs", "Publications"]
    assert {source.name: source.kind for source in config.sources} == {
        "news": "feed",
        "blogs": "feed",
        "publications": "html",
    }
    assert config.email.provider == "outbox"
    assert config.social.x.enabled
    assert set(config.social.hashtags) == {"#localgov", "#digital"}
    for section in config.sections:
        _assert_org_https(str(section.url))


def test_every_source_points_at_a_file_of_the_demo_site(config: Config) -> None:
    for source in config.sources:
        assert _site_file(str(source.url)).is_file(), source.url


def test_config_uses_reserved_example_domains_for_email(config: Config) -> None:
    for address in (config.edition.from_email, config.edition.reply_to):
        assert address.rsplit("@", 1)[1].endswith(".example"), address


@pytest.mark.parametrize(("name", "version"), [("news", "rss20"), ("blogs", "atom10")])
def test_feed_parses_cleanly_with_expected_entries(config: Config, name: str, version: str) -> None:
    parsed = _feed(config, name)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == version
    assert len(parsed.entries) == EXPECTED_ENTRIES[name]
    titles = [entry.title for entry in parsed.entries]
    assert len(set(entry.link for entry in parsed.entries)) == len(titles)
    for entry in parsed.entries:
        assert entry.title.strip()
        assert entry.get("summary", "").lstrip().startswith("<p>"), entry.title
        _assert_org_https(entry.link)


@pytest.mark.parametrize("name", ["news", "blogs"])
def test_feed_dates_are_distinct_and_in_late_2018(config: Config, name: str) -> None:
    parsed = _feed(config, name)
    dates = [datetime(*entry.published_parsed[:6], tzinfo=UTC) for entry in parsed.entries]
    assert len(set(dates)) == len(dates)
    assert all(datetime(2018, 11, 1, tzinfo=UTC) <= when < datetime(2019, 1, 1, tzinfo=UTC) for when in dates)
    if name == "news":
        assert all(when.month == 12 for when in dates)


def test_news_feed_has_images_and_a_tracked_link(config: Config) -> None:
    entries = _feed(config, "news").entries
    images = [media["url"] for entry in entries for media in entry.get("media_content", [])]
    images += [link.href for entry in entries for link in entry.links if link.get("rel") == "enclosure"]
    assert len(images) >= 2
    for image in images:
        _assert_org_https(image)
    tracked = [
        entry.link
        for entry in entries
        if any(k.startswith("utm_") for k in parse_qs(urlsplit(entry.link).query))
    ]
    assert tracked, "at least one link must carry utm_* parameters to exercise canonicalisation"


def test_blogs_feed_names_its_authors(config: Config) -> None:
    entries = _feed(config, "blogs").entries
    assert all(entry.get("author") for entry in entries)
    assert sum(entry.author == "Max Salsbury" for entry in entries) == 2


def test_publications_page_yields_items_through_configured_selectors(config: Config) -> None:
    source = next(source for source in config.sources if source.kind == "html")
    selectors = source.selectors
    assert selectors is not None
    tree = HTMLParser(_site_file(str(source.url)).read_text(encoding="utf-8"))
    items = tree.css(selectors.item)
    assert len(items) == EXPECTED_ENTRIES["publications"]
    for node in items:
        title = node.css_first(selectors.title)
        link = node.css_first(selectors.link)
        assert title is not None and title.text(strip=True)
        assert link is not None
        _assert_org_https(link.attributes["href"] or "")
        assert selectors.date and selectors.summary
        date = node.css_first(selectors.date)
        assert date is not None
        assert datetime.fromisoformat(date.attributes["datetime"] or "").year == 2018
        summary = node.css_first(selectors.summary)
        assert summary is not None and summary.text(strip=True).endswith(".")
    with_images = [node.css_first(selectors.image or "img") for node in items]
    assert any(with_images), "some publications carry an image"
    for image in filter(None, with_images):
        _assert_org_https(image.attributes["src"] or "")


def test_home_page_advertises_both_feeds() -> None:
    tree = HTMLParser((SITE / "index.html").read_text(encoding="utf-8"))
    advertised = {
        node.attributes["type"]: node.attributes["href"] for node in tree.css('link[rel="alternate"]')
    }
    assert advertised == {"application/rss+xml": "/news/feed.xml", "application/atom+xml": "/blogs/atom.xml"}
    for href in advertised.values():
        assert (SITE / (href or "").lstrip("/")).is_file()


def test_subscribers_are_valid_addresses_on_reserved_domains() -> None:
    with (EXAMPLES / "subscribers.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["email", "name"]
        rows = list(reader)
    assert 5 <= len(rows) <= 8
    for row in rows:
        try:
            valid = validate_email(row["email"], check_deliverability=False)
        except EmailNotValidError as error:  # pragma: no cover - the message is the point
            pytest.fail(f"{row['email']!r}: {error}")
        assert valid.domain in RFC2606_DOMAINS
        assert row["name"].strip()
    assert len({row["email"].lower() for row in rows}) == len(rows)


def test_example_stays_small() -> None:
    total = sum(path.stat().st_size for path in EXAMPLES.rglob("*") if path.is_file())
    assert total < MAX_EXAMPLE_BYTES
