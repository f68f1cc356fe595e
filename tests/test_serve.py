"""`syndicate serve` on one machine: a long-lived Prefect server, the six deployments, the web app;
Ctrl-C stops all of it, and starting again resumes with the deployments still active."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flows.serve import free_port
from tests.helpers.syndicate_serve import Served, answers, api, get, wait_for_deployments

pytestmark = pytest.mark.prefect
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(900)  # two cold starts of the server; each took up to 100 s on a busy machine
def test_serve_runs_everything_stops_on_ctrl_c_and_resumes(tmp_path: Path) -> None:
    port = free_port()
    for attempt in ("first start", "restart"):
        served = Served(tmp_path, port)
        try:
            served.wait_for(r"Starting the Prefect server on (\S+)", 60)
            served.wait_for(r"Serving 6 deployments", 400)  # prefect.yaml's, weekly-note included
            api_url = served.last(r"Starting the Prefect server on (\S+)").group(1)
            deadline = time.monotonic() + 30
            while not answers(f"http://127.0.0.1:{port}/editions") and time.monotonic() < deadline:
                time.sleep(0.5)
            assert get(f"http://127.0.0.1:{port}/editions") == 200, attempt
            ui_url = served.wait_for(r"Prefect UI on (\S+)", 30).group(1)
            assert served.wait_for(r"Review desk on (\S+)", 5).group(1) == f"http://127.0.0.1:{port}/"
            assert ui_url == api_url.removesuffix("api"), "the UI is served by the server serve started"
            assert api(ui_url.rstrip("/"), "/ui-settings")["api_url"] == api_url, "the UI calls another API"
            deployments = wait_for_deployments(api_url, 6)
            assert sorted(d["name"] for d in deployments) == [
                "build-edition", "gather", "publish-posts", "send-edition", "social-drafts", "weekly-note"], attempt
            assert not any(d.get("paused") for d in deployments), f"{attempt}: deployments paused"
        finally:
            code = served.interrupt()
        assert code == 0, "\n".join(served.lines)
        assert not answers(f"{api_url}/health"), "the Prefect server was left running"
        assert not answers(f"http://127.0.0.1:{port}/editions"), "the web app was left running"
