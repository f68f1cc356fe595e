"""The config file: validated on load, every error names the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.settings import ConfigError, load_config, parse_config, secret_key

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "syndicate.toml"


def _example() -> str:
    return EXAMPLE.read_text("utf-8")


def test_example_config_loads() -> None:
    config = parse_config(_example())
    assert [s.key for s in config.sections] == ["news", "blogs", "publications"]
    assert {s.kind for s in config.sources} == {"feed", "html"}
    assert config.zone.key == "Europe/London"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("timezone = \"Europe/London\"", "timezone = \"Europe/Londn\""), "edition.timezone: 'Europe/Londn' is not an IANA time zone"),
        (("send_day = \"thursday\"", "send_day = \"thursdy\""), "edition.send_day: 'thursdy' is not a day of the week"),
        (("[edition]", "[edition]\ncolour = \"blue\""), "edition.colour: unknown key"),
        (("section = \"blogs\"", "section = \"blog\""), "is not a configured section"),
        (("\nkind = \"feed\"", "\nkind = \"atom\""), "sources[0].kind: must be one of 'feed' or 'html' (it is 'atom')"),
        (("url = \"http://127.0.0.1:8642/news/feed.xml\"", "url = \"127.0.0.1:8642/news/feed.xml\""),
         "sources[0].url: not a full web address (it is '127.0.0.1:8642/news/feed.xml'): write it with http:// or "
         "https://"),
        (("max_items = ", "max_items = \"ten\" # "), ": must be a whole number, without quotes (it is 'ten')"),
        (("font_family = \"Arial, Helvetica, sans-serif\"", "font_family = \"Arial</style>\""),
         "branding.font_family: 'Arial</style>' is not a CSS font list"),
    ],
)
def test_bad_config_names_the_key(change: tuple[str, str], expected: str) -> None:
    old, new = change
    text = _example().replace(old, new, 1)
    assert text != _example(), f"fixture did not change: {old!r} not in the example"
    with pytest.raises(ConfigError) as info:
        parse_config(text, origin="syndicate.toml")
    assert expected in str(info.value)


def test_html_source_without_selectors_is_refused() -> None:
    text = _example()
    start = text.index("[sources.selectors]")
    end = text.index("\n[", start + 1) if "\n[" in text[start + 1:] else len(text)
    with pytest.raises(ConfigError, match="needs a \\[sources.selectors\\] table"):
        parse_config(text[:start] + text[end:])


def test_not_toml_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="is not valid TOML"):
        parse_config("[edition\ntitle = 1")


def test_missing_file_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cp examples/syndicate.toml syndicate.toml"):
        load_config(tmp_path / "nope.toml")


def test_secret_key_from_environment_else_kept_beside_the_ledger(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    with pytest.raises(ConfigError, match="SYNDICATE_SECRET_KEY is shorter than 16 characters"):
        secret_key({"SYNDICATE_SECRET_KEY": "x"}, database_url=url)
    assert secret_key({"SYNDICATE_SECRET_KEY": "x" * 32}, database_url=url) == "x" * 32
    kept = secret_key({}, database_url=url)
    assert kept == (tmp_path / "secret-key").read_text().strip() == secret_key({}, database_url=url)


@pytest.mark.parametrize(
    ("key", "old", "template"),
    [
        ("edition.subject", 'subject = "{title} #{number} · {date}"', "{"),
        ("edition.subject", 'subject = "{title} #{number} · {date}"', "{}"),
        ("edition.preheader", 'preheader = "This week from {organisation}: {headlines}"', "{title!x}"),
        ("edition.preheader", 'preheader = "This week from {organisation}: {headlines}"', "{title:bc}"),
        ("social.roundup_closing", 'roundup_closing = "Get {title} in your inbox every week: {subscribe_url}"',
         "{subscribe_url.x}"),
        ("social.post_template", 'post_template = "{title}\\n\\n{summary}\\n\\n{url} {hashtags}"', "{title.upper}"),
        ("social.post_template", 'post_template = "{title}\\n\\n{summary}\\n\\n{url} {hashtags}"', "{title[0]}"),
        ("social.post_template", 'post_template = "{title}\\n\\n{summary}\\n\\n{url} {hashtags}"', "{url} only"),
        ("social.roundup_opening", 'roundup_opening = "This week in {title}: {count} stories from {organisation} 🧵"',
         "{subscribe_url}"),
    ],
)
def test_a_bad_template_is_refused_on_load_with_one_message(key: str, old: str, template: str) -> None:
    text = _example().replace(old, f"{key.split('.')[1]} = {template!r}", 1)
    assert text != _example(), f"fixture did not change: {old!r} not in the example"
    with pytest.raises(ConfigError) as info:
        parse_config(text, origin="syndicate.toml")
    message = str(info.value)
    assert f"  {key}: {template!r} " in message
    assert "each written plainly (no attribute, index, !conversion or :format), and {{ or }} for a literal brace" in message
