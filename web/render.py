"""Page rendering: the Jinja2 templates under `templates/web/`, times in the organisation's zone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from compose.config import Config
from compose.email import RECIPIENT_TOKENS, greeting_name, postal_line
from state.db import Database
from state.pauses import active as active_pauses
from web.security import CSRF_FIELD, IpThrottle

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "web"
STATIC = Path(__file__).resolve().parent / "static"


@dataclass
class WebApp:
    """What every request handler needs: the config, the ledger, the signing key and the clock."""

    config: Config
    db: Database
    secret_key: str
    now: Callable[[], datetime]
    https: bool
    env: dict[str, str]
    templates: Jinja2Templates
    throttle: IpThrottle = field(default_factory=IpThrottle)

    @property
    def zone(self) -> ZoneInfo:
        return self.config.zone

    @property
    def public_url(self) -> str:
        return str(self.config.edition.public_url).rstrip("/")


def app_of(request: Request) -> WebApp:
    return request.app.state.syndicate


def _local(value: datetime | None, zone: ZoneInfo, fmt: str = "%a %-d %b %Y, %H:%M %Z") -> str:
    if value is None:
        return "—"
    return value.astimezone(zone).strftime(fmt)


def make_templates(config: Config) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.autoescape = True
    zone = config.zone
    env.filters["local"] = lambda value, fmt="%a %-d %b %Y, %H:%M %Z": _local(value, zone, fmt)
    env.filters["input_local"] = lambda value: _local(value, zone, "%Y-%m-%dT%H:%M") if value else ""
    env.globals["config"] = config
    env.globals["postal_line"] = postal_line(config.organisation.name, config.organisation.postal_address)
    env.globals["csrf_field"] = CSRF_FIELD
    return templates


def page(request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200) -> HTMLResponse:
    app = app_of(request)
    # a page answered before the session middleware (`public.UnsubscribeFastPath`) has no session: no staff, no form token
    session = getattr(request.state, "web_session", None)
    values = {"request": request, "csrf": session.csrf if session else "", "staff": getattr(request.state, "staff", None),
              "zone_name": app.config.edition.timezone, "path": request.url.path}
    values.update(context or {})
    if values["staff"] is not None:  # every desk page shows the pauses in force (templates/web/base.html)
        with app.db.session() as session:
            values["pauses"] = active_pauses(session)
    return app.templates.TemplateResponse(request, name, values, status_code=status)


def message(request: Request, title: str, text: str, *, status: int = 200, link: tuple[str, str] | None = None) -> HTMLResponse:
    """A short page that says one thing (a confirmation, or an error and what to do)."""
    return page(request, "message.html", {"title": title, "text": text, "link": link}, status=status)


def neutral_tokens(text: str, *, unsubscribe_url: str, preferences_url: str) -> str:
    """An edition with the per-recipient tokens filled with neutral values (archive, previews):
    the greeting every channel uses for a reader with no name ("Hello there,", `compose.email.greeting_name`)
    and links that name nobody in place of the unsubscribe and preference links (`/preferences` says
    where each reader's own link is)."""
    first, unsubscribe, preferences = RECIPIENT_TOKENS
    return (text.replace(first, greeting_name("")).replace(unsubscribe, unsubscribe_url)
            .replace(preferences, preferences_url))
