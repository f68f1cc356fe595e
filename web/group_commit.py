"""Group commit: writes from many requests of one web process in one transaction.

A request hands its write to a `GroupCommit` and waits for it to be committed: nothing is answered
before it is in the ledger. While one transaction is being written, the writes that arrive queue,
and the next transaction takes them all (up to `most`): under load a few statements and one commit
serve dozens of requests, and a row every request updates (an edition's counter, a WebSub
subscription's push count) is locked once a transaction, not once a request, which serialised
those requests on their commits. Alone, a request gets its own transaction at once. If a shared
transaction fails, each of its writes is tried again in a transaction of its own, so one bad
request fails alone. The writing is done in a thread of its own, started when work arrives and
ended when there is none; a client that leaves does not stop its write. `behind()` says how long
the oldest write not yet committed has waited, so that a caller can refuse work (503) rather than
queue what the writer cannot keep up with.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from state.db import Database

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """`run(item)` writes `item` with `write(session, items)` (one result per item, in order) in a
    transaction shared with the items that arrived meanwhile, and returns its result once committed."""

    most = 500  # items a transaction at most

    def __init__(self, db: Database, write: Callable[[Session, Sequence[T]], Sequence[R]], *, name: str) -> None:
        self.db, self.write, self.name = db, write, name
        self._lock = threading.Lock()
        self._queue: list[tuple[T, asyncio.AbstractEventLoop, asyncio.Future[R], float]] = []
        self._writing = False
        self._since: float | None = None  # when the oldest item of the transaction being written arrived

    async def run(self, item: T) -> R:
        """The result of writing `item` (committed when this returns), or its exception."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[R] = loop.create_future()
        with self._lock:
            self._queue.append((item, loop, done, time.monotonic()))
            start, self._writing = not self._writing, True
        if start:
            threading.Thread(target=self._drain, name=self.name, daemon=True).start()
        return await done

    def behind(self) -> float:
        """How long the oldest item not yet committed has waited (s; 0 when there is none): how far
        the writing is behind what arrives."""
        with self._lock:
            oldest = self._since if self._since is not None else self._queue[0][3] if self._queue else None
        return 0.0 if oldest is None else time.monotonic() - oldest

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue[:self.most], self._queue[self.most:]
                if not batch:
                    self._writing, self._since = False, None
                    return
                self._since = batch[0][3]
            try:
                outcomes = self._commit([item for item, _, _, _ in batch])
            except BaseException as exc:  # noqa: BLE001 (this thread must go on: a request must not wait forever)
                outcomes = [exc] * len(batch)
            for (_, loop, done, _), outcome in zip(batch, outcomes, strict=True):
                with contextlib.suppress(RuntimeError):  # its event loop is closed: nobody waits for it
                    loop.call_soon_threadsafe(_settle, done, outcome)

    def _commit(self, items: list[T]) -> list[R | BaseException]:
        try:
            with self.db.session() as session:
                results = list(self.write(session, items))
            if len(results) != len(items):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(items)} items")
            return list(results)
        except Exception as exc:  # noqa: BLE001 (handed to the request that waits for it, which raises it)
            if len(items) == 1:
                return [exc]
        return [self._commit([item])[0] for item in items]


def _settle(done: asyncio.Future[R], outcome: R | BaseException) -> None:
    if done.done():  # its request was cancelled
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
