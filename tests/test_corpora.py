"""Every file of the shared real-world corpora goes through the fetcher's parse function.

No crash, no hang, and nothing that comes out carries unsafe HTML: no <script or <style, no
on*= handler, no javascript: link, every href/src and item URL is http(s). A missing corpus
folder is a failure, not a skip.
"""

from __future__ import annotations

import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from compose.config import Selectors, Source
from connectors.sources import parse_body

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
FOLDERS = ("feedparser-tests", "feedvalidator", "realworld-feeds", "html-pages")
FEED = Source(name="corpus", kind="feed", url="https://corpus.example/feed", section="news")
PAGE = Source(name="corpus-page", kind="html", url="https://corpus.example/", section="news",
              selectors=Selectors(item="article, li, tr, h2, h3", title="a", date="time"))
UNSAFE_TAGS = "script, style, iframe, object, embed, form, svg, img"


def _html_problems(html: str) -> list[str]:
    """What is unsafe in a stored summary, judged on the parsed HTML (escaped text is harmless)."""
    if not html:
        return []
    tree = HTMLParser(html)
    problems = [f"unsafe tag <{node.tag}>" for node in tree.css(UNSAFE_TAGS)]
    for node in tree.css("*"):
        for name, value in node.attributes.items():
            if name.lower().startswith("on") or name.lower() == "style":
                problems.append(f"attribute {name}= on <{node.tag}>")
            if name.lower() in ("href", "src") and not (value or "").lower().startswith(("http://", "https://")):
                problems.append(f"non-http {name} {value!r}")
    return problems


def _problems(path: Path) -> list[str]:
    body = path.read_bytes()
    configs = (FEED, PAGE) if path.suffix.lower() in (".html", ".htm") else (FEED,)
    problems = []
    for config in configs:
        parsed = parse_body(config, body, config.url.unicode_string(), {})
        if parsed.error and parsed.error.startswith("could not parse"):  # the parser itself crashed
            problems.append(f"{config.kind}: {parsed.error}")
        for item in parsed.items:
            problems += _html_problems(item.summary_html)
            for url in (item.url, item.image_url or ""):
                if url and not url.startswith(("http://", "https://")):
                    problems.append(f"non-http url {url!r}")
            if "<" in item.summary_text and re.search(r"<\s*script", item.summary_text, re.I):
                problems.append("script in summary text")
    return [f"{path.relative_to(CORPORA)}: {p}" for p in problems]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("folder", FOLDERS)
def test_every_corpus_file_is_ingested_safely(folder: str) -> None:
    root = CORPORA / folder
    assert root.is_dir(), f"corpus folder {root} is missing: the shared corpora must be beside the repo"
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name not in ("PROVENANCE.md", "LICENSE"))
    assert files, f"{root} is empty"
    with ProcessPoolExecutor(2) as pool:
        problems = [p for found in pool.map(_problems, files, chunksize=16) for p in found]
    assert not problems, f"{len(problems)} problems in {folder}:\n" + "\n".join(problems[:40])
