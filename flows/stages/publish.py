"""Stage 4b, publish: draft posts and threads for approval, then post the approved ones that are due.

A thread waits for approval of its exact text (a hash of every post; a post edited after the
approval is refused) unless its source or section is configured with `auto_approve`.

The ledger is written around every call to a network: a post is marked `posting` and committed
before the request leaves, and `posted` with the provider's id right after. A crash mid-thread
resumes from the first unposted post, replying to the last posted id. A post a crash left
`posting` is reconciled, never sent blindly: the channel's `find_post` asks the network whether
it exists (found: recorded with its id; not found: sent; the network cannot tell: held for staff
as ambiguous). What a network refuses is handled by kind: 5xx and refused connections are
retried with backoff within the run, then left for the next run; a rate limit moves the
network's threads to "not before" the reset (`ThreadRow.scheduled_for`) with no retry in the
run; a duplicate is recorded and never retried; refused credentials stop the network for the
run; a refused reply follows `social.<network>.reply_fallback`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from compose.config import Config, SocialNetwork
from compose.models import Edition, EditionSection, Item
from compose.post_length import RULES_BY_NETWORK, rules_for
from compose.posts import (
    ItemNotPostable,
    item_post,
    roundup_left_out,
    roundup_thread,
)
from connectors.channels.base import PostChannel, PostReceipt
from connectors.errors import (
    AmbiguousError,
    AuthError,
    DeliveryError,
    DuplicateContentError,
    ReplyNotAllowedError,
    TransientError,
)
from state import ledger
from state.models import (
    EditionRow,
    EditionStatus,
    ItemRow,
    PostRow,
    PostStatus,
    SourceRow,
    ThreadRow,
    ThreadStatus,
)

ChannelFactory = Callable[[str], PostChannel]


def _settings(config: Config, network: str) -> SocialNetwork:
    return getattr(config.social, network)


def enabled_networks(config: Config) -> list[str]:
    return [n for n in RULES_BY_NETWORK if _settings(config, n).enabled]


def thread_hash(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\x00")
    return digest.hexdigest()


def _new_thread(session: Session, *, network: str, key: str, kind: str, texts: Sequence[str], now: datetime,
                item_id: int | None = None, edition_id: int | None = None, scheduled_for: datetime | None = None,
                error: str | None = None, failed: str | None = None) -> ThreadRow:
    return ledger.create_thread(session, network=network, key=key, kind=kind, texts=texts,
                                content_hash=thread_hash(texts), now=now, item_id=item_id, edition_id=edition_id,
                                scheduled_for=scheduled_for, error=error, failed=failed)


def _existing_keys(session: Session, network: str, keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    return set(session.scalars(select(ThreadRow.key).where(ThreadRow.network == network, ThreadRow.key.in_(keys))))


def draft_item_posts(session: Session, config: Config, *, now: datetime,
                     item_ids: Sequence[int] | None = None) -> list[int]:
    """A post per new item in the configured sections, per enabled network. Idempotent."""
    auto = {s.name for s in config.sources if s.auto_approve}
    auto_sections = {s.key for s in config.sections if s.auto_approve}
    created: list[int] = []
    for network in enabled_networks(config):
        settings = _settings(config, network)
        query = (select(ItemRow, SourceRow.name).join(SourceRow, SourceRow.id == ItemRow.source_id)
                 .where(ItemRow.backlog.is_(False), ItemRow.section.in_(settings.sections)))
        if item_ids is not None:
            query = query.where(ItemRow.id.in_(item_ids))
        rows = session.execute(query.order_by(ItemRow.published_at)).all()
        have = _existing_keys(session, network, [f"item:{row.id}" for row, _ in rows])
        rules = rules_for(network, config)
        for row, source in rows:
            key = f"item:{row.id}"
            if key in have:
                continue
            item = Item(url=row.url, title=row.title, section=row.section, source=source,
                        summary_text=row.summary_text, published=row.published_at, id=row.id)
            try:
                text = item_post(item, template=config.social.post_template, hashtags=config.social.hashtags, rules=rules)
            except ItemNotPostable as exc:  # recorded once for staff (the desk shows it); the other items go on
                _new_thread(session, network=network, key=key, kind="item", texts=[], now=now, item_id=row.id,
                            failed=f"no {network} post for {row.title[:80]!r}: {exc}")
                continue
            thread = _new_thread(session, network=network, key=key, kind="item", texts=[text], now=now, item_id=row.id,
                                 scheduled_for=now)
            if source in auto or row.section in auto_sections:
                what = f"source {source!r}" if source in auto else f"section {row.section!r}"
                ledger.auto_approve(session, thread, now=now, config=config,
                                    reason=f"the {what} is configured with auto_approve = true")
            created.append(thread.id)
    return created


def subscribe_url(config: Config) -> str:
    return f"{str(config.edition.public_url).rstrip('/')}/subscribe"


def roundup_texts(config: Config, edition: Edition, network: str, *, link_placement: str | None = None) -> list[str]:
    """The posts of `edition`'s roundup on `network`, as derived from it (links where `link_placement`
    says, else where the config says)."""
    placement = link_placement or _settings(config, network).link_placement
    thread = roundup_thread(edition, config=config, rules=rules_for(network, config), subscribe_url=subscribe_url(config),
                            link_placement=placement)  # type: ignore[arg-type]
    return [p.text for p in thread.posts]


def draft_roundup(session: Session, config: Config, edition_row: EditionRow, edition: Edition, *,
                  now: datetime) -> list[int]:
    """The roundup thread of an edition, per enabled network, published once the edition is sent.
    It follows its edition (`follow_edition`) until someone edits it by hand."""
    created: list[int] = []
    for network in enabled_networks(config):
        key = f"edition:{edition_row.slug}"
        if _existing_keys(session, network, [key]):
            continue
        texts = roundup_texts(config, edition, network)
        left_out = "; ".join(roundup_left_out(edition, config=config, rules=rules_for(network, config))) or None
        row = _new_thread(session, network=network, key=key, kind="roundup", texts=texts, now=now,
                          edition_id=edition_row.id, scheduled_for=edition_row.scheduled_for, error=left_out)
        row.derived_hash = row.content_hash
        created.append(row.id)
    return created


FOLLOWING = (ThreadStatus.DRAFT, ThreadStatus.REJECTED, ThreadStatus.APPROVED)  # may still change


def hand_edited(thread: ThreadRow) -> bool:
    """Its posts differ from what was last derived from its edition: someone edited them. A
    roundup written before threads followed their edition (no `derived_hash`) counts as edited:
    it is never rewritten behind anyone's back; the desk offers the rebuild."""
    if thread.kind != "roundup":
        return False
    return thread.derived_hash is None or thread.derived_hash != thread.content_hash


