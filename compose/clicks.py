"""Article links that go through our click redirect, and what the email says about it. Pure.

An edition is rendered with a marker in place of each article link: `<public_url>/r/{{click:<item
id>}}`. The marker holds no key and no edition id, so the rendered email (and its content hash,
which approval binds to) does not change with the secret key, and the destination is the item
the edition carries. At send, `signed_links` fills each marker with a signed token
(`compose.signing.click_token`): the exact link the reader follows. Previews, the public archive
and exports use `direct_links`: the article itself, so staff see the real destination.

With `[tracking] per_reader_clicks`, a signed link ends with `READER_TOKEN`, which each channel
fills per recipient (`compose.signing.reader_suffix`); with `open_pixel`, a 1x1 image carrying the
same token goes at the end of the HTML. Both happen only when the approved email carries the
privacy notice (`carries_notice`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping

from compose.signing import click_token, click_url, open_token

READER_TOKEN = "{{reader}}"  # filled per recipient: "~<subscriber>.<signature>", or "" when nobody is named
_MARK = re.compile(r"(?P<base>https?://[^\s\"'<>{}]*?)/r/\{\{click:(?P<item>\d+)\}\}")


def click_mark(public_url: str, item_id: int) -> str:
    """The marker an article link is rendered as (`signed_links` or `direct_links` fill it)."""
    return f"{str(public_url).rstrip('/')}/r/{{{{click:{item_id}}}}}"


def _replace(text: str, public_url: str, link: Callable[[int], str | None], *, escape: bool) -> str:
    base = str(public_url).rstrip("/")

    def one(found: re.Match[str]) -> str:
        if found["base"] != base:
            return found[0]
        target = link(int(found["item"]))
        if target is None:
            return base  # an item no longer in the ledger: the site, never a broken marker
        return html.escape(target, quote=True) if escape else target

    return _MARK.sub(one, text)


def signed_links(text: str, *, public_url: str, secret_key: str, edition_id: int, per_reader: bool = False) -> str:
    """`text` (an edition's HTML or text part) with every article link signed for `edition_id`;
    each ends with `READER_TOKEN` when `per_reader`."""
    suffix = READER_TOKEN if per_reader else ""
    return _replace(text, public_url, lambda item_id: click_url(
        public_url, click_token(secret_key, edition_id=edition_id, item_id=item_id)) + suffix, escape=False)


def direct_links(text: str, *, public_url: str, targets: Mapping[int, str], escape: bool) -> str:
    """`text` with every article link pointing at the article itself (`targets`: item id -> URL):
    the desk's preview, the public archive, exports. `escape` for an HTML part."""
    return _replace(text, public_url, targets.get, escape=escape)


def carries_notice(text_part: str, notice: str) -> bool:
    """Whether an edition's text part (as approved) carries the privacy notice, wrapped or not."""
    return " ".join(notice.split()) in " ".join(text_part.split())


def open_pixel(public_url: str, edition_id: int) -> str:
    """The 1x1 open pixel for the end of the HTML part; `READER_TOKEN` names the reader."""
    src = f"{str(public_url).rstrip('/')}/o/{open_token(edition_id)}{READER_TOKEN}"
    return (f'<img src="{html.escape(src, quote=True)}" width="1" height="1" alt="" '
            'style="display:block;border:0;width:1px;height:1px;overflow:hidden">')


def with_open_pixel(html_part: str, public_url: str, edition_id: int) -> str:
    """The HTML part with the open pixel just before `</body>` (at the end when there is none)."""
    pixel = open_pixel(public_url, edition_id)
    at = html_part.rfind("</body>")
    return html_part + pixel if at < 0 else html_part[:at] + pixel + html_part[at:]
