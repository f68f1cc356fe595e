"""Stage 4b, publish: post the approved threads that are due (drafting them is `state.threads`).

A thread goes out only as approved: its posts' text must still hash to what was approved
(`compose.threads.thread_hash`; a post edited after the approval is refused).

The ledger is written around every call to a network: a post is marked `posting` and committed
before the request leaves, and `posted` with the provider's id right after. A crash mid-thread
resumes from the first unposted post, replying to the last posted id. A post a crash left
`posting` is reconciled, never sent blindly: the channel's `find_post` asks the network whether
it exists (found: recorded with its id; not found: sent; the network cannot tell: held for staff
as ambiguous). What a network refuses is handled by kind: 5xx and refused connections are
retried with backoff within the run, then left for the next run; a rate limit moves the
network's threads to "not before" the reset (`ThreadRow.scheduled_for`) with no retry in the
run; a duplicate is recorded and never retried; refused credentials stop the network for the
run; a refused reply follows `social.<network>.reply_fallback`. What each refusal finally means for
the post and the run is one table, `_REFUSALS`.

A post with media goes in two steps (`connectors.images`): its image (or its card's thumbnail) is
fetched through the guarded fetcher and uploaded (`channel.upload`), the network's reference is
recorded in `posts.media_ref` and committed, and only then is the post created with it. A resumed
run publishes with the recorded reference: media is never uploaded twice. A post with an image
and no alt text is never published: its thread waits, approved, with the reason in its error
(the desk and `syndicate status` show it) until staff write the alt text and approve it again.
An image that cannot be used (refused address, wrong type, too large, unreadable) stops the thread
for staff rather than posting without it (they remove the image or set `images = "off"`); an
image host that did not answer makes the thread wait for the next run.

A pause of the network or of everything (`state.pauses`) is asked in the ledger before each
thread and before each post (and each retry): a thread under way stops before its next post and
the first run after the resume goes on from there, as a reply to the last post that went.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from compose.calendar import QuietCalendar
from compose.config import Config, SocialNetwork
from compose.items import one_line
from compose.post_length import RULES_BY_NETWORK, rules_for
from compose.threads import ALT_TEXT_WAIT, network_settings
from connectors.channels.base import Attachment, PostChannel, PostReceipt
from connectors.errors import (
    AmbiguousError,
    AuthError,
    DeliveryError,
    DuplicateContentError,
    ReplyNotAllowedError,
    TransientError,
)
from connectors.images import (
    GuardedImageFetcher,
    ImageFetcher,
    ImageRefused,
    ImageUnavailable,
    attachment_for,
    needs_upload,
)
from state import ledger, pauses, quiet, slots
from state.models import EditionRow, EditionStatus, ItemRow, PostRow, PostStatus, ThreadRow, ThreadStatus
from state.post_media import thread_content_hash

ChannelFactory = Callable[[str], PostChannel]


class PublishPolicy:
    """How hard one run tries: a post the network did not accept (5xx, connection refused) is
    retried after each of these pauses before it is left for the next run. A rate limit (429)
    is never retried in the run: the network's threads wait until the reset."""

    retry_backoff_s: tuple[float, ...] = (1.0, 2.0, 4.0)


@dataclass
class PublishSummary:
    posted: int = 0
    threads_done: list[int] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reconciled: int = 0  # posts an interrupted run left `posting`, found on the network and recorded
    where: dict[str, str] = field(default_factory=dict)  # network -> where its posts went, in words
    held: list[str] = field(default_factory=list)  # threads a pause stopped: "thread 4 (x): 1 of 3 post(s) out"
    paused: dict[str, str] = field(default_factory=dict)  # network -> the pause that stops it, in words

    def as_dict(self) -> dict[str, object]:
        return {"posted": self.posted, "threads_done": self.threads_done, "waiting": self.waiting,
                "failed": self.failed, "reconciled": self.reconciled, "where": self.where,
                "held": self.held, "paused": self.paused, "message": self.message}

    @property
    def message(self) -> str:
        """What happened, saying where the posts went (the network, or the outbox and its folder), and
        what a pause holds back."""
        head = f"{self.posted} post(s) published, {len(self.threads_done)} thread(s) complete"
        if self.where:
            head += ": " + "; ".join(f"{NETWORK_NAMES.get(network, network)}: {place}"
                                     for network, place in sorted(self.where.items()))
        for network, pause in sorted(self.paused.items()):
            held = sum(1 for line in self.held if f"({network})" in line)
            head += (f"; {held} {NETWORK_NAMES.get(network, network)} thread(s) wait: {pause}; they go on "
                     "where they stopped after `syndicate resume --by EMAIL` (or Resume on the desk)")
        return head