def can_change(thread: ThreadRow) -> bool:
    return thread.status in FOLLOWING and all(p.status == PostStatus.PENDING for p in thread.posts)


def write_posts(session: Session, thread: ThreadRow, texts: Sequence[str], *, by: str, now: datetime,
                derived: bool = False, **detail: object) -> bool:
    """Replace the thread's posts with `texts` (through the ledger, which voids an approval and
    logs each post's before and after). `derived`: the texts come from the edition. True if changed."""
    texts = list(texts)
    new_hash = thread_hash(texts)
    before = [p.text for p in thread.posts]
    if derived:
        thread.derived_hash = new_hash
    if new_hash == thread.content_hash:
        return False
    if len(before) == len(texts):
        changes: dict[str, tuple[object, object]] = {f"post {n}": (old, new)
                                                     for n, (old, new) in enumerate(zip(before, texts, strict=True), 1)}
    else:
        changes = {"posts": (before, texts)}
    ledger.change_content(session, thread, content_hash=new_hash, by=by, now=now, changes=changes, **detail)
    if len(before) == len(texts):
        for post, text in zip(thread.posts, texts, strict=True):
            post.text = text
    else:
        thread.posts.clear()
        session.flush()  # delete before insert: (thread_id, position) is unique
        thread.posts.extend(ledger.new_posts(texts))
    session.flush()
    return True


def derived_texts(session: Session, config: Config, thread: ThreadRow, *,
                  link_placement: str | None = None) -> list[str] | None:
    """What the roundup `thread` would say if written from its edition now (None: not a roundup)."""
    if thread.kind != "roundup" or thread.edition_id is None or thread.network not in RULES_BY_NETWORK:
        return None
    edition_row = session.get(EditionRow, thread.edition_id)
    if edition_row is None:
        return None
    return roundup_texts(config, edition_value(session, edition_row, config), thread.network,
                         link_placement=link_placement or thread.link_placement)


def follow_edition(session: Session, config: Config, edition_row: EditionRow, *, by: str, now: datetime) -> list[int]:
    """Rewrite each roundup of `edition_row` from it as it is now, except those edited by hand (the
    desk says their edition changed, with a one-click rebuild). Returns the threads rewritten."""
    edition = edition_value(session, edition_row, config)
    changed = []
    for thread in ledger.edition_threads(session, edition_row.id):
        if not can_change(thread) or hand_edited(thread) or thread.network not in RULES_BY_NETWORK:
            continue
        texts = roundup_texts(config, edition, thread.network, link_placement=thread.link_placement)
        if write_posts(session, thread, texts, by=by, now=now, derived=True,
                       reason=f"edition {edition_row.id} changed"):
            changed.append(thread.id)
    return changed


