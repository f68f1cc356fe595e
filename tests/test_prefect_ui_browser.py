"""The Prefect UI as `syndicate serve` serves it, in a real browser (Debian's chromium through Playwright),
offline: it reaches its own API (no "Unable to connect to Prefect server"), lists the six deployments
with their schedules and triggers, and shows a run's artifacts.

The example site is served on loopback, so the `gather` and `build-edition` deployments run for real
(through the served runner) and publish their artifacts. Screenshots go to the pytest temporary
folder, or to $SYNDICATE_SHOTS_DIR when it is set (docs/img/ holds optimised copies: docs/operations.md).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from flows.demo import demo_config, serve_site
from flows.serve import free_port
from tests.helpers.browser import launch, require
from tests.helpers.syndicate_serve import Served, api, wait_for_deployments

pytestmark = [pytest.mark.browser, pytest.mark.prefect]

RUN_TIMEOUT_S = 240
EXPECTED = ["build-edition", "gather", "publish-posts", "send-edition", "social-drafts", "weekly-note"]


def _run(api_url: str, deployment: dict[str, Any], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """Start a run of a served deployment and wait until it is final; the flow run."""
    run = api(api_url, f"/deployments/{deployment['id']}/create_flow_run", {"parameters": parameters or {}})
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        run = api(api_url, f"/flow_runs/{run['id']}")
        if run["state"] and run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(1)
    pytest.fail(f"{deployment['name']} run {run['id']} is still {run['state']['type']} after {RUN_TIMEOUT_S} s")


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SYNDICATE_SHOTS_DIR") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.timeout(600)
def test_the_prefect_ui_served_by_syndicate_serve_shows_deployments_and_artifacts(tmp_path: Path) -> None:
    require(axe=False)
    from playwright.sync_api import sync_playwright

    shots = _shots(tmp_path)
    with serve_site() as origin:
        config = demo_config(origin, tmp_path)
        served = Served(tmp_path, free_port(), config=config)
        try:
            served.wait_for(r"Starting the Prefect server on (\S+)", 60)
            ui_url = served.wait_for(r"Prefect UI on (\S+)", 400).group(1)
            api_url = served.last(r"Starting the Prefect server on (\S+)").group(1)
            by_name = {d["name"]: d for d in wait_for_deployments(api_url, len(EXPECTED))}
            assert sorted(by_name) == EXPECTED
            gathered = _run(api_url, by_name["gather"], {"include_backlog": True})
            built = _run(api_url, by_name["build-edition"])
            assert (gathered["state"]["type"], built["state"]["type"]) == ("COMPLETED", "COMPLETED")
            triggers = {a["name"]: a["trigger"]["expect"] for a in api(api_url, "/automations/filter", {})}
            assert triggers == {"send-edition__automation_1": ["syndicate.edition.approved"],
                                "social-drafts__automation_1": ["syndicate.item.discovered"]}
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    page = browser.new_page(viewport={"width": 1280, "height": 800})
                    outside: list[str] = []  # offline: every request off this machine is refused and noted

                    def refuse(route: Any) -> None:
                        outside.append(route.request.url)
                        route.abort()

                    page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), refuse)
                    settings = api(ui_url.rstrip("/"), "/ui-settings")
                    assert settings["api_url"] == api_url
                    ui = ui_url.rstrip("/") + (settings.get("v2_base_url") or "")  # the UI Prefect opens by default
                    page.goto(ui_url, wait_until="networkidle")
                    assert page.url.startswith(ui), page.url
                    page.goto(f"{ui}/deployments", wait_until="networkidle")
                    for name in EXPECTED:
                        page.get_by_text(name, exact=True).first.wait_for(timeout=30_000)
                    text = page.inner_text("body")
                    assert "Unable to connect" not in text and f"{len(EXPECTED)} Deployments" in text
                    assert text.count("1 schedules") == len(EXPECTED) - 1, text  # all but social-drafts, which a trigger starts
                    page.screenshot(path=str(shots / "prefect-deployments.png"))

                    page.goto(f"{ui}/deployments/deployment/{by_name['gather']['id']}", wait_until="networkidle")
                    page.get_by_text("Schedules").first.wait_for(timeout=30_000)
                    text = page.inner_text("body")
                    assert "every 30 minutes" in text.lower() or "*/30 * * * *" in text, text
                    page.goto(f"{ui}/deployments/deployment/{by_name['send-edition']['id']}",
                              wait_until="networkidle")
                    page.get_by_text("send-edition__automation_1").first.wait_for(timeout=30_000)
                    text = page.inner_text("body")
                    assert "Every 5 minutes" in text and "Triggers" in text, text
                    page.goto(f"{ui}/automations", wait_until="networkidle")
                    page.get_by_text("social-drafts__automation_1").first.wait_for(timeout=30_000)
                    page.get_by_text("send-edition__automation_1").first.click()
                    page.get_by_text("Run deployment:").first.wait_for(timeout=30_000)
                    text = page.inner_text("body")
                    assert "A custom trigger" in text and "send-edition" in text, text

                    page.goto(f"{ui}/runs/flow-run/{built['id']}", wait_until="networkidle")
                    page.get_by_text("Artifacts", exact=True).first.click()
                    card = page.get_by_text("build-edition", exact=True).last
                    card.wait_for(timeout=30_000)
                    card.scroll_into_view_if_needed()
                    page.screenshot(path=str(shots / "prefect-run-artifacts.png"))

                    artifacts = {a["key"]: a for a in api(api_url, "/artifacts/filter", {
                        "flow_runs": {"id": {"any_": [built["id"], gathered["id"]]}}})}
                    for key, expected in (("build-edition", "Review it on the desk"), ("gather-sources", "blogs")):
                        page.goto(f"{ui}/artifacts/artifact/{artifacts[key]['id']}", wait_until="networkidle")
                        try:
                            page.get_by_text(expected).first.wait_for(timeout=30_000)
                        finally:
                            (shots / f"{key}.txt").write_text(page.inner_text("body"), "utf-8")
                        page.screenshot(path=str(shots / f"prefect-{key}-artifact.png"))
                    text = (shots / "build-edition.txt").read_text("utf-8")
                    assert "-byte budget" in text and "item(s)" in text, text
                    # Prefect's bundled UI fetches its analytics library's remote config at load even with
                    # analytics off; offline that fails harmlessly. No analytics event is ever sent.
                    unexpected = [u for u in outside if not u.startswith("https://sr-client-cfg.amplitude.com/")]
                    assert not unexpected, f"the UI reached outside this machine: {sorted(set(unexpected))[:5]}"
                finally:
                    browser.close()
        finally:
            code = served.interrupt()
    assert code == 0, "\n".join(served.lines)
