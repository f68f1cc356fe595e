"""One wire per channel in the registries: how the contract suite (tests/test_contract_channels.py)
stands up a network's wire fake and builds the registry's channel class against it.

A wire knows what is particular to its network: the credentials the fake accepts (and so the
secrets that must never leak), the path a send goes to and the path `find_post` reads (faults are
aimed there), how the network says "rate limited, come back at T", and how it words an error.
Everything else (which errors a failure must become, what must never be logged) is the contract's.

Every channel is built with a `TIMEOUT_S` timeout and a clock stopped at `NOW`, so a reset header
gives an exact wait. A registry entry without a network behind it is in `NO_WIRE`, with the reason.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from compose.config import Config
from tests.fakes.fake_bluesky import FakeBluesky
from tests.fakes.fake_bluesky import rate_limited as bluesky_rate_limited
from tests.fakes.fake_linkedin import FakeLinkedIn
from tests.fakes.fake_linkedin import rate_limited as linkedin_rate_limited
from tests.fakes.fake_mastodon import FakeMastodon
from tests.fakes.fake_mastodon import rate_limited as mastodon_rate_limited
from tests.fakes.fake_sendgrid import SEND_PATH, FakeSendGrid
from tests.fakes.fake_x import FakeX
from tests.fakes.fake_x import rate_limited as x_rate_limited
from tests.fakes.server import FakeServer, Fault, closed_port_url

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
TIMEOUT_S = 2.0  # every channel's timeout here: long enough for a loaded CI machine to answer a normal request
SLOW_S = 5.0  # an accepted request answered this late has timed out

CONFIG = Config.model_validate({
    "organisation": {"name": "Org", "site_url": "https://example.org", "postal_address": "1 Road, Town"},
    "edition": {"from_email": "a@example.org", "from_name": "A", "reply_to": "b@example.org"},
    "sections": [{"key": "news", "title": "News"}], "email": {"provider": "sendgrid"},
})

# registry entries that reach no network, and why the wire checks (credentials, rate limits,
# answers lost in transit, secrets) do not apply to them
NO_WIRE: dict[str, str] = {
    "outbox": "writes files on this machine: no credentials to refuse or leak, no rate limit, "
              "no answer that can be lost between a request and its reply",
}


def _clock() -> float:
    return NOW


@dataclass
class Rig:
    """A running fake and channels built against it (closed when the rig stops)."""

    server: FakeServer
    build: Callable[..., Any]  # build(**env overrides) -> the channel, as `from_env` would make it
    accepted: Callable[[], int]  # posts or messages the fake has accepted so far
    wrong_credentials: dict[str, str]  # env overrides the fake refuses (a credential that is not the account's)
    unreachable: dict[str, str]  # env overrides that point the channel at a closed port
    built: list[Any] = field(default_factory=list)

    @property
    def channel(self) -> Any:
        """The channel with the right credentials (built once)."""
        if not self.built:
            self.built.append(self.build())
        return self.built[0]

    def variant(self, overrides: dict[str, str]) -> Any:
        channel = self.build(**overrides)
        self.built.append(channel)
        return channel

    def close(self) -> None:
        for channel in self.built:
            channel.close()


@dataclass(frozen=True)
class Wire:
    secrets: tuple[str, ...]  # values that must never appear in a repr, a log or an error
    send_path: str  # where a publish or send goes
    lookup_path: str | None  # where `find_post` reads (post channels)
    start: Callable[[type], AbstractContextManager[Rig]]  # the fake running, channels of this class
    rate_limited: Callable[[int | None], Fault]  # a 429 saying "reset in N s" (or no reset header)
    error_body: Callable[[int, str], dict[str, Any]]  # the network's JSON error for a status


@contextmanager
def _running(server: FakeServer, rig: Callable[[FakeServer], Rig]) -> Iterator[Rig]:
    with server:
        made = rig(server)
        try:
            yield made
        finally:
            made.close()


# --- X ------------------------------------------------------------------------------------------------

X_ENV = {"X_API_KEY": "ck-public-key-1", "X_API_SECRET": "cs-SECRET-5f2a9e",
         "X_ACCESS_TOKEN": "12345-at-TOKEN-77c1", "X_ACCESS_TOKEN_SECRET": "ats-SECRET-d41d8c"}


def _x(cls: type) -> AbstractContextManager[Rig]:
    state = FakeX(consumer_key=X_ENV["X_API_KEY"], access_token=X_ENV["X_ACCESS_TOKEN"])

    def rig(server: FakeServer) -> Rig:
        def build(**overrides: str) -> Any:
            env = {**X_ENV, "X_API_BASE_URL": server.url, **overrides}
            return cls.from_env(env, config=CONFIG, timeout_s=TIMEOUT_S, clock=_clock)

        return Rig(server, build, lambda: len(state.posts), {"X_ACCESS_TOKEN": "someone-else"},
                   {"X_API_BASE_URL": closed_port_url()})

    return _running(state.server(), rig)


def _x_error(status: int, detail: str) -> dict[str, Any]:
    return {"title": detail, "detail": detail, "type": "about:blank", "status": status}


# --- Mastodon -----------------------------------------------------------------------------------------

MASTODON_TOKEN = "mastodon-TOKEN-secret-93b1"


def _mastodon(cls: type) -> AbstractContextManager[Rig]:
    state = FakeMastodon(access_token=MASTODON_TOKEN)

    def rig(server: FakeServer) -> Rig:
        def build(**overrides: str) -> Any:
            env = {"MASTODON_ACCESS_TOKEN": MASTODON_TOKEN, "MASTODON_API_BASE_URL": server.url, **overrides}
            return cls.from_env(env, config=CONFIG, timeout_s=TIMEOUT_S, clock=_clock)

        return Rig(server, build, lambda: len(state.statuses), {"MASTODON_ACCESS_TOKEN": "someone-else"},
                   {"MASTODON_API_BASE_URL": closed_port_url()})

    return _running(state.server(), rig)


def _mastodon_rate_limited(reset_in: int | None) -> Fault:
    when = None if reset_in is None else datetime.fromtimestamp(NOW + reset_in, UTC).isoformat().replace("+00:00", "Z")
    return mastodon_rate_limited(reset_at=when)


# --- Bluesky ------------------------------------------------------------------------------------------

BLUESKY_HANDLE, BLUESKY_PASSWORD = "socitm.bsky.social", "abcd-SECRET-efgh-ijkl"


def _bluesky(cls: type) -> AbstractContextManager[Rig]:
    state = FakeBluesky(handle=BLUESKY_HANDLE, app_password=BLUESKY_PASSWORD)

    folders: list[tempfile.TemporaryDirectory[str]] = []  # removed with the rig

    def rig(server: FakeServer) -> Rig:
        def build(**overrides: str) -> Any:
            folders.append(tempfile.TemporaryDirectory(prefix="bluesky-"))
            env = {"BLUESKY_HANDLE": BLUESKY_HANDLE, "BLUESKY_APP_PASSWORD": BLUESKY_PASSWORD,
                   "BLUESKY_SERVICE_URL": server.url,  # each build its own session file, never ./var/
                   "BLUESKY_SESSION_FILE": str(Path(folders[-1].name) / "session.json"), **overrides}
            return cls.from_env(env, config=CONFIG, timeout_s=TIMEOUT_S, clock=_clock)

        return Rig(server, build, lambda: len(state.posts), {"BLUESKY_APP_PASSWORD": "wrong-password"},
                   {"BLUESKY_SERVICE_URL": closed_port_url()})

    return _running(state.server(), rig)


# --- LinkedIn -----------------------------------------------------------------------------------------

LINKEDIN_TOKEN = "AQX-linkedin-TOKEN-secret-5c2e"


def _linkedin(cls: type) -> AbstractContextManager[Rig]:
    state = FakeLinkedIn(access_token=LINKEDIN_TOKEN)

    def rig(server: FakeServer) -> Rig:
        def build(**overrides: str) -> Any:
            env = {"LINKEDIN_ACCESS_TOKEN": LINKEDIN_TOKEN, "LINKEDIN_ORGANIZATION_ID": state.organization_id,
                   "LINKEDIN_API_URL": server.url, "LINKEDIN_UPLOAD_JOURNAL": "", **overrides}
            return cls.from_env(env, config=CONFIG, timeout_s=TIMEOUT_S, clock=_clock)

        return Rig(server, build, lambda: len(state.posts), {"LINKEDIN_ACCESS_TOKEN": "someone-else"},
                   {"LINKEDIN_API_URL": closed_port_url()})

    return _running(state.server(), rig)


# --- SendGrid -----------------------------------------------------------------------------------------

SENDGRID_KEY = "SG.very-secret-key-123"


def _sendgrid(cls: type) -> AbstractContextManager[Rig]:
    fake = FakeSendGrid(api_key=SENDGRID_KEY)

    def rig(server: FakeServer) -> Rig:
        def build(**overrides: str) -> Any:
            env = {"SENDGRID_API_KEY": SENDGRID_KEY, "SENDGRID_API_HOST": server.url, **overrides}
            return cls(env["SENDGRID_API_KEY"], host=env["SENDGRID_API_HOST"], timeout_s=TIMEOUT_S, clock=_clock)

        return Rig(server, build, lambda: sum(fake.received.values()), {"SENDGRID_API_KEY": "SG.wrong"},
                   {"SENDGRID_API_HOST": closed_port_url()})

    return _running(fake.server, rig)


def _sendgrid_rate_limited(reset_in: int | None) -> Fault:
    headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0"}
    if reset_in is not None:
        headers["X-RateLimit-Reset"] = str(int(NOW) + reset_in)
    return Fault(status=429, json={"errors": [{"field": None, "message": "too many requests"}]}, headers=headers)


POST_WIRES: dict[str, Wire] = {
    "x": Wire(secrets=(X_ENV["X_API_SECRET"], X_ENV["X_ACCESS_TOKEN"], X_ENV["X_ACCESS_TOKEN_SECRET"]),
              send_path="/2/tweets", lookup_path="/2/users/", start=_x,
              rate_limited=lambda reset_in: x_rate_limited(reset_at=None if reset_in is None else int(NOW) + reset_in),
              error_body=_x_error),
    "mastodon": Wire(secrets=(MASTODON_TOKEN,), send_path="/api/v1/statuses", lookup_path="/api/v1/accounts",
                     start=_mastodon, rate_limited=_mastodon_rate_limited,
                     error_body=lambda status, message: {"error": message}),
    "bluesky": Wire(secrets=(BLUESKY_PASSWORD,), send_path="/xrpc/com.atproto.repo.createRecord",
                    lookup_path="/xrpc/com.atproto.repo.listRecords", start=_bluesky,
                    rate_limited=lambda reset_in: bluesky_rate_limited(
                        reset_at=None if reset_in is None else int(NOW) + reset_in),
                    error_body=lambda status, message: {"error": "UpstreamFailure", "message": message}),
    "linkedin": Wire(secrets=(LINKEDIN_TOKEN,), send_path="/rest/posts", lookup_path="/rest/posts", start=_linkedin,
                     rate_limited=lambda reset_in: linkedin_rate_limited(retry_after=reset_in),
                     error_body=lambda status, message: {"status": status, "message": message}),
}
EMAIL_WIRES: dict[str, Wire] = {
    "sendgrid": Wire(secrets=(SENDGRID_KEY,), send_path=SEND_PATH, lookup_path=None, start=_sendgrid,
                     rate_limited=_sendgrid_rate_limited,
                     error_body=lambda status, message: {"errors": [{"message": message, "field": None}]}),
}
