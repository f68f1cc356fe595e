"""The publisher as a subprocess for the LinkedIn crash test: one `publish_due_posts` run with the
real `LinkedInChannel` against the fake LinkedIn, which dies (`os._exit(137)`, like a SIGKILL: no
cleanup, no rollback) at the step `SYNDICATE_TEST_CRASH_AT` names:

- "init", "put", "post": LinkedIn's initializeUpload, the PUT of the image's bytes, POST /rest/posts;
- ":before": just before the request leaves (LinkedIn never saw it);
- ":after": just after LinkedIn answered it, before the channel read the answer.

The kill sits in the HTTP transport the channel is given (httpx's own, wrapped): the channel's
code runs unchanged. Production code never reads that variable.

    python -m tests.publish_worker_linkedin DB_URL LINKEDIN_URL IMAGE_HOST JOURNAL NOW_ISO
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime

import httpx
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from compose.config import Config
from connectors.channels.linkedin import LinkedInChannel
from flows.stages.publish import publish_due_posts

CRASH_ENV = "SYNDICATE_TEST_CRASH_AT"
CRASH_EXIT = 137
TOKEN = "AQX-crash-test-token"
ORGANIZATION = "2414183"
STEPS = {("POST", "/rest/images"): "init", ("PUT", "/dms-uploads"): "put", ("POST", "/rest/posts"): "post"}


def step_of(request: httpx.Request) -> str | None:
    path = request.url.path
    for (method, prefix), step in STEPS.items():
        if request.method == method and path.startswith(prefix):
            return step
    return None


class CrashingTransport(httpx.HTTPTransport):
    """httpx's transport, except that it kills the process at the scripted step."""

    def __init__(self, crash_at: str | None) -> None:
        super().__init__()
        self.step, _, self.when = (crash_at or "").partition(":")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        crash = step_of(request) == self.step
        if crash and self.when == "before":
            os._exit(CRASH_EXIT)
        response = super().handle_request(request)
        if crash and self.when == "after":
            response.read()  # LinkedIn has answered; the process dies before the channel sees it
            os._exit(CRASH_EXIT)
        return response


def config(image_host: str) -> Config:
    return Config.model_validate({
        "organisation": {"name": "Example Org", "site_url": "https://example.org", "postal_address": "1 High St"},
        "edition": {"from_email": "news@example.org", "from_name": "Example News", "reply_to": "ed@example.org",
                    "public_url": "https://news.example.org"},
        "sections": [{"key": "news", "title": "News"}],
        "fetch": {"allow_hosts": [image_host]},
        "social": {"x": {"enabled": False}, "linkedin": {"enabled": True, "mode": "item", "min_spacing_minutes": 0}},
    })


def main(db_url: str, linkedin_url: str, image_host: str, journal: str, now_iso: str) -> None:
    engine = create_engine(db_url)  # the test migrated it
    sessions = sessionmaker(engine, expire_on_commit=False)
    settings = config(image_host)
    env = {"LINKEDIN_ACCESS_TOKEN": TOKEN, "LINKEDIN_ORGANIZATION_ID": ORGANIZATION,
           "LINKEDIN_API_URL": linkedin_url, "LINKEDIN_UPLOAD_JOURNAL": journal}

    def channel_for(network: str) -> LinkedInChannel:
        assert network == "linkedin", network
        channel = LinkedInChannel.from_env(env, config=settings, timeout_s=5.0,
                                           transport=CrashingTransport(os.environ.get(CRASH_ENV)))
        assert channel is not None
        return channel

    summary = publish_due_posts(sessions, settings, now=datetime.fromisoformat(now_iso), channel_for=channel_for,
                                sleep=lambda s: None)
    print(json.dumps(summary.as_dict()), flush=True)
    engine.dispose()


if __name__ == "__main__":
    main(*sys.argv[1:6])
