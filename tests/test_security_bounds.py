"""Attacks from issue 13, rows 3 and 13: bounded before trusted.

A 300 MB unsigned POST to /webhooks/sendgrid used to be read whole before its signature was
checked (RSS 139 -> 706 MB). Here it is streamed at a real server (uvicorn on loopback) and the
test asserts on the bytes the app took in (`app.state.body_meter`), not on time. Every other
endpoint caps its body too; integers from the URL are bounded (400, never 500); desk pages are
never cached; the subscriber list needs the admin role, like its export.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tests.helpers import desk_data
from tests.helpers.serving import serve_on_loopback
from web.app import create_app
from web.public import SIGNATURE_HEADER, TIMESTAMP_HEADER
from web.security import BodyLimits

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SECRET = "test-secret-key-0123456789abcdef"
MB = 1024 * 1024


@pytest.fixture
def app(sqlite_db, tmp_path):  # type: ignore[no-untyped-def]
    config = desk_data.example_config(tmp_path)
    return create_app(config=config, db=sqlite_db, secret_key=SECRET, now=lambda: NOW,
                      env={"SENDGRID_WEBHOOK_PUBLIC_KEY": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" + "A" * 88})


@pytest.fixture
def server(app) -> Iterator[int]:  # type: ignore[no-untyped-def]
    with serve_on_loopback(app) as base:
        yield int(base.rsplit(":", 1)[1])


def _stream(port: int, path: str, total: int, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST `total` bytes, chunked, as fast as the server takes them; stop when it answers or closes.
    Returns the bytes sent and the first bytes of the answer."""
    chunk = b"x" * (256 * 1024)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n{head}\r\n".encode())
        sock.setblocking(False)
        answer = b""
        while sent < total:
            try:
                answer += sock.recv(65536)
                if answer:
                    break
            except BlockingIOError:
                pass
            except OSError:
                break
            try:
                sock.settimeout(2)
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sock.setblocking(False)
                sent += len(chunk)
            except OSError:  # the server closed the connection: it will read no more
                break
        sock.settimeout(5)
        try:
            while b"\r\n\r\n" not in answer:
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
        except OSError:
            pass
    return sent, answer


def test_a_300_mb_unsigned_webhook_post_is_refused_without_reading_the_body(app, server):
    sent, answer = _stream(server, "/webhooks/sendgrid", 300 * MB, {"Content-Type": "application/json"})
    assert answer.startswith(b"HTTP/1.1 403")
    assert app.state.body_meter.bytes_read == 0  # the headers were enough to refuse it
    assert sent < 300 * MB


def test_a_300_mb_webhook_post_with_fresh_headers_is_cut_off_at_its_cap(app, server):
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: "MEUCIQ" + "A" * 90,
               TIMESTAMP_HEADER: str(int(NOW.timestamp()))}
    sent, answer = _stream(server, "/webhooks/sendgrid", 300 * MB, headers)
    assert answer.startswith(b"HTTP/1.1 413")
    cap = BodyLimits.cap("/webhooks/sendgrid")
    # what the app held: at most the cap and one more chunk from the socket, never the 300 MB
    assert app.state.body_meter.bytes_read <= cap + 1 * MB
    assert sent < 300 * MB


def test_a_300_mb_post_to_a_public_form_is_cut_off_at_its_cap(app, server):
    sent, answer = _stream(server, "/subscribe", 300 * MB, {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.startswith(b"HTTP/1.1 413")
    assert app.state.body_meter.bytes_read <= BodyLimits.default + 1 * MB
    assert sent < 300 * MB


def test_a_declared_oversize_body_is_refused_before_a_byte_is_read(app):
    client = TestClient(app)
    for path in ("/subscribe", "/login", "/webhooks/sendgrid", "/unsubscribe/x", "/confirm/x", "/desk/staff"):
        response = client.post(path, content=b"x" * (BodyLimits.cap(path) + 1),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 413, path
        assert "larger than" in response.text
    assert app.state.body_meter.bytes_read == 0


def test_an_unsigned_webhook_is_refused_before_its_body_is_read(app):
    response = TestClient(app).post("/webhooks/sendgrid", content=b"[" + b"{}," * 1000 + b"{}]")
    assert response.status_code == 403 and "unsigned" in response.text
    assert app.state.body_meter.bytes_read == 0


# --- integers from the URL, caching, the subscriber list -------------------------------------------------------


@pytest.fixture
def admin(app, sqlite_db) -> TestClient:  # type: ignore[no-untyped-def]
    desk_data.seed_staff(sqlite_db, "admin@example.org", "admin", now=NOW)
    client = TestClient(app)
    assert desk_data.sign_in(client, "admin@example.org").status_code == 303
    return client


@pytest.mark.parametrize("path", [
    "/desk/subscribers?page=99999999999999999999",
    "/desk/history?page=99999999999999999999",
    "/desk/audit?page=1000000000",
    "/desk/editions/99999999999999999999",
    "/desk/history/editions/3000000000",  # beyond PostgreSQL's 32-bit integer
    "/desk/threads/99999999999999999999",
    "/desk/threads/-9223372036854775809",  # found by the fuzz run: a 500 on SQLite
])
def test_integers_from_the_url_are_bounded_400_never_500(admin, path):
    response = admin.get(path)
    assert response.status_code == 400, (path, response.status_code)


def test_every_desk_page_says_no_store_and_back_after_sign_out_shows_nothing(admin, sqlite_db, app):
    for path in ("/desk", "/desk/history", "/desk/subscribers", "/desk/audit", "/desk/staff", "/desk/threads",
                 "/login", "/subscribers.csv".join(["/desk", ""])):
        assert admin.get(path).headers.get("cache-control") == "no-store", path
    token = desk_data.csrf_from(admin.get("/desk").text)
    admin.post("/logout", data={"csrf_token": token})
    assert admin.get("/desk", follow_redirects=False).status_code == 303


def test_the_subscriber_list_needs_the_same_role_as_its_export(app, sqlite_db):
    for role in ("editor", "approver"):
        desk_data.seed_staff(sqlite_db, f"{role}@example.org", role, now=NOW)
        client = TestClient(app)
        desk_data.sign_in(client, f"{role}@example.org")
        assert client.get("/desk/subscribers").status_code == 403
        assert client.get("/desk/subscribers.csv").status_code == 403
        assert "/desk/subscribers" not in client.get("/desk").text  # no link to a page they cannot open
