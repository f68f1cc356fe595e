"""Social posts and threads: how an item becomes a post, and an edition a round-up thread,
each post within every limit its network states (measured by `compose.post_length`); and
what posting costs on X.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Literal

from compose.config import Config, SocialNetwork, XPricing, fill_template
from compose.errors import SyndicateError
from compose.items import clip, drop_unprintable, one_line
from compose.models import Edition, Item, Post, Thread
from compose.post_length import NetworkRules, fits, graphemes, has_url, leading_url, within_limits
from compose.post_split import sentences

LinkPlacement = Literal["every", "first", "last"]


class ItemNotPostable(SyndicateError, ValueError):
    """An item that cannot become a post on a network (its link alone is too long, the network
    would not see its link as one, or it has nothing to say): the reason says which."""


X_PRICING = XPricing()  # the defaults of `[social.x_pricing]`; the desk uses the configured table

_BLANK_LINES = re.compile(r"\n{3,}")
_ELLIPSIS = "…"


def post_text(text: str) -> str:
    """Text as a network accepts it: no control characters but newlines and tabs, no U+FEFF
    (X refuses a post that holds one), no lone surrogates."""
    return drop_unprintable(text).replace("\r\n", "\n").replace("\r", "\n")




def _shorten(text: str, keep_words: int) -> str:
    words = text.split()
    if keep_words >= len(words):
        return text
    return " ".join(words[:keep_words]).rstrip(",;:-–—") + _ELLIPSIS if keep_words else ""


def _cut(text: str, keep: int) -> str:
    """The first `keep` grapheme clusters of `text` and an ellipsis ("" for none)."""
    if keep <= 0:
        return ""
    clusters = graphemes(text)
    return text if keep >= len(clusters) else "".join(clusters[:keep]).rstrip() + _ELLIPSIS


def _render(template: str, *, title: str, summary: str, url: str, hashtags: str, item: Item) -> str:
    text = fill_template(template, title=title, summary=summary, url=url, hashtags=hashtags,
                         section=item.section, source=item.source)
    lines = [line.strip() for line in post_text(text).splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _longest_fit(render: Callable[[int], str], most: int, rules: NetworkRules) -> int | None:
    """The largest `k <= most` with `render(k)` within the limits (binary search), or None."""
    def within(k: int) -> bool:
        return within_limits(render(k), rules)

    if not within(0):
        return None
    low, high = 0, most
    while low < high:
        middle = (low + high + 1) // 2
        if within(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _short_summary(item: Item, rules: NetworkRules, max_sentences: int = 2) -> str:
    text = one_line(clip(item.summary_text, rules.max_length, max_chars=rules.max_field_chars))
    return " ".join(sentences(text)[:max_sentences])


def _check_link(link: str, rules: NetworkRules) -> None:
    """Refuse a link that cannot be in a post on this network, saying why."""
    from twitter_text.extract_urls import max_url_length  # here, not at the top: twitter-text costs ~0.7 s

    if not link:
        return
    if any(char.isspace() for char in link) or not link.isprintable():
        raise ItemNotPostable(f"its link {link[:80]!r} holds spaces or control characters")
    if rules.url_length is not None and (len(link) > max_url_length
                                         or leading_url(link, protocol=rules.counts != "weighted") != link):
        raise ItemNotPostable(
            f"{rules.name} would not see its link as one link (it would link only part of it, or none): "
            f"{link[:80]!r}{'…' if len(link) > 80 else ''}")
    if rules.url_length is None and not within_limits(link, rules):
        raise ItemNotPostable(
            f"its link is {len(link):,} characters, longer than a whole {rules.name} post "
            f"({rules.max_length} characters{f', {rules.max_bytes:,} bytes' if rules.max_bytes else ''})")


def item_post(item: Item, *, template: str, hashtags: Sequence[str], rules: NetworkRules,
              url: str | None = None) -> str:
    """One post announcing `item`: title, short summary, link and hashtags, within every limit
    the network states.

    Shortens the summary first (by words, with an ellipsis), then the title (by words, else
    between grapheme clusters), then drops hashtags from the end; the URL is never cut. `url`
    overrides the item's link ("" for none). Raises `ItemNotPostable`, with the reason, when
    no post can carry the item: its link alone does not fit or the network would not see it
    as a link, or it has neither title nor summary.
    """
    link = item.url if url is None else url
    _check_link(link, rules)
    title = one_line(clip(item.title, rules.max_length, max_chars=rules.max_field_chars))
    summary = _short_summary(item, rules)
    if not title and not summary:
        raise ItemNotPostable("it has neither a title nor a summary")
    if not title:  # the summary speaks for it
        title, summary = summary, ""
    tags = list(hashtags)
    while True:
        tag_text = " ".join(tags)

        def render(k: int, title: str = title, tags: str = tag_text) -> str:
            return _render(template, title=title, summary=_shorten(summary, k), url=link, hashtags=tags, item=item)

        keep = _longest_fit(render, len(summary.split()), rules)
        if keep is not None and (keep or title) and fits(render(keep), rules):
            return render(keep)

        def by_words(k: int, tags: str = tag_text) -> str:
            return _render(template, title=_shorten(title, k), summary="", url=link, hashtags=tags, item=item)

        def by_clusters(k: int, tags: str = tag_text) -> str:
            return _render(template, title=_cut(title, k), summary="", url=link, hashtags=tags, item=item)

        for shorter, most in ((by_words, len(title.split())), (by_clusters, len(graphemes(title)))):
            keep = _longest_fit(shorter, most, rules)
            if keep and fits(shorter(keep), rules):
                return shorter(keep)
        if not tags:
            raise ItemNotPostable(f"its link and the template leave no room for its title in a {rules.name} post")
        tags.pop()


def _network_settings(config: Config, network: str) -> SocialNetwork | None:
    return getattr(config.social, network, None)


def _fit_line(text: str, rules: NetworkRules) -> str:
    """A fixed post (opening, closing) shortened by words, else between clusters, if it is too long."""
    text = post_text(text).strip()
    if fits(text, rules):
        return text
    keep = _longest_fit(lambda k: _shorten(text, k), len(text.split()), rules)
    if keep:
        return _shorten(text, keep)
    keep = _longest_fit(lambda k: _cut(text, k), len(graphemes(text)), rules)
    return _cut(text, keep or 0)


_COUNTED = {"stories": "story", "items": "item", "posts": "post", "articles": "article", "links": "link"}
_COUNT_NOUN = re.compile(r"\{count\} (" + "|".join(_COUNTED) + r")\b")


def counted(count: int, plural: str) -> str:
    """"1 story", "10 stories": `count` with its noun in the right number."""
    return f"{count} {_COUNTED.get(plural, plural) if count == 1 else plural}"


def _with_plurals(template: str, count: int) -> str:
    """A template's "{count} stories" (or items, posts, ...) written in the right number."""
    return _COUNT_NOUN.sub(lambda m: counted(count, m.group(1)).replace("{", "{{").replace("}", "}}"), template)


