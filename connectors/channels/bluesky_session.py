"""What the Bluesky channel keeps between runs: the session and the points it has spent.

Bluesky limits `com.atproto.server.createSession` (30 per 5 minutes and 300 a day per handle), so
the session (atproto's session string: handle, DID, access and refresh tokens, PDS) is kept in a
file and reused by every run on this machine; the channel refreshes it when the access token
expires and only creates a new one when the refresh token is refused too. The file also counts
the points spent on writes (creating a record costs 3; 5,000 an hour and 35,000 a day per account)
and remembers a 429's reset time, so a run defers before the budget is spent instead of finding
out from Bluesky.

The file is `bluesky-session.json` beside a SQLite ledger (or in `./var/` otherwise, as the
secret key), or wherever `BLUESKY_SESSION_FILE` says. It is created with mode 0600 and replaced
atomically; a file other users can read is not trusted (its tokens may have leaked): it is
ignored, with a warning, and replaced by a private one. Tokens never leave it: not in logs, not in
a repr, not in an error.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

FILE_NAME = "bluesky-session.json"
HOUR_S, DAY_S = 3600.0, 86400.0


def default_session_file(env: Mapping[str, str]) -> Path:
    """`BLUESKY_SESSION_FILE`, else beside a SQLite ledger (`SYNDICATE_DATABASE_URL`), else ./var/."""
    if env.get("BLUESKY_SESSION_FILE"):
        return Path(env["BLUESKY_SESSION_FILE"])
    url = env.get("SYNDICATE_DATABASE_URL") or "sqlite:///var/syndicate.db"
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] == "sqlite" and parts.path not in ("", "/", "/:memory:"):
        database = Path(unquote(parts.path[1:]))  # sqlite:///relative.db and sqlite:////absolute.db
        return database.parent / FILE_NAME
    return Path("var") / FILE_NAME


@dataclass(frozen=True)
class PointsBudget:
    """Bluesky's write limits per account, less a margin left for people posting by hand."""

    record_cost: int = 3
    per_hour: int = 5000
    per_day: int = 35000
    margin: float = 0.1  # keep 10% of each window for staff using the app on the same account

    def usable(self, window_s: float) -> int:
        limit = self.per_hour if window_s == HOUR_S else self.per_day
        return int(limit * (1 - self.margin))


class SessionStore:
    """The session file: one JSON object, read and rewritten under an advisory lock."""

    def __init__(self, path: Path, *, handle: str, service_url: str) -> None:
        self.path = Path(path)
        self.handle = handle
        self.service_url = service_url

    def __repr__(self) -> str:
        return f"SessionStore(path={str(self.path)!r}, handle={self.handle!r})"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            os.close(lock)

    def _read(self) -> dict[str, Any]:
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            return {}
        if mode & 0o077:
            log.warning("bluesky: %s could be read by other users (mode %o): its session is not reused, "
                        "a private file replaces it", self.path, mode)
            return {}
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            log.warning("bluesky: %s is unreadable; starting a new session file", self.path)
            return {}
        if not isinstance(data, dict) or data.get("handle") != self.handle or data.get("service_url") != self.service_url:
            return {}  # another account or service: nothing of it applies
        return data

    def _write(self, data: dict[str, Any]) -> None:
        data = {**data, "handle": self.handle, "service_url": self.service_url}
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # an older temporary file keeps its mode through O_CREAT
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def update(self, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Read the file, apply `change` to its data and write it back, under the lock."""
        with self._locked():
            data = self._read()
            change(data)
            self._write(data)
            return data

    def session_string(self) -> str | None:
        with self._locked():
            value = self._read().get("session")
        return value if isinstance(value, str) and value else None

    def save_session(self, session_string: str) -> None:
        self.update(lambda data: data.__setitem__("session", session_string))

    def forget_session(self) -> None:
        self.update(lambda data: data.pop("session", None))

    def spend(self, points: int, *, now: float, budget: PointsBudget) -> float | None:
        """Count `points` spent at `now`, unless that would go past the budget (less its margin) or
        a 429's reset has not passed: then nothing is counted and the seconds to wait are returned."""
        wait: list[float] = []

        def change(data: dict[str, Any]) -> None:
            spent = [(float(t), int(p)) for t, p in data.get("spent", []) if now - float(t) < DAY_S]
            blocked = float(data.get("blocked_until") or 0)
            delay = max(blocked - now, _wait_for(spent, points, now, HOUR_S, budget.usable(HOUR_S)),
                        _wait_for(spent, points, now, DAY_S, budget.usable(DAY_S)))
            if delay > 0:
                wait.append(delay)
            else:
                spent.append((now, points))
            data["spent"] = spent

        self.update(change)
        return wait[0] if wait else None

    def block_until(self, when: float) -> None:
        """Remember a 429's reset: every run on this machine waits for it."""
        self.update(lambda data: data.__setitem__("blocked_until", max(when, float(data.get("blocked_until") or 0))))

    def spent(self, *, now: float, window_s: float = HOUR_S) -> int:
        with self._locked():
            data = self._read()
        return sum(int(p) for t, p in data.get("spent", []) if now - float(t) < window_s)


def _wait_for(spent: list[tuple[float, int]], points: int, now: float, window_s: float, usable: int) -> float:
    """Seconds until `points` more fit in the last `window_s` seconds' `usable` points (0: now)."""
    within = sorted((t, p) for t, p in spent if now - t < window_s)
    total = sum(p for _, p in within)
    for t, p in within:  # oldest first: each expiry frees its points
        if total + points <= usable:
            break
        total -= p
        wait = t + window_s - now
        if total + points <= usable:
            return wait
    return 0.0 if total + points <= usable else window_s