def destination(network: str, channel: PostChannel) -> str:
    """Where a channel's posts go, for messages: "posted to X", or the outbox folder they were written to."""
    from connectors.channels.outbox_posts import OutboxPostChannel

    if isinstance(channel, OutboxPostChannel):
        return f"written to the outbox, not posted ({(channel.outbox_dir / network).as_posix()}/)"
    return f"posted to {NETWORK_NAMES.get(network, network)}"


NETWORK_NAMES = {"x": "X", "mastodon": "Mastodon", "bluesky": "Bluesky", "linkedin": "LinkedIn"}


@dataclass
class _Outcome:
    """How one thread's turn ended: done, wait (retry next run), failed (staff), or the same for
    the whole network (`network=True`: credentials refused, rate limited)."""

    kind: str
    message: str = ""
    network: bool = False


@dataclass(frozen=True)
class _Refusal:
    """What a refused post finally means, once nothing more is tried in this run: the post's
    status, the thread's outcome (`kind`, and `message` with `{exc}` and `{network}`), whether the
    thread stops for staff and whether the network stops for the rest of the run."""

    status: PostStatus
    kind: str
    message: str
    stop_thread: bool = True
    stop_network: bool = False


# Looked up by the error's class, else its nearest base class. Before one of these is final,
# `_send` tries what may still work: a lost answer is looked up on the network, a rate limit
# defers the network's threads, a refused reply goes out standalone when that is the fallback,
# and a transient error is retried after each of `PublishPolicy.retry_backoff_s`.
_REFUSALS: dict[type[DeliveryError], _Refusal] = {
    ReplyNotAllowedError: _Refusal(PostStatus.FAILED, "failed",
                                   'replies refused, thread stopped for staff (reply_fallback = "stop"): {exc}'),
    DuplicateContentError: _Refusal(PostStatus.DUPLICATE, "failed", "duplicate content, not retried: {exc}"),
    AuthError: _Refusal(PostStatus.FAILED, "failed", "credentials refused, {network} stopped for this run: {exc}",
                        stop_thread=False, stop_network=True),
    TransientError: _Refusal(PostStatus.FAILED, "wait", "{exc} (retried next run)", stop_thread=False),
    DeliveryError: _Refusal(PostStatus.FAILED, "failed", "{exc}"),
}


def _refusal_for(exc: DeliveryError) -> _Refusal:
    return next(_REFUSALS[cls] for cls in type(exc).__mro__ if cls in _REFUSALS)


def _due_threads(session: Session, now: datetime) -> list[ThreadRow]:
    rows = session.scalars(select(ThreadRow).where(ThreadRow.status.in_([ThreadStatus.APPROVED, ThreadStatus.PUBLISHING]))
                           .order_by(ThreadRow.scheduled_for, ThreadRow.id)).all()
    due = []
    for row in rows:
        if row.kind == "roundup" and row.edition_id is not None:  # due once its edition went out
            edition = session.get(EditionRow, row.edition_id)
            if edition is None or edition.status != EditionStatus.SENT:
                continue
            scheduled = row.scheduled_for
            if scheduled is not None and scheduled != edition.scheduled_for and scheduled > now:
                # a rate limit moved it past its edition's time
                continue
        elif row.scheduled_for and row.scheduled_for > now:
            continue
        due.append(row)
    return due


def _posted_since(session: Session, network: str, since: datetime) -> tuple[int, datetime | None]:
    count, last = session.execute(
        select(func.count(PostRow.id), func.max(PostRow.posted_at)).join(ThreadRow)
        .where(ThreadRow.network == network, PostRow.status == PostStatus.POSTED, PostRow.posted_at >= since)).one()
    return int(count or 0), last


def _defer_network(session: Session, network: str, until: datetime) -> None:
    """Not before `until` for every open thread of the network (its quota is per account)."""
    for row in session.scalars(select(ThreadRow).where(
            ThreadRow.network == network, ThreadRow.status.in_([ThreadStatus.APPROVED, ThreadStatus.PUBLISHING]))):
        if row.scheduled_for is None or row.scheduled_for < until:
            row.scheduled_for = until


