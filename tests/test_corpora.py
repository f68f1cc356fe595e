"""Every file of the real-world corpora goes through the fetcher's parse function.

No crash, no hang, and nothing that comes out carries unsafe HTML: no <script or <style, no
on*= handler, no javascript: link, every href/src and item URL is http(s).

`make test` runs it over the folders in `tests/corpora/` (copied into the repository with their
licences). `make test-corpora CORPORA=DIR` (pytest's `--corpora DIR`) runs the same test over a
folder kept outside the repository instead, such as feeds under licences that cannot be copied
here. A missing or empty folder is a failure, never a skip; the terminal summary says how many
files were read from where.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from compose.config import Selectors, Source
from connectors.sources import parse_body

CORPORA = Path(__file__).resolve().parent / "corpora"
FOLDERS = ("feedparser-tests", "feedvalidator", "realworld-feeds", "html-pages")
# Files that describe a corpus rather than belong to it.
DOCUMENTS = frozenset({"LICENSE", "PROVENANCE.md", "README.md", "MANIFEST.csv"})
SECONDS_PER_FILE = 2  # about 1 s of parse time per MB measured; the largest real feed is 1.6 MB
FEED = Source(name="corpus", kind="feed", url="https://corpus.example/feed", section="news")
PAGE = Source(name="corpus-page", kind="html", url="https://corpus.example/", section="news",
              selectors=Selectors(item="article, li, tr, h2, h3", title="a", date="time"))
UNSAFE_TAGS = "script, style, iframe, object, embed, form, svg, img"


def corpus_files(root: Path) -> list[Path]:
    """The files of a corpus folder, in order, without its licence and provenance documents."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in DOCUMENTS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "corpus" not in metafunc.fixturenames:
        return
    outside = metafunc.config.getoption("corpora")
    if outside is None:
        params = [pytest.param(CORPORA / folder, id=folder, marks=pytest.mark.timeout(120)) for folder in FOLDERS]
    else:
        root = Path(outside).resolve()
        if not root.is_dir():
            raise pytest.UsageError(f"--corpora {outside}: no such folder; give a folder of feeds and pages")
        count = len(corpus_files(root))
        if not count:
            raise pytest.UsageError(f"--corpora {outside}: the folder holds no files to ingest")
        params = [pytest.param(root, id=root.name,
                               marks=pytest.mark.timeout(max(120, count * SECONDS_PER_FILE)))]
    metafunc.parametrize("corpus", params)


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
    return [f"{path}: {p}" for p in problems]


def test_every_corpus_file_is_ingested_safely(corpus: Path, record_property: Callable[[str, object], None]) -> None:
    assert corpus.is_dir(), f"corpus folder {corpus} is missing: tests/corpora is part of the repository"
    files = corpus_files(corpus)
    assert files, f"{corpus} holds no files to ingest"
    with ProcessPoolExecutor(2) as pool:
        problems = [p for found in pool.map(_problems, files, chunksize=16) for p in found]
    record_property("corpus", (len(files), str(corpus)))
    assert not problems, f"{len(problems)} problems in {corpus}:\n" + "\n".join(problems[:40])


def test_the_corpora_in_the_repository_keep_their_licence_and_provenance() -> None:
    """Every copied folder says where its files came from and under which licence."""
    required = [f"{folder}/PROVENANCE.md" for folder in (*FOLDERS, "openapi", "twitter-text")]
    required += [f"{folder}/LICENSE" for folder in (*FOLDERS, "twitter-text", "openapi/sendgrid", "openapi/x-api")]
    for mixed in ("html-pages", "realworld-feeds"):  # files from several projects: a licence per project
        required += [f"{sub.relative_to(CORPORA)}/LICENSE" for sub in (CORPORA / mixed).iterdir() if sub.is_dir()]
    missing = [path for path in required if not (CORPORA / path).is_file()]
    assert not missing, f"missing licence or provenance: {missing}"


def test_only_permissively_licensed_real_world_feeds_are_in_the_repository() -> None:
    """realworld-feeds/MANIFEST.csv lists exactly the files present, each MIT, BSD-3 or Apache-2.0."""
    root = CORPORA / "realworld-feeds"
    with (root / "MANIFEST.csv").open(newline="", encoding="utf-8") as manifest:
        rows = list(csv.DictReader(manifest))
    assert {row["license"] for row in rows} <= {"MIT", "BSD-3-Clause", "Apache-2.0"}
    assert {row["local"] for row in rows} == {str(p.relative_to(root)) for p in corpus_files(root)}
