"""Staff-written Markdown (the edition's intro) turned into safe HTML and plain text.

The intro is typed by comms staff on the review page, so it is trusted more than a feed but
still sanitised: raw HTML is not interpreted (markdown-it with ``html=False``), the result is
cleaned by nh3 to a small allow-list, and only http(s) and mailto links survive. Every link
goes through ``rewrite_link`` (used to add UTM parameters).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

LinkRewriter = Callable[[str], str]


def _unchanged(url: str) -> str:
    return url


class IntroMarkup:
    """What survives of the intro's Markdown: tags, attributes and link schemes."""

    tags = frozenset({"p", "a", "strong", "em", "ul", "ol", "li", "br", "blockquote", "code"})
    attributes = {"a": {"href"}}
    url_schemes = frozenset({"http", "https", "mailto"})


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    """One parser, built once: parse and render keep no state in it."""
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).disable(
        ["image", "heading", "lheading", "fence", "code", "hr", "table"], ignoreInvalid=True
    )


def _rewrite_tokens(tokens: list[Token], rewrite_link: LinkRewriter) -> None:
    for token in tokens:
        if token.type == "link_open":
            href = str(token.attrGet("href") or "")
            if href.startswith(("http://", "https://")):
                token.attrSet("href", rewrite_link(href))
        if token.children:
            _rewrite_tokens(token.children, rewrite_link)


def markdown_to_html(
    markdown: str, *, rewrite_link: LinkRewriter = _unchanged, link_style: str = "", paragraph_style: str = ""
) -> str:
    """The intro as sanitised HTML; `link_style` / `paragraph_style` are inlined on every
    ``<a>`` / ``<p>`` because several mail clients drop ``<style>`` blocks."""
    parser = _parser()
    tokens = parser.parse(markdown or "")
    _rewrite_tokens(tokens, rewrite_link)
    rendered = parser.renderer.render(tokens, parser.options, {})
    clean = nh3.clean(
        rendered,
        tags=set(IntroMarkup.tags),
        attributes={tag: set(attrs) for tag, attrs in IntroMarkup.attributes.items()},
        url_schemes=set(IntroMarkup.url_schemes),
        link_rel="noopener",
    ).strip()
    if link_style:
        clean = clean.replace("<a ", f'<a style="{html.escape(link_style)}" ')
    if paragraph_style:
        clean = clean.replace("<p>", f'<p style="{html.escape(paragraph_style)}">')
    return clean


def _inline_text(children: list[Token], rewrite_link: LinkRewriter) -> str:
    out: list[str] = []
    href_stack: list[tuple[str, int]] = []
    for token in children:
        if token.type in ("text", "code_inline"):
            out.append(token.content)
        elif token.type in ("softbreak",):
            out.append(" ")
        elif token.type == "hardbreak":
            out.append("\n")
        elif token.type == "link_open":
            href_stack.append((str(token.attrGet("href") or ""), len(out)))
        elif token.type == "link_close" and href_stack:
            href, start = href_stack.pop()
            label = "".join(out[start:]).strip()
            if href.startswith(("http://", "https://")):
                href = rewrite_link(href)
            if href.startswith("mailto:"):
                href = href.removeprefix("mailto:")
            if href and href != label:
                out.append(f" ({href})")
    return "".join(out)


def markdown_to_text(markdown: str, *, rewrite_link: LinkRewriter = _unchanged) -> str:
    """The intro as plain text for the text/plain part: paragraphs separated by a blank
    line, list items as ``- item``, every link written out after its label."""
    tokens = _parser().parse(markdown or "")
    blocks: list[tuple[int, str]] = []  # (the list it belongs to, 0 for none; text)
    lists_opened = 0
    numbers: list[int | None] = []  # one per open list: next number, or None for bullets
    quote = 0
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            numbers.append(1 if token.type == "ordered_list_open" else None)
            lists_opened += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            numbers.pop()
        elif token.type == "blockquote_open":
            quote += 1
        elif token.type == "blockquote_close":
            quote -= 1
        elif token.type == "inline":
            text = _inline_text(token.children or [], rewrite_link).strip()
            if numbers:
                number = numbers[-1]
                if number is not None:
                    numbers[-1] = number + 1
                text = "  " * (len(numbers) - 1) + (f"{number}. " if number is not None else "- ") + text
            if quote:
                text = "\n".join("> " + line for line in text.splitlines())
            blocks.append((lists_opened if numbers else 0, text))
    out: list[str] = []
    for index, (in_list, text) in enumerate(blocks):
        if index:
            out.append("\n" if in_list and blocks[index - 1][0] == in_list else "\n\n")
        out.append(text)
    return html.unescape("".join(out)).strip()
