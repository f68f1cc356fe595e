"""The channel contract: every entry of `POST_CHANNELS` and `EMAIL_CHANNELS` (and the post outbox
that stands in for a network without credentials) is checked the same way, against its wire fake
(tests/fakes/wires.py) with the real client library running over a loopback socket.

    errors      refused credentials -> AuthError; 429 with a reset header -> TransientError waiting
                until it, without one -> the class's default wait, sent once; no answer after the
                request was accepted (timeout, dropped connection) -> AmbiguousError; connection
                refused -> TransientError (nothing left)
    secrets     never in repr(), str(), an error's text, or any log record at DEBUG over a send
    limits      class data, read from the class; the channel (or the network behind it) holds to them
    find_post   every post channel finds its own posts by text and parent; a failed lookup raises

A new registry entry is covered as soon as it has a wire; until then
`test_every_registry_entry_has_a_wire_or_a_reason` fails. The outbox has no network: where a check
does not apply to it the reason is `wires.NO_WIRE["outbox"]`; the checks that do apply (limits,
find_post) run on it too.
"""

from __future__ import annotations

import logging
import time
from importlib import import_module
from typing import Any

import pytest

from compose.post_length import RULES_BY_NETWORK, weighted_length
from connectors.channels import EMAIL_CHANNELS, POST_CHANNELS
from connectors.channels.base import OutboundEmail, Recipient
from connectors.channels.outbox_posts import OutboxPostChannel
from connectors.errors import (
    AmbiguousError,
    AuthError,
    DeliveryError,
    PermanentError,
    ReplyNotAllowedError,
    TransientError,
)
from tests.fakes.server import Fault
from tests.fakes.wires import CONFIG, EMAIL_WIRES, NO_WIRE, POST_WIRES, SLOW_S, Rig, Wire

MESSAGE = OutboundEmail(
    edition_id=7, edition_slug="2026-11-26", subject="In Our View: {{first_name}}",
    html="<p>Hello {{first_name}}</p><a href='{{unsubscribe_url}}'>Unsubscribe</a>",
    text="Hello {{first_name}}\nUnsubscribe: {{unsubscribe_url}}", from_email="news@example.org",
    from_name="Example News", reply_to="editors@example.org", categories=("in-our-view",),
)
# a post every network alters on the way back (X escapes and shortens links, Mastodon serves HTML)
FIND_TEXT = "Councils & <standards>\n\nRead https://socitm.net/a-long-path/that-goes-on?x=1&y=2 #localgov"


def registry_class(entry: tuple[str, str]) -> type:
    module, name = entry
    cls: type = getattr(import_module(module), name)
    return cls


def people(n: int, start: int = 1) -> list[Recipient]:
    return [Recipient(i, f"person{i}@example.com", f"Person {i}", f"https://news.example.org/unsubscribe/t{i}")
            for i in range(start, start + n)]


WIRED = ([pytest.param(("post", name), id=f"post:{name}") for name in POST_CHANNELS]
         + [pytest.param(("email", name), id=f"email:{name}") for name in EMAIL_CHANNELS if name not in NO_WIRE])
POSTING = [pytest.param(name, id=name) for name in POST_CHANNELS]


def _wire(protocol: str, name: str) -> tuple[Wire, type]:
    registry, wires = (POST_CHANNELS, POST_WIRES) if protocol == "post" else (EMAIL_CHANNELS, EMAIL_WIRES)
    if name not in wires:
        pytest.fail(f"{protocol} channel {name!r} is in the registry but has no wire fake in tests/fakes/wires.py")
    return wires[name], registry_class(registry[name])


@pytest.fixture(params=WIRED)
def wired(request: pytest.FixtureRequest):
    """(protocol, wire, rig) for each registry entry with a network behind it."""
    protocol, name = request.param
    wire, cls = _wire(protocol, name)
    with wire.start(cls) as rig:
        yield protocol, wire, rig


@pytest.fixture(params=POSTING)
def posting(request: pytest.FixtureRequest):
    """(wire, rig) for each post channel of the registry."""
    wire, cls = _wire("post", request.param)
    with wire.start(cls) as rig:
        yield wire, rig


def send(protocol: str, channel: Any, n: int = 1) -> Any:
    """One outbound unit: a post, or a batch of one recipient."""
    if protocol == "post":
        return channel.publish(f"contract post {n}", thread_key="contract")
    return channel.send_batch(MESSAGE, people(1, start=n))


def sends(wire: Wire, rig: Rig) -> int:
    return len(rig.server.requests_to(wire.send_path, "POST"))


