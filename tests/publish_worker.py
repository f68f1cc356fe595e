"""The publisher as a subprocess for the crash test: one `publish_due_posts` run against the fake
X, which dies (`os._exit(137)`, like a SIGKILL: no cleanup, no rollback) where
`SYNDICATE_TEST_CRASH_AT` says:

- "k:before": just before post k (its position in the thread) is sent; the ledger already says
  `posting`, the network never saw it;
- "k:after": just after the network accepted post k, before the ledger records its id.

Production code never reads that variable: the worker wraps the real `XChannel`.

    python -m tests.publish_worker DB_URL X_BASE_URL NOW_ISO
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime

from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from compose.config import Config
from connectors.channels.base import PostReceipt
from connectors.channels.x import XChannel
from flows.stages.publish import publish_due_posts
from state.models import PostRow

# the same as tests.test_publish (not imported from there: pytest and the fakes cost a subprocess time)
CREDENTIALS = {"X_API_KEY": "ck-publish", "X_API_SECRET": "cs-secret", "X_ACCESS_TOKEN": "at-publish",
               "X_ACCESS_TOKEN_SECRET": "ats-secret"}

CRASH_ENV = "SYNDICATE_TEST_CRASH_AT"
CRASH_EXIT = 137


class CrashingChannel:
    """The real channel, except that it kills the process at the scripted post."""

    name = "x"
    max_weighted_length = XChannel.max_weighted_length

    def __init__(self, inner: XChannel, crash_text: str | None, when: str) -> None:
        self.inner, self.crash_text, self.when = inner, crash_text, when

    def publish(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt:
        if text == self.crash_text and self.when == "before":
            os._exit(CRASH_EXIT)
        receipt = self.inner.publish(text, reply_to=reply_to, thread_key=thread_key)
        if text == self.crash_text and self.when == "after":
            os._exit(CRASH_EXIT)
        return receipt

    def find_post(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt | None:
        return self.inner.find_post(text, reply_to=reply_to, thread_key=thread_key)

    def close(self) -> None:
        self.inner.close()


def main(db_url: str, x_base_url: str, now_iso: str) -> None:
    engine = create_engine(db_url)  # the test migrated it; state.db would import Alembic for nothing
    sessions = sessionmaker(engine, expire_on_commit=False)
    crash_text, when = None, ""
    if os.environ.get(CRASH_ENV):
        position, when = os.environ[CRASH_ENV].split(":")
        with sessions() as session:
            crash_text = session.scalar(select(PostRow.text).where(PostRow.position == int(position)))

    def channel_for(network: str) -> CrashingChannel:
        inner = XChannel.from_env({**CREDENTIALS, "X_API_BASE_URL": x_base_url}, timeout_s=5.0)
        assert inner is not None
        return CrashingChannel(inner, crash_text, when)

    config = Config.model_validate({
        "organisation": {"name": "Example Org", "site_url": "https://example.org", "postal_address": "1 High St"},
        "edition": {"from_email": "news@example.org", "from_name": "Example News", "reply_to": "ed@example.org",
                    "public_url": "https://news.example.org"},
        "sections": [{"key": "news", "title": "News"}]})
    summary = publish_due_posts(sessions, config,
                                now=datetime.fromisoformat(now_iso), channel_for=channel_for,
                                sleep=lambda s: None)
    print(json.dumps(summary.as_dict()), flush=True)
    engine.dispose()


if __name__ == "__main__":
    main(*sys.argv[1:4])
