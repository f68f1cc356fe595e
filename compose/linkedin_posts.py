"""LinkedIn's side of posts (pure): how a thread maps onto a network without threads, and the
"little" text format LinkedIn's Posts API takes as commentary.

LinkedIn has no reply chains for an organisation's posts, so nothing we post there is a thread:

- an item's thread is one post: its text (title, summary, link, hashtags) with the article's
  preview attached by the channel (title, description, uploaded thumbnail; LinkedIn builds no
  preview for a post made through the API);
- an edition's round-up is one post listing its stories, a link each (`linkedin_roundup`), or,
  with `[social.linkedin] mode = "item"`, no round-up and a post per item instead.

Commentary is "little" text: `\\ | { } @ [ ] ( ) < > # * _ ~` are reserved and must be escaped
with a backslash to be shown as themselves; a hashtag is the template `{hashtag|\\#|word}`
(learn.microsoft.com/linkedin/marketing/community-management/shares/little-text-format).
`little_text` writes a post's plain text that way (a `#word` after whitespace becomes a real
hashtag), `plain_text` reads it back (what `find_post` compares).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from compose.config import Config, fill_template
from compose.items import one_line
from compose.models import Edition, Item, Post, Thread
from compose.post_length import NetworkRules, fits, within_limits
from compose.posts import hashtags_for, with_media

RESERVED = frozenset("\\|{}@[]()<>#*_~")
_HASHTAG = re.compile(r"(?<!\S)#(\w+)")
_LITTLE = re.compile(
    r"\{hashtag\|\\?([#\uff03])\|((?:\\.|[^}\\])*)\}"  # {hashtag|\#|word}
    r"|@\[((?:\\.|[^\]\\])*)\]\([^)]*\)"  # @[Name](urn:li:organization:1) shows as Name
    r"|\\(.)",  # an escaped reserved character
    re.DOTALL,
)
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_THREAD_EMOJI = "\N{SPOOL OF THREAD}"


def escape_little(text: str) -> str:
    """`text` with every reserved character escaped: LinkedIn shows it exactly as written."""
    return "".join(f"\\{char}" if char in RESERVED else char for char in text)


def little_text(text: str) -> str:
    """A post's plain text as LinkedIn commentary: reserved characters escaped, and each `#word`
    that starts a word a hashtag (`{hashtag|\\#|word}`), as LinkedIn's own composer makes it."""
    pieces, last = [], 0
    for match in _HASHTAG.finditer(text):
        pieces += [escape_little(text[last:match.start()]), f"{{hashtag|\\#|{escape_little(match.group(1))}}}"]
        last = match.end()
    pieces.append(escape_little(text[last:]))
    return "".join(pieces)


def plain_text(little: str) -> str:
    """Commentary as LinkedIn serves it, read back as the text a person sees: escapes dropped,
    hashtags as `#word`, mentions as the name shown."""
    def one(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(1) + _UNESCAPE.sub(r"\1", match.group(2))
        if match.group(3) is not None:
            return _UNESCAPE.sub(r"\1", match.group(3))
        return match.group(4)

    return _LITTLE.sub(one, little)


def _stories(edition: Edition, sections: Sequence[str] | None) -> list[Item]:
    chosen = [edition.featured] if edition.featured is not None else []
    for item in edition.items:
        if item not in chosen and (sections is None or item.section in sections):
            chosen.append(item)
    return chosen


def _story_line(item: Item) -> str:
    title = one_line(item.title) or one_line(item.summary_text)[:200]
    return f"\N{BULLET} {title}\n{item.url}" if item.url else f"\N{BULLET} {title}"


def linkedin_roundup(edition: Edition, *, config: Config, rules: NetworkRules, subscribe_url: str) -> Thread:
    """An edition's round-up on LinkedIn: ONE post (LinkedIn has no threads) with the opening
    line, a line and a link per story (the featured one first), the subscribe line and the
    hashtags, within `rules` (3,000 characters), carrying the lead story's image and preview. Stories that do not fit are left out from the
    end, each named in `Thread.left_out`; the hashtags go first, before any story does."""
    social = config.social
    settings = getattr(social, rules.name, None)
    stories = _stories(edition, settings.sections if settings else None)
    lines = [_story_line(item) for item in stories]
    tags = " ".join(hashtags_for(config, rules.name))

    def render(count: int, with_tags: bool = True) -> str:
        names = {"title": edition.title, "organisation": config.organisation.name, "count": count,
                 "stories": f"{count} {'story' if count == 1 else 'stories'}"}
        opening = fill_template(social.roundup_opening.replace("{count} stories", "{stories}"), **names)
        opening = one_line(opening.replace(_THREAD_EMOJI, "")).strip()
        if edition.web_url:
            opening = f"{opening}\n{edition.web_url}"
        closing = fill_template(social.roundup_closing, title=edition.title, subscribe_url=subscribe_url,
                                organisation=config.organisation.name).strip().rstrip(":").strip()
        parts = [opening, "\n\n".join(lines[:count]), closing, tags if with_tags else ""]
        return "\n\n".join(part for part in parts if part)

    left_out: list[str] = []
    keep, with_tags = len(lines), True
    while not within_limits(render(keep, with_tags), rules):
        if with_tags and tags:
            with_tags = False
            continue
        if keep == 0:
            break
        keep -= 1
        item = stories[keep]
        left_out.insert(0, f"{item.title[:80]!r} ({item.url[:200]}) is not in the {rules.name} round-up: "
                           f"the post would be longer than {rules.max_length:,} characters")
    text = render(keep, with_tags)
    # the lead story's image and article preview, as `[social.linkedin]` images and cards say (a post
    # shows one picture: the first story's)
    lead = stories[0] if keep else None
    posts = (with_media(Post(text=text, position=0), lead, settings, first=True),) if fits(text, rules) else ()
    return Thread(network=rules.name, key=f"{edition.slug}-{rules.name}", posts=posts, left_out=tuple(left_out))
