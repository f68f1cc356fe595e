"""A small loopback HTTP server for faking outside services at the wire.

The real client library (tweepy, Mastodon.py, atproto, sendgrid) talks to it over a real
socket on 127.0.0.1 and an ephemeral port. A fake is a plain function `app(request) -> Reply`;
the server records every request and, before calling the app, takes the next matching
`Fault` from its queue, which lets a test script failures in order:

    server.inject(Fault(status=429, json={"title": "Too Many Requests"}))
    server.inject(Fault(accept=True, delay_s=1.0))     # processed, but answered too late
    server.inject(Fault(reset=True))                   # connection dropped mid-request

Threaded (each request on its own daemon thread), so a delayed answer never blocks others.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    """One request as the server received it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body or b"null")

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


@dataclass
class Reply:
    """What the app answers: a status, a body (dict/list -> JSON) and headers."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.json is not None:
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
            return jsonlib.dumps(self.json).encode("utf-8"), headers
        return self.body, headers


@dataclass
class Fault:
    """A scripted failure for the next request whose path starts with `path` (any if None).

    - `status` set and `accept` False: answer with this status/body instead of the app;
    - `accept` True: let the app process the request first (the service "accepted" it), then
      apply `delay_s` / `reset` / `status` to the answer (the ambiguous cases);
    - `delay_s`: sleep before answering (longer than the client timeout = a read timeout);
    - `reset`: close the socket without answering (connection reset mid-request).
    """

    status: int | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    accept: bool = False
    reset: bool = False
    path: str | None = None


App = Callable[[RecordedRequest], Reply]


class FakeServer:
    """A threaded HTTP server on 127.0.0.1:0 that records requests and injects faults."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.requests: list[RecordedRequest] = []
        self.faults: deque[Fault] = deque()
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # a delayed answer must not hold up the test
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def _next_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path is None or path.startswith(fault.path):
                    self.faults.remove(fault)
                    return fault
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _handler_for(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _handle(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = RecordedRequest(
                method=self.command, path=split.path, query=parse_qs(split.query),
                headers={k.lower(): v for k, v in self.headers.items()}, body=body,
            )
            server._record(request)
            fault = server._next_fault(split.path)
            reply = None
            if fault is None or fault.accept:
                reply = server.app(request)
            if fault is not None:
                if fault.delay_s:
                    time.sleep(fault.delay_s)
                if fault.reset:
                    self._reset()
                    return
                if fault.status is not None:
                    reply = Reply(status=fault.status, json=fault.json, headers=fault.headers)
            self._send(reply or Reply(status=500, json={"error": "fake app returned nothing"}))

        def _send(self, reply: Reply) -> None:
            payload, headers = reply.encoded()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        def _reset(self) -> None:
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            self.close_connection = True

        def finish(self) -> None:
            with contextlib.suppress(OSError, ValueError):
                super().finish()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler
