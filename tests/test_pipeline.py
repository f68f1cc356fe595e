"""The whole pipeline end to end through the `syndicate` commands, on the example site served on
loopback, delivering to the outbox; and the rerun rule: a second run sends nothing."""

from __future__ import annotations

import email
import email.policy
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.cli import main
from flows.demo import EXAMPLES, PLACEHOLDER_ORIGIN, serve_site


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYNDICATE_SECRET_KEY", "test-secret-key-0123456789")
    monkeypatch.delenv("SYNDICATE_DATABASE_URL", raising=False)
    monkeypatch.delenv("SYNDICATE_CONFIG", raising=False)
    for key in ("SENDGRID_API_KEY", "X_API_KEY", "MASTODON_ACCESS_TOKEN", "BLUESKY_HANDLE"):
        monkeypatch.delenv(key, raising=False)
    with serve_site() as origin:
        text = (EXAMPLES / "syndicate.toml").read_text("utf-8").replace(PLACEHOLDER_ORIGIN, origin)
        (tmp_path / "syndicate.toml").write_text(text, "utf-8")
        yield tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    unwrap = re.compile(r"[ \t]*\n[ \t]*")  # messages wrap at the terminal's width (80 here); JSON is unchanged
    return code, unwrap.sub(" ", out), unwrap.sub(" ", err)


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code, out, err = run(capsys, "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_gather_compose_approve_deliver_publish_and_never_twice(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "subscribers", "import", str(EXAMPLES / "subscribers.csv"))[0] == 0
    gathered = run_json(capsys, "gather", "--include-backlog")
    assert gathered["failed"] == 0 and gathered["new"] == 13
    assert {s["name"]: s["new"] for s in gathered["sources"]} == {"news": 6, "blogs": 3, "publications": 4}

    built = run_json(capsys, "edition", "build")
    edition_id = built["id"]
    assert built["built"] and isinstance(edition_id, int)
    pending = run_json(capsys, "status")["pending"]
    assert {"kind": "edition", "id": edition_id} in [{"kind": p["kind"], "id": p["id"]} for p in pending]
    thread_ids = [p["id"] for p in pending if p["kind"] == "thread"]
    assert thread_ids, "the roundup thread waits for approval too"

    code, out, err = run(capsys, "send", str(edition_id))
    assert code == 1 and "is not approved: run `syndicate approve edition" in out + err
    assert not (workdir / "outbox" / "email").exists() or not list((workdir / "outbox" / "email").rglob("*.eml"))

    code, out, err = run(capsys, "approve", "edition", str(edition_id), "--by", "comms@socitm.example")
    assert code == 1 and "'comms@socitm.example' is not a member of staff" in err  # --by must name one
    assert run(capsys, "staff", "add", "comms@socitm.example", "--role", "approver")[0] == 0
    assert run(capsys, "approve", "edition", str(edition_id), "--by", "comms@socitm.example")[0] == 0
    for thread_id in thread_ids:
        assert run(capsys, "approve", "thread", str(thread_id), "--by", "comms@socitm.example")[0] == 0
    sent = run_json(capsys, "send", str(edition_id))
    figures = sent["editions"][0]
    assert figures["accepted"] == 6 and figures["sent"] is True

    messages = sorted((workdir / "outbox" / "email").rglob("*.eml"))
    assert len(messages) == 6
    message = email.message_from_bytes(messages[0].read_bytes(), policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/unsubscribe/" in message["List-Unsubscribe"]
    html = message.get_body(("html",)).get_content()
    assert "{{unsubscribe_url}}" not in html and "Huw McKee elected new vice president" in html

    published = run_json(capsys, "publish")
    assert published["posted"] >= 3 and published["threads_done"]
    thread_file = workdir / "outbox" / "x" / f"edition-{figures_slug(workdir, capsys, edition_id)}.json"
    posts = json.loads(thread_file.read_text("utf-8"))["posts"]
    assert posts[0]["in_reply_to"] is None
    assert all(later["in_reply_to"] == earlier["id"] for earlier, later in zip(posts, posts[1:], strict=False))

    # the rerun rule: nothing new, nothing sent again
    assert run_json(capsys, "gather")["new"] == 0
    again = run_json(capsys, "edition", "build")
    assert again["id"] is None and "no new items since the last edition" in again["reason"]
    assert run_json(capsys, "send", str(edition_id))["editions"][0]["accepted"] == 6
    assert len(sorted((workdir / "outbox" / "email").rglob("*.eml"))) == 6
    assert run_json(capsys, "publish")["posted"] == 0
    assert len(json.loads(thread_file.read_text("utf-8"))["posts"]) == len(posts)


def figures_slug(workdir: Path, capsys: pytest.CaptureFixture[str], edition_id: int) -> str:
    return run_json(capsys, "edition", "show", str(edition_id))["slug"]


def test_bad_input_is_one_clear_message(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "gather", "--no-such-option")
    assert code == 2 and "No such option" in err + out and "Traceback" not in err + out
    (workdir / "broken.toml").write_text("[edition]\ntitle = 1\n", "utf-8")
    code, out, err = run(capsys, "--config", str(workdir / "broken.toml"), "status")
    assert code == 1 and "organisation: missing" in err and "Traceback" not in err
    code, out, err = run(capsys, "approve", "edition", "42", "--by", "a@socitm.example")
    assert code == 1 and "there is no edition 42" in err


def test_global_options_also_after_the_command(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status", "--json", "--config", "syndicate.toml")
    assert code == 0
    assert set(json.loads(out)) >= {"sources", "pending", "schedule", "failures", "next_edition"}