def rebuild_roundup(session: Session, config: Config, thread: ThreadRow, *, by: str, now: datetime,
                    link_placement: str | None = None) -> bool:
    """Write the roundup from its edition again (replacing hand edits), with links where
    `link_placement` says (remembered for later rewrites). True if the posts changed."""
    if not can_change(thread):
        raise ledger.LedgerError(f"thread {thread.id} is {thread.status}: its posts can no longer change")
    if link_placement is not None and link_placement not in ("every", "first", "last"):
        raise ledger.LedgerError(f"{link_placement!r} is not a link placement: use every, first or last")
    texts = derived_texts(session, config, thread, link_placement=link_placement)
    if texts is None:
        raise ledger.LedgerError(f"thread {thread.id} is not the roundup of an edition: there is nothing to rebuild from")
    if link_placement is not None:
        thread.link_placement = None if link_placement == _settings(config, thread.network).link_placement \
            else link_placement
    return write_posts(session, thread, texts, by=by, now=now, derived=True,
                       reason="rebuilt from the edition" + (f", links: {link_placement}" if link_placement else ""))


def edition_value(session: Session, row: EditionRow, config: Config) -> Edition:
    """Rebuild the Edition value of a stored edition (its sections and items, as stored)."""
    from flows.stages.edition import edition_items

    items = {item.id: item for item in edition_items(session, row)}
    sections = []
    for section in config.sections:
        chosen = tuple(items[link.item_id] for link in row.items if link.section == section.key)
        if chosen:
            sections.append(EditionSection(key=section.key, title=section.title, items=chosen,
                                           more_url=str(section.url) if section.url else None))
    featured = items.get(row.featured_item_id) if row.featured_item_id else None
    return Edition(slug=row.slug, title=row.title, issue_date=row.built_at.astimezone(config.zone).date(),
                   subject=row.subject, preheader=row.preheader, intro_markdown=row.intro_markdown,
                   sections=tuple(sections), featured=featured,
                   web_url=f"{str(config.edition.public_url).rstrip('/')}/editions/{row.slug}")


# --- publishing ---------------------------------------------------------------------------------


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

    def as_dict(self) -> dict[str, object]:
        return {"posted": self.posted, "threads_done": self.threads_done, "waiting": self.waiting,
                "failed": self.failed, "reconciled": self.reconciled, "where": self.where,
                "message": self.message}

    @property
    def message(self) -> str:
        """What happened, saying where the posts went (the network, or the outbox and its folder)."""
        head = f"{self.posted} post(s) published, {len(self.threads_done)} thread(s) complete"
        if not self.where:
            return head
        return f"{head}: " + "; ".join(f"{NETWORK_NAMES.get(network, network)}: {place}"
                                       for network, place in sorted(self.where.items()))


def destination(network: str, channel: PostChannel) -> str:
    """Where a channel's posts go, for messages: "posted to X", or the outbox folder they were written to."""
    from connectors.channels.outbox_posts import OutboxPostChannel

    if isinstance(channel, OutboxPostChannel):
        return f"written to the outbox, not posted ({(channel.outbox_dir / network).as_posix()}/)"
    return f"posted to {NETWORK_NAMES.get(network, network)}"


NETWORK_NAMES = {"x": "X", "mastodon": "Mastodon", "bluesky": "Bluesky"}


