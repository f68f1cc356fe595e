"""The feed farm behind `make bench` (bench/feedfarm.py) serves the workload it promises."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import feedparser
import httpx
import pytest

FARM_PATH = Path(__file__).resolve().parents[1] / "bench" / "feedfarm.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("feedfarm", FARM_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


feedfarm = _load()


@pytest.fixture
def farm() -> Iterator:
    server = feedfarm.serve(feedfarm.FeedFarm(feeds=60, items=30, seed=3))
    yield server
    server.shutdown()
    server.server_close()


def test_every_feed_holds_its_items_and_a_tenth_are_syndicated_across_feeds(farm) -> None:
    entries = {}
    with httpx.Client() as client:
        for n, url in enumerate(farm.feed_urls()):
            parsed = feedparser.parse(client.get(url).content)
            assert not parsed.bozo, parsed.get("bozo_exception")
            assert parsed.version == ("atom10" if n % 2 else "rss20")
            assert len(parsed.entries) == 30
            entries[n] = parsed.entries
    feeds_of = Counter()
    for found in entries.values():
        for link in {entry.link.split("?", 1)[0] for entry in found}:
            feeds_of[link] += 1
    copies = sum(1 for found in entries.values() for entry in found if "utm_source=" in entry.link)
    assert 0.05 * 1800 < copies < 0.15 * 1800
    assert max(feeds_of.values()) >= 2
    assert sum(count - 1 for count in feeds_of.values()) == copies  # each copy is another feed's article
    assert farm.farm.holdings() == {"feeds": 60, "entries": 1800, "articles": len(feeds_of), "syndicated": copies}


def test_conditional_get_answers_304_until_the_feed_changes(farm) -> None:
    url = farm.feed_urls()[7]
    with httpx.Client() as client:
        first = client.get(url)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
        assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
        assert client.get(url, headers={"If-None-Match": '"other"', "If-Modified-Since": modified}).status_code == 200
        assert any(7 in client.post(f"{farm.url}/mutate?feeds=10").json()["mutated"] for _ in range(200))
        changed = client.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 200
        assert client.get(f"{farm.url}/feeds/999.xml").status_code == 404
        stats = client.get(f"{farm.url}/stats").json()
    assert {k: stats[k] for k in ("requests", "ok", "not_modified", "not_found")} == {
        "requests": 7, "ok": 4, "not_modified": 2, "not_found": 1}


def test_a_mutated_feed_gains_new_articles_and_keeps_its_length() -> None:
    farm = feedfarm.FeedFarm(feeds=10, items=5, seed=4)
    before = {n: farm.version(n).etag for n in range(10)}
    chosen = farm.mutate(3, new_items=2)
    assert len(chosen) == 3
    assert {n for n in range(10) if farm.version(n).etag != before[n]} == set(chosen)
    for n in chosen:
        parsed = feedparser.parse(farm.version(n).body)
        assert len(parsed.entries) == 5
        assert farm.version(n).last_modified > farm.version(next(m for m in range(10) if m not in chosen)).last_modified


def test_the_farm_listens_on_loopback_only(farm) -> None:
    assert farm.server_address[0] == "127.0.0.1"
