"""Every page the app serves, in a real browser (Debian's chromium through Playwright), at 375 and
1280 px: nothing scrolls sideways, no table runs out of its card, and axe-core finds no serious or
critical accessibility violation.

The pages come from the app's own GET routes, so a new page is covered without touching this file
(a new path parameter needs a sample from `_seed`, and the test says so). The ledger holds what
makes pages wide in real life: long URLs, long subjects, long addresses and long error messages.

Screenshots go to the pytest temporary folder, or to $SYNDICATE_SHOTS_DIR when it is set.
axe-core comes from npm (`make axe` installs it under tools/axe/) and is injected into each page.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from compose.models import FetchReport, Item
from compose.signing import confirm_token, preferences_token, unsubscribe_token
from connectors.link_check import edition_link_warnings
from flows.stages.edition import build_next_edition
from state import deliveries, ledger
from state.edition_edits import edit_edition
from state.items import store_report, sync_sources
from state.models import (
    EditionRow,
    PostRow,
    SourceRow,
    SubscriberRow,
    SubscriberStatus,
    ThreadRow,
    WebhookDeliveryRow,
)
from state.staff import add_staff
from tests.helpers import desk_data
from tests.helpers.browser import axe_violations, launched, new_context, shots_folder, sign_in, too_wide
from tests.helpers.serving import serve_on_loopback
from tests.helpers.staff import add_staff_rows
from web.app import create_app

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "pages-browser-secret-key-0123456789"
WIDTHS = (375, 1280)
LONG_URL = ("https://www.socitm.net/publications/policy-briefings/2026/interoperability-and-data-standards-across-"
            "integrated-care-systems-and-local-government-a-practical-guide-for-digital-leaders?utm_source=newsletter"
            "&utm_medium=email&utm_campaign=in-our-view-2026-11-26&reference=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
LONG_SUBJECT = ("In Our View: interoperability, integrated care data standards, the cyber resilience guide and "
                "what the Autumn Statement means for local digital budgets")
LONG_ERROR = ("could not connect: Cannot connect to host feeds.an-extremely-long-subdomain-name-for-a-partner-"
              "organisation.gov.uk:443 ssl:default [Name or service not known: getaddrinfo failed for "
              f"{LONG_URL}]")
LONG_EMAIL = "firstname.middlename.lastname.digital-transformation@very-long-council-name.gov.uk"

# Routes that answer with something other than a page, and what they answer with.
NOT_PAGES = {
    "/desk/subscribers.csv": "text/csv",
    "/editions/feed.xml": "application/rss+xml",
    "/brand.css": "text/css",
    "/desk/api/count": "application/json",
    "/websub/{token}": "",  # a hub's verification request: answered in plain text, or refused
    "/calendar/{token}.ics": "text/calendar",  # a member of staff's feed (tests/test_calendar_feed.py)
    "/r/{token}": "",  # a counted link: a redirect, never a page (tests/test_clicks.py)
    "/o/{token}": "image/gif",  # the opt-in open pixel (tests/test_clicks.py)
    "/desk/reports/charts/{name}.svg": "image/svg+xml",  # the reports' charts (tests/test_report_pages.py)
    "/desk/reports/editions/{edition_id}/charts/{name}.svg": "image/svg+xml",
    "/desk/subscribers/{subscriber_id}/data.json": "application/json",  # a subject access export (tests/test_erasure_cli.py)
    "/api/v1/openapi.json": "application/json",  # the JSON API: JSON, never a page (tests/test_api.py)
    "/api/v1/subscribers": "application/json",
    "/api/v1/subscribers/{email}": "application/json",
    "/api/v1/editions": "application/json",
    "/api/v1/editions/{edition_id}": "application/json",
    "/api/v1/editions/{edition_id}/figures": "application/json",
}


def _item(section: str, source: str, n: int, title: str, published: datetime, url: str | None = None) -> Item:
    return Item(url=url or f"https://www.socitm.net/{section}/{n}-{re.sub(r'[^a-z]+', '-', title.lower())[:40]}",
                title=title, section=section, source=source,
                summary_text=f"{title}: what it means for councils, and what to do next. " * 3,
                summary_html=f"<p>{title}</p>", published=published, image_url=None)


def _store(session, config, items_by_section: dict[str, list[Item]], at: datetime) -> None:
    rows = sync_sources(session, config.sources)
    for source in config.sources:
        items = tuple(item for item in items_by_section.get(source.section, ()) if item.source == source.name)
        store_report(session, rows[source.name], FetchReport(source=source.name, items=items, status=200),
                     now=at, include_backlog=True)


def _seed(db, config) -> dict[str, object]:
    """A ledger that looks like a few weeks of real use, with everything that makes pages wide."""
    sources = {s.section: s.name for s in config.sources}
    earlier = NOW - timedelta(days=7)
    with db.session() as session:
        first = {section: [_item(section, name, n, f"Earlier {section} story {n}", earlier - timedelta(hours=n))
                           for n in range(3)] for section, name in sources.items()}
        _store(session, config, first, earlier)
        sent_id = build_next_edition(session, config, now=earlier).edition_id
        assert sent_id is not None
    desk_data.seed_subscribers(db, 4, now=earlier)
    with db.session() as session:
        session.add(SubscriberRow(email=LONG_EMAIL, name="Alexandra Catherine Montgomery-Fotheringham",
                                  status=SubscriberStatus.BOUNCED, consent_source=f"import:{'x' * 60}.csv",
                                  consent_at=earlier, status_reason=f"bounced: 550 5.1.1 <{LONG_EMAIL}> {LONG_ERROR}",
                                  status_changed_at=earlier, created_at=earlier))
        session.add(SubscriberRow(email="noname@example.org", name="", status=SubscriberStatus.ACTIVE,
                                  consent_source="web:/subscribe", consent_at=earlier, confirmed_at=earlier,
                                  status_changed_at=earlier, created_at=earlier))
    with db.session() as session:
        row = session.get(EditionRow, sent_id)
        deliveries.plan(session, row, batch_size=2, now=earlier, channel="outbox")
    with db.session() as session:
        claimed = deliveries.claim_next_batch(session, sent_id, worker="w1", now=earlier)
        assert claimed is not None
        deliveries.mark_accepted(session, claimed.batch_id, provider_id="sg-1", rejected={}, now=earlier)
    with db.session() as session:
        claimed = deliveries.claim_next_batch(session, sent_id, worker="w1", now=earlier)
        assert claimed is not None
        deliveries.mark_ambiguous(session, claimed.batch_id, error=f"read timeout after the request left: {LONG_ERROR}",
                                  now=earlier)
    with db.session() as session:
        sent = session.get(EditionRow, sent_id)
        add_staff_rows(session, {"sam@example.org": "approver"})
        ledger.approve(session, "edition", sent_id, by="sam@example.org", now=earlier)
        ledger.mark_edition_sending(session, sent)
        ledger.mark_edition_sent(session, sent, now=earlier + timedelta(hours=1), summary={})
    desk_data.seed_staff(db, "alex@example.org", "admin", now=NOW)
    with db.session() as session:
        fresh = {section: [_item(section, name, n, f"Fresh {section} story {n} on digital inclusion and skills",
                                 NOW - timedelta(hours=2 + n)) for n in range(4)] for section, name in sources.items()}
        fresh["news"].append(_item("news", sources["news"], 9, "Interoperability-and-data-standards-across-integrated-"
                                   "care-systems-and-local-government", NOW - timedelta(hours=1), url=LONG_URL))
        _store(session, config, fresh, NOW - timedelta(minutes=30))
        draft_id = build_next_edition(session, config, now=NOW).edition_id
        assert draft_id is not None
        edit_edition(session, config, draft_id, by="alex@example.org", now=NOW, link_warnings=edition_link_warnings,
                     subject=LONG_SUBJECT,
                     intro_markdown=f"This week: skills, security and a new briefing ({LONG_URL}).")
    desk_data.seed_threads(db, config, now=NOW)
    with db.session() as session:
        source = session.query(SourceRow).filter_by(name=config.sources[0].name).one()
        store_report(session, source, FetchReport(source=source.name, error=LONG_ERROR,
                                                  hint="check the host name in syndicate.toml and that the site is up"),
                     now=NOW)
        session.add(SourceRow(name="Old partner feed (removed from syndicate.toml)", kind="feed", url=LONG_URL,
                              section="news", consecutive_failures=4, last_error=LONG_ERROR, last_bytes=0,
                              last_elapsed_ms=0.0, last_items_new=0, last_items_updated=0))
        post = session.query(PostRow).join(ThreadRow).order_by(PostRow.id).first()
        assert post is not None
        post.status, post.error = "failed", f"X refused the post: 403 Forbidden {LONG_ERROR}"
        post.text = f"{post.text} {LONG_URL}"
        ledger.audit(session, actor=LONG_EMAIL, action="edit", kind="edition", ident=draft_id, now=NOW,
                     subject=LONG_SUBJECT, link=LONG_URL, error=LONG_ERROR)
        _, setup = add_staff(session, "new.person@example.org", "editor", now=NOW)
        subscriber = session.query(SubscriberRow).filter_by(email="reader1@example.org").one()
        pending = session.query(SubscriberRow).filter_by(email="reader2@example.org").one()
        pending.status = SubscriberStatus.PENDING
    with db.session() as session:  # the Integrations page: tokens, a webhook with a long address, a failing delivery
        from state import api_tokens, events, webhooks

        api_tokens.create_token(session, "membership-crm-nightly-sync", scope="write", by="alex@example.org", now=NOW)
        api_tokens.create_token(session, "reports", scope="read", by="alex@example.org", now=NOW)
        webhooks.add_endpoint(session, LONG_URL, ["subscriber.subscribed", "edition.sent"], by="alex@example.org",
                              server_key=SECRET, now=NOW)
        events.record_event(session, events.SUBSCRIBER_SUBSCRIBED, "syndicate.subscriber.1", {"id": 1}, now=NOW)
        webhooks.fan_out(session, now=NOW)
        failing = session.scalars(select(WebhookDeliveryRow)).one()
        webhooks.record_attempt(session, failing.id, now=NOW, status=None, error=LONG_ERROR)
    with db.session() as session:
        slug = session.get(EditionRow, sent_id).slug
    return {
        "edition_id": draft_id, "sent_edition_id": sent_id, "slug": slug,
        ("/setup/{token}", "token"): setup,
        ("/unsubscribe/{token}", "token"): unsubscribe_token(SECRET, subscriber_id=subscriber.id,
                                                              edition_id=sent_id, now=NOW),
        ("/confirm/{token}", "token"): confirm_token(SECRET, subscriber_id=pending.id, email=pending.email, now=NOW),
        ("/preferences/{token}", "token"): preferences_token(SECRET, subscriber_id=subscriber.id, email=subscriber.email,
                                                             now=NOW),
        ("/desk/history/editions/{edition_id}", "edition_id"): sent_id,
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The app on a loopback port over the seeded ledger; yields (base URL, app, samples)."""
    from state.db import connect

    folder = tmp_path_factory.mktemp("pages")
    db = connect(f"sqlite:///{folder / 'ledger.db'}")
    config = desk_data.example_config(folder)
    samples = _seed(db, config)
    app = create_app(config=config, db=db, secret_key=SECRET, now=lambda: NOW, env={})
    with serve_on_loopback(app) as base:
        yield base, app, samples
    db.dispose()


