"""Signed, expiring tokens for the links a subscriber clicks: unsubscribe, preferences and confirm.

Tokens are itsdangerous URL-safe timed signatures. The clock is a parameter (`now`), so this
module stays pure: the signer's timestamp is taken from `now`, never from the system clock.
Unsubscribe tokens live for years (RFC 8058 one-click must keep working from an old email in
an inbox); confirmation tokens for double opt-in expire after 7 days. A member of staff's
calendar feed token names them and their feed's nonce; it is revoked in the ledger, not by age.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from compose.errors import SyndicateError


class TokenError(SyndicateError, ValueError):
    """A token that cannot be trusted; the message says why."""


class ForgedToken(TokenError):
    """A token altered, or not issued with our key."""


class ExpiredToken(TokenError):
    """A genuine token past its lifetime (`TokenPolicy`)."""


class TokenPolicy:
    """How long each kind of link keeps working."""

    unsubscribe_max_age = timedelta(days=730)
    preferences_max_age = timedelta(days=730)  # as long as unsubscribe: the page also has the leave button
    confirm_max_age = timedelta(days=7)
    calendar_feed_max_age = timedelta(days=3650)  # a subscribed calendar keeps polling; revoked in the ledger


_UNSUBSCRIBE_SALT = "syndicate.unsubscribe"
_CONFIRM_SALT = "syndicate.confirm"
_CALENDAR_FEED_SALT = "syndicate.calendar-feed"


def _serializer(secret_key: str, salt: str, now: datetime) -> URLSafeTimedSerializer:
    if not secret_key:
        raise ValueError("no secret key: set SYNDICATE_SECRET_KEY to a long random string")
    stamp = int(now.timestamp())

    class _SignerAt(TimestampSigner):
        def get_timestamp(self) -> int:
            return stamp

    return URLSafeTimedSerializer(secret_key, salt=salt, signer=_SignerAt)


def _load(secret_key: str, salt: str, token: str, *, now: datetime, max_age: timedelta, what: str) -> Any:
    try:
        return _serializer(secret_key, salt, now).loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired:
        raise ExpiredToken(f"this {what} link has expired: ask for a new one") from None
    except BadSignature:
        raise ForgedToken(f"this {what} link is not valid (it was altered or not issued by us)") from None


def unsubscribe_token(secret_key: str, *, subscriber_id: int, edition_id: int | None, now: datetime) -> str:
    """The token in a subscriber's unsubscribe link for one edition (or none, e.g. a welcome email)."""
    return _serializer(secret_key, _UNSUBSCRIBE_SALT, now).dumps({"s": subscriber_id, "e": edition_id})


def unsubscribe_tokens(secret_key: str, *, edition_id: int, subscriber_ids: list[int], now: datetime) -> list[str]:
    """Unsubscribe tokens for many subscribers of one edition (one signer for the whole batch)."""
    serializer = _serializer(secret_key, _UNSUBSCRIBE_SALT, now)
    return [serializer.dumps({"s": sid, "e": edition_id}) for sid in subscriber_ids]


def verify_unsubscribe(secret_key: str, token: str, *, now: datetime) -> tuple[int, int | None]:
    """(subscriber id, edition id) of a genuine unsubscribe token; raises `TokenError` otherwise."""
    data = _load(secret_key, _UNSUBSCRIBE_SALT, token, now=now, max_age=TokenPolicy.unsubscribe_max_age,
                 what="unsubscribe")
    if not isinstance(data, dict) or not isinstance(data.get("s"), int):
        raise ForgedToken("this unsubscribe link is not valid (unexpected content)")
    edition = data.get("e")
    return data["s"], edition if isinstance(edition, int) else None


def confirm_token(secret_key: str, *, subscriber_id: int, email: str, now: datetime, name: str = "") -> str:
    """The token in a double opt-in confirmation link; bound to the address it was sent to. `name`,
    the name given on the form, is applied only when the link is used (`verify_confirm_name`)."""
    data: dict[str, Any] = {"s": subscriber_id, "m": email.lower()}
    if name:
        data["n"] = name
    return _serializer(secret_key, _CONFIRM_SALT, now).dumps(data)


def verify_confirm(secret_key: str, token: str, *, now: datetime) -> tuple[int, str]:
    """(subscriber id, email) of a genuine confirmation token no older than 7 days."""
    data = _load(secret_key, _CONFIRM_SALT, token, now=now, max_age=TokenPolicy.confirm_max_age,
                 what="confirmation")
    if not isinstance(data, dict) or not isinstance(data.get("s"), int) or not isinstance(data.get("m"), str):
        raise ForgedToken("this confirmation link is not valid (unexpected content)")
    return data["s"], data["m"]