def default_channel_factory(config: Config, env: Mapping[str, str] | None = None) -> ChannelFactory:
    from connectors.channels import post_channel

    env = os.environ if env is None else env
    return lambda network: post_channel(network, config, env)


def publish_due_posts(sessions: sessionmaker[Session], config: Config, *, now: datetime,
                      channel_for: ChannelFactory | None = None, thread_id: int | None = None,
                      sleep: Callable[[float], None] = time.sleep,
                      retry_backoff_s: Sequence[float] = PublishPolicy.retry_backoff_s,
                      image_fetcher: ImageFetcher | None = None) -> PublishSummary:
    """Post approved, due threads within each network's daily cap and spacing; resume threads
    an earlier run left half-posted, reconciling any post it left `posting` with the network.
    Images are fetched with `image_fetcher` (default: the guarded fetcher trusting the configured
    sources and `[fetch] allow_hosts`)."""
    channel_for = channel_for or default_channel_factory(config)
    image_fetcher = image_fetcher or GuardedImageFetcher.from_config(config)
    summary = PublishSummary()
    channels: dict[str, PostChannel] = {}
    halted: set[str] = set()
    try:
        with sessions() as session:
            slots.assign_waiting(session, config, now=now)  # approved before the network had slots
            session.commit()
            threads = _due_threads(session, now)
            if thread_id is not None:
                threads = [t for t in threads if t.id == thread_id]
            plan = [(t.id, t.network) for t in threads]
        for tid, network in plan:
            if network in halted:
                continue
            with sessions() as session:
                pause = pauses.stopping(session, network)
            if pause is not None:
                summary.paused[network] = pause.describe(config.zone)
                summary.held.append(f"thread {tid} ({network}): paused before it started")
                continue
            channel = channels.setdefault(network, channel_for(network))
            with sessions() as session:
                publisher = _ThreadPublisher(session, ledger.get_thread(session, tid), channel,
                                             network_settings(config, network), now=now, sleep=sleep,
                                             backoff_s=tuple(retry_backoff_s), config=config,
                                             image_fetcher=image_fetcher)
                outcome = publisher.run()
            summary.posted += publisher.posted
            summary.reconciled += publisher.reconciled
            if publisher.posted:
                summary.where[network] = destination(network, channel)
            if outcome.kind == "done":
                summary.threads_done.append(tid)
            elif outcome.kind == "paused":
                summary.paused[network] = outcome.message
                summary.held.append(f"thread {tid} ({network}): paused after {publisher.out} of "
                                    f"{publisher.total} post(s)")
            elif outcome.kind == "wait":
                summary.waiting.append(f"thread {tid} ({network}): wait: {outcome.message}")
            else:
                summary.failed.append(f"thread {tid} ({network}): {outcome.message}")
            if outcome.network:
                halted.add(network)
    finally:
        for channel in channels.values():
            channel.close()
    return summary


