"""Rendering an edition as the In Our View email: MJML -> HTML (mjml-python) and a text part.

The MJML template (`templates/edition.mjml`) is rendered by Jinja2 with autoescaping, then
by mjml-python. Branding comes from `config.branding`; colours are checked for contrast and
made readable when they are not. The text/plain part is built from the same Edition data,
never scraped from the HTML. Per-recipient tokens (`RECIPIENT_TOKENS`) stay literal in both
parts for the delivery channel to substitute; braces in untrusted text are neutralised so a
feed can never inject one. Past `edition.size_budget_bytes` (Gmail clips at about 102 KB),
items are trimmed from the end of the longest section and the email is rendered again.
"""

from __future__ import annotations

import dataclasses
import html
import re
import secrets
import textwrap
from collections.abc import Callable
from functools import lru_cache, partial
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import mjml
import nh3
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from compose.clicks import click_mark
from compose.config import Config
from compose.edition import EditionLimits, format_date, header_text, item_count_warnings, local_date
from compose.edition import untokened as _untokened_text
from compose.items import clip, drop_unprintable, one_line
from compose.markdown import markdown_to_html, markdown_to_text
from compose.models import Edition, EditionSection, Item, RenderedEmail
from compose.palette import MIN_CONTRAST, DarkPalette, Palette
from compose.urls import is_web_url

RECIPIENT_TOKENS = ("{{first_name}}", "{{unsubscribe_url}}", "{{preferences_url}}")
GREETING_FALLBACK = "there"  # "Hello there," when a subscriber gave no name, in every channel and on the archive
TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"


class EmailLimits:
    """Limits of the rendered email."""

    summary_max_chars = 300
    title_max_chars = 300  # longer titles are shortened (between grapheme clusters), with a warning
    author_max_chars = 100
    text_width = 72
    min_contrast = MIN_CONTRAST
    min_items_per_section = 1  # size trimming never empties a section
    logo_width_px = 150


# ---------------------------------------------------------------- links and text


def greeting_name(name: str) -> str:
    """What `{{first_name}}` becomes for a reader: the first word of their name (control
    characters dropped, so it can never break a line or a header), else "there" (so "Hello
    there,"). The one rule for every channel, preview and the public archive."""
    parts = one_line(name).split()
    return parts[0] if parts else GREETING_FALLBACK


def postal_line(name: str, postal_address: str) -> str:
    """The footer's postal line: the organisation's name and its address, without saying the
    name twice when the address already opens with it ("Socitm Ltd, 8a Basset Court, ...")."""
    address = " ".join(postal_address.split())
    opening = address.split(",", 1)[0].casefold()
    wanted = " ".join(name.split()).casefold()
    if not wanted or re.match(rf"{re.escape(wanted)}(?!\w)", opening):
        return address
    return f"{' '.join(name.split())}, {address}"


def add_utm(url: str, *, campaign: str, config: Config) -> str:
    """`url` with utm_source/medium/campaign when `edition.utm.enabled`; other query
    parameters are kept, earlier utm_* values replaced; non-http(s) links untouched."""
    utm = config.edition.utm
    if not utm.enabled:
        return url
    return _tagged(url, utm.source, utm.medium, campaign)