def verify_confirm_name(secret_key: str, token: str, *, now: datetime) -> str:
    """The name a genuine confirmation token carries ("" when none was given)."""
    verify_confirm(secret_key, token, now=now)
    data = _load(secret_key, _CONFIRM_SALT, token, now=now, max_age=TokenPolicy.confirm_max_age, what="confirmation")
    name = data.get("n", "")
    return name if isinstance(name, str) else ""


def unsubscribe_url(public_url: str, token: str) -> str:
    """The https link for the email footer and List-Unsubscribe (GET shows a page, POST unsubscribes)."""
    return f"{str(public_url).rstrip('/')}/unsubscribe/{token}"


def confirm_url(public_url: str, token: str) -> str:
    """The link in the double opt-in email that confirms a subscription."""
    return f"{str(public_url).rstrip('/')}/confirm/{token}"


def calendar_feed_token(secret_key: str, *, staff_id: int, nonce: str, now: datetime) -> str:
    """The token in a member of staff's iCalendar feed link: their id and their feed's current nonce
    (`state.calendar_feeds`; a new nonce or a disabled account ends the link)."""
    return _serializer(secret_key, _CALENDAR_FEED_SALT, now).dumps({"s": staff_id, "n": nonce})


def verify_calendar_feed(secret_key: str, token: str, *, now: datetime) -> tuple[int, str]:
    """(staff id, nonce) of a genuine calendar feed token; raises `TokenError` otherwise. The caller
    still checks the nonce and the account in the ledger."""
    data = _load(secret_key, _CALENDAR_FEED_SALT, token, now=now, max_age=TokenPolicy.calendar_feed_max_age,
                 what="calendar")
    if not isinstance(data, dict) or not isinstance(data.get("s"), int) or not isinstance(data.get("n"), str):
        raise ForgedToken("this calendar link is not valid (unexpected content)")
    return data["s"], data["n"]


# ---------------------------------------------------------------- click links (`/r/<token>`)

_CLICK_SALT = b"syndicate.click"
_READER_SALT = b"syndicate.reader"
CLICK_SIGNATURE_BYTES = 9  # 72 bits: 12 characters; a forger gets one guess per request, rate-limited by nothing useful
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(number: int) -> str:
    if number < 0:
        raise ValueError("ids in click links are never negative")
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _B36[digit] + out
        if not number:
            return out


def _from_b36(text: str) -> int:
    if not text or len(text) > 12 or any(char not in _B36 for char in text) or (len(text) > 1 and text[0] == "0"):
        raise ForgedToken("this link is not valid (unexpected content)")
    return int(text, 36)


def _mac(secret_key: str, salt: bytes, payload: str) -> str:
    if not secret_key:
        raise ValueError("no secret key: set SYNDICATE_SECRET_KEY to a long random string")
    key = hashlib.sha256(salt + b"\0" + secret_key.encode("utf-8")).digest()
    digest = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:CLICK_SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).decode("ascii")


def click_token(secret_key: str, *, edition_id: int, item_id: int) -> str:
    """The token of an article link in an edition ("2k.1b.<12 characters>"): edition and item in
    base 36 and a truncated HMAC-SHA256 of them with a key derived from the secret key. It never
    holds the URL: the redirect takes it from the ledger. It does not expire (an old email keeps
    working)."""
    payload = f"{_b36(edition_id)}.{_b36(item_id)}"
    return f"{payload}.{_mac(secret_key, _CLICK_SALT, payload)}"


def reader_suffix(secret_key: str, *, edition_id: int, subscriber_id: int) -> str:
    """What follows a click token (or the open pixel's edition) for one reader, only when
    per-reader tracking is on: "~<subscriber>.<signature>", bound to the edition."""
    payload = f"{_b36(edition_id)}~{_b36(subscriber_id)}"
    return f"~{_b36(subscriber_id)}.{_mac(secret_key, _READER_SALT, payload)}"


def _reader(secret_key: str, edition_id: int, suffix: str) -> int:
    subscriber_id = _from_b36(suffix.partition(".")[0])
    expected = reader_suffix(secret_key, edition_id=edition_id, subscriber_id=subscriber_id)
    if not hmac.compare_digest(expected.encode("ascii"), f"~{suffix}".encode("ascii", "replace")):
        raise ForgedToken("this link is not valid (it was altered or not issued by us)")
    return subscriber_id