# --- the registries ----------------------------------------------------------------------------------


def test_every_registry_entry_has_a_wire_or_a_reason() -> None:
    assert set(POST_CHANNELS) <= set(POST_WIRES), "a post channel without a wire fake"
    assert set(EMAIL_CHANNELS) <= set(EMAIL_WIRES) | set(NO_WIRE), "an email channel without a wire fake or a reason"
    assert not set(POST_WIRES) - set(POST_CHANNELS) and not set(EMAIL_WIRES) - set(EMAIL_CHANNELS), "a stale wire"


@pytest.mark.parametrize("entry", [*POST_CHANNELS.values(), *(e for n, e in EMAIL_CHANNELS.items() if n not in NO_WIRE)],
                         ids=lambda entry: entry[1])
def test_without_credentials_from_env_gives_none(entry: tuple[str, str]) -> None:
    assert registry_class(entry).from_env({}, config=CONFIG) is None  # the outbox takes over


# --- errors ------------------------------------------------------------------------------------------


def test_refused_credentials_are_an_auth_error(wired) -> None:
    protocol, wire, rig = wired
    with pytest.raises(AuthError) as caught:
        send(protocol, rig.variant(rig.wrong_credentials))
    assert caught.value.status in (401, 403) and caught.value.hint
    assert rig.accepted() == 0


def test_429_with_a_reset_header_waits_until_the_reset(wired) -> None:
    protocol, wire, rig = wired
    fault = wire.rate_limited(120)
    fault.path = wire.send_path
    rig.server.inject(fault)
    with pytest.raises(TransientError) as caught:
        send(protocol, rig.channel)
    assert type(caught.value) is TransientError and caught.value.status == 429
    assert caught.value.retry_after_s == pytest.approx(120) and caught.value.hint
    assert rig.accepted() == 0


def test_429_without_a_reset_header_waits_the_class_default_and_sends_once(wired) -> None:
    protocol, wire, rig = wired
    fault = wire.rate_limited(None)
    fault.path = wire.send_path
    rig.server.inject(fault)
    with pytest.raises(TransientError) as caught:
        send(protocol, rig.channel)
    default = type(rig.channel).default_rate_limit_wait_s
    assert caught.value.retry_after_s == default > 0 and caught.value.status == 429
    assert sends(wire, rig) == 1  # a library's own retry loop would hammer the API


def test_no_answer_after_the_request_was_accepted_is_ambiguous(wired) -> None:
    protocol, wire, rig = wired
    send(protocol, rig.channel, 1)  # connected (and logged in) before the fault
    rig.server.inject(Fault(accept=True, delay_s=SLOW_S, path=wire.send_path))
    started = time.monotonic()
    with pytest.raises(AmbiguousError) as caught:
        send(protocol, rig.channel, 2)
    assert time.monotonic() - started < SLOW_S - 0.2  # our timeout applied, not the library's (or none)
    assert rig.accepted() == 2 and caught.value.hint  # it was accepted: a blind retry would duplicate it


def test_a_connection_dropped_after_acceptance_is_ambiguous(wired) -> None:
    protocol, wire, rig = wired
    rig.server.inject(Fault(accept=True, reset=True, path=wire.send_path))
    with pytest.raises(AmbiguousError):
        send(protocol, rig.channel)
    assert rig.accepted() == 1


def test_connection_refused_is_transient(wired) -> None:
    protocol, _, rig = wired
    with pytest.raises(TransientError) as caught:
        send(protocol, rig.variant(rig.unreachable))
    assert "could not connect" in str(caught.value) and caught.value.hint


# --- secrets -----------------------------------------------------------------------------------------


def test_secrets_never_in_repr_errors_or_debug_logs(wired, caplog: pytest.LogCaptureFixture) -> None:
    protocol, wire, rig = wired
    errors: list[DeliveryError] = []
    with caplog.at_level(logging.DEBUG):
        send(protocol, rig.channel, 1)
        rig.server.inject(Fault(accept=True, reset=True, path=wire.send_path))
        for channel in (rig.channel, rig.variant(rig.wrong_credentials)):
            with pytest.raises(DeliveryError) as caught:
                send(protocol, channel, 2)
            errors.append(caught.value)
    assert [type(e) for e in errors] == [AmbiguousError, AuthError]
    assert caplog.records, "the channel and its library log at DEBUG: the check must see something"
    shown = "\n".join([repr(rig.channel), str(rig.channel), caplog.text,
                       *(f"{e} {e.provider_message}" for e in errors)])
    for secret in wire.secrets:
        assert secret not in shown


