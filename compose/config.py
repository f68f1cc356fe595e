"""The configuration schema (`syndicate.toml`), validated with pydantic.

Every model forbids unknown keys so that a typo is an error that names the key, not a
silently ignored setting. Loading the file lives in `flows.settings`; this module is pure.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationInfo, field_validator, model_validator

from compose.schedule import DAYS
from compose.slot_grid import normalise_slots

#: The fields each template may name, by the key that holds the template.
TEMPLATE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "edition.subject": ("title", "date", "organisation", "count", "headlines", "number"),
    "edition.preheader": ("title", "date", "organisation", "count", "headlines", "number"),
    "social.post_template": ("title", "summary", "url", "hashtags", "section", "source"),
    "social.roundup_opening": ("title", "organisation", "count", "stories"),
    "social.roundup_closing": ("title", "subscribe_url", "organisation"),
}


#: Templates that must say something, and those that must name one of some fields.
TEMPLATES_NOT_BLANK = frozenset({"edition.subject", "social.post_template", "social.roundup_opening",
                                 "social.roundup_closing"})
TEMPLATE_NEEDS_ONE_OF: Mapping[str, tuple[str, ...]] = {"social.post_template": ("title", "summary")}


def template_problem(template: str, allowed: tuple[str, ...], *, key: str = "") -> str | None:
    """What is wrong with `template` (None when nothing is): a template names fields as
    {name}, only the allowed ones, with no attribute, index, conversion or format spec, and
    writes a literal brace as {{ or }}."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return "has a brace that opens or closes no field"
    names = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        written = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if name not in allowed or spec or conversion:
            return f"uses {written}, which is not one of its fields"
        names.add(name)
    if key in TEMPLATES_NOT_BLANK and not template.strip():
        return "is empty"
    needed = TEMPLATE_NEEDS_ONE_OF.get(key, ())
    if needed and not names & set(needed):
        return "names none of " + " or ".join("{" + name + "}" for name in needed) + ", so every item would read the same"
    return None


def check_template(template: str, key: str) -> str:
    """`template` if it is a valid template for `key`, else ValueError with the one message
    every mistake gets: what is wrong, the fields allowed, and how to write them."""
    allowed = TEMPLATE_FIELDS[key]
    problem = template_problem(template, allowed, key=key)
    if problem is not None:
        raise ValueError(
            f"{template!r} {problem}: this template may use "
            + ", ".join("{" + name + "}" for name in allowed)
            + ", each written plainly (no attribute, index, !conversion or :format), and {{ or }} for a literal brace"
        )
    return template


def fill_template(template: str, **fields: object) -> str:
    """A template checked by `check_template` filled in: only plain {name} fields, so nothing
    but the named values can reach the text."""
    if template_problem(template, tuple(fields)) is not None:
        raise ValueError(f"template {template!r} was not checked by the config: {template_problem(template, tuple(fields))}")
    return template.format_map(fields)


def _whole_match(pattern: str, value: str, problem: str) -> str:
    """`value` when `pattern` matches all of it, else ValueError saying `problem`."""
    if not re.fullmatch(pattern, value):
        raise ValueError(problem)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Organisation(_Strict):
    """`[organisation]`: who sends the newsletter, and the postal address its footer must carry."""

    name: str = Field(min_length=1)
    site_url: HttpUrl
    postal_address: str = Field(min_length=5, description="required by anti-spam law in the footer")


class Selectors(_Strict):
    """CSS selectors for an HTML listing page with no feed."""

    item: str
    title: str
    link: str = "a"
    date: str | None = None
    summary: str | None = None
    image: str | None = None


class Source(_Strict):
    """One `[[sources]]` table: a feed or an HTML listing page, and the section its items go to."""

    name: str = Field(min_length=1, pattern=r"^[\w .:-]+$")
    kind: Literal["feed", "html"]
    url: HttpUrl
    section: str
    selectors: Selectors | None = None
    auto_approve: bool = False

    @model_validator(mode="after")
    def _html_needs_selectors(self) -> Source:
        if self.kind == "html" and self.selectors is None:
            raise ValueError(
                f"source {self.name!r} is kind = \"html\" and needs a [sources.selectors] table "
                "with at least `item` and `title` CSS selectors"
            )
        return self


