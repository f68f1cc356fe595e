"""What a post carries besides its text, as the ledger keeps it: its image, the image's alt text
and the link its card previews.

An image is never published without alt text: a thread with such a post cannot be approved
(`state.ledger.approve` refuses, naming the post), and the desk asks for the text. Staff write it
with `set_image_alt`, which records who wrote it; the image, its alt text and the card are part of
the thread's content hash (`compose.threads.thread_hash`), so changing the alt text voids an
approval like any edit of the text does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from compose.threads import ALT_TEXT_WAIT, PostMedia, missing_alt_positions, thread_hash
from compose.threads import missing_alt_reason as compose_missing_alt_reason
from state import ledger
from state.models import PostRow, ThreadRow

EDITING_ROLES = ("editor", "approver", "admin")  # every role may edit (state/roles.py)


class AltLimits:
    """Alt text as staff may write it: not empty, and at most `max_chars` characters (the
    channel's `ImageLimits.max_alt_chars`, passed in by the caller; X takes 1,000, the least)."""

    max_chars = 1000


def media_of(post: PostRow) -> PostMedia:
    """The image, alt text and card of `post`, as the content hash covers them."""
    return PostMedia(post.image_url, post.image_alt, post.card_url)


def content_hash_of(texts: list[str], posts: list[PostRow]) -> str:
    """The hash an approval binds: `texts` (the posts' texts, perhaps new ones) with the media of
    `posts` when there are as many (an edit keeps each post's image; a thread rewritten with more
    or fewer posts gets new posts, which carry none until drafted with one)."""
    return thread_hash(texts, [media_of(p) for p in posts] if len(posts) == len(texts) else [])


def thread_content_hash(thread: ThreadRow) -> str:
    """The content hash of `thread` as it is now: every post's text, image, alt text and card."""
    return content_hash_of([p.text for p in thread.posts], list(thread.posts))


def missing_alt(session: Session, thread: ThreadRow) -> list[int]:
    """The posts of `thread` (numbered as the desk shows them: 1 is the first) that carry an image
    without alt text."""
    del session  # the thread's posts are loaded through it already
    return missing_alt_positions(thread.posts)


def missing_alt_reason(thread: ThreadRow) -> str | None:
    """Why `thread` cannot be approved for want of alt text, or None (`compose.threads.missing_alt_reason`)."""
    return compose_missing_alt_reason(thread.posts)


def check_alt(alt: str, *, max_chars: int = AltLimits.max_chars) -> str:
    """`alt` as it is stored (trimmed, line ends made plain), or `LedgerError` saying what to fix."""
    text = (alt or "").replace("\r\n", "\n").strip()
    if not text:
        raise ledger.LedgerError("the alt text is empty: describe what the image shows for someone who cannot see it")
    if len(text) > max_chars:
        raise ledger.LedgerError(f"the alt text is {len(text):,} characters, {len(text) - max_chars:,} over the "
                                 f"network's {max_chars:,}: shorten it")
    bad = next((c for c in text if (ord(c) < 32 and c not in "\n\t") or 0xD800 <= ord(c) <= 0xDFFF), None)
    if bad is not None:
        raise ledger.LedgerError(f"the alt text holds the control character U+{ord(bad):04X}: type it again as plain text")
    return text


def set_image_alt(session: Session, post_id: int, alt: str, *, by: str, now: datetime,
                  max_chars: int = AltLimits.max_chars) -> bool:
    """Write the alt text of post `post_id`'s image as `by` (any member of staff; recorded in
    `image_alt_by` and the audit log with before and after). The thread's content hash changes, so
    an approval given before is voided and the thread is a draft again. Refused (nothing changes)
    for an empty or too long text, a post without an image, and a thread whose posts can no longer
    change. True if the alt text changed. Does not commit."""
    post = session.get(PostRow, post_id)
    if post is None:
        raise ledger.NotFound(f"there is no post {post_id}")
    thread = post.thread
    number = list(thread.posts).index(post) + 1
    who = ledger.require_role(session, by, EDITING_ROLES, f"write the alt text of post {number} of thread {thread.id}")
    if not post.image_url:
        raise ledger.LedgerError(f"post {number} of thread {thread.id} has no image: there is nothing to describe")
    text = check_alt(alt, max_chars=max_chars)
    if text == post.image_alt:
        return False
    before, before_by, before_ref = post.image_alt, post.image_alt_by, post.media_ref
    following = thread.derived_hash is not None and thread.derived_hash == thread.content_hash
    # the alt text goes up with the image: an upload made with the old text is not used again
    post.image_alt, post.image_alt_by, post.media_ref = text, who, None
    try:
        ledger.change_content(session, thread, content_hash=thread_content_hash(thread), by=who, now=now,
                              changes={f"post {number} alt text": (before or "", text)})
    except ledger.LedgerError:
        post.image_alt, post.image_alt_by, post.media_ref = before, before_by, before_ref
        raise
    if following:  # a roundup still follows its edition: its text was not edited by hand
        thread.derived_hash = thread.content_hash
    if thread.error and thread.error.startswith(ALT_TEXT_WAIT) and not missing_alt_positions(thread.posts):
        ledger.note_thread_problem(thread, None)  # the publish stage's note is answered
    session.flush()
    return True


def sync_media_hash(session: Session, thread: ThreadRow, *, by: str, now: datetime,
                    derived: bool = False) -> bool:
    """Bring `thread`'s content hash up to date after its posts' images, alt texts or cards were
    set from a draft (call it after writing them). A new thread simply takes the hash; a thread
    whose media changed is edited through the ledger (an approval is voided, the audit log says
    so). `derived`: the media came from the edition, so the roundup still follows it. True if the
    hash changed."""
    new_hash = thread_content_hash(thread)
    changed = new_hash != thread.content_hash
    if changed:
        if ledger.latest_approval(session, "thread", thread.id) is None and thread.status == "draft":
            thread.content_hash = new_hash  # never decided on: nothing to void
        else:
            ledger.change_content(session, thread, content_hash=new_hash, by=by, now=now,
                                  changes={"images and cards": ("as before", "as drafted from the edition")})
    if derived:
        thread.derived_hash = new_hash
    return changed