def _roundup_items(items: Sequence[Item], *, config: Config, rules: NetworkRules,
                   url: str | None) -> tuple[list[tuple[Item, str]], list[str]]:
    """The posts of `items` in a round-up (with the item each is about), and why each item no post
    can carry is left out."""
    posts, left_out = [], []
    for item in items:
        try:
            posts.append((item, item_post(item, template=config.social.post_template, hashtags=(), rules=rules,
                                          url=url)))
        except ItemNotPostable as exc:
            left_out.append(f"{item.title[:80]!r} ({item.url[:200]}) is not in the {rules.name} thread: {exc}")
    return posts, left_out


def roundup_left_out(edition: Edition, *, config: Config, rules: NetworkRules,
                     link_placement: LinkPlacement | None = None) -> tuple[str, ...]:
    """Why each item of `edition` that no post can carry is not in its `rules.name` round-up
    (`roundup_thread(...).left_out`, for a caller that keeps only the texts)."""
    settings = _network_settings(config, rules.name)
    placement = link_placement or (settings.link_placement if settings else "every")
    return roundup_thread(edition, config=config, rules=rules, subscribe_url="", link_placement=placement).left_out


def _thread_items(edition: Edition, sections: tuple[str, ...] | None) -> list[Item]:
    chosen = [edition.featured] if edition.featured is not None else []
    for item in edition.items:
        if item not in chosen and (sections is None or item.section in sections):
            chosen.append(item)
    return chosen


