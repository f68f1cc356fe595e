"""Rendering the In Our View email: HTML (MJML via mjml-python) and the text part.

Golden files: tests/golden/edition.html and edition.txt hold the fixed Socitm sample edition
(tests/golden/fixture.json). Regenerate with SYNDICATE_REGEN_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import mjml
import pytest

from compose.config import Config
from compose.edition import build_edition
from compose.email import RECIPIENT_TOKENS, add_utm, mjml_to_html, render_email, render_mjml, render_text
from compose.models import Item
from compose.palette import Palette, contrast_ratio

GOLDEN = Path(__file__).resolve().parent / "golden"
FIXTURE = json.loads((GOLDEN / "fixture.json").read_text(encoding="utf-8"))
NOW = datetime.fromisoformat(FIXTURE["now"])
UTM = "utm_source=newsletter&utm_medium=email&utm_campaign=2026-11-26"


def _config(**changes: dict) -> Config:
    data = json.loads(json.dumps(FIXTURE["config"]))
    for key, value in changes.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return Config.model_validate(data)


def _items() -> list[Item]:
    return [Item(**{**raw, "published": datetime.fromisoformat(raw["published"])}) for raw in FIXTURE["items"]]


def _edition(items=None, config=None, **kwargs):
    kwargs.setdefault("intro_markdown", FIXTURE["intro_markdown"])
    kwargs.setdefault("featured_url", FIXTURE["featured_url"])
    return build_edition(
        _items() if items is None else items, config=config or _config(), now=NOW, slug=FIXTURE["slug"], **kwargs
    )


@pytest.fixture(scope="module")
def sample():
    edition = _edition()
    return edition, render_email(edition, config=_config())


def _hrefs(markup: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]*)"', markup)]


def test_sections_appear_in_order_with_their_titles(sample):
    _, rendered = sample
    positions = [rendered.html.index(f">{title}</h2>") for title in ("News", "Blogs", "Publications")]
    assert positions == sorted(positions)
    assert rendered.html.index("Council Co-Designed") < positions[0]  # the featured item leads


def test_every_item_link_is_present_with_utm_in_both_parts(sample):
    edition, rendered = sample
    hrefs = _hrefs(rendered.html)
    for item in (edition.featured, *edition.items):
        tagged = f"{item.url}?{UTM}"
        assert tagged in hrefs, item.title
        assert f"Read more: {tagged}" in rendered.text
    assert f"https://socitm.net/news/?{UTM}" in hrefs  # the "more on our site" link
    assert f"1 more news story on socitm.net: https://socitm.net/news/?{UTM}" in rendered.text


def test_recipient_tokens_stay_literal_and_unsubscribe_is_untagged(sample):
    edition, rendered = sample
    first_name, unsubscribe, preferences = RECIPIENT_TOKENS
    assert rendered.html.count(first_name) == 1 and rendered.text.count(first_name) == 1
    assert rendered.html.count(f'href="{unsubscribe}"') == 1
    assert f"Unsubscribe: {unsubscribe}\n" in rendered.text
    assert rendered.html.count(f'href="{preferences}"') == 1  # "Manage your preferences", beside it
    assert f"Manage your preferences: {preferences}\n" in rendered.text
    assert edition.web_url in _hrefs(rendered.html)  # view in browser, without UTM


def test_footer_has_address_reason_and_unsubscribe(sample):
    _, rendered = sample
    address = FIXTURE["config"]["organisation"]["postal_address"]
    for part in (rendered.html, rendered.text):
        assert address in html.unescape(part.replace("\n", " "))
        assert "because you subscribed to In Our View" in part.replace("\n", " ")
    assert rendered.text.index("Unsubscribe:") > rendered.text.index("Briefing 116")


def test_text_part_underlines_sections_and_writes_out_intro_links(sample):
    _, rendered = sample
    assert "News\n----\n" in rendered.text and "Publications\n------------\n" in rendered.text
    assert f"(https://socitm.net/events/share-digital/?{UTM})" in rendered.text
    assert "<" not in rendered.text  # built from the data, not scraped from the HTML


def test_html_is_english_accessible_and_light_and_dark(sample):
    _, rendered = sample
    assert '<html lang="en-GB"' in rendered.html
    assert '<meta name="color-scheme" content="light dark"' in rendered.html
    assert "@media (prefers-color-scheme: dark)" in rendered.html and "[data-ogsc] .dm-surface" in rendered.html
    assert re.search(r'<img src="[^"]*socitm-logo[^"]*" alt="Socitm"', rendered.html)
    for alt in re.findall(r'<img alt="([^"]*)"', rendered.html):
        assert alt.strip()
    assert "<h1" in rendered.html and "<h2" in rendered.html
    assert rendered.subject == "In Our View: 3 December 2026"  # built on Thursday 26 after the send: the next one
    assert rendered.preheader in html.unescape(rendered.html)


def test_hostile_titles_are_escaped_and_cannot_inject_tokens():
    items = _items()
    items[1] = dataclasses.replace(items[1], title="<script>alert('x')</script> {{ 7*7 }} {{unsubscribe_url}}")
    items[2] = dataclasses.replace(items[2], summary_text='"><img src=x onerror=alert(1)>')
    rendered = render_email(_edition(items), config=_config())
    assert "<script>alert" not in rendered.html and "onerror=alert(1)>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    shown = html.unescape(rendered.html)
    assert "</script> {{ 7*7 }} {{unsubscribe_url}}" in shown and "</script> 49" not in shown
    for part in (rendered.html, rendered.text):
        assert part.count("{{unsubscribe_url}}") == 1  # only the footer's own token
    assert "<script>alert('x')</script> {\u200b{ 7*7 }}" in rendered.text


def test_intro_markdown_is_sanitised():
    intro = 'Hi <img src=x onerror=alert(1)> [click](javascript:alert(1)) and [ok](https://socitm.net/a?b=1)'
    rendered = render_email(_edition(intro_markdown=intro), config=_config())
    assert "<img src=x" not in rendered.html and "&lt;img src=x" in rendered.html
    assert not [href for href in _hrefs(rendered.html) if not href.startswith(("https:", "{{"))]
    assert f"https://socitm.net/a?b=1&{UTM}" in _hrefs(rendered.html)


def test_utm_keeps_query_replaces_old_utm_and_can_be_disabled():
    config = _config()
    url = add_utm("https://socitm.net/x?page=2&utm_source=rss#top", campaign="2026-11-26", config=config)
    assert url == f"https://socitm.net/x?page=2&{UTM}#top"
    assert add_utm("mailto:hello@socitm.net", campaign="c", config=config) == "mailto:hello@socitm.net"
    off = _config(edition={"utm": {"enabled": False}})
    rendered = render_email(_edition(config=off), config=off)
    assert "utm_" not in rendered.html and "utm_" not in rendered.text


def test_branding_colours_and_footer_text_come_from_config():
    config = _config(branding={"primary_colour": "#5a1e6e", "accent_colour": "#1c7c54", "footer_text": "Footer from config"})
    rendered = render_email(_edition(config=config), config=config)
    assert "background:#5a1e6e" in rendered.html and "#1c7c54" in rendered.html
    assert "#0b3d6e" not in rendered.html
    assert "Footer from config" in rendered.html and "Footer from config" in rendered.text


@pytest.mark.parametrize(
    "branding",
    [{}, {"text_colour": "#aaaaaa", "primary_colour": "#7fb2e5", "background_colour": "#d0d0d0", "accent_colour": "#ffdd00"}],
)
def test_body_text_contrast_is_at_least_4_5(branding):
    config = _config(branding=branding)
    palette = Palette.from_branding(config.branding)
    pairs = [
        (palette.text, palette.surface), (palette.link, palette.surface), (palette.muted, palette.surface),
        (palette.heading, palette.surface), (palette.accent_text, palette.surface),
        (palette.on_primary, palette.primary), (palette.on_primary_muted, palette.primary),
        (palette.footer_text, palette.background),
    ]  # fmt: skip
    for foreground, background in pairs:
        assert contrast_ratio(foreground, background) >= 4.5, (foreground, background)
    rendered = render_email(_edition(config=config), config=config)
    assert f"color:{palette.text}" in rendered.html
    if branding:
        assert any("too light" in warning for warning in rendered.warnings)


def test_contrast_ratio_matches_wcag_reference_values():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the classic AA grey


def test_warns_about_missing_summaries(sample):
    _, rendered = sample
    assert any("no summary" in warning and "BetterConnected+" in warning for warning in rendered.warnings)
    assert rendered.trimmed == ()


def test_oversize_edition_is_trimmed_from_the_longest_section_with_a_more_link():
    sections = [{"key": key, "title": key.title(), "url": f"https://socitm.net/{key}/", "max_items": 50}
                for key in ("news", "blogs", "publications")]
    config = _config(sections=sections, edition={"size_budget_bytes": 60_000})
    items = [
        Item(url=f"https://socitm.net/{section}/story-{n}/", title=f"Friday roundup: A week in tech {n}",
             section=section, source="s", summary_text="Council co-designed training. " * 6,
             published=NOW - timedelta(hours=n))
        for n, section in enumerate(["news"] * 24 + ["blogs"] * 6 + ["publications"] * 10)
    ]  # 40 items
    edition = _edition(items, config=config, featured_url=None)
    rendered = render_email(edition, config=config)
    assert rendered.html_bytes <= 60_000
    assert rendered.trimmed and all("/news/" in url for url in rendered.trimmed[:10])
    assert any("size budget" in warning for warning in rendered.warnings)
    hrefs = _hrefs(rendered.html)
    for url in rendered.trimmed:
        assert f"{url}?{UTM}" not in hrefs and url not in rendered.text
    kept = [item for item in items if item.url not in rendered.trimmed]
    assert all(f"{item.url}?{UTM}" in hrefs for item in kept)
    news_trimmed = sum("/news/" in url for url in rendered.trimmed)
    assert f"{news_trimmed} more news stories on socitm.net" in rendered.text
    assert f"https://socitm.net/news/?{UTM}" in hrefs
    # the newest items stay: trimming takes the end of a section
    assert "https://socitm.net/news/story-0/" not in rendered.trimmed


def test_text_is_the_same_with_or_without_html(sample):
    edition, rendered = sample
    assert render_text(edition, config=_config()) == rendered.text


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SYNDICATE_REGEN_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with SYNDICATE_REGEN_GOLDEN=1 and review the diff"
    assert actual == path.read_text(encoding="utf-8"), (
        f"{name} differs from the golden file: if the change is intended, regenerate with "
        "SYNDICATE_REGEN_GOLDEN=1 and review the diff"
    )


def _mjml_document(*texts: str, alt: str = "logo") -> str:
    body = "".join(f"<mj-text>{text}</mj-text>" for text in texts)
    return (
        '<mjml><mj-head><mj-attributes><mj-text color="#222222" /></mj-attributes></mj-head><mj-body>'
        f'<mj-section><mj-column><mj-image src="https://example.org/a.png" alt="{alt}" />{body}'
        "</mj-column></mj-section></mj-body></mjml>"
    )


def test_mj_text_content_reaches_the_html_as_written_and_in_order(sample):
    edition, _ = sample
    source = render_mjml(edition, config=_config())
    rendered = mjml_to_html(source)
    contents = [match.strip() for match in re.findall(r"<mj-text(?:\s[^>]*[^/])?>(.*?)</mj-text>", source, re.S)]
    assert len(contents) > 20
    positions = [rendered.index(content) for content in contents if content]
    assert positions == sorted(positions)
    assert "`" not in rendered  # no marker left behind


def test_whitespace_between_inline_elements_is_kept_as_mjml_specifies():
    """MJML passes <mj-text> content through untouched (trimmed); mjml2html alone drops the
    newline between the two words, so they would read "boldtalic"."""
    source = _mjml_document("  <strong>bold</strong>\n<em>italic</em>  ")
    assert "<strong>bold</strong><em>italic</em>" in mjml.mjml2html(source)
    assert ">\n<strong>" not in mjml_to_html(source)
    assert "<strong>bold</strong>\n<em>italic</em></div>" in mjml_to_html(source)


def test_intro_soft_line_breaks_keep_their_space():
    rendered = render_email(_edition(intro_markdown="We are **proud**\n*and* grateful."), config=_config())
    assert "<strong>proud</strong>\n<em>and</em>" in rendered.html


def test_backquotes_and_marker_lookalikes_in_content_do_not_confuse_the_renderer():
    lookalike = "`0123456789abcdef0`"
    source = _mjml_document(f"<p>code {lookalike} here</p>", "", "plain `text`", alt=f"alt {lookalike}")
    rendered = mjml_to_html(source)
    assert f"<p>code {lookalike} here</p>" in rendered and "plain `text`" in rendered
    assert f'alt="alt {lookalike}"' in rendered
    assert rendered.count("<mj-text") == 0 and rendered.count("`") == 6


def test_malformed_mjml_is_mjml_pythons_error():
    with pytest.raises(Exception, match="parse|unexpected|missing|invalid"):
        mjml_to_html("<mjml><mj-body><mj-section><mj-column><mj-text><p>never closed")


def test_the_mjml_is_ascii_and_the_html_still_reads_the_titles():
    items = _items()
    items[1] = dataclasses.replace(items[1], title="Caf\u00e9 \u201ccurly\u201d \u2014 \U0001f680 launch")
    edition = _edition(items)
    assert render_mjml(edition, config=_config()).isascii()
    assert "Caf\u00e9 \u201ccurly\u201d \u2014 \U0001f680 launch" in html.unescape(
        render_email(edition, config=_config()).html)


def test_characters_no_document_may_hold_do_not_stop_the_email():
    """Items stored before ingestion dropped them, a staff-typed subject: mjml-python refuses
    a document holding a control character, so one bad title would stop the whole email."""
    items = _items()
    items[1] = dataclasses.replace(items[1], title="Tab\x01le of\x0bcontents\x1b", author="A\x00nn")
    items[2] = dataclasses.replace(items[2], summary_text="Sum\x07mary\ufffe")
    edition = dataclasses.replace(_edition(items), subject="Week\x0c 48")
    rendered = render_email(edition, config=_config())
    text = html.unescape(rendered.html)
    assert "Table of contents" in text and " \u00b7 Ann</p>" in text and "Summary" in text
    assert "<title>Week 48</title>" in text and rendered.subject == "Week 48"


def test_quoted_font_names_stay_valid_css_in_the_style_block():
    config = _config(branding={"font_family": '"Helvetica Neue", Arial, sans-serif'})
    rendered = render_email(_edition(config=config), config=config)
    assert 'h2, h3 { font-family: "Helvetica Neue", Arial, sans-serif; }' in rendered.html


def test_golden_html(sample):
    _golden("edition.html", sample[1].html)


def test_golden_text(sample):
    _golden("edition.txt", sample[1].text)
