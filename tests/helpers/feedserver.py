"""A loopback HTTP server for source tests, driven by a table of routes.

Each route maps a path to a function `(handler) -> None` that writes the whole response;
`Route` builds the common ones (body with headers, status, redirect). Binds 127.0.0.1 on an
ephemeral port in a daemon thread; requests are recorded for assertions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Responder = Callable[[BaseHTTPRequestHandler], None]


def body(data: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Responder:
    def respond(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for name, value in {"Content-Length": str(len(data)), **(headers or {})}.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)

    return respond


def redirect(location: str, status: int = 301) -> Responder:
    return body(b"", status, {"Location": location})


def conditional(data: bytes, etag: str, content_type: str = "application/rss+xml") -> Responder:
    """200 with an ETag, or 304 when the request carries it in If-None-Match."""

    def respond(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == etag:
            body(b"", 304, {"ETag": etag})(h)
        else:
            body(data, 200, {"ETag": etag, "Content-Type": content_type})(h)

    return respond


def endless(chunk: bytes = b"<item>" * 1000, pause_s: float = 0.0) -> Responder:
    """A chunked response that never ends (until the client hangs up)."""

    def respond(h: BaseHTTPRequestHandler) -> None:
        h.protocol_version = "HTTP/1.1"
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Content-Type", "application/rss+xml")
        h.end_headers()
        try:
            while True:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                if pause_s:
                    time.sleep(pause_s)
        except OSError:
            return

    return respond


def stall(seconds: float) -> Responder:
    def respond(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        with suppress(OSError):
            body(b"late")(h)

    return respond


@dataclass
class FeedServer:
    routes: dict[str, Responder]
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def serve(routes: dict[str, Responder]) -> Iterator[FeedServer]:
    """Run a loopback server for `routes` (path -> responder); unknown paths answer 404."""
    state = FeedServer(routes)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append((self.path, dict(self.headers)))
            responder = state.routes.get(self.path)
            if responder is None:
                body(b"not found", 404)(self)
            else:
                responder(self)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
