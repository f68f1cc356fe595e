"""Stage 4b, publish: draft posts and threads for approval, then post the approved ones that are due.

The ledger is written around every call to a network: a post is marked `posting` and committed
before the request leaves, and `posted` with the provider's id right after. A crash mid-thread
resumes from the first unposted post, replying to the last posted id. A post left `posting` by a
crash is ambiguous: it is shown to staff, never posted again blindly.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from compose.config import Config, SocialNetwork
from compose.models import Edition, EditionSection, Item
from compose.posts import RULES_BY_NETWORK, item_post, roundup_thread, rules_for
from connectors.channels.base import PostChannel
from connectors.errors import (
    AmbiguousError,
    AuthError,
    DeliveryError,
    DuplicateContentError,
    ReplyNotAllowedError,
    TransientError,
)
from state import events, ledger
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
                item_id: int | None = None, edition_id: int | None = None,
                scheduled_for: datetime | None = None) -> ThreadRow:
    row = ThreadRow(network=network, key=key, kind=kind, item_id=item_id, edition_id=edition_id,
                    status=ThreadStatus.DRAFT, content_hash=thread_hash(texts), created_at=now,
                    scheduled_for=scheduled_for)
    row.posts = [PostRow(position=i, text=text, status=PostStatus.PENDING, attempts=0) for i, text in enumerate(texts)]
    session.add(row)
    session.flush()
    events.record_event(session, events.THREAD_DRAFTED, events.resource_id("thread", row.id),
                        {"id": row.id, "network": network, "kind": kind, "posts": len(texts)}, now=now)
    return row


def _existing_keys(session: Session, network: str, keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    return set(session.scalars(select(ThreadRow.key).where(ThreadRow.network == network, ThreadRow.key.in_(keys))))


def draft_item_posts(session: Session, config: Config, *, now: datetime,
                     item_ids: Sequence[int] | None = None) -> list[int]:
    """A post per new item in the configured sections, per enabled network. Idempotent."""
    auto = {s.name for s in config.sources if s.auto_approve}
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
            text = item_post(item, template=config.social.post_template, hashtags=config.social.hashtags, rules=rules)
            thread = _new_thread(session, network=network, key=key, kind="item", texts=[text], now=now, item_id=row.id,
                                 scheduled_for=now)
            if source in auto:
                ledger.approve(session, "thread", thread.id, by=f"auto-approve:{source}", now=now,
                               note="source is configured with auto_approve = true")
            created.append(thread.id)
    return created


def draft_roundup(session: Session, config: Config, edition_row: EditionRow, edition: Edition, *,
                  now: datetime) -> list[int]:
    """The roundup thread of an edition, per enabled network, published once the edition is sent."""
    subscribe_url = f"{str(config.edition.public_url).rstrip('/')}/subscribe"
    created: list[int] = []
    for network in enabled_networks(config):
        key = f"edition:{edition_row.slug}"
        if _existing_keys(session, network, [key]):
            continue
        settings = _settings(config, network)
        thread = roundup_thread(edition, config=config, rules=rules_for(network, config), subscribe_url=subscribe_url,
                                link_placement=settings.link_placement)
        row = _new_thread(session, network=network, key=key, kind="roundup", texts=[p.text for p in thread.posts],
                          now=now, edition_id=edition_row.id, scheduled_for=edition_row.scheduled_for)
        created.append(row.id)
    return created


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
                   sections=tuple(sections), featured=featured)


# --- publishing ---------------------------------------------------------------------------------


@dataclass
class PublishSummary:
    posted: int = 0
    threads_done: list[int] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"posted": self.posted, "threads_done": self.threads_done, "waiting": self.waiting, "failed": self.failed}


def _due_threads(session: Session, now: datetime) -> list[ThreadRow]:
    rows = session.scalars(select(ThreadRow).where(ThreadRow.status.in_([ThreadStatus.APPROVED, ThreadStatus.PUBLISHING]))
                           .order_by(ThreadRow.scheduled_for, ThreadRow.id)).all()
    due = []
    for row in rows:
        if row.kind != "roundup" and row.scheduled_for and row.scheduled_for > now:
            continue
        if row.kind == "roundup" and row.edition_id is not None:  # due once its edition went out
            edition = session.get(EditionRow, row.edition_id)
            if edition is None or edition.status != EditionStatus.SENT:
                continue
        due.append(row)
    return due


def _posted_since(session: Session, network: str, since: datetime) -> tuple[int, datetime | None]:
    count, last = session.execute(
        select(func.count(PostRow.id), func.max(PostRow.posted_at)).join(ThreadRow)
        .where(ThreadRow.network == network, PostRow.status == PostStatus.POSTED, PostRow.posted_at >= since)).one()
    return int(count or 0), last


def default_channel_factory(config: Config, env: Mapping[str, str] | None = None) -> ChannelFactory:
    from connectors.channels import post_channel

    env = os.environ if env is None else env
    return lambda network: post_channel(network, config, env)


def publish_due_posts(sessions: sessionmaker[Session], config: Config, *, now: datetime,
                      channel_for: ChannelFactory | None = None, thread_id: int | None = None) -> PublishSummary:
    """Post approved, due threads within each network's daily cap and spacing."""
    channel_for = channel_for or default_channel_factory(config)
    summary = PublishSummary()
    channels: dict[str, PostChannel] = {}
    try:
        with sessions() as session:
            threads = _due_threads(session, now)
            if thread_id is not None:
                threads = [t for t in threads if t.id == thread_id]
            plan = [(t.id, t.network) for t in threads]
        for tid, network in plan:
            settings = _settings(config, network)
            channel = channels.setdefault(network, channel_for(network))
            with sessions() as session:
                outcome = _publish_thread(session, tid, channel, settings, now=now)
            summary.posted += outcome[0]
            if outcome[1] == "done":
                summary.threads_done.append(tid)
            elif outcome[1].startswith("wait"):
                summary.waiting.append(f"thread {tid} ({network}): {outcome[1]}")
            elif outcome[1] != "ok":
                summary.failed.append(f"thread {tid} ({network}): {outcome[1]}")
            if outcome[1].startswith("stop-network"):
                break
    finally:
        for channel in channels.values():
            channel.close()
    return summary


