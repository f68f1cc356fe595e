"""A small validator for the atproto Lexicon schemas in tests/corpora/atproto-lexicons/.

The fake Bluesky PDS (tests/fakes/fake_bluesky.py) checks every request it receives, and every
answer it gives, against the official lexicons, so a channel that sends a record Bluesky would
refuse fails here first. It covers what those lexicons use: `record`, `object` (required,
nullable), `string` (maxLength in UTF-8 bytes, maxGraphemes, minLength, knownValues ignored, the
formats `did`, `handle`, `at-identifier`, `nsid`, `datetime`, `uri`, `at-uri`, `cid`, `language`),
`integer` (minimum, maximum), `boolean`, `array` (items, minLength, maxLength), `ref` (local
`#name`, `nsid` and `nsid#name`), `union` (by `$type`), `blob` (accept, maxSize), `unknown`,
`params` (query strings) and the input and output schemas of queries and procedures.

Unions are checked as closed: a `$type` outside the union's refs is refused (the spec lets open
unions carry it, but no Bluesky client would show it), and so is a ref whose lexicon is not in
the corpus. Errors are `LexiconError` with a path such as `record/embed/external/uri`.

    lexicons = Lexicons.load()
    lexicons.validate_record("app.bsky.feed.post", record)
    lexicons.validate_input("com.atproto.repo.createRecord", body)
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import regex

CORPUS = Path(__file__).resolve().parents[1] / "corpora" / "atproto-lexicons"

_FORMATS: dict[str, re.Pattern[str]] = {
    "did": re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$"),
    "handle": re.compile(r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"),
    "nsid": re.compile(r"^[a-zA-Z]([a-zA-Z0-9-]{0,62})?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})?)+$"),
    "uri": re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$"),
    "at-uri": re.compile(r"^at://[a-zA-Z0-9._:%-]+(/[a-zA-Z0-9.-]+(/[a-zA-Z0-9._~:@!$&')(*+,;=%-]+)?)?$"),
    "cid": re.compile(r"^[a-zA-Z0-9+=]{8,256}$"),
    "language": re.compile(r"^(i|[a-z]{2,3})(-[a-zA-Z0-9]{1,8})*$"),
    "datetime": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"),
}


class LexiconError(ValueError):
    """A value does not match its lexicon; `path` says where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class BlobTooLargeError(LexiconError):
    """A blob is larger than its field's `maxSize` (the PDS answers `BlobTooLarge`)."""


def graphemes(text: str) -> int:
    """Extended grapheme clusters, as Bluesky counts `maxGraphemes`."""
    return len(regex.findall(r"\X", text))


def _check_format(name: str, value: str, path: str) -> None:
    if name == "at-identifier":
        if not (_FORMATS["did"].match(value) or _FORMATS["handle"].match(value)):
            raise LexiconError(path, f"{value!r} is neither a DID nor a handle")
        return
    pattern = _FORMATS.get(name)
    if pattern is None:
        raise LexiconError(path, f"format {name!r} is not known to this validator")
    if not pattern.match(value):
        raise LexiconError(path, f"{value!r} is not a valid {name}")
    if name == "datetime":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise LexiconError(path, f"{value!r} is not a valid datetime") from exc


