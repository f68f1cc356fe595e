"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), read with the standard library."""

from __future__ import annotations

import html
import json

from compose.dates import parse_date

from .base import Entry

VERSION_PREFIX = "https://jsonfeed.org/version/"


def looks_like_json_feed(body: bytes) -> bool:
    """True when the body starts like a JSON document (after a BOM and whitespace)."""
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def parse_json_feed(body: bytes) -> tuple[list[Entry], str | None]:
    """The entries of a JSON Feed, or ([], reason) when it is not one."""
    try:
        data = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError) as exc:
        return [], f"not valid JSON: {exc}"
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(VERSION_PREFIX):
        return [], "JSON without a jsonfeed.org version: not a JSON Feed"
    items = data.get("items")
    if not isinstance(items, list):
        return [], "JSON Feed without an items list"
    return [entry for raw in items if isinstance(raw, dict) and (entry := _entry(raw))], None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _entry(raw: dict) -> Entry | None:
    if raw.get("summary") and isinstance(raw["summary"], str):
        summary = html.escape(raw["summary"])
    elif _text(raw.get("content_html")):
        summary = raw["content_html"]
    else:
        summary = html.escape(_text(raw.get("content_text")))
    listed = raw.get("authors")
    authors = listed if isinstance(listed, list) else [raw.get("author")]
    names = [a["name"] for a in authors if isinstance(a, dict) and isinstance(a.get("name"), str)]
    guid = raw.get("id")
    return Entry(
        link=_text(raw.get("url")) or _text(raw.get("external_url")) or None,
        guid=str(guid) if isinstance(guid, (str, int)) and not isinstance(guid, bool) else None,
        title=_text(raw.get("title")),
        summary_html=summary,
        published=parse_date(_text(raw.get("date_published"))),
        updated=parse_date(_text(raw.get("date_modified"))),
        image=_text(raw.get("image")) or _text(raw.get("banner_image")) or None,
        author=", ".join(names) or None,
    )