@dataclass
class _Outcome:
    """How one thread's turn ended: done, wait (retry next run), failed (staff), or the same for
    the whole network (`network=True`: credentials refused, rate limited)."""

    kind: str
    message: str = ""
    network: bool = False


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
                      retry_backoff_s: Sequence[float] = PublishPolicy.retry_backoff_s) -> PublishSummary:
    """Post approved, due threads within each network's daily cap and spacing; resume threads
    an earlier run left half-posted, reconciling any post it left `posting` with the network."""
    channel_for = channel_for or default_channel_factory(config)
    summary = PublishSummary()
    channels: dict[str, PostChannel] = {}
    halted: set[str] = set()
    try:
        with sessions() as session:
            threads = _due_threads(session, now)
            if thread_id is not None:
                threads = [t for t in threads if t.id == thread_id]
            plan = [(t.id, t.network) for t in threads]
        for tid, network in plan:
            if network in halted:
                continue
            channel = channels.setdefault(network, channel_for(network))
            with sessions() as session:
                publisher = _ThreadPublisher(session, ledger.get_thread(session, tid), channel,
                                             _settings(config, network), now=now, sleep=sleep,
                                             backoff_s=tuple(retry_backoff_s), config=config)
                outcome = publisher.run()
            summary.posted += publisher.posted
            summary.reconciled += publisher.reconciled
            if publisher.posted:
                summary.where[network] = destination(network, channel)
            if outcome.kind == "done":
                summary.threads_done.append(tid)
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
                 config: Config | None = None) -> None:
        self.session, self.thread, self.channel, self.settings = session, thread, channel, settings
        self.config = config
        self.now, self.sleep, self.backoff_s = now, sleep, backoff_s
        self.standalone = False  # replies were refused and the fallback is "standalone"
        self.posted = 0
        self.reconciled = 0

    def run(self) -> _Outcome:
        refused = self._approval_problem()
        if refused:
            return _Outcome("failed", refused)
        too_long = self._length_problem()
        if too_long:
            return too_long
        while True:
            post, reply_to = ledger.next_post(self.thread)
            if post is None:
                self.session.commit()
                return _Outcome("done")
            reply_to = None if self.standalone else reply_to
            if post.status == PostStatus.AMBIGUOUS:
                return self._fail(post, PostStatus.AMBIGUOUS, "a post's fate is unknown: check the network and "
                                  "mark it posted or resend it from the review desk", "ambiguous post: held for staff")
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
        current = thread_hash([p.text for p in thread.posts])
        if current == thread.content_hash:
            return None
        if not any(p.status == PostStatus.POSTED for p in thread.posts):
            ledger.change_content(self.session, thread, content_hash=current, now=self.now, by=ledger.SYSTEM,
                                  reason="posts found edited after approval, outside the ledger")
            self.session.commit()
        return (f"thread {thread.id}: its posts changed after approval: review the new text and approve "
                f"it again (`syndicate approve thread {thread.id} --by EMAIL`)")

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
        find = getattr(self.channel, "find_post", None)
        if find is None:
            raise DeliveryError(f"{self.thread.network}: this channel cannot look up its posts")
        candidates = [reply_to] + ([None] if reply_to and self.settings.reply_fallback == "standalone" else [])
        for delay in (*self.backoff_s, None):
            try:
                for candidate in candidates:
                    receipt = find(post.text, reply_to=candidate, thread_key=self.thread.key)
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

    def _send(self, post: PostRow, reply_to: str | None) -> _Outcome | None:
        """Send one post, retrying what the network did not accept; None when it was posted."""
        retries = list(self.backoff_s)
        while True:
            network = self.thread.network
            ledger.mark_post_posting(self.session, post,
                                     rules=rules_for(network, self.config) if network in RULES_BY_NETWORK else None)
            self.session.commit()  # the ledger says "posting" before the request leaves
            try:
                receipt = self.channel.publish(post.text, reply_to=reply_to, thread_key=self.thread.key)
            except ReplyNotAllowedError as exc:
                if self.settings.reply_fallback != "standalone" or reply_to is None:
                    return self._fail(post, PostStatus.FAILED, str(exc), f"replies refused, thread stopped for "
                                      f"staff (reply_fallback = \"stop\"): {exc}")
                ledger.mark_post_failed(self.session, post, status=PostStatus.FAILED, error=str(exc), now=self.now,
                                        stop_thread=False)
                self.standalone, reply_to = True, None  # the rest of the thread goes out as standalone posts
                continue
            except DuplicateContentError as exc:
                return self._fail(post, PostStatus.DUPLICATE, str(exc), f"duplicate content, not retried: {exc}")
            except AuthError as exc:
                return self._fail(post, PostStatus.FAILED, str(exc), f"credentials refused, {self.thread.network} "
                                  f"stopped for this run: {exc}", stop=False, network=True)
            except AmbiguousError as exc:
                return self._after_lost_answer(post, reply_to, exc)
            except TransientError as exc:
                if exc.status == 429 or exc.retry_after_s is not None:
                    until = self.now + timedelta(seconds=exc.retry_after_s or 0)
                    ledger.mark_post_failed(self.session, post, status=PostStatus.FAILED, error=str(exc),
                                            now=self.now, stop_thread=False)
                    _defer_network(self.session, self.thread.network, until)
                    self.session.commit()
                    return _Outcome("wait", f"rate limited until {until:%Y-%m-%d %H:%M:%S} UTC: {exc}", network=True)
                if not retries:
                    return self._fail(post, PostStatus.FAILED, str(exc), f"{exc} (retried next run)", stop=False,
                                      kind="wait")
                ledger.mark_post_failed(self.session, post, status=PostStatus.FAILED, error=str(exc), now=self.now,
                                        stop_thread=False)
                self.session.commit()
                self.sleep(retries.pop(0))
                continue
            except DeliveryError as exc:
                return self._fail(post, PostStatus.FAILED, str(exc), str(exc))
            self._posted(post, receipt)
            self.posted += 1
            return None

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