# --- limits ------------------------------------------------------------------------------------------


def test_max_weighted_length_is_class_data_and_the_network_holds_to_it(posting) -> None:
    wire, rig = posting
    cls = type(rig.channel)
    limit = cls.max_weighted_length
    assert isinstance(limit, int) and limit == cls.rules.max_length == rig.channel.max_weighted_length
    longest, over = "a" * limit, "b" * (limit + 1)
    assert weighted_length(longest, cls.rules) == limit
    rig.channel.publish(longest)
    with pytest.raises(PermanentError):
        rig.channel.publish(over)
    assert rig.accepted() == 1


@pytest.mark.parametrize("network", list(POST_CHANNELS))
def test_the_post_outbox_has_its_networks_limit(network: str, tmp_path) -> None:
    """The outbox accepts any length (no network refuses it); it carries the network's limit so
    that posts are planned for where they would go."""
    outbox = OutboxPostChannel(network, tmp_path)
    assert outbox.max_weighted_length == registry_class(POST_CHANNELS[network]).max_weighted_length
    assert outbox.rules is RULES_BY_NETWORK[network]


@pytest.mark.parametrize("name", list(EMAIL_CHANNELS))
def test_max_batch_size_is_class_data_and_enforced(name: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = registry_class(EMAIL_CHANNELS[name])
    assert isinstance(cls.max_batch_size, int) and cls.max_batch_size >= 1
    monkeypatch.setattr(cls, "max_batch_size", 3)  # the channel must read its class, not a literal

    def check(channel: Any, accepted: Any) -> None:
        assert channel.send_batch(MESSAGE, people(3)).accepted == (1, 2, 3)
        with pytest.raises(PermanentError):
            channel.send_batch(MESSAGE, people(4, start=10))
        assert accepted() == 3  # refused before anything was sent

    if name in NO_WIRE:
        check(cls(tmp_path), lambda: len(list(tmp_path.rglob("*.eml"))))
        return
    with EMAIL_WIRES[name].start(cls) as rig:
        check(rig.channel, rig.accepted)


# --- find_post ---------------------------------------------------------------------------------------


def _find_checks(channel: Any) -> None:
    first = channel.publish(FIND_TEXT, thread_key="find")
    if not getattr(channel, "replies", True):  # a network without threads (LinkedIn) refuses a reply, finds none
        assert channel.find_post(FIND_TEXT, reply_to=None, thread_key="find") == first
        with pytest.raises(ReplyNotAllowedError):
            channel.publish("2/2 more", reply_to=first.provider_id, thread_key="find")
        assert channel.find_post(FIND_TEXT, reply_to=first.provider_id, thread_key="find") is None
        assert channel.find_post("never posted", thread_key="find") is None
        return
    second = channel.publish("2/2 more", reply_to=first.provider_id, thread_key="find")
    assert channel.find_post(FIND_TEXT, reply_to=None, thread_key="find") == first
    assert channel.find_post("2/2 more", reply_to=first.provider_id, thread_key="find") == second
    assert channel.find_post("2/2 more", reply_to=None, thread_key="find") is None  # same text, not a reply
    assert channel.find_post("never posted", reply_to=second.provider_id, thread_key="find") is None


def test_find_post_finds_the_accounts_posts_by_text_and_parent(posting) -> None:
    _, rig = posting
    _find_checks(rig.channel)


@pytest.mark.parametrize("network", list(POST_CHANNELS))
def test_the_post_outbox_finds_its_posts_too(network: str, tmp_path) -> None:
    _find_checks(OutboxPostChannel(network, tmp_path))


@pytest.mark.parametrize("failure", ["server error", "no answer"])
def test_a_failed_lookup_raises_and_never_says_not_found(posting, failure: str) -> None:
    """A read that fails is transient (it changed nothing); "not found" would lead to a duplicate.
    (The outbox reads its own file: nothing between it and the answer can fail this way.)"""
    wire, rig = posting
    rig.channel.publish("already there")
    if failure == "server error":
        fault = Fault(status=503, json=wire.error_body(503, "Service Unavailable"), path=wire.lookup_path)
    else:
        fault = Fault(reset=True, path=wire.lookup_path)
    rig.server.inject(fault)
    with pytest.raises(TransientError):
        rig.channel.find_post("already there")


def test_a_lookup_with_refused_credentials_is_an_auth_error(posting) -> None:
    _, rig = posting
    with pytest.raises(AuthError):
        rig.variant(rig.wrong_credentials).find_post("anything")
