"""Calls to the JSON API (`/api/v1`) from tests, each held to the OpenAPI document kept in the repo
(`web/openapi/api-v1.json`) with openapi-core: the request (when the test means it to be valid)
and every answer."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from web.api import DOCUMENT

HOST = "http://testserver"


@functools.lru_cache(maxsize=1)
def spec() -> Any:
    from openapi_core import Config, OpenAPI

    # the document itself is validated (OpenAPI 3.1) here; problem details are JSON too (RFC 9457)
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_file_path(str(DOCUMENT), config=config)


class SpecMismatch(AssertionError):
    pass


@dataclass
class Api:
    client: TestClient
    token: str | None = None

    def call(self, method: str, path: str, *, body: Any = None, raw: bytes | None = None,
             content_type: str = "application/json", params: dict[str, str] | None = None,
             token: str | None = "default", valid: bool = True) -> httpx.Response:
        from openapi_core.testing import MockRequest, MockResponse
        from werkzeug.datastructures import ImmutableMultiDict

        headers: dict[str, str] = {}
        bearer = self.token if token == "default" else token
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = content_type
        response = self.client.request(method, path, content=data, headers=headers, params=params)
        request = MockRequest(HOST, method.lower(), path, args=ImmutableMultiDict(list((params or {}).items())),
                              headers=headers, data=data, content_type=content_type if data is not None else "")
        if valid:
            _check(lambda: spec().validate_request(request), f"request {method} {path}")
        mime = response.headers.get("content-type", "").split(";")[0]
        answer = MockResponse(response.content, status_code=response.status_code, headers=dict(response.headers),
                              content_type=mime)
        _check(lambda: spec().validate_response(request, answer), f"answer {response.status_code} to {method} {path}")
        return response


def _check(validate: Any, what: str) -> None:
    try:
        validate()
    except Exception as exc:  # openapi-core raises several unrelated classes
        cause = exc.__cause__ or exc
        details = getattr(cause, "schema_errors", None) or ""
        raise SpecMismatch(f"{what} does not match web/openapi/api-v1.json: {exc}: {cause} {details}") from exc