def _publish_thread(session: Session, thread_id: int, channel: PostChannel, settings: SocialNetwork, *,
                    now: datetime) -> tuple[int, str]:
    thread = ledger.get_thread(session, thread_id)
    try:
        ledger.require_approved(session, "thread", thread.id)
    except ledger.NotApproved as exc:
        return 0, str(exc)
    posted = 0
    while True:
        post, reply_to = ledger.next_post(thread)
        if post is None:
            session.commit()
            return posted, "done"
        if post.status in (PostStatus.POSTING, PostStatus.AMBIGUOUS):
            ledger.mark_post_failed(session, post, status=PostStatus.AMBIGUOUS, now=now, stop_thread=True,
                                    error="a previous run stopped while this post was being sent: check the network "
                                          "and mark it posted or resend it from the review desk")
            session.commit()
            return posted, "ambiguous post: held for staff"
        count, last = _posted_since(session, thread.network, now - timedelta(days=1))
        if count >= settings.daily_cap:
            session.commit()
            return posted, f"wait: daily cap of {settings.daily_cap} posts reached"
        if last and settings.min_spacing_minutes and posted == 0 and now - last < timedelta(minutes=settings.min_spacing_minutes):
            session.commit()
            return posted, f"wait: minimum spacing of {settings.min_spacing_minutes} minutes"
        ledger.mark_post_posting(session, post)
        session.commit()  # the ledger says "posting" before the request leaves
        try:
            receipt = channel.publish(post.text, reply_to=reply_to, thread_key=thread.key)
        except DuplicateContentError as exc:
            ledger.mark_post_failed(session, post, status=PostStatus.DUPLICATE, error=str(exc), now=now, stop_thread=True)
            session.commit()
            return posted, f"duplicate content, not retried: {exc}"
        except ReplyNotAllowedError as exc:
            if settings.reply_fallback == "standalone" and reply_to is not None:
                receipt = channel.publish(post.text, reply_to=None, thread_key=thread.key)
            else:
                ledger.mark_post_failed(session, post, status=PostStatus.FAILED, error=str(exc), now=now, stop_thread=True)
                session.commit()
                return posted, f"replies refused, thread stopped for staff: {exc}"
        except AmbiguousError as exc:
            ledger.mark_post_failed(session, post, status=PostStatus.AMBIGUOUS, error=str(exc), now=now, stop_thread=True)
            session.commit()
            return posted, f"ambiguous: {exc}"
        except AuthError as exc:
            ledger.mark_post_failed(session, post, status=PostStatus.FAILED, error=str(exc), now=now, stop_thread=True)
            session.commit()
            return posted, f"stop-network: credentials refused: {exc}"
        except TransientError as exc:
            ledger.mark_post_failed(session, post, status=PostStatus.FAILED, error=str(exc), now=now, stop_thread=False)
            session.commit()
            return posted, f"wait: {exc}"
        except DeliveryError as exc:
            ledger.mark_post_failed(session, post, status=PostStatus.FAILED, error=str(exc), now=now, stop_thread=True)
            session.commit()
            return posted, str(exc)
        ledger.mark_post_posted(session, post, provider_id=receipt.provider_id, url=receipt.url, now=now)
        session.commit()
        posted += 1
