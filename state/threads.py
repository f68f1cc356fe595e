"""Threads before they go out: drafted for approval (a post per new item, an edition's roundup per
network), edited by staff, and rewritten from their edition while they follow it.

A thread waits for approval of its exact text (`compose.threads.thread_hash` of every post; a post
edited after the approval voids it) unless its source or section is configured with
`auto_approve`. Publishing is `flows.stages.publish`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from compose.calendar import QuietCalendar
from compose.config import Config
from compose.models import Edition, Item, Post
from compose.post_length import RULES_BY_NETWORK, rules_for
from compose.posts import ItemNotPostable, item_thread_post
from compose.threads import (
    item_networks,
    network_settings,
    roundup,
    roundup_networks,
    roundup_posts,
    thread_hash,
)
from state import ledger, quiet
from state.editions import edition_value
from state.models import EditionRow, ItemRow, PostStatus, SourceRow, ThreadRow, ThreadStatus


def _new_thread(session: Session, *, network: str, key: str, kind: str, texts: Sequence[str], now: datetime,
                item_id: int | None = None, edition_id: int | None = None, scheduled_for: datetime | None = None,
                error: str | None = None, failed: str | None = None,
                calendar: QuietCalendar | None = None) -> ThreadRow:
    row = ledger.create_thread(session, network=network, key=key, kind=kind, texts=texts,
                               content_hash=thread_hash(texts), now=now, item_id=item_id, edition_id=edition_id,
                               scheduled_for=scheduled_for, error=error, failed=failed)
    if calendar is not None and failed is None:
        quiet.place(session, calendar, row, now=now)  # a time in the network's quiet time moves
    return row


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
    calendar = QuietCalendar.from_config(config)
    for network in item_networks(config):
        settings = network_settings(config, network)
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
                        summary_text=row.summary_text, published=row.published_at, id=row.id,
                        image_url=row.image_url, image_alt=row.image_alt)
            try:
                post = item_thread_post(item, config=config, network=network, rules=rules)
            except ItemNotPostable as exc:  # recorded once for staff (the desk shows it); the other items go on
                _new_thread(session, network=network, key=key, kind="item", texts=[], now=now, item_id=row.id,
                            failed=f"no {network} post for {row.title[:80]!r}: {exc}")
                continue
            thread = _new_thread(session, network=network, key=key, kind="item", texts=[post.text], now=now,
                                 item_id=row.id, scheduled_for=now, calendar=calendar)
            apply_media(thread, [post])
            thread.content_hash = hash_now(thread)  # before any approval: it binds the media too
            if source in auto or row.section in auto_sections:
                what = f"source {source!r}" if source in auto else f"section {row.section!r}"
                ledger.auto_approve(session, thread, now=now, config=config,
                                    reason=f"the {what} is configured with auto_approve = true")
            created.append(thread.id)
    return created


def draft_roundup(session: Session, config: Config, edition_row: EditionRow, edition: Edition, *,
                  now: datetime) -> list[int]:
    """The roundup thread of an edition, per enabled network, published once the edition is sent.
    It follows its edition (`follow_edition`) until someone edits it by hand."""
    created: list[int] = []
    calendar = QuietCalendar.from_config(config)
    for network in roundup_networks(config):
        key = f"edition:{edition_row.slug}"
        if _existing_keys(session, network, [key]):
            continue
        thread = roundup(config, edition, network)  # LinkedIn: one post (compose.threads.roundup)
        posts = thread.posts
        texts = [p.text for p in posts]
        left_out = "; ".join(thread.left_out) or None
        row = _new_thread(session, network=network, key=key, kind="roundup", texts=texts, now=now,
                          edition_id=edition_row.id, scheduled_for=edition_row.scheduled_for, error=left_out,
                          calendar=calendar)
        apply_media(row, posts)
        row.content_hash = row.derived_hash = hash_now(row)
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
    """Its posts may still be edited or rewritten: not yet published, and none posted."""
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
    posts = derived_posts(session, config, thread, link_placement=link_placement)
    return None if posts is None else [p.text for p in posts]


def derived_posts(session: Session, config: Config, thread: ThreadRow, *,
                  link_placement: str | None = None) -> tuple[Post, ...] | None:
    """`derived_texts` as posts, with their images and cards."""
    if thread.kind != "roundup" or thread.edition_id is None or thread.network not in RULES_BY_NETWORK:
        return None
    edition_row = session.get(EditionRow, thread.edition_id)
    if edition_row is None:
        return None
    return roundup_posts(config, edition_value(session, edition_row, config), thread.network,
                         link_placement=link_placement or thread.link_placement)


def hash_now(thread: ThreadRow) -> str:
    """The content hash of `thread` as it is now: the one place drafts take it after their media are
    set (`compose.threads.thread_hash` of the posts' texts, which approval binds)."""
    return thread_hash([p.text for p in thread.posts])


def settle_hash(session: Session, thread: ThreadRow, *, by: str, now: datetime, derived: bool) -> bool:
    """After `apply_media` changed a thread's media: its content hash taken again, through the
    ledger (which voids an approval) when it differs. True if it changed."""
    current = hash_now(thread)
    if derived:
        thread.derived_hash = current
    return ledger.change_content(session, thread, content_hash=current, by=by, now=now,
                                 reason="its image, alt text or card changed") if current != thread.content_hash else False


def apply_media(thread: ThreadRow, posts: Sequence[Post]) -> bool:
    """Each post row's image, alt text and card from the drafted `posts` (by position). Alt text
    staff wrote (`image_alt_by`) stays while the image is the same; another image (or none) takes
    the source's alt text and forgets any upload. True if anything changed. Does not flush."""
    by_position = {post.position: post for post in posts}
    before = [(row.image_url, row.image_alt, row.card_url) for row in thread.posts]
    for row in thread.posts:
        post = by_position.get(row.position)
        image_url = post.image_url if post is not None else None
        if image_url != row.image_url:
            row.image_url, row.image_alt_by, row.media_ref = image_url, None, None
            row.image_alt = post.image_alt if post is not None else None
        elif row.image_alt_by is None:
            row.image_alt = post.image_alt if post is not None else None
        row.card_url = post.card_url if post is not None else None
    return before != [(row.image_url, row.image_alt, row.card_url) for row in thread.posts]


def follow_edition(session: Session, config: Config, edition_row: EditionRow, *, by: str, now: datetime) -> list[int]:
    """Rewrite each roundup of `edition_row` from it as it is now, except those edited by hand (the
    desk says their edition changed, with a one-click rebuild). Returns the threads rewritten."""
    edition = edition_value(session, edition_row, config)
    changed = []
    for thread in ledger.edition_threads(session, edition_row.id):
        if not can_change(thread) or hand_edited(thread) or thread.network not in RULES_BY_NETWORK:
            continue
        posts = roundup_posts(config, edition, thread.network, link_placement=thread.link_placement)
        if write_posts(session, thread, [p.text for p in posts], by=by, now=now, derived=True,
                       reason=f"edition {edition_row.id} changed"):
            changed.append(thread.id)
        if apply_media(thread, posts) and settle_hash(session, thread, by=by, now=now, derived=True) \
                and thread.id not in changed:
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
    posts = derived_posts(session, config, thread, link_placement=link_placement)
    if posts is None:
        raise ledger.LedgerError(f"thread {thread.id} is not the roundup of an edition: there is nothing to rebuild from")
    if link_placement is not None:
        thread.link_placement = None if link_placement == network_settings(config, thread.network).link_placement \
            else link_placement
    changed = write_posts(session, thread, [p.text for p in posts], by=by, now=now, derived=True,
                          reason="rebuilt from the edition" + (f", links: {link_placement}" if link_placement else ""))
    if apply_media(thread, posts):
        changed = settle_hash(session, thread, by=by, now=now, derived=True) or changed
    return changed
