"""What the browser tests share: Debian's chromium through Playwright, a page at a width that never
reaches outside the machine, signing in on the desk, and the check every page passes (nothing
scrolls sideways, axe-core finds nothing serious or critical, a full-page screenshot to look at).

A test module takes the `browser` fixture by importing it (``from tests.helpers.browser import
browser_fixture  # noqa: F401``); a module that wants another scope makes its own fixture around
`launched`. What differs between modules is a parameter: whether the page's
Content-Security-Policy is bypassed (to inject axe-core with a script tag) or stays in force, what
outside requests are answered with (a placeholder image, or refused and noted), and where the
screenshots go.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import desk_data
from tests.helpers.serving import serve_on_loopback

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
AXE = ROOT / "tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# A grey image: what a request that would leave the machine (a logo, a story's picture) is answered with.
PLACEHOLDER = ('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60">'
               '<rect width="100%" height="100%" fill="#9db4cc"/></svg>')
# axe-core's serious and critical violations on the page, one line each (rule, impact, help, where).
AXE_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
}"""


def require(*, axe: bool = True) -> None:
    """Fail (not skip) the test when Debian's chromium, or axe-core when `axe`, is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (or `make test`, which installs Debian's chromium)",
                    pytrace=False)
    if axe and not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make axe` (or `make test`)", pytrace=False)


def launch(playwright: Any) -> Any:
    """Debian's chromium, headless, started by a running Playwright with the test flags."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@contextmanager
def launched(*, axe: bool = True) -> Iterator[Any]:
    """Debian's chromium for the length of the block (after `require`), closed afterwards."""
    require(axe=axe)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(name="browser")
def browser_fixture() -> Iterator[Any]:
    """Debian's chromium for one test (axe_violations fails the test if axe-core is not installed)."""
    with launched(axe=False) as chromium:
        yield chromium


def shots_folder(fallback: Path) -> Path:
    """Where screenshots go: $SYNDICATE_SHOTS_DIR when set, tests/artifacts/ when
    SYNDICATE_KEEP_SCREENSHOTS=1, otherwise `fallback` (a pytest temporary folder)."""
    if os.environ.get("SYNDICATE_SHOTS_DIR"):
        chosen = Path(os.environ["SYNDICATE_SHOTS_DIR"])
        chosen.mkdir(parents=True, exist_ok=True)
        return chosen
    if os.environ.get("SYNDICATE_KEEP_SCREENSHOTS") == "1":
        keep = ROOT / "tests" / "artifacts"
        keep.mkdir(exist_ok=True)
        return keep
    return fallback


def new_context(browser: Any, base: str, width: int, *, bypass_csp: bool = True, stub: str | None = PLACEHOLDER,
                seen: list[str] | None = None, **options: Any) -> Any:
    """A browser context 900 px high and `width` wide where requests to `base` go through and the
    others never leave the machine: answered with the SVG `stub`, or refused when it is None; their
    URLs are appended to `seen` when given. `bypass_csp` lets a script tag inject axe-core; set it
    False to keep the page's Content-Security-Policy in force. `options` go to new_context."""
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=bypass_csp, **options)

    def answer(route: Any) -> None:
        url = route.request.url
        if url.startswith(base):
            route.continue_()
            return
        if seen is not None:
            seen.append(url)
        if stub is None:
            route.abort()
        else:
            route.fulfill(status=200, content_type="image/svg+xml", body=stub)

    context.route("**/*", answer)
    return context


def new_page(browser: Any, base: str, width: int, **options: Any) -> Any:
    """A page in its own `new_context` (same options); close it with ``page.context.close()``."""
    return new_context(browser, base, width, **options).new_page()


def sign_in(page: Any, base: str, email: str) -> None:
    """Sign in on the desk as `email` (a seeded staff member, desk_data.PASSWORD), signed out first."""
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(desk_data.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/desk")


def signed_in_page(browser: Any, base: str, width: int, email: str, **options: Any) -> Any:
    """A `new_page` (same options) signed in on the desk as `email`."""
    page = new_page(browser, base, width, **options)
    sign_in(page, base, email)
    return page


def too_wide(page: Any, width: int) -> str | None:
    """What is wrong when the page scrolls sideways at `width`, or None when it fits."""
    wide = page.evaluate("document.documentElement.scrollWidth")
    return f"{page.url} is {wide} px wide at {width} px" if wide > width else None


def axe_violations(page: Any, *, csp_in_force: bool = False, run: str = AXE_RUN) -> list[str]:
    """axe-core's violations on the page as `run` filters them (serious and critical by default).
    axe-core goes in with a script tag (the context must bypass the CSP), or when `csp_in_force`
    through DevTools, so the page's own Content-Security-Policy still applies to the page."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make axe` (or `make test`)", pytrace=False)
    if csp_in_force:
        page.evaluate(AXE.read_text("utf-8") + "\n;0")
    else:
        page.add_script_tag(path=str(AXE))
    return list(page.evaluate(run))


def check_page(page: Any, width: int, shot: Path, *, csp_in_force: bool = False) -> None:
    """Nothing scrolls sideways at `width`, axe-core finds nothing serious or critical, and a
    full-page screenshot is saved at `shot` to look at."""
    wide = too_wide(page, width)
    assert wide is None, wide
    assert axe_violations(page, csp_in_force=csp_in_force) == [], page.url
    page.screenshot(path=str(shot), full_page=True)


def fits(page: Any) -> None:
    """Nothing scrolls sideways: the page is no wider than its window."""
    wide = too_wide(page, page.viewport_size["width"])
    assert wide is None, wide


@contextmanager
def serving_desk(config: Any, db: Any, now: datetime) -> Iterator[str]:
    """The web app over `db`, its clock stopped at `now`, served on loopback; yields its base URL."""
    from web.app import create_app

    app = create_app(config=config, db=db, secret_key="browser-test-secret-key-0123", now=lambda: now, env={})
    with serve_on_loopback(app) as base:
        yield base
