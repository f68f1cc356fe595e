"""A fake SendGrid v3 API at the wire: the real `sendgrid` library talks to it over loopback HTTP.

It checks the Bearer key (401), validates every mail/send body against the official OpenAPI
request schema (`tests/corpora/openapi/sendgrid/tsg_mail_v3.json`, with its one known bug
fixed: top-level `custom_args` is an object, not a string) and answers 400 with SendGrid's error
shape when it fails, refuses bodies over `max_bytes` with 413, and counts what it accepted per
`custom_args.subscriber_id`. Faults (429, 5xx, timeouts, resets) are injected with
`tests.fakes.server.Fault`. `GET /v3/scopes` answers the key's `scopes` (default: a full-access key's
mail.send and more) in the shape of the official Scopes API spec (`SCOPES_RESPONSE`, from
twilio/sendgrid-oai spec/json/tsg_scopes_v3.json, ListScope: 200 `{"scopes": [...]}`, 401 errors). Run as a script (`python -m tests.fakes.fake_sendgrid --delay 0.1`)
it serves in its own process and prints its URL; `GET /_stats` returns the counts.
"""

from __future__ import annotations

import argparse
import copy
import json
import threading
import time
import uuid
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from tests.fakes.server import FakeServer, RecordedRequest, Reply

SPEC = Path(__file__).resolve().parents[1] / "corpora" / "openapi" / "sendgrid" / "tsg_mail_v3.json"
SEND_PATH = "/v3/mail/send"
SCOPES_PATH = "/v3/scopes"
# The 200 response of ListScope (GET /v3/scopes) in twilio/sendgrid-oai spec/json/tsg_scopes_v3.json
SCOPES_RESPONSE = {"type": "object", "required": ["scopes"],
                   "properties": {"scopes": {"type": "array", "uniqueItems": True, "items": {"type": "string"}}}}
FULL_ACCESS_SCOPES = ("mail.send", "alerts.create", "alerts.read", "scopes.read", "stats.read",
                      "suppression.read", "user.webhooks.event.settings.read")


@cache
def mail_send_validator() -> jsonschema.Draft202012Validator:
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    body = copy.deepcopy(spec["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]["schema"])
    # spec bug (notes/email-and-x.md §5): the real API takes an object of strings here
    body["properties"]["custom_args"] = {"type": "object", "additionalProperties": {"type": "string"}}
    body["components"] = spec["components"]
    return jsonschema.Draft202012Validator(body)


def _error(message: str, field: str | None = None) -> dict[str, Any]:
    return {"errors": [{"message": message, "field": field, "help": None}]}


class FakeSendGrid:
    """The app behind a `FakeServer`; holds what was accepted."""

    def __init__(self, *, api_key: str = "SG.test-key", delay_s: float = 0.0, validate: bool = True,
                 max_bytes: int = 30 * 1024 * 1024) -> None:
        self.api_key = api_key
        self.delay_s = delay_s
        self.validate = validate
        self.max_bytes = max_bytes
        self.lock = threading.Lock()
        self.received: Counter[int] = Counter()  # subscriber id -> messages accepted for them
        self.accepted_requests = 0
        self.bodies: list[dict[str, Any]] = []
        self.keep_bodies = True
        self.scopes: tuple[str, ...] = FULL_ACCESS_SCOPES
        self.server = FakeServer(self)

    # FakeServer calls the app with each request
    def __call__(self, request: RecordedRequest) -> Reply:
        if request.path == "/_stats":
            with self.lock:
                return Reply(200, json={"requests": self.accepted_requests,
                                        "received": {str(k): v for k, v in self.received.items()}})
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply(401, json=_error("The provided authorization grant is invalid, expired, or revoked"))
        if request.path == SCOPES_PATH and request.method == "GET":
            body = {"scopes": list(dict.fromkeys(self.scopes))}
            jsonschema.validate(body, SCOPES_RESPONSE)
            return Reply(200, json=body)
        if request.path != SEND_PATH or request.method != "POST":
            return Reply(404, json=_error("not found"))
        if len(request.body) > self.max_bytes:
            return Reply(413, json=_error("content too large", "null"))
        body = request.json()
        if self.validate:
            problems = sorted(mail_send_validator().iter_errors(body), key=lambda e: list(e.absolute_path))
            if problems:
                first = problems[0]
                return Reply(400, json=_error(first.message, ".".join(str(p) for p in first.absolute_path) or None))
        addresses = [t["email"].lower() for p in body["personalizations"] for t in p.get("to", [])]
        if len(addresses) != len(set(addresses)):
            return Reply(400, json=_error("Each email address in the personalization block should be unique "
                                          "between to, cc, and bcc.", "personalizations"))
        with self.lock:
            self.accepted_requests += 1
            if self.keep_bodies:
                self.bodies.append(body)
            for person in body["personalizations"]:
                subscriber = (person.get("custom_args") or {}).get("subscriber_id")
                if subscriber is not None:
                    self.received[int(subscriber)] += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        return Reply(202, headers={"X-Message-Id": uuid.uuid4().hex[:22]})

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> FakeSendGrid:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="serve a fake SendGrid on 127.0.0.1")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--no-validate", action="store_true")
    args = parser.parse_args()
    fake = FakeSendGrid(delay_s=args.delay, validate=not args.no_validate)
    fake.keep_bodies = False
    fake.server.requests = _Discard()
    with fake:
        print(fake.url, flush=True)
        threading.Event().wait()


class _Discard(list):  # type: ignore[type-arg]
    """Do not keep request bodies in a long benchmark run."""

    def append(self, item: object) -> None:
        return None


if __name__ == "__main__":
    main()