class _ThreadPublisher:
    """Posts one thread's remaining posts in order, each as a reply to the one before, with the
    ledger committed before and after every request."""

    def __init__(self, session: Session, thread: ThreadRow, channel: PostChannel, settings: SocialNetwork, *,
                 now: datetime, sleep: Callable[[float], None], backoff_s: tuple[float, ...],
                 config: Config | None = None, image_fetcher: ImageFetcher | None = None) -> None:
        self.session, self.thread, self.channel, self.settings = session, thread, channel, settings
        self.image_fetcher = image_fetcher
        self.config = config
        self.now, self.sleep, self.backoff_s = now, sleep, backoff_s
        self.standalone = False  # replies were refused and the fallback is "standalone"
        self.posted = 0
        self.reconciled = 0

    @property
    def total(self) -> int:
        return len(self.thread.posts)

    @property
    def out(self) -> int:
        """How many of the thread's posts are on the network."""
        return sum(1 for p in self.thread.posts if p.status in (PostStatus.POSTED, PostStatus.DUPLICATE))

    def _paused(self) -> _Outcome | None:
        """A pause of this network (or of everything), asked in the ledger before each post: the
        thread stops here and the next run after the resume goes on from this post."""
        pause = pauses.stopping(self.session, self.thread.network)
        if pause is None:
            return None
        self.session.commit()
        zone = self.config.zone if self.config is not None else UTC
        return _Outcome("paused", pause.describe(zone))

    def run(self) -> _Outcome:
        refused = self._approval_problem()
        if refused:
            return _Outcome("failed", refused)
        too_long = self._length_problem()
        if too_long:
            return too_long
        no_alt = self._alt_text_wait()
        if no_alt:
            return no_alt
        waits = self._quiet_wait()
        if waits:
            return _Outcome("wait", waits)
        while True:
            post, reply_to = ledger.next_post(self.thread)
            if post is None:
                self.session.commit()
                return _Outcome("done")
            reply_to = None if self.standalone else reply_to
            if post.status == PostStatus.AMBIGUOUS:
                return self._fail(post, PostStatus.AMBIGUOUS, "a post's fate is unknown: check the network and "
                                  "mark it posted or resend it from the review desk", "ambiguous post: held for staff")
            paused = self._paused()  # before every call to the network (a lookup or a post)
            if paused:
                return paused
            if post.status == PostStatus.POSTING:
                held = self._reconcile(post, reply_to)
                if held:
                    return held
                continue
            wait = self._quota_wait()
            if wait:
                self.session.commit()
                return _Outcome("wait", wait)
            stopped = self._send(post, reply_to)
            if stopped:
                return stopped

    def _approval_problem(self) -> str | None:
        """Why this thread may not go out: not approved, or its posts' text is not what was approved."""
        thread = self.thread
        try:
            ledger.require_approved(self.session, "thread", thread.id)
        except ledger.NotApproved as exc:
            return str(exc)
        current = thread_content_hash(thread)  # texts and each post's image, alt text and card
        if current == thread.content_hash:
            return None
        if not any(p.status == PostStatus.POSTED for p in thread.posts):
            ledger.change_content(self.session, thread, content_hash=current, now=self.now, by=ledger.SYSTEM,
                                  reason="posts found edited after approval, outside the ledger")
            self.session.commit()
        return (f"thread {thread.id}: its posts changed after approval: review the new text and approve "
                f"it again (`syndicate approve thread {thread.id} --by EMAIL`)")

    def _alt_text_wait(self) -> _Outcome | None:
        """A post still to go with an image and no alt text holds the whole thread (approved, waiting,
        the reason in its error) before anything is sent: an image without alt text is never published."""
        if self.settings.images == "off":
            return None  # images turned off for the network since the thread was drafted: none is sent
        missing = [post.position + 1 for post in self.thread.posts
                   if post.image_url and not one_line(post.image_alt or "")
                   and post.status not in (PostStatus.POSTED, PostStatus.DUPLICATE)]
        if not missing:
            return None
        which = ", ".join(str(n) for n in missing)
        message = (f"{ALT_TEXT_WAIT}: post {which} carries an image without alt text, and an image without "
                   f"alt text is never published: write it on the desk (thread {self.thread.id}) and approve again")
        ledger.note_thread_problem(self.thread, message)
        self.session.commit()
        return _Outcome("wait", message)

    def _quiet_wait(self) -> str | None:
        """Why the thread waits (quiet time on its network, not overridden; its time moves to the next
        allowed moment), or None. A thread already under way finishes: its posts stay together."""
        if self.config is None or any(p.status == PostStatus.POSTED for p in self.thread.posts):
            return None
        waits = quiet.hold_if_quiet(self.session, QuietCalendar.from_config(self.config), self.thread, now=self.now)
        if waits:
            self.session.commit()
        return waits

    def _length_problem(self) -> _Outcome | None:
        """A post its network would refuse stops the thread before anything is sent (the limit
        may have changed since the approval, e.g. `max_characters`)."""
        problems = ledger.over_limit(self.thread, self.config)
        if not problems:
            return None
        first = next((p for p in self.thread.posts if p.status in (PostStatus.PENDING, PostStatus.FAILED)),
                     self.thread.posts[0])
        message = f"not published: on {self.thread.network} {'; '.join(problems)}: shorten and approve it again"
        return self._fail(first, PostStatus.FAILED, message, f"thread {self.thread.id}: {message}")

    def _quota_wait(self) -> str | None:
        settings, thread = self.settings, self.thread
        count, last = _posted_since(self.session, thread.network, self.now - timedelta(days=1))
        if count >= settings.daily_cap:
            return f"daily cap of {settings.daily_cap} posts reached"
        if any(p.status == PostStatus.POSTED for p in thread.posts):
            return None  # a thread under way continues: its posts stay together
        remaining = len(thread.posts)
        if count + remaining > settings.daily_cap >= remaining:
            return f"its {remaining} posts would pass the daily cap of {settings.daily_cap} ({count} posted)"
        if last and settings.min_spacing_minutes and self.now - last < timedelta(minutes=settings.min_spacing_minutes):
            return f"minimum spacing of {settings.min_spacing_minutes} minutes"
        return None

    def _fail(self, post: PostRow, status: PostStatus, error: str, message: str, *, stop: bool = True,
              kind: str = "failed", network: bool = False) -> _Outcome:
        ledger.mark_post_failed(self.session, post, status=status, error=error, now=self.now, stop_thread=stop)
        self.session.commit()
        return _Outcome(kind, message, network=network)

    def _posted(self, post: PostRow, receipt: PostReceipt) -> None:
        ledger.mark_post_posted(self.session, post, provider_id=receipt.provider_id, url=receipt.url, now=self.now)
        self.session.commit()

    def _lookup(self, post: PostRow, reply_to: str | None) -> PostReceipt | None:
        """Ask the network whether the post exists (as a reply, or standalone when that is the
        fallback); raises `DeliveryError` when it cannot tell, after the in-run retries."""
        candidates = [reply_to] + ([None] if reply_to and self.settings.reply_fallback == "standalone" else [])
        for delay in (*self.backoff_s, None):
            try:
                for candidate in candidates:
                    receipt = self.channel.find_post(post.text, reply_to=candidate, thread_key=self.thread.key)
                    if receipt is not None:
                        return receipt
                return None
            except TransientError:
                if delay is None:
                    raise
                self.sleep(delay)
        return None

    def _reconcile(self, post: PostRow, reply_to: str | None) -> _Outcome | None:
        """A post an earlier run left `posting`: found on the network -> recorded as posted; not
        found -> it never landed and is sent again; the network cannot tell -> held for staff."""
        try:
            receipt = self._lookup(post, reply_to)
        except DeliveryError as exc:
            return self._fail(post, PostStatus.AMBIGUOUS, f"an earlier run stopped while this post was being sent, "
                              f"and the network could not be asked whether it landed ({exc}): check the account "
                              f"and mark it posted or resend it", "ambiguous post: held for staff")
        if receipt is not None:
            self._posted(post, receipt)
            self.reconciled += 1
            return None
        ledger.mark_post_failed(self.session, post, status=PostStatus.FAILED, now=self.now, stop_thread=False,
                                error="an earlier run stopped while sending this post and the network does not "
                                      "have it: sending it again")
        self.session.commit()
        return None

    def _item_of(self, post: PostRow) -> ItemRow | None:
        """The item a post is about: the thread's, else (a roundup) the one its card or image is from."""
        if self.thread.item_id is not None:
            return self.session.get(ItemRow, self.thread.item_id)
        for column, value in ((ItemRow.url, post.card_url), (ItemRow.image_url, post.image_url)):
            if value:
                item = self.session.scalars(select(ItemRow).where(column == value).order_by(ItemRow.id)).first()
                if item is not None:
                    return item
        return None

    def _attachment(self, post: PostRow) -> Attachment | None | _Outcome:
        """What the post carries (`connectors.images.attachment_for`), or the outcome when its image
        cannot be had: refused -> the thread stops for staff; the host did not answer -> it waits."""
        with_image = self.settings.images != "off"
        builds_card = bool(post.card_url) and getattr(self.channel, "builds_cards", False)
        if not (post.image_url and with_image) and not builds_card:
            return None  # a text post (X and Mastodon build the card from the link themselves)
        try:
            return attachment_for(post, self._item_of(post), self.channel, fetcher=self.image_fetcher,
                                  with_image=with_image)
        except ImageUnavailable as exc:
            return self._fail(post, PostStatus.FAILED, f"image not fetched: {exc}", f"{exc} (retried next run)",
                              stop=False, kind="wait")
        except ImageRefused as exc:
            return self._fail(post, PostStatus.FAILED, f"image not usable, nothing sent: {exc}",
                              f"post {post.position + 1}: its image cannot be used, thread stopped for staff: {exc}")

    def _upload(self, post: PostRow, attachment: Attachment | None) -> None:
        """Upload the post's media unless an earlier run did (`media_ref`), and commit the reference
        before the post is created: a crash after this point publishes with it, never uploads again."""
        if post.media_ref or not needs_upload(attachment):
            return
        assert attachment is not None
        try:
            reference = self.channel.upload(attachment, thread_key=self.thread.key)
        except AmbiguousError as exc:  # nothing was posted: uploading again is safe (the first is never used)
            raise TransientError(f"no answer to the media upload: {exc}", hint=exc.hint) from exc
        if reference:
            post.media_ref = reference
            self.session.commit()

    def _send(self, post: PostRow, reply_to: str | None) -> _Outcome | None:
        """Send one post (its media uploaded first), retrying what the network did not accept; None when it was posted."""
        attachment = self._attachment(post)
        if isinstance(attachment, _Outcome):
            return attachment
        retries = list(self.backoff_s)
        while True:
            network = self.thread.network
            try:
                self._upload(post, attachment)
                ledger.mark_post_posting(self.session, post,
                                         rules=rules_for(network, self.config) if network in RULES_BY_NETWORK else None)
                self.session.commit()  # the ledger says "posting" before the request leaves
                if attachment is None:  # a text post: the call every channel has always taken
                    receipt = self.channel.publish(post.text, reply_to=reply_to, thread_key=self.thread.key)
                else:
                    receipt = self.channel.publish(post.text, reply_to=reply_to, thread_key=self.thread.key,
                                                   attachment=attachment, media_ref=post.media_ref)
            except AmbiguousError as exc:  # the request left: it may have landed
                return self._after_lost_answer(post, reply_to, exc)
            except DeliveryError as exc:
                if isinstance(exc, TransientError) and (exc.status == 429 or exc.retry_after_s is not None):
                    return self._rate_limited(post, exc)
                standalone = self.settings.reply_fallback == "standalone" and reply_to is not None
                if isinstance(exc, ReplyNotAllowedError) and standalone:
                    ledger.mark_post_failed(self.session, post, status=PostStatus.FAILED, error=str(exc), now=self.now,
                                            stop_thread=False)
                    self.standalone, reply_to = True, None  # the rest of the thread goes out as standalone posts
                    continue
                if isinstance(exc, TransientError) and retries:
                    ledger.mark_post_failed(self.session, post, status=PostStatus.FAILED, error=str(exc), now=self.now,
                                            stop_thread=False)
                    self.session.commit()
                    self.sleep(retries.pop(0))
                    paused = self._paused()  # paused while it waited to retry: stop before sending again
                    if paused:
                        return paused
                    continue
                return self._refused(post, exc)
            self._posted(post, receipt)
            self.posted += 1
            return None

    def _refused(self, post: PostRow, exc: DeliveryError) -> _Outcome:
        """Record what the network's refusal means (`_REFUSALS`) once nothing more is tried in this run."""
        refusal = _refusal_for(exc)
        return self._fail(post, refusal.status, str(exc), refusal.message.format(exc=exc, network=self.thread.network),
                          stop=refusal.stop_thread, kind=refusal.kind, network=refusal.stop_network)

    def _rate_limited(self, post: PostRow, exc: TransientError) -> _Outcome:
        """No retry in this run: every open thread of the network waits for the reset."""
        until = self.now + timedelta(seconds=exc.retry_after_s or 0)
        ledger.mark_post_failed(self.session, post, status=PostStatus.FAILED, error=str(exc),
                                now=self.now, stop_thread=False)
        _defer_network(self.session, self.thread.network, until)
        self.session.commit()
        return _Outcome("wait", f"rate limited until {until:%Y-%m-%d %H:%M:%S} UTC: {exc}", network=True)

    def _after_lost_answer(self, post: PostRow, reply_to: str | None, exc: AmbiguousError) -> _Outcome | None:
        """The request left and no answer came back: look once, after a pause; if the network
        does not show the post yet it stays `posting` and the next run looks again."""
        if self.backoff_s:
            self.sleep(self.backoff_s[0])
        try:
            receipt = self._lookup(post, reply_to)
        except DeliveryError:
            receipt = None
        if receipt is not None:
            self._posted(post, receipt)
            self.posted += 1
            return None
        ledger.note_post_error(post, f"{exc}: the next run asks the network whether it landed before sending anything")
        self.session.commit()
        return _Outcome("wait", f"no answer to a post; looked up again next run: {exc}")
