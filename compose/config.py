"""The configuration schema (`syndicate.toml`), validated with pydantic.

Every model forbids unknown keys so that a typo is an error that names the key, not a
silently ignored setting. Loading the file lives in `flows.settings`; this module is pure.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
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
    # DKIM selectors `syndicate doctor` looks up at <selector>._domainkey.<From domain>; SendGrid's
    # automated security sets up s1 and s2
    dkim_selectors: tuple[str, ...] = ("s1", "s2")

    @field_validator("dkim_selectors")
    @classmethod
    def _selectors(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for selector in value:
            _whole_match(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?", selector,
                         f"{selector!r} is not a DKIM selector: use the name before ._domainkey, e.g. \"s1\"")
        return value


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
    # the item's image on posts: "off", on the "first" post of a thread, or on "every" post that has one
    # (fetched through the guarded fetcher, fitted to the network; never published without alt text)
    images: Literal["off", "first", "every"] = "first"
    cards: bool = True  # a link card for the item's link (built by us on Bluesky and LinkedIn, else the network's)
    hashtags: tuple[str, ...] | None = None  # None: `[social] hashtags`; () for none on this network

    @field_validator("slots", mode="before")
    @classmethod
    def _one_slot(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value  # slots = "weekdays 09:00"

    @field_validator("slots")
    @classmethod
    def _slots(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return normalise_slots(value)


class LinkedInSettings(SocialNetwork):
    """`[social.linkedin]`: an organisation page, posted to through LinkedIn's Community Management
    API. LinkedIn has no threads: `mode = "roundup"` posts one post per edition listing its stories,
    `mode = "item"` one post per item (each with its article preview). The API is versioned by month
    (`LinkedIn-Version: YYYYMM`) and a version is retired about a year after it ships: `api_version`
    is the one this was checked against on `api_version_checked`; move both on together."""

    enabled: bool = False
    mode: Literal["item", "roundup"] = "roundup"
    api_version: str = "202611"
    api_version_checked: date = date(2026, 12, 7)

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        return _whole_match(r"20\d\d(0[1-9]|1[0-2])", value,
                            f"social.linkedin.api_version {value!r} is not a LinkedIn version: write the "
                            "month as YYYYMM, e.g. \"202611\"")


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
    linkedin: LinkedInSettings = LinkedInSettings()

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


#: The UK nations whose public holidays `[calendar] holidays` may name, as the `holidays` package
#: names their subdivisions of "GB", and as staff read them in a reason.
HOLIDAY_NATIONS: Mapping[str, tuple[str, str]] = {
    "england": ("ENG", "England"),
    "wales": ("WLS", "Wales"),
    "scotland": ("SCT", "Scotland"),
    "northern-ireland": ("NIR", "Northern Ireland"),
}
#: Shorthands `days` may use in a weekly window.
DAY_GROUPS: Mapping[str, tuple[str, ...]] = {"weekdays": DAYS[:5], "weekends": DAYS[5:], "every day": DAYS}


def channel_names() -> tuple[str, ...]:
    """The channels quiet time can apply to: "email" and every post network `[social]` has a table
    for (taken from the schema, so a new network needs no change here)."""
    return ("email", *(name for name, field in Social.model_fields.items()
                       if isinstance(field.annotation, type) and issubclass(field.annotation, SocialNetwork)))


def _known_channels(value: tuple[str, ...] | None, key: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    known = channel_names()
    for channel in value:
        if channel not in known:
            raise ValueError(f"{key}: {channel!r} is not a channel: use {', '.join(known)}")
    if not value:
        raise ValueError(f"{key} is an empty list: leave the key out to mean every channel")
    return value


def _local(value: date | datetime, key: str) -> date | datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        raise ValueError(f"{key} = {value.isoformat()} has a UTC offset: write it without one "
                         "(e.g. 2027-04-01 or 2027-04-01T18:00:00); it is read in edition.timezone")
    return value


class QuietPeriod(_Strict):
    """One `[[calendar.periods]]` table: a named stretch of time when nothing goes out (on the
    listed channels, else on every channel), e.g. a pre-election period or a day of mourning.

    `start` and `end` are wall-clock in the organisation's zone: a date means the whole day
    (`end` included), a date and time the exact moment (`end` excluded)."""

    name: str = Field(min_length=1, max_length=120)
    start: datetime | date
    end: datetime | date
    channels: tuple[str, ...] | None = None

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value.strip() or any(ord(c) < 32 for c in value):
            raise ValueError(f"{value!r}: write the period's name on one line, e.g. \"Pre-election period\"")
        return value.strip()

    @field_validator("start", "end", mode="before")
    @classmethod
    def _date_only(cls, value: object) -> object:
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass  # pydantic names the problem
        return value

    @field_validator("start", "end")
    @classmethod
    def _no_offset(cls, value: date | datetime, info: ValidationInfo) -> date | datetime:
        return _local(value, str(info.field_name))

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _known_channels(value, "channels")

    @model_validator(mode="after")
    def _ordered(self) -> QuietPeriod:
        start, end = self.local_bounds()
        if end <= start:
            raise ValueError(f"period {self.name!r} ends ({self.end.isoformat()}) before it starts "
                             f"({self.start.isoformat()}): swap them, or give end a later date")
        return self

    def local_bounds(self) -> tuple[datetime, datetime]:
        """[start, end) as naive wall-clock datetimes in the organisation's zone (a date `end` is
        the midnight after that day)."""
        start = self.start if isinstance(self.start, datetime) else datetime.combine(self.start, time())
        end = (self.end if isinstance(self.end, datetime)
               else datetime.combine(self.end + timedelta(days=1), time()))
        return start, end


class QuietWindow(_Strict):
    """One `[[calendar.windows]]` table: hours in which `channel` may send or post. A channel with
    windows is quiet outside all of them; a channel with none is never quiet for its hours.

    `days` is a list of days, or "weekdays", "weekends" or "every day"; `start` and `end` are
    wall-clock "HH:MM" in the organisation's zone. An `end` at or before `start` runs past midnight
    into the next day ("22:00" to "02:00"; "00:00" means until midnight)."""

    channel: str
    days: tuple[str, ...]
    start: time
    end: time

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        _known_channels((value,), "channel")
        return value

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: object) -> object:
        if isinstance(value, str):
            group = DAY_GROUPS.get(value.strip().lower())
            if group is None:
                raise ValueError(f"{value!r} is not a group of days: write \"weekdays\", \"weekends\", "
                                 "\"every day\" or a list, e.g. [\"monday\", \"friday\"]")
            return group
        if isinstance(value, list | tuple):
            days = []
            for day in value:
                if not isinstance(day, str) or day.strip().lower() not in DAYS:
                    raise ValueError(f"{day!r} is not a day of the week: use {', '.join(DAYS)}")
                if day.strip().lower() not in days:
                    days.append(day.strip().lower())
            if not days:
                raise ValueError("no days: list at least one, or write \"weekdays\"")
            return tuple(sorted(days, key=DAYS.index))
        return value

    @field_validator("start", "end")
    @classmethod
    def _minutes(cls, value: time) -> time:
        if value.second or value.microsecond or value.tzinfo is not None:
            raise ValueError(f"{value.isoformat()}: write a wall-clock time to the minute, e.g. \"08:00\"")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietWindow:
        if self.start == self.end and self.start != time():
            raise ValueError(f"window for {self.channel} starts and ends at {self.start:%H:%M}: give it an end "
                             "after its start (or \"00:00\" for until midnight)")
        return self


class CalendarSettings(_Strict):
    """`[calendar]`: quiet time, when nothing goes out. Public holidays of one UK nation, named
    periods, and weekly windows per channel. An edition or post due in quiet time moves to the
    next allowed moment (staff see the move and why); an admin may override it with a reason.
    The default has no quiet time at all."""

    holidays: str = "none"  # england | wales | scotland | northern-ireland | none
    holiday_channels: tuple[str, ...] | None = None  # default: every channel is quiet on a holiday
    periods: tuple[QuietPeriod, ...] = ()
    windows: tuple[QuietWindow, ...] = ()

    @field_validator("holidays")
    @classmethod
    def _nation(cls, value: str) -> str:
        nation = value.strip().lower().replace(" ", "-")
        if nation != "none" and nation not in HOLIDAY_NATIONS:
            raise ValueError(f"{value!r} is not a UK nation we know the holidays of: use "
                             + ", ".join(f'"{name}"' for name in HOLIDAY_NATIONS) + ' or "none"')
        return nation

    @field_validator("holiday_channels")
    @classmethod
    def _channels(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _known_channels(value, "holiday_channels")

    @property
    def empty(self) -> bool:
        """True when there is no quiet time at all (the default)."""
        return self.holidays == "none" and not self.periods and not self.windows


class WeeklyNoteSettings(_Strict):
    """`[weekly_note]`: the note to staff each week (what went out, how it did, what failed, what
    waits), sent through the email channel on `day` at `at` (edition.timezone) to every member of
    staff with one of `roles`. `day` and `at` are wall-clock, so the clocks changing never moves it."""

    enabled: bool = True
    day: str = "monday"
    at: time = time(8, 0)  # `at = 08:00:00` in the file
    roles: tuple[Literal["editor", "approver", "admin"], ...] = ("approver", "admin")

    @field_validator("day")
    @classmethod
    def _day(cls, value: str) -> str:
        if value.lower() not in DAYS:
            raise ValueError(f"{value!r} is not a day of the week: use one of {', '.join(DAYS)}")
        return value.lower()

    @field_validator("roles")
    @classmethod
    def _someone(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("roles is empty: name who gets the note, e.g. [\"approver\", \"admin\"], "
                             "or set enabled = false")
        return value


#: The highest a threshold may be set: 1% of complaints is over three times Gmail's hard limit, and
#: 20% of hard bounces is a list that was never cleaned; anything higher is a misplaced percent sign.
_REPUTATION_CEILINGS = {"complaint": 0.01, "bounce": 0.2}


class Reputation(_Strict):
    """`[reputation]`: the guard of the sender's reputation (`state.reputation`, docs/operations.md,
    "Sender reputation"). Rates are fractions: 0.001 is 0.1%. Over a *_stop threshold the email is
    paused (as a staff pause would) until an admin resumes it; over a *_warn threshold staff are
    told. Checked per send (the edition being sent, or the last one) and over the last
    `window_days`, when provider events arrive and before every batch."""

    # Gmail and Yahoo's bulk sender rules: keep spam complaints under 0.1%, never reach 0.3%
    complaint_rate_warn: float = 0.001
    complaint_rate_stop: float = 0.003
    # hard bounces over messages sent: AWS SES reviews an account at 5% and guides under 2%
    bounce_rate_warn: float = 0.02
    bounce_rate_stop: float = 0.05
    # below this many messages a rate is noise (one complaint in 499 is already 0.2%): no verdict
    min_sample: int = 500
    window_days: int = 7

    @field_validator("complaint_rate_warn", "complaint_rate_stop", "bounce_rate_warn", "bounce_rate_stop",
                     mode="before")
    @classmethod
    def _fraction(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
            raise ValueError(f"must be a number, a fraction such as 0.003 for 0.3% (got {value!r})")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"must be a number, a fraction such as 0.003 for 0.3% (got {value!r})") from None
        if not 0 < number < 1:
            hint = f": {number}% is written {number / 100:g}" if 1 <= number <= 100 else ""
            raise ValueError(f"must be a fraction between 0 and 1, e.g. 0.003 for 0.3% (got {value!r}){hint}")
        ceiling = _REPUTATION_CEILINGS[str(info.field_name).split("_")[0]]
        if number > ceiling:
            raise ValueError(f"{number:g} is {number * 100:g}%, above the most this threshold may be ({ceiling:g}, "
                             f"{ceiling * 100:g}%): mailbox providers refuse a sender long before; for "
                             f"{number:g}% write {number / 100:g}")
        return number

    @field_validator("min_sample")
    @classmethod
    def _sample(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1 message (got {value}); the default, 500, keeps one complaint in a "
                             "small send from stopping everything")
        return value

    @field_validator("window_days")
    @classmethod
    def _window(cls, value: int) -> int:
        if not 1 <= value <= 90:
            raise ValueError(f"must be between 1 and 90 days (got {value}); Gmail's Postmaster Tools reads 7")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Reputation:
        for what in ("complaint", "bounce"):
            warn, stop = getattr(self, f"{what}_rate_warn"), getattr(self, f"{what}_rate_stop")
            if warn > stop:
                raise ValueError(f"reputation.{what}_rate_warn ({warn:g}) is above reputation.{what}_rate_stop "
                                 f"({stop:g}): staff must be warned before email is paused; lower the warning or "
                                 "raise the stop")
        return self


_NOTICE_WHAT = {(True, False): "which links in this email each reader follows",
                (False, True): "whether each reader opens this email (by an invisible image)",
                (True, True): "which links in this email each reader follows and whether they open it "
                              "(by an invisible image)"}


class Tracking(_Strict):
    """`[tracking]`: what the email's links and images tell us. Clicks on article links are always
    counted per item and edition, naming nobody. Per-reader clicks and the open pixel are off
    unless turned on here; while either is on, `notice` is printed in every email's footer."""

    count_clicks: bool = True  # article links go through /r/<token>: clicks per item and edition, naming nobody
    per_reader_clicks: bool = False  # keep who clicked which link (deleted with the subscriber)
    open_pixel: bool = False  # a 1x1 image per reader: who opened the email, when their client loads images
    notice: str = Field(default="", max_length=600)  # "": a notice that says what is on (`notice_text`)
    flush_seconds: float = Field(default=1.0, ge=0, le=60)  # clicks counted in memory this long (0: written at once)

    @property
    def identifies_readers(self) -> bool:
        """Whether any link or image of the email names its reader (the footer then says so)."""
        return self.per_reader_clicks or self.open_pixel

    @property
    def notice_text(self) -> str:
        """The footer's privacy notice: `notice`, else one saying exactly what is on ("" when nothing is)."""
        if not self.identifies_readers:
            return ""
        if self.notice.strip():
            return " ".join(self.notice.split())
        what = _NOTICE_WHAT[(self.per_reader_clicks, self.open_pixel)]
        return f"Privacy: we record {what}, to learn what is useful to readers. Nothing else about you is recorded."


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
    calendar: CalendarSettings = CalendarSettings()  # [calendar]: quiet time (holidays, periods, hours)
    weekly_note: WeeklyNoteSettings = WeeklyNoteSettings()  # [weekly_note]: the note to staff each week
    reputation: Reputation = Reputation()  # [reputation]: pause email when complaints or bounces run high
    tracking: Tracking = Tracking()  # [tracking]: per-reader clicks and the open pixel (off by default)

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