@lru_cache(maxsize=4096)
def _tagged(url: str, source: str, medium: str, campaign: str) -> str:
    if not is_web_url(url):  # "http://[bad", mailto:, ...: not a link a campaign can be added to
        return url
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if not key.startswith("utm_")]
    query += [("utm_source", source), ("utm_medium", medium), ("utm_campaign", campaign)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _finalize_html(value: object) -> object:
    """Jinja finalize for the MJML: drop characters no document may hold (an item stored
    before ingestion dropped them too), escape untrusted strings and their braces (`&#123;`),
    and write what is not ASCII as character references, so the MJML that mjml-python gets
    is ASCII (its string conversions then copy instead of transcoding)."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    escaped = str(escape(drop_unprintable(value))).replace("{", "&#123;")
    return Markup(escaped if escaped.isascii() else escaped.encode("ascii", "xmlcharrefreplace").decode("ascii"))


def _summary(item: Item) -> str:
    text = item.summary_text or html.unescape(nh3.clean(item.summary_html, tags=set()))
    return clip(one_line(clip(text, EmailLimits.summary_max_chars * 4)), EmailLimits.summary_max_chars)


def _title(item: Item) -> str:
    return clip(one_line(clip(item.title, EmailLimits.title_max_chars * 4)), EmailLimits.title_max_chars)


def _meta(item: Item, config: Config) -> str:
    parts = []
    stamp = item.published or item.updated
    if stamp is not None:
        parts.append(format_date(local_date(stamp, config.zone)))
    author = clip(one_line(clip(item.author or "", EmailLimits.author_max_chars * 4)), EmailLimits.author_max_chars)
    if author:
        parts.append(author)
    return " \u00b7 ".join(parts)


def _https(url: str | None) -> bool:
    if not url:
        return False
    try:
        return urlsplit(url).scheme == "https"
    except ValueError:
        return False


def _site_label(config: Config) -> str:
    return (urlsplit(str(config.organisation.site_url)).hostname or "").removeprefix("www.")


def _more_label(section: EditionSection, config: Config) -> str:
    noun = "story" if section.omitted == 1 else "stories"
    return f"{section.omitted} more {section.title.lower()} {noun} on {_site_label(config)}"


# ---------------------------------------------------------------- context


LinkFor = Callable[[Item, str], str]  # (item, its URL with UTM) -> the link the email carries


def counted_link(config: Config) -> LinkFor | None:
    """The email's article links through the click redirect (`compose.clicks.click_mark`), unless
    `[tracking] count_clicks` is off; items not yet in the ledger (no id) keep their own link."""
    if not config.tracking.count_clicks:
        return None
    public_url = str(config.edition.public_url)

    def link_for(item: Item, url: str) -> str:
        return click_mark(public_url, item.id) if item.id is not None and is_web_url(url) else url

    return link_for


def _item_view(item: Item, edition: Edition, config: Config, link_for: LinkFor | None = None) -> dict[str, object]:
    """An item as the template shows it, escaped once (it is reused by every re-render)."""
    view = {key: _finalize_html(value) for key, value in _item_fields(item, edition, config).items()}
    if link_for is not None:  # our own link (a marker with braces): trusted, escaped here and not brace-escaped
        view["url"] = Markup(escape(link_for(item, add_utm(item.url, campaign=edition.slug, config=config))))
    return view


def _item_fields(item: Item, edition: Edition, config: Config) -> dict[str, object]:
    return {
        "title": _title(item),
        "url": add_utm(item.url, campaign=edition.slug, config=config),
        "meta": _meta(item, config),
        "summary": _summary(item),
        "image": item.image_url if _https(item.image_url) else None,
    }


def _intro_html(edition: Edition, palette: Palette, utm: Callable[[str], str]) -> Markup:
    html_intro = markdown_to_html(
        edition.intro_markdown,
        rewrite_link=utm,
        link_style=f"color:{palette.link};text-decoration:underline;",
        paragraph_style="margin:0 0 12px;",
    )
    return Markup(html_intro.replace("{", "&#123;"))  # no recipient token from the intro


def _blocks(views: list[dict[str, object]]) -> list[dict[str, object]]:
    """A section's items as layout blocks: each item with an image alone, runs of items
    without images together."""
    blocks: list[dict[str, object]] = []
    for view in views:
        if view["image"] or not blocks or blocks[-1]["image"]:
            blocks.append({"image": bool(view["image"]), "entries": [view]})
        else:
            blocks[-1]["entries"].append(view)  # type: ignore[attr-defined]
    return blocks


def tracking_notice(config: Config) -> str:
    """The privacy notice for the footer while anything in the email names its reader, else ""."""
    return config.tracking.notice_text


def _context(edition: Edition, config: Config, palette: Palette, memo: dict[str, object],
             link_for: LinkFor | None = None) -> dict[str, object]:
    """The template's variables. `memo` keeps item views and the intro between the renders
    of one email (size trimming renders it again)."""

    def view(item: Item) -> dict[str, object]:
        key = "item:" + item.url
        if key not in memo:
            memo[key] = _item_view(item, edition, config, link_for)
        return memo[key]  # type: ignore[return-value]

    branding = config.branding
    dark = DarkPalette.from_branding(branding)
    utm = partial(add_utm, campaign=edition.slug, config=config)
    if "intro" not in memo:
        memo["intro"] = _intro_html(edition, palette, utm)
    logo = None
    if branding.logo_url:
        logo = {"src": str(branding.logo_url), "alt": branding.logo_alt or config.organisation.name,
                "width": EmailLimits.logo_width_px}
    return {
        "c": {field.name: Markup(escape(getattr(palette, field.name))) for field in dataclasses.fields(palette)},
        "d": {field.name: Markup(escape(getattr(dark, field.name))) for field in dataclasses.fields(dark)},
        "font_css": Markup(palette.font),  # inside <mj-style>, which is not HTML-decoded; the config allows no < > & in it
        "subject": edition.subject,
        "preheader": edition.preheader,
        "title": edition.title,
        "date_text": format_date(edition.issue_date),
        "organisation": config.organisation.name,
        "postal_line": postal_line(config.organisation.name, config.organisation.postal_address),
        "site_url": utm(str(config.organisation.site_url)),
        "site_label": _site_label(config),
        "web_url": edition.web_url or str(config.organisation.site_url),
        "logo": logo,
        "intro_html": memo["intro"],
        "featured": view(edition.featured) if edition.featured else None,
        "sections": [
            {
                "title": section.title,
                "blocks": _blocks([view(item) for item in section.items]),
                "more": {"url": utm(section.more_url), "label": _more_label(section, config)}
                if section.more_url and section.omitted
                else None,
            }
            for section in edition.sections
        ],
        "footer_text": branding.footer_text,
        "tracking_notice": tracking_notice(config),
        "why_text": f"You are receiving this email because you subscribed to {edition.title} "
        f"from {config.organisation.name}.",
        "token": {name.strip("{}"): Markup(name) for name in RECIPIENT_TOKENS},
    }


@lru_cache(maxsize=4)
def _environment(directory: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(["mjml", "html"], default=True),
        undefined=StrictUndefined,
        finalize=_finalize_html,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_mjml(
    edition: Edition, *, config: Config, template: str = "edition.mjml", _memo: dict[str, object] | None = None,
    link_for: LinkFor | None = None,
) -> str:
    """The edition as MJML source (before `mjml_to_html`): what the node validator checks."""
    palette = Palette.from_branding(config.branding)
    context = _context(edition, config, palette, {} if _memo is None else _memo, link_for)
    return _environment(TEMPLATES_DIR).get_template(template).render(context)


# ---------------------------------------------------------------- MJML -> HTML


def mjml_to_html(source: str) -> str:
    """MJML -> HTML with mjml-python, the content of every `<mj-text>` passed through as
    MJML defines it for ending tags: raw HTML, trimmed, never re-parsed.

    mjml-python parses that HTML and writes it out again, which changes it (whitespace-only
    text between elements is dropped, so `<strong>a</strong>\n<em>b</em>` reads "ab") and was
    a quarter of its time on an edition. Each content is swapped for a marker unique to this
    call (a backquote, which MJML's own output never contains, then a random nonce), and
    put back after mjml2html."""
    token = f"`{secrets.token_hex(8)}"
    held: list[str] = []
    light: list[str] = []
    parts = source.split("</mj-text>")
    for part in parts[:-1]:
        start = part.rfind("<mj-text")  # content never holds a literal "<mj-text": it is escaped
        opened = part.find(">", start) + 1 if start >= 0 else len(part)  # no opening: mjml2html says so
        content = part[opened:].strip()
        light.append(part[:opened])
        if content:
            light.append(f"{token}{len(held)}`")
            held.append(content)
        light.append("</mj-text>")
    light.append(parts[-1])
    rendered = mjml.mjml2html("".join(light))
    out: list[str] = []
    pos = found = 0
    while found < len(held) and (hit := rendered.find("`", pos)) >= 0:
        marker = f"{token}{found}`"
        if rendered.startswith(marker, hit):
            out += [rendered[pos:hit], held[found]]
            found += 1
            pos = hit + len(marker)
        else:  # a backquote of the edition's own, in an attribute or the title
            out.append(rendered[pos : hit + 1])
            pos = hit + 1
    if found != len(held):
        raise RuntimeError(f"mjml-python kept {found} of {len(held)} <mj-text> contents: the email cannot be assembled")
    out.append(rendered[pos:])
    return "".join(out)


# ---------------------------------------------------------------- text part


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=EmailLimits.text_width, break_long_words=False, break_on_hyphens=False)


def _underline(title: str, rule: str) -> str:
    return f"{title}\n{rule * len(title)}"


def _text_item(item: Item, edition: Edition, config: Config, link_for: LinkFor | None = None) -> list[str]:
    view = _item_fields(item, edition, config)
    if link_for is not None:
        view["url"] = link_for(item, _text_link(str(view["url"])))
    lines = [_wrap(_untokened_text(str(view["title"])))]
    if view["meta"]:
        lines.append(_untokened_text(str(view["meta"])))
    if view["summary"]:
        lines.append(_wrap(_untokened_text(str(view["summary"]))))
    url = str(view["url"])
    lines.append(f"Read more: {url if link_for is not None else _text_link(url)}")
    return ["\n".join(drop_unprintable(line) for line in lines)]


def _text_link(url: str) -> str:
    """A link as the text part writes it: braces percent-encoded (the same link to a browser
    and a server), so no link can carry a per-recipient token; no spaces or control characters."""
    return "".join(char for char in url.replace("{", "%7B").replace("}", "%7D") if char.isprintable() and not char.isspace())


def render_text(edition: Edition, *, config: Config, link_for: LinkFor | None = None) -> str:
    """The text/plain part: every link written out, sections underlined, footer with the
    postal address, the unsubscribe and the preference-page tokens."""
    utm = partial(add_utm, campaign=edition.slug, config=config)
    first_name, unsubscribe, preferences = RECIPIENT_TOKENS
    web_url = edition.web_url or str(config.organisation.site_url)
    blocks = [
        _underline(edition.title.upper(), "="),
        f"{format_date(edition.issue_date)} \u00b7 {config.organisation.name}",
        f"View this email in your browser: {web_url}",
        f"Hello {first_name},",
    ]
    intro = markdown_to_text(edition.intro_markdown, rewrite_link=utm)
    if intro:
        blocks += [_wrap(_untokened_text(paragraph)) for paragraph in intro.split("\n\n")]
    if edition.featured:
        blocks.append(_underline("Featured", "-"))
        blocks += _text_item(edition.featured, edition, config, link_for)
    for section in edition.sections:
        blocks.append(_underline(section.title, "-"))
        for item in section.items:
            blocks += _text_item(item, edition, config, link_for)
        if section.more_url and section.omitted:
            blocks.append(f"{_more_label(section, config)}: {utm(section.more_url)}")
    site = utm(str(config.organisation.site_url))
    blocks.append("-" * 40)
    if config.branding.footer_text:
        blocks.append(_wrap(config.branding.footer_text))
    blocks += [
        _wrap(f"You are receiving this email because you subscribed to {edition.title} from "
              f"{config.organisation.name}."),
        *([_wrap(tracking_notice(config))] if tracking_notice(config) else []),
        f"Unsubscribe: {unsubscribe}\nManage your preferences: {preferences}\n"
        f"View in browser: {web_url}\n{config.organisation.name}: {site}",
        _wrap(postal_line(config.organisation.name, config.organisation.postal_address)),
    ]
    return "\n\n".join(blocks) + "\n"


# ---------------------------------------------------------------- the email


def _trim_one(edition: Edition, config: Config) -> tuple[Edition, Item] | None:
    """The edition less the last item of its longest section (the later one on a tie)."""
    candidates = [
        (len(section.items), index)
        for index, section in enumerate(edition.sections)
        if len(section.items) > EmailLimits.min_items_per_section
    ]
    if not candidates:
        return None
    _, index = max(candidates)
    section = edition.sections[index]
    dropped = section.items[-1]
    smaller = dataclasses.replace(
        section,
        items=section.items[:-1],
        omitted=section.omitted + 1,
        more_url=section.more_url or str(config.section(section.key).url or config.organisation.site_url),
    )
    sections = edition.sections[:index] + (smaller,) + edition.sections[index + 1 :]
    return dataclasses.replace(edition, sections=sections), dropped


def _content_warnings(edition: Edition, config: Config) -> list[str]:
    notes = []
    shown = ((edition.featured,) if edition.featured else ()) + edition.items
    for item in shown:
        title = _title(item)
        if not _summary(item):
            notes.append(f"no summary: {title!r} ({item.url})")
        if item.image_url and not title:
            notes.append(f"image without alt text (the item has no title): {item.url}")
        if item.image_url and not _https(item.image_url):
            notes.append(f"image left out because it is not https: {item.image_url[:200]}")
        if title != one_line(item.title):
            notes.append(f"title shortened to {EmailLimits.title_max_chars} characters: {title!r} ({item.url})")
    if config.branding.logo_url and not config.branding.logo_alt:
        notes.append(f"branding.logo_alt is empty: the logo's alt text falls back to {config.organisation.name!r}")
    return notes


def render_email(edition: Edition, *, config: Config, link_for: LinkFor | None = None) -> RenderedEmail:
    """The edition as subscribers get it: subject, preheader, HTML and text, with warnings
    for staff (missing summaries or alt text, adjusted colours, items trimmed for size).
    `link_for` makes each article link (e.g. `counted_link(config)`: through the click redirect)."""
    budget = config.edition.size_budget_bytes
    edition = dataclasses.replace(  # header lines, whoever wrote them (staff edit the subject on the desk)
        edition, subject=header_text(edition.subject, EditionLimits.subject_max_chars),
        preheader=header_text(edition.preheader, EditionLimits.preheader_max_chars))
    memo: dict[str, object] = {}
    html_out = mjml_to_html(render_mjml(edition, config=config, _memo=memo, link_for=link_for))
    trimmed: list[Item] = []
    shown = len(edition.items) + (1 if edition.featured else 0)
    per_item = len(html_out.encode("utf-8")) / max(1, shown)  # first guess: the average item
    while (size := len(html_out.encode("utf-8"))) > budget:
        count = max(1, -(-(size - budget) // max(1, round(per_item))))
        before = len(trimmed)
        for _ in range(count):
            step = _trim_one(edition, config)
            if step is None:
                break
            edition, dropped = step
            trimmed.append(dropped)
        if len(trimmed) == before:
            break  # every section is down to its minimum
        html_out = mjml_to_html(render_mjml(edition, config=config, _memo=memo, link_for=link_for))
        # learn what the dropped items really weighed
        per_item = max(1.0, (size - len(html_out.encode("utf-8"))) / (len(trimmed) - before))
    warnings = (list(edition.warnings) + Palette.from_branding(config.branding).warnings(config.branding)
                + _content_warnings(edition, config) + item_count_warnings(edition, config))
    size = len(html_out.encode("utf-8"))
    if trimmed:
        warnings.append(
            f"the email was over its size budget ({budget:,} bytes; Gmail clips at about 102 KB): "
            f"{len(trimmed)} item(s) moved to the 'more on our site' links: "
            + "; ".join(item.title for item in trimmed)
        )
    if size > budget:
        warnings.append(f"the email is still {size:,} bytes, over its budget of {budget:,} bytes: Gmail may clip it")
    return RenderedEmail(
        subject=edition.subject,
        preheader=edition.preheader,
        html=html_out,
        text=render_text(edition, config=config, link_for=link_for),
        warnings=tuple(warnings),
        trimmed=tuple(item.url for item in trimmed),
    )


# ---------------------------------------------------------------- one email per section set


def edition_sections(edition: Edition) -> frozenset[str]:
    """The sections that have something in this edition (the featured item counts for its own)."""
    keys = {section.key for section in edition.sections if section.items}
    if edition.featured is not None:
        keys.add(edition.featured.section)
    return frozenset(keys)


def for_sections(edition: Edition, sections: frozenset[str]) -> Edition:
    """The edition as a reader of `sections` gets it: the same subject, intro and footer, only
    those sections, and the featured item only when its section is one of them."""
    featured = edition.featured if edition.featured is not None and edition.featured.section in sections else None
    kept = tuple(section for section in edition.sections if section.key in sections)
    return dataclasses.replace(edition, sections=kept, featured=featured)


class SectionEmails:
    """The emails of one edition, each distinct section set rendered once (cached by set).

    `render(None)` is the whole edition. Every variant is `render_email` of `for_sections`: the
    same subject, intro and footer as the whole, so it derives from the approved edition alone."""

    def __init__(self, edition: Edition, *, config: Config, link_for: LinkFor | None = None) -> None:
        self.edition, self.config, self.link_for = edition, config, link_for
        self.sections = edition_sections(edition)
        self._cache: dict[frozenset[str] | None, RenderedEmail] = {}

    def render(self, sections: frozenset[str] | None) -> RenderedEmail:
        key = None if sections is None or sections >= self.sections else frozenset(sections & self.sections)
        if key not in self._cache:
            edition = self.edition if key is None else for_sections(self.edition, key)
            self._cache[key] = render_email(edition, config=self.config, link_for=self.link_for)
        return self._cache[key]

    def edition_for(self, sections: frozenset[str] | None) -> Edition:
        """The Edition value behind `render(sections)`."""
        if sections is None or sections >= self.sections:
            return self.edition
        return for_sections(self.edition, frozenset(sections & self.sections))

    @property
    def rendered(self) -> int:
        """How many distinct emails were rendered so far."""
        return len(self._cache)