def roundup_thread(
    edition: Edition,
    *,
    config: Config,
    rules: NetworkRules,
    subscribe_url: str,
    link_placement: LinkPlacement = "every",
) -> Thread:
    """The weekly round-up thread for one network: an opening post, one post per featured or
    section item, and a closing post with the subscribe link.

    With `link_placement` "first" or "last" only that post carries links (on X a post with a
    URL costs about 13 times as much): "first" puts the edition's web page (or the subscribe
    link) in the opening post, "last" puts the subscribe link and web page in the closing post.
    An item no post can carry is left out of the thread and named in `Thread.left_out`.
    """
    social, settings = config.social, _network_settings(config, rules.name)
    numbering = bool(settings and settings.numbering)
    candidates = _thread_items(edition, settings.sections if settings else None)
    count = len(candidates) + 2
    suffix_width = len(f" {count}/{count}") if numbering else 0
    body_rules = replace(rules, max_length=rules.max_length - suffix_width,
                         max_bytes=rules.max_bytes - suffix_width if rules.max_bytes else None)

    item_posts, left_out = _roundup_items(candidates, config=config, rules=body_rules,
                                          url=None if link_placement == "every" else "")
    item_texts = [text for _, text in item_posts]
    names = {"title": edition.title, "organisation": config.organisation.name, "count": len(item_texts),
             "stories": counted(len(item_texts), "stories")}
    opening_template = _with_plurals(social.roundup_opening, len(item_texts))
    opening = fill_template(opening_template, **names)
    if link_placement in ("every", "first") and (edition.web_url or link_placement == "first"):
        opening = f"{opening}\n\n{edition.web_url or subscribe_url}"
    opening = _fit_line(f"{opening}\n\n{' '.join(hashtags_for(config, rules.name))}".strip(), body_rules)
    if not fits(opening, body_rules):
        opening = _fit_line(fill_template(opening_template, **names), body_rules)

    closing_link = subscribe_url if link_placement in ("every", "last") else ""
    closing = fill_template(social.roundup_closing, title=edition.title, subscribe_url=closing_link,
                            organisation=config.organisation.name)
    closing = closing.strip().rstrip(":").strip()
    if link_placement == "last" and edition.web_url:
        closing = f"{closing}\n\nThis edition: {edition.web_url}"
    about: list[tuple[Item | None, str]] = [(edition.featured, opening), *item_posts,
                                            (None, _fit_line(closing, body_rules))]
    about = [(item, text) for item, text in about if text]
    if numbering:
        about = [(item, f"{text} {k}/{len(about)}") for k, (item, text) in enumerate(about, start=1)]
    posts: list[Post] = []
    for position, (item, text) in enumerate(about):
        post = with_media(Post(text=text, position=position), item, settings, first=position == 0)
        if position and post.image_url and post.image_url == posts[0].image_url:
            post = replace(post, image_url=None, image_alt=None)  # the opening post shows it already
        posts.append(post)
    return Thread(network=rules.name, key=f"{edition.slug}-{rules.name}", posts=tuple(posts),
                  left_out=tuple(left_out))


def hashtags_for(config: Config, network: str) -> tuple[str, ...]:
    """The hashtags of posts on `network`: its own (`[social.<network>] hashtags`), else `[social] hashtags`."""
    settings = _network_settings(config, network)
    if settings is not None and settings.hashtags is not None:
        return settings.hashtags
    return config.social.hashtags


def with_media(post: Post, item: Item | None, settings: SocialNetwork | None, *, first: bool) -> Post:
    """`post` about `item` with the image and card its network's settings give it: the item's image
    (and the source's alt text, if any) on the `first` post of a thread with `images = "first"`, on
    every post with `"every"`, on none with `"off"`; a card for the item's link when `cards` is on
    and the post carries that link (built by us on Bluesky and LinkedIn, by the network's own
    crawler on X and Mastodon)."""
    if item is None or settings is None:
        return post
    image_url = image_alt = None
    if item.image_url and (settings.images == "every" or (settings.images == "first" and first)):
        image_url, image_alt = item.image_url, (one_line(item.image_alt or "") or None)
    card_url = item.url if settings.cards and item.url and item.url in post.text else None
    return replace(post, image_url=image_url, image_alt=image_alt, card_url=card_url)


def item_thread_post(item: Item, *, config: Config, network: str, rules: NetworkRules) -> Post:
    """The one post announcing `item` on `network` (`item_post` with the network's hashtags),
    carrying its image and card as `[social.<network>]` says. Raises `ItemNotPostable`."""
    text = item_post(item, template=config.social.post_template, hashtags=hashtags_for(config, network), rules=rules)
    return with_media(Post(text=text), item, _network_settings(config, network), first=True)


def x_post_cost(text: str, pricing: XPricing = X_PRICING) -> Decimal:
    """What creating one post with `text` costs on X (a post with a URL costs more)."""
    return pricing.post_with_url if has_url(text) else pricing.post


def estimate_x_cost(thread: Thread, pricing: XPricing = X_PRICING) -> Decimal:
    """What publishing `thread` on X costs at pay-per-use prices (a post with a URL costs more)."""
    return sum((x_post_cost(post.text, pricing) for post in thread.posts), Decimal("0"))