def verify_click(secret_key: str, token: str) -> tuple[int, int, int | None]:
    """(edition id, item id, subscriber id or None) of a genuine click token; `ForgedToken` otherwise."""
    if len(token) > 80 or not token.isascii():
        raise ForgedToken("this link is not valid (unexpected content)")
    token, tilde, suffix = token.partition("~")
    edition, _, rest = token.partition(".")
    item, _, signature = rest.partition(".")
    edition_id, item_id = _from_b36(edition), _from_b36(item)
    expected = _mac(secret_key, _CLICK_SALT, f"{edition}.{item}")
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        raise ForgedToken("this link is not valid (it was altered or not issued by us)")
    return edition_id, item_id, _reader(secret_key, edition_id, suffix) if tilde else None


def open_token(edition_id: int) -> str:
    """The open pixel's edition part ("2k"); the reader suffix follows (`reader_suffix`)."""
    return _b36(edition_id)


def verify_open(secret_key: str, token: str) -> tuple[int, int]:
    """(edition id, subscriber id) of a genuine open pixel token "<edition>~<subscriber>.<signature>"."""
    if len(token) > 60 or not token.isascii():
        raise ForgedToken("this link is not valid (unexpected content)")
    edition, tilde, suffix = token.partition("~")
    if not tilde:
        raise ForgedToken("this link is not valid (unexpected content)")
    edition_id = _from_b36(edition)
    return edition_id, _reader(secret_key, edition_id, suffix)


def click_url(public_url: str, token: str) -> str:
    """The redirect an article link in the email goes through."""
    return f"{str(public_url).rstrip('/')}/r/{token}"


# ---------------------------------------------------------------- preference links (`/preferences/<token>`)

_PREFERENCES_SALT = b"syndicate.preferences"
PREFERENCES_SIGNATURE_BYTES = 12  # 96 bits: 16 characters


def _preferences_key(secret_key: str) -> bytes:
    if not secret_key:
        raise ValueError("no secret key: set SYNDICATE_SECRET_KEY to a long random string")
    return hashlib.sha256(_PREFERENCES_SALT + b"\0" + secret_key.encode("utf-8")).digest()


def _preferences_mac(key: bytes, payload: str, email: str) -> str:
    message = payload.encode("ascii") + b"\0" + email.strip().lower().encode("utf-8")
    digest = hmac.new(key, message, hashlib.sha256).digest()[:PREFERENCES_SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).decode("ascii")


def preferences_tokens(secret_key: str, *, readers: list[tuple[int, str]], now: datetime) -> list[str]:
    """Preference-page tokens for many (subscriber id, email) pairs: "<id>.<issued>.<signature>",
    id and issue time in base 36 and a truncated HMAC-SHA256 of them and the address (any case) with
    a key derived from the secret key. The link names nobody, stops working if the id ever comes
    to name another address (ids can be reused after an erasure), and expires after
    `TokenPolicy.preferences_max_age`. About a hundred times cheaper than an itsdangerous token,
    which matters for 100,000 readers."""
    key = _preferences_key(secret_key)
    issued = _b36(int(now.timestamp()))
    tokens = []
    for subscriber_id, email in readers:
        payload = f"{_b36(subscriber_id)}.{issued}"
        tokens.append(f"{payload}.{_preferences_mac(key, payload, email)}")
    return tokens


def preferences_token(secret_key: str, *, subscriber_id: int, email: str, now: datetime) -> str:
    """The token in a subscriber's "Manage your preferences" link: who they are, no password."""
    return preferences_tokens(secret_key, readers=[(subscriber_id, email)], now=now)[0]


def preferences_subscriber(token: str) -> int:
    """The subscriber id a preference token names, before it is verified (`verify_preferences`
    needs their address); `ForgedToken` when it is not shaped like one."""
    if len(token) > 60 or not token.isascii() or token.count(".") != 2:
        raise ForgedToken("this preferences link is not valid (unexpected content)")
    return _from_b36(token.split(".", 1)[0])


def verify_preferences(secret_key: str, token: str, *, email: str, now: datetime) -> int:
    """The subscriber id of a genuine preference token issued for `email` and not expired;
    `ForgedToken` or `ExpiredToken` otherwise."""
    subscriber_id = preferences_subscriber(token)
    ident, issued, signature = token.split(".")
    expected = _preferences_mac(_preferences_key(secret_key), f"{ident}.{issued}", email)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        raise ForgedToken("this preferences link is not valid (it was altered or not issued by us)")
    if now.timestamp() - _from_b36(issued) > TokenPolicy.preferences_max_age.total_seconds():
        raise ExpiredToken("this preferences link has expired")
    return subscriber_id


def preferences_url(public_url: str, token: str) -> str:
    """The footer's "Manage your preferences" link."""
    return f"{str(public_url).rstrip('/')}/preferences/{token}"