class Section(_Strict):
    """One `[[sections]]` table: a part of the edition (news, blogs, ...) and how many items it shows."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    title: str
    url: HttpUrl | None = None  # the section's page on the site ("more on our site")
    max_items: int = Field(default=6, ge=1, le=50)
    auto_approve: bool = False  # posts for this section's items go out without staff approval


class Utm(_Strict):
    """`[edition.utm]`: the campaign parameters added to the email's links to the organisation's site."""

    enabled: bool = True
    source: str = "newsletter"
    medium: str = "email"


class Branding(_Strict):
    """`[branding]`: the logo, colours and fonts of the email and the pages."""

    logo_url: HttpUrl | None = None
    logo_alt: str = ""
    primary_colour: str = "#0b3d6e"
    accent_colour: str = "#e4572e"
    text_colour: str = "#1f2933"
    background_colour: str = "#f4f5f7"
    font_family: str = "Helvetica, Arial, sans-serif"
    footer_text: str = ""

    @field_validator("font_family")
    @classmethod
    def _font(cls, value: str) -> str:
        if not re.fullmatch(r"""[\w ,'"-]+""", value) or not value.strip(" ,"):
            raise ValueError(
                f"{value!r} is not a CSS font list: use family names, commas, spaces, hyphens and quotes, "
                'e.g. "Helvetica Neue", Arial, sans-serif'
            )
        return value

    @field_validator("primary_colour", "accent_colour", "text_colour", "background_colour")
    @classmethod
    def _hex(cls, value: str) -> str:
        return _whole_match(r"#[0-9a-fA-F]{6}", value, f"{value!r} is not a colour: write it as #rrggbb, e.g. #0b3d6e")


class EditionSettings(_Strict):
    """`[edition]`: the newsletter's name, sender, schedule (in `timezone`) and templates."""

    title: str = "In Our View"
    from_email: str
    from_name: str
    reply_to: str
    timezone: str = "Europe/London"
    send_day: str = "thursday"
    send_time: time = time(10, 0)
    build_day: str = "thursday"
    build_time: time = time(14, 0)
    subject: str = "{title} #{number} \u00b7 {date}"  # {number}: the issue number, so no two sent editions share a subject
    preheader: str = "This week from {organisation}: {headlines}"
    intro: str = ""
    public_url: HttpUrl = HttpUrl("http://127.0.0.1:8000")
    size_budget_bytes: int = Field(default=100_000, ge=20_000)
    min_items: int = Field(default=3, ge=0)  # a build with fewer items warns staff (0: never)
    check_links: bool = False  # fetch every item link when building; broken ones become warnings
    utm: Utm = Utm()

    @field_validator("subject", "preheader")
    @classmethod
    def _template(cls, value: str, info: ValidationInfo) -> str:
        return check_template(value, f"edition.{info.field_name}")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone: use e.g. \"Europe/London\"") from None
        return value

    @field_validator("send_day", "build_day")
    @classmethod
    def _day(cls, value: str) -> str:
        if value.lower() not in DAYS:
            raise ValueError(f"{value!r} is not a day of the week: use one of {', '.join(DAYS)}")
        return value.lower()

    @field_validator("from_name", "title")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in value):
            raise ValueError(f"{value!r} holds a control character (a line break, a tab or similar): "
                             "write it on one line, it goes into the From header and the subject")
        return value

    @field_validator("from_email", "reply_to")
    @classmethod
    def _email(cls, value: str) -> str:
        return _whole_match(r"[^@\s]+@[^@\s]+\.[^@\s]+", value, f"{value!r} is not an email address")


class EmailChannel(_Strict):
    """`[email]`: how the edition is delivered (the outbox folder, or SendGrid) and in what batches."""

    provider: Literal["outbox", "sendgrid"] = "outbox"
    outbox_dir: str = "outbox"
    batch_size: int = Field(default=1000, ge=1, le=1000)
    sandbox_mode: bool = False
    categories: tuple[str, ...] = ("in-our-view",)
    timeout_s: float = Field(default=30.0, gt=0)
    concurrency: int = Field(default=16, ge=1, le=64)


