"""The gather's parse takes two short cuts, each held to the long way for any input:
- `sanitised_text` (the plain-text summary) cuts the tags out of `sanitise_html`'s output with a
  pattern instead of a second sanitiser pass: it must say exactly what `plain_text` says;
- `canonical_url` skips `urljoin` for a URL that is already absolute: the same URL, or the same error."""

from __future__ import annotations

from urllib.parse import urljoin

from hypothesis import example, given, settings
from hypothesis import strategies as st

from compose.items import (
    canonical_url,
    plain_text,
    sanitise_html,
    sanitised_summary_text,
    sanitised_text,
    summary_text,
)

_TAGS = ["p", "a", "br", "ul", "li", "strong", "em", "h2", "pre", "code", "blockquote", "script", "style",
         "img", "iframe", "svg", "div", "span", "table", "td", "b", "i", "!--", "template", "textarea"]
_ATTRIBUTES = ['href="https://example.org/a?b=1&c=2"', 'href=" /relative "', "title='say \"hi\" > bye'",
               'title="a > b < c"', 'alt=">"', 'onclick="x()"', 'href="javascript:alert(1)"', "title=a>b",
               'title="&quot;>&lt;script&gt;"', 'href="https://example.org/>"']
_TEXT = st.lists(st.sampled_from(list("ab <>&;\"'=/\n\t\u00a0\u200b#x3cé字")
                                 + ["&amp;", "&lt;", "&gt;", "&nbsp;", "&#60;", "&quot;"]), max_size=12).map("".join)


@st.composite
def _html(draw: st.DrawFn) -> str:
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 3))
        tag = draw(st.sampled_from(_TAGS))
        if kind == 0:
            parts.append(draw(_TEXT))
        elif kind == 1:
            attributes = draw(st.lists(st.sampled_from(_ATTRIBUTES), max_size=2))
            parts.append(f"<{tag}{''.join(' ' + a for a in attributes)}>")
        elif kind == 2:
            parts.append(f"</{tag}>")
        else:
            parts.append(draw(st.text(max_size=8)))
    return "".join(parts)


@settings(max_examples=600, deadline=None)
@given(_html(), st.sampled_from([None, "https://example.org/news/"]))
@example('<a title="a > b" href="https://example.org/">link</a> text', None)
@example("<p>one</p><p>two<br>three</p><script>evil()</script>", None)
@example('<a title="&quot;&gt;">x</a>', "https://example.org/")
def test_sanitised_text_says_what_plain_text_says_of_the_sanitised_html(html: str, base: str | None) -> None:
    sanitised = sanitise_html(html, base_url=base)
    assert sanitised_text(sanitised) == plain_text(sanitised)
    assert sanitised_summary_text(sanitised, limit=40) == summary_text(sanitised, limit=40)


def test_brackets_in_attribute_values_and_text_do_not_leak_tags_into_the_text() -> None:
    sanitised = sanitise_html('<p><a href="https://example.org/" title="5 > 3 <b>">Maths</a> for 5 &gt; 3<br>all</p>')
    assert sanitised_text(sanitised) == "Maths for 5 > 3 all"


def _joined_first(url: str, base: str) -> str | ValueError:
    try:
        return canonical_url(urljoin(base.strip(), url.strip()))
    except ValueError as exc:
        return exc


def _fast(url: str, base: str) -> str | ValueError:
    try:
        return canonical_url(url, base=base)
    except ValueError as exc:
        return exc


# no spaces: the long way's reference below strips the joined URL once more, which the code does not
_URL_PART = st.lists(st.sampled_from(list("aZ09/.?&=#;:@%-_~\t") + ["..", "//", "utm_source=x", "%2F", "[::1]",
                                                                    ":80", ":443", ":x", "é", "HTTP"]),
                     max_size=10).map("".join)


@settings(max_examples=800, deadline=None)
@given(st.sampled_from(["http://", "https://", "HTTPS://", "Http://", " http://", "http:", "ftp://", "//", ""]),
       _URL_PART, st.sampled_from(["https://example.org/news/", "http://example.org", "https://example.org/a?b#c"]))
@example("https://", "example.org/a/../b?utm_source=x&id=1#top", "http://example.org/")
@example("http://", "", "http://example.org")  # no host: urljoin resolves it against the base
@example("http://", "\t/path", "http://example.org")
@example("https://", "a/;", "https://example.org/")  # urljoin drops an empty ;params
def test_an_absolute_url_skips_urljoin_with_the_same_outcome(scheme: str, rest: str, base: str) -> None:
    url = scheme + rest
    fast, joined = _fast(url, base), _joined_first(url, base)
    if isinstance(joined, ValueError):
        assert isinstance(fast, ValueError)
    else:
        assert fast == joined
