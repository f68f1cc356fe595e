"""The email outbox names each copy by recipient and edition id and never overwrites a file:
the same copy written again (a resumed send) writes nothing, a different message under a taken
name goes beside it."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.channels.base import OutboundEmail, Recipient
from connectors.channels.outbox_email import OutboxEmailChannel

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _message(edition_id: int = 12, subject: str = "In Our View #12", slug: str = "2026-11-26") -> OutboundEmail:
    return OutboundEmail(edition_id, slug, subject, "<p>Hello {{first_name}}</p>", "Hello {{first_name}}",
                         "news@example.org", "Example News", "editors@example.org")


READERS = [Recipient(1, "ada@example.com", "Ada"), Recipient(2, "bo@example.com", "")]


def _files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_files_are_named_by_recipient_and_edition_id(tmp_path: Path) -> None:
    OutboxEmailChannel(tmp_path, now=NOW).send_batch(_message(), READERS)
    assert list(_files(tmp_path)) == ["email/2026-11-26/00001-e12.eml", "email/2026-11-26/00002-e12.eml"]


def test_sending_the_same_batch_again_writes_nothing_and_changes_nothing(tmp_path: Path) -> None:
    OutboxEmailChannel(tmp_path, now=NOW).send_batch(_message(), READERS)
    before = _files(tmp_path)
    receipt = OutboxEmailChannel(tmp_path, now=datetime(2026, 11, 27, tzinfo=UTC)).send_batch(_message(), READERS)
    assert receipt.accepted == (1, 2)
    assert _files(tmp_path) == before  # not rewritten (the Date would differ), not duplicated


def test_another_message_under_a_taken_name_goes_beside_it(tmp_path: Path) -> None:
    """Another ledger's edition 12 of the same day (say the demo's and a real run's) keeps both."""
    OutboxEmailChannel(tmp_path, now=NOW).send_batch(_message(subject="The demo's edition"), READERS[:1])
    first = _files(tmp_path)
    OutboxEmailChannel(tmp_path, now=NOW).send_batch(_message(subject="The real edition"), READERS[:1])
    files = _files(tmp_path)
    assert files["email/2026-11-26/00001-e12.eml"] == first["email/2026-11-26/00001-e12.eml"]
    subjects = {name: email.message_from_bytes(data, policy=policy.default)["Subject"] for name, data in files.items()}
    assert subjects == {"email/2026-11-26/00001-e12.eml": "The demo's edition",
                        "email/2026-11-26/00001-e12.2.eml": "The real edition"}


def test_a_file_written_by_someone_else_is_never_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "email" / "2026-11-26"
    folder.mkdir(parents=True)
    (folder / "00001-e12.eml").write_bytes(b"Subject: kept\r\n\r\nmine\r\n")
    OutboxEmailChannel(tmp_path, now=NOW).send_batch(_message(), READERS[:1])
    assert (folder / "00001-e12.eml").read_bytes() == b"Subject: kept\r\n\r\nmine\r\n"
    assert (folder / "00001-e12.2.eml").exists()
    assert not list(folder.glob(".tmp-*"))


@settings(max_examples=25, deadline=None)
@given(subjects=st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=6))
def test_every_distinct_message_is_kept_once_whatever_the_order_of_writes(subjects: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        for subject in subjects:
            OutboxEmailChannel(root, now=NOW).send_batch(_message(subject=subject), READERS[:1])
        kept = [email.message_from_bytes(data, policy=policy.default)["Subject"] for data in _files(root).values()]
        assert sorted(kept) == sorted(set(subjects))


# ---------------------------------------------------------------- posts

def _thread(channel, texts: list[str], key: str = "edition:2026-11-26") -> list[str]:
    ids: list[str] = []
    for text in texts:
        ids.append(channel.publish(text, reply_to=ids[-1] if ids else None, thread_key=key).provider_id)
    return ids


def test_a_second_thread_under_the_same_key_goes_beside_the_first_not_into_it(tmp_path: Path) -> None:
    import json

    from connectors.channels.outbox_posts import OutboxPostChannel

    demo, real = OutboxPostChannel("x", tmp_path), OutboxPostChannel("x", tmp_path)
    _thread(demo, ["1/2 the demo's thread", "2/2 end"])
    first = (tmp_path / "x" / "edition-2026-11-26.json").read_bytes()
    ids = _thread(real, ["1/3 the real thread", "2/3 middle", "3/3 end"])
    assert (tmp_path / "x" / "edition-2026-11-26.json").read_bytes() == first
    second = json.loads((tmp_path / "x" / "edition-2026-11-26.2.json").read_text("utf-8"))
    assert [p["text"] for p in second["posts"]] == ["1/3 the real thread", "2/3 middle", "3/3 end"]
    assert [p["in_reply_to"] for p in second["posts"]] == [None, ids[0], ids[1]]


def test_publishing_a_thread_again_writes_nothing_and_finds_each_post(tmp_path: Path) -> None:
    from connectors.channels.outbox_posts import OutboxPostChannel

    channel = OutboxPostChannel("mastodon", tmp_path)
    _thread(channel, ["1/2 a thread", "2/2 end"])
    _thread(channel, ["1/2 another", "2/2 end"])
    before = _files(tmp_path)
    ids = _thread(channel, ["1/2 another", "2/2 end"])  # a resumed run
    assert _files(tmp_path) == before and len(before) == 2
    assert channel.find_post("2/2 end", reply_to=ids[0], thread_key="edition:2026-11-26").provider_id == ids[1]
    assert channel.find_post("1/2 a thread", thread_key="edition:2026-11-26") is not None
    assert channel.find_post("1/2 never posted", thread_key="edition:2026-11-26") is None
