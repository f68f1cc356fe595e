"""Paging of the desk's long lists: page sizes, and page numbers read from the URL."""

from __future__ import annotations

from fastapi import HTTPException, Request


class PageSize:
    editions = 20
    deliveries = 50
    subscribers = 50
    audit = 50
    threads = 30


MAX_PAGE = 1_000_000  # page numbers from the URL beyond this are refused (400), never passed to the database


def page_number(request: Request, name: str = "page") -> int:
    raw = request.query_params.get(name, "1").strip()
    if len(raw) > 9 or (raw.isascii() and raw.isdigit() and int(raw) > MAX_PAGE):
        raise HTTPException(400, f"the page number {raw[:20]!r} is out of range: use 1 to {MAX_PAGE:,}")
    return max(1, int(raw)) if raw.isascii() and raw.isdigit() else 1
