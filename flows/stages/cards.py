"""Checking link cards when threads are drafted: the Open Graph tags of every page a post's card
links to (`connectors.link_cards`), so staff see an empty or incomplete card before approving.

A card that would come out empty (no title) or without its description or image is recorded in
the thread's error, which the desk and `syndicate status` show beside the thread. A page that
could not be read (offline, refused by the guarded fetcher) is only reported in the returned
warnings: the network's crawler may well reach it, and nothing is known to be wrong. Where the
page's `og:image` is the post's own image and the source gave it no alt text, the page's
`og:image:alt` becomes the post's alt text (staff can still change it on the desk).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from compose.config import Config
from compose.items import one_line
from connectors.images import GuardedImageFetcher, ImageFetcher
from connectors.link_cards import CardPreview, card_warning, read_card
from state import ledger
from state.models import ThreadRow, ThreadStatus

MAX_PAGES_PER_RUN = 50  # a burst of new items is checked in the next runs' drafts, not all at once


def check_cards(session: Session, config: Config, thread_ids: Sequence[int], *,
                fetcher: ImageFetcher | None = None) -> list[str]:
    """Check the cards of the threads `thread_ids` (just drafted) and record what staff should
    know on each; returns those warnings, in words. Does not commit."""
    fetcher = fetcher or GuardedImageFetcher.from_config(config)
    pages: dict[str, CardPreview] = {}
    unreachable: set[str] = set()
    warnings: list[str] = []
    for thread_id in thread_ids:
        thread = session.get(ThreadRow, thread_id)
        if thread is None or thread.status == ThreadStatus.FAILED:
            continue
        settings = getattr(config.social, thread.network, None)
        if settings is not None and not settings.cards:
            continue
        recorded: list[str] = []
        for post in thread.posts:
            if not post.card_url:
                continue
            host = urlsplit(post.card_url).netloc.lower()
            if post.card_url not in pages:
                if len(pages) >= MAX_PAGES_PER_RUN:
                    break
                pages[post.card_url] = (CardPreview(url=post.card_url, problem=f"{host} did not answer", unreachable=True)
                                        if host in unreachable else read_card(post.card_url, fetcher=fetcher))
            preview = pages[post.card_url]
            if preview.unreachable:
                unreachable.add(host)  # one try per host and run: an offline site is not asked for every page
            if (post.image_url and not one_line(post.image_alt or "") and preview.image_alt
                    and preview.image == post.image_url):
                post.image_alt = preview.image_alt  # the page describes the same image
            warning = card_warning(preview, thread.network)
            if warning is None:
                continue
            if preview.problem is None and warning not in recorded:  # a page not read: nothing known to be wrong
                recorded.append(warning)
                warnings.append(f"thread {thread.id}: {warning}")
        if recorded:
            ledger.note_thread_problem(thread, "; ".join(filter(None, [thread.error, *recorded])))
    return warnings