class SocialNetwork(_Strict):
    """`[social.x]`, `[social.mastodon]`, `[social.bluesky]`: whether and how one network is posted to."""

    enabled: bool = True
    sections: tuple[str, ...] = ("news", "publications")
    link_placement: Literal["every", "first", "last"] = "every"
    numbering: bool = False
    daily_cap: int = Field(default=20, ge=0)
    min_spacing_minutes: int = Field(default=5, ge=0)
    reply_fallback: Literal["standalone", "stop"] = "stop"
    max_characters: int | None = None  # Mastodon instances may allow more than 500
    instance_url: HttpUrl | None = None
    # posting slots, wall-clock in edition.timezone: "monday 09:00", "weekdays 12:30", "weekends 10:00",
    # "daily 18:00"; approved posts take the next free one (compose.slots). Empty: posts go out when due
    slots: tuple[str, ...] = ()

    @field_validator("slots", mode="before")
    @classmethod
    def _one_slot(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value  # slots = "weekdays 09:00"

    @field_validator("slots")
    @classmethod
    def _slots(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return normalise_slots(value)


class XPricing(_Strict):
    """What X charges per post created through its API (pay-per-use), in US dollars, and the day
    these prices were read from docs.x.com/x-api/getting-started/pricing: X changes them, so
    update `as_of` with the figures."""

    as_of: date = date(2026, 4, 20)
    post: Decimal = Field(default=Decimal("0.015"), ge=0)
    post_with_url: Decimal = Field(default=Decimal("0.200"), ge=0)


class Social(_Strict):
    """`[social]`: the templates and hashtags of posts and round-up threads, and each network."""

    post_template: str = "{title}\n\n{summary}\n\n{url} {hashtags}"
    hashtags: tuple[str, ...] = ("#localgov",)
    roundup_opening: str = "This week in {title}: {count} stories from {organisation} 🧵"
    roundup_closing: str = "Get {title} in your inbox every week: {subscribe_url}"
    outbox_dir: str = "outbox"
    x_pricing: XPricing = XPricing()  # [social.x_pricing]: the one table the desk's cost estimates come from
    x: SocialNetwork = SocialNetwork()
    mastodon: SocialNetwork = SocialNetwork(enabled=False)
    bluesky: SocialNetwork = SocialNetwork(enabled=False)

    @field_validator("post_template", "roundup_opening", "roundup_closing")
    @classmethod
    def _template(cls, value: str, info: ValidationInfo) -> str:
        return check_template(value, f"social.{info.field_name}")


class Review(_Strict):
    """`[review]`: the rules of approval."""

    # nobody who changed an edition or thread since its last approval may approve it; turn off only
    # for a team of one
    two_person_rule: bool = True


class WebSub(_Strict):
    """Push ingestion (W3C WebSub): subscribe to the hubs that sources advertise, so new items
    arrive as soon as they are published instead of at the next poll. Polling goes on regardless."""

    enabled: bool = False
    lease_seconds: int = Field(default=864_000, ge=3_600, le=31_536_000)  # asked of the hub; it may grant less
    callback_url: HttpUrl | None = None  # where hubs reach the web app; default: edition.public_url


class Fetch(_Strict):
    """Outbound requests named by content (redirects, WebSub hubs, link checks) never reach internal
    addresses (loopback, private, link-local, ...), except the hosts of the sources above and these."""

    allow_hosts: tuple[str, ...] = ()  # "host" (any port) or "host:port"

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            _whole_match(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?", entry,
                         f"fetch.allow_hosts: {entry!r} is not a host: write \"host\" or \"host:port\" "
                         "(no scheme, no path), e.g. \"intranet.example.org\" or \"127.0.0.1:8080\"")
        return value


class Config(_Strict):
    """The whole of `syndicate.toml`, validated: every error names the key and the fix."""

    organisation: Organisation
    edition: EditionSettings
    branding: Branding = Branding()
    sections: tuple[Section, ...]
    sources: tuple[Source, ...] = ()
    email: EmailChannel = EmailChannel()
    social: Social = Social()
    review: Review = Review()
    websub: WebSub = WebSub()
    fetch: Fetch = Fetch()

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        keys = [section.key for section in self.sections]
        if len(set(keys)) != len(keys):
            raise ValueError("two [[sections]] share a key: each section key must be unique")
        names = [source.name for source in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("two [[sources]] share a name: each source name must be unique")
        for index, source in enumerate(self.sources):
            if source.section not in keys:
                raise ValueError(
                    f"sources[{index}].section = {source.section!r} is not a configured section; "
                    f"use one of {', '.join(keys)} or add a [[sections]] table for it"
                )
        return self

    def section(self, key: str) -> Section:
        """The configured section `key` (KeyError when there is none)."""
        for section in self.sections:
            if section.key == key:
                return section
        raise KeyError(key)

    @property
    def zone(self) -> ZoneInfo:
        """The organisation's time zone (`edition.timezone`): sends are scheduled in it."""
        return ZoneInfo(self.edition.timezone)


def retired(name: str, config: Config) -> bool:
    """A source gathered once but no longer in syndicate.toml: shown as retired, never as needing attention."""
    return name not in {source.name for source in config.sources}
