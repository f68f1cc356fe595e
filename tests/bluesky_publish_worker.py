"""The publisher as a subprocess for the Bluesky crash test (tests/test_bluesky_crash.py): one
`publish_due_posts` run with the real `BlueskyChannel` against the fake PDS, images fetched from a
loopback site through the guarded fetcher. It is killed from outside (SIGKILL, sent by the fake
PDS when the scripted request arrives): nothing in here knows about crashes.

    python -m tests.bluesky_publish_worker DB_URL BLUESKY_URL IMAGE_SITE_URL SESSION_FILE NOW_ISO
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from compose.config import Config
from connectors.channels.bluesky import BlueskyChannel
from flows.stages.publish import publish_due_posts

HANDLE, PASSWORD = "socitm.bsky.social", "crash-app-password"


def config_for(image_site_url: str) -> Config:
    return Config.model_validate({
        "organisation": {"name": "Example Org", "site_url": "https://example.org", "postal_address": "1 High St"},
        "edition": {"from_email": "news@example.org", "from_name": "Example News", "reply_to": "ed@example.org",
                    "public_url": "https://news.example.org"},
        "sections": [{"key": "news", "title": "News"}],
        "fetch": {"allow_hosts": [image_site_url.removeprefix("http://")]},  # the image site is on loopback
        "social": {"x": {"enabled": False}, "bluesky": {"enabled": True, "min_spacing_minutes": 0}},
    })


def main(db_url: str, bluesky_url: str, image_site_url: str, session_file: str, now_iso: str) -> None:
    engine = create_engine(db_url)  # the test migrated it
    env = {"BLUESKY_HANDLE": HANDLE, "BLUESKY_APP_PASSWORD": PASSWORD, "BLUESKY_SERVICE_URL": bluesky_url,
           "BLUESKY_SESSION_FILE": session_file}

    def channel_for(network: str) -> BlueskyChannel:
        channel = BlueskyChannel.from_env(env, timeout_s=10.0)
        assert network == "bluesky" and channel is not None
        return channel

    summary = publish_due_posts(sessionmaker(engine, expire_on_commit=False), config_for(image_site_url),
                                now=datetime.fromisoformat(now_iso), channel_for=channel_for, sleep=lambda s: None)
    print(json.dumps(summary.as_dict()), flush=True)
    engine.dispose()


if __name__ == "__main__":
    main(*sys.argv[1:6])