class Lexicons:
    """The lexicon documents of a folder, by NSID."""

    def __init__(self, documents: dict[str, dict[str, Any]]) -> None:
        self.documents = documents

    @classmethod
    @functools.cache
    def load(cls, folder: Path = CORPUS) -> Lexicons:
        documents = {}
        for path in sorted(folder.rglob("*.json")):
            document = json.loads(path.read_text("utf-8"))
            documents[document["id"]] = document
        return cls(documents)

    def definition(self, ref: str, context: str = "") -> tuple[str, dict[str, Any]]:
        """The definition `ref` names ("#name" within `context`, "nsid" or "nsid#name"), and its NSID."""
        nsid, _, name = ref.partition("#")
        nsid = nsid or context
        document = self.documents.get(nsid)
        if document is None:
            raise LexiconError("", f"lexicon {nsid!r} is not in {CORPUS.name}/ (copy it from bluesky-social/atproto)")
        definition = document["defs"].get(name or "main")
        if definition is None:
            raise LexiconError("", f"{nsid} has no definition {name or 'main'!r}")
        return nsid, definition

    # --- entry points ---------------------------------------------------------------------------

    def validate_record(self, nsid: str, record: Any, path: str = "record") -> None:
        _, definition = self.definition(nsid)
        if definition["type"] != "record":
            raise LexiconError(path, f"{nsid} is not a record type")
        if not isinstance(record, dict) or record.get("$type") != nsid:
            raise LexiconError(path, f"$type must be {nsid!r}")
        self.validate(definition["record"], record, nsid, path)

    def validate_input(self, nsid: str, body: Any) -> None:
        _, definition = self.definition(nsid)
        schema = (definition.get("input") or {}).get("schema")
        if schema is None:
            if body not in (None, b"", {}):
                raise LexiconError("input", f"{nsid} takes no JSON input")
            return
        self.validate(schema, body, nsid, "input")

    def validate_output(self, nsid: str, body: Any) -> None:
        _, definition = self.definition(nsid)
        schema = (definition.get("output") or {}).get("schema")
        if schema is not None:
            self.validate(schema, body, nsid, "output")

    def validate_params(self, nsid: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """A query's parameters, converted to their types; unknown or missing ones are refused."""
        _, definition = self.definition(nsid)
        params = definition.get("parameters") or {"properties": {}}
        properties = params.get("properties", {})
        values: dict[str, Any] = {}
        for name, raw in query.items():
            if name not in properties:
                raise LexiconError(f"params/{name}", f"{nsid} has no parameter {name!r}")
            schema = properties[name]
            value: Any = raw[-1]
            if schema["type"] == "integer":
                if not re.fullmatch(r"-?\d+", value):
                    raise LexiconError(f"params/{name}", f"{value!r} is not an integer")
                value = int(value)
            elif schema["type"] == "boolean":
                if value not in ("true", "false"):
                    raise LexiconError(f"params/{name}", f"{value!r} is not true or false")
                value = value == "true"
            self.validate(schema, value, nsid, f"params/{name}")
            values[name] = value
        for name in params.get("required", []):
            if name not in values:
                raise LexiconError(f"params/{name}", "is required")
        for name, schema in properties.items():
            if name not in values and "default" in schema:
                values[name] = schema["default"]
        return values

    # --- the types ------------------------------------------------------------------------------

    def validate(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        kind = schema["type"]
        check = getattr(self, f"_{kind}", None)
        if check is None:
            raise LexiconError(path, f"lexicon type {kind!r} is not known to this validator")
        check(schema, value, context, path)

    def _object(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        if not isinstance(value, dict):
            raise LexiconError(path, "must be an object")
        nullable = set(schema.get("nullable", []))
        for name in schema.get("required", []):
            if name not in value:
                raise LexiconError(f"{path}/{name}", "is required")
        for name, field in schema.get("properties", {}).items():
            if name in value and not (value[name] is None and name in nullable):
                self.validate(field, value[name], context, f"{path}/{name}")

    def _params(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        self._object(schema, value, context, path)

    def _string(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        if not isinstance(value, str):
            raise LexiconError(path, "must be a string")
        size = len(value.encode("utf-8"))
        if "maxLength" in schema and size > schema["maxLength"]:
            raise LexiconError(path, f"must not be longer than {schema['maxLength']} UTF-8 bytes (is {size})")
        if "minLength" in schema and size < schema["minLength"]:
            raise LexiconError(path, f"must be at least {schema['minLength']} UTF-8 bytes")
        if "maxGraphemes" in schema and graphemes(value) > schema["maxGraphemes"]:
            raise LexiconError(path, f"must not be longer than {schema['maxGraphemes']} graphemes")
        if "enum" in schema and value not in schema["enum"]:
            raise LexiconError(path, f"must be one of {schema['enum']}")
        if "format" in schema:
            _check_format(schema["format"], value, path)

    def _integer(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise LexiconError(path, "must be an integer")
        if "minimum" in schema and value < schema["minimum"]:
            raise LexiconError(path, f"must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise LexiconError(path, f"must be at most {schema['maximum']}")

    def _boolean(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        if not isinstance(value, bool):
            raise LexiconError(path, "must be a boolean")

    def _unknown(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        if not isinstance(value, dict):
            raise LexiconError(path, "must be an object")

    def _array(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        if not isinstance(value, list):
            raise LexiconError(path, "must be an array")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise LexiconError(path, f"must not have more than {schema['maxLength']} elements")
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise LexiconError(path, f"must have at least {schema['minLength']} elements")
        for index, element in enumerate(value):
            self.validate(schema["items"], element, context, f"{path}/{index}")

    def _ref(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        try:
            nsid, definition = self.definition(schema["ref"], context)
        except LexiconError as exc:
            raise LexiconError(path, str(exc)) from exc
        self.validate(definition, value, nsid, path)

    def _union(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        if not isinstance(value, dict) or not isinstance(value.get("$type"), str):
            raise LexiconError(path, "a union member must be an object with a $type")
        refs = {self._full(ref, context): ref for ref in schema["refs"]}
        kind = value["$type"]
        if self._full(kind, context) not in refs:
            raise LexiconError(path, f"$type {kind!r} is not one of {sorted(refs)}")
        self._ref({"ref": refs[self._full(kind, context)]}, value, context, path)

    @staticmethod
    def _full(ref: str, context: str) -> str:
        nsid, _, name = ref.partition("#")
        return f"{nsid or context}#{name or 'main'}"

    def _blob(self, schema: dict[str, Any], value: Any, context: str, path: str) -> None:
        if not isinstance(value, dict) or value.get("$type") != "blob":
            raise LexiconError(path, "must be a blob reference ($type blob)")
        link = (value.get("ref") or {}).get("$link") if isinstance(value.get("ref"), dict) else None
        if not isinstance(link, str) or not _FORMATS["cid"].match(link):
            raise LexiconError(f"{path}/ref", "must be {\"$link\": CID}")
        mime, size = value.get("mimeType"), value.get("size")
        if not isinstance(mime, str) or not isinstance(size, int):
            raise LexiconError(path, "needs mimeType and size")
        accept = schema.get("accept")
        if accept and not any(mime == a or (a.endswith("/*") and mime.startswith(a[:-1])) or a == "*/*"
                              for a in accept):
            raise LexiconError(f"{path}/mimeType", f"{mime} is not accepted ({', '.join(accept)})")
        if "maxSize" in schema and size > schema["maxSize"]:
            raise BlobTooLargeError(path, f"this file is too large: {size} bytes, the maximum is {schema['maxSize']}")