@pytest.fixture(scope="module")
def browser():  # one chromium for the module
    with launched(axe=True) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return shots_folder(tmp_path_factory.mktemp("page-shots"))


def get_routes(routes, prefix: str = "") -> list[str]:
    """The paths of every GET route, through included routers (FastAPI 0.150 wraps each one)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            if "GET" in route.methods:
                found.append(prefix + route.path)
        elif hasattr(route, "original_router"):
            found += get_routes(route.original_router.routes, prefix + getattr(route.include_context, "prefix", ""))
    return found


def page_paths(app, samples: dict) -> dict[str, str]:
    """Every GET route of the app that answers with a page, its path parameters filled with samples
    (route -> path)."""
    paths = {}
    for route in get_routes(app.routes):
        if route in NOT_PAGES:
            continue
        path = route
        for name in re.findall(r"{(\w+)}", route):
            value = samples.get((route, name), samples.get(name))
            assert value is not None, f"no sample for {{{name}}} in {route}: add one to _seed's samples in this test"
            path = path.replace(f"{{{name}}}", str(value))
        paths[route] = path
    return paths


def test_every_get_route_is_a_page_here_or_declared_otherwise(site):
    base, app, samples = site
    import httpx

    paths = page_paths(app, samples)
    assert {"/desk", "/desk/subscribers", "/desk/audit", "/desk/sources", "/editions", "/subscribe"} <= set(paths.values())
    declared = set(NOT_PAGES)
    routes = set(get_routes(app.routes))
    assert len(routes) > 20
    assert declared <= routes, f"declared routes that no longer exist: {declared - routes}"
    for path in ("/brand.css", "/editions/feed.xml"):
        assert httpx.get(base + path).headers["content-type"].startswith(NOT_PAGES[path])


_TABLES_OUT_OF_THEIR_BOX = """() => {
  const out = [];
  for (const table of document.querySelectorAll("table")) {
    let box = table.parentElement;
    while (box && !["auto", "scroll", "hidden"].includes(getComputedStyle(box).overflowX)
           && !box.matches(".card, main, body")) box = box.parentElement;
    const container = box.closest(".card, main") || document.body;
    const edge = (box.matches(".card, main, body") ? table : box).getBoundingClientRect().right;
    const limit = container.getBoundingClientRect().right;
    if (edge > limit + 0.5) out.push(`${table.querySelector("th")?.textContent || "table"}: ${Math.round(edge)} > ${Math.round(limit)}`);
  }
  return out;
}"""

def _sign_in(context, base: str) -> None:
    page = context.new_page()
    sign_in(page, base, "alex@example.org")
    page.close()


def _check(context, url: str, width: int, shot: Path) -> list[str]:
    page = context.new_page()
    problems: list[str] = []
    try:
        response = page.goto(url)
        assert response is not None and response.status < 500, f"{url}: {response and response.status}"
        problems += [wide] if (wide := too_wide(page, width)) else []
        problems += [f"{url} at {width} px: table out of its box: {t}" for t in page.evaluate(_TABLES_OUT_OF_THEIR_BOX)]
        problems += [f"{url} at {width} px: {v}" for v in axe_violations(page)]
        page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()
    return problems


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_screen_and_passes_axe(site, browser, shots, width):
    base, app, samples = site
    paths = page_paths(app, samples)
    public = [(route, path) for route, path in paths.items() if not route.startswith("/desk")]
    desk = [(route, path) for route, path in paths.items() if route.startswith("/desk")]
    desk += [("/desk/subscribers-bounced", "/desk/subscribers?status=bounced"), ("/desk/history-1", "/desk/history?page=1")]
    problems: list[str] = []
    anonymous = new_context(browser, base, width)
    staff = new_context(browser, base, width)
    try:
        _sign_in(staff, base)
        for context, group in ((anonymous, public), (staff, desk)):
            for route, path in group:
                name = re.sub(r"[^a-z0-9]+", "-", route.lower()).strip("-") or "home"
                problems += _check(context, base + path, width, shots / f"{name}-{width}.png")
    finally:
        anonymous.close()
        staff.close()
    assert not problems, "\n".join(problems)


def test_axe_finds_a_serious_violation_when_there_is_one(browser, tmp_path):
    """The scan above can fail: on a page with an unlabelled field and unreadable text, axe reports them."""
    context = browser.new_context(viewport={"width": 375, "height": 600})
    page = context.new_page()
    try:
        page.set_content('<!doctype html><html lang="en"><title>t</title><main><input type="text">'
                         '<p style="color:#ccc;background:#fff">faint</p></main></html>')
        found = axe_violations(page)
        assert any(v.startswith("label") for v in found) and any(v.startswith("color-contrast") for v in found), found
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_import_preview_fits_and_passes_axe(site, browser, shots, width, tmp_path):
    """The page a POST makes: an import preview of a Mailchimp export with long addresses and a bad line."""
    base, _, _ = site
    upload = tmp_path / "mailchimp.csv"
    upload.write_text("Email Address,First Name,Last Name\n"
                      f"{LONG_EMAIL.replace('firstname', 'other')},Alexandra,Montgomery-Fotheringham\n"
                      f"{LONG_EMAIL},Alex,Again\nreader3@example.org,Reader,Three\n"
                      f"not-an-address-{'x' * 120},Bad,Line\n", encoding="utf-8")
    context = new_context(browser, base, width)
    try:
        _sign_in(context, base)
        page = context.new_page()
        page.goto(f"{base}/desk/subscribers/import")
        page.get_by_label("CSV file").set_input_files(str(upload))
        page.get_by_role("button", name="Check the file").click()
        page.wait_for_load_state()
        assert "Fix these lines" in page.content() and "Line 5" in page.content()
        problems = [wide] if (wide := too_wide(page, width)) else []
        problems += page.evaluate(_TABLES_OUT_OF_THEIR_BOX)
        problems += axe_violations(page)
        page.screenshot(path=str(shots / f"desk-subscribers-import-preview-{width}.png"), full_page=True)
        assert not problems, problems
    finally:
        context.close()
