"""Checking a subscriber CSV before anything is imported.

`parse_subscriber_csv(text)` returns the good rows and every problem, each with its line
number, so that staff can fix the file in one pass. Addresses are normalised with
email-validator (no DNS lookups: this module is pure); duplicates are found case-insensitively.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from compose.errors import SyndicateError
from compose.items import drop_unprintable
from compose.segments import SegmentError, split_tags


@dataclass(frozen=True, slots=True)
class SubscriberCsvRow:
    """One subscriber read from an imported CSV file, with the line it came from."""

    line: int
    email: str
    name: str = ""
    tags: tuple[str, ...] = ()  # the `tags` column, `;`-separated (`compose.segments.split_tags`)


@dataclass(frozen=True, slots=True)
class CsvProblem:
    """Why one line of an imported CSV file cannot be imported."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class CsvLimits:
    """What an imported subscriber file may hold: its columns and the longest name kept."""

    max_name_length = 200
    required_columns = ("email",)
    known_columns = ("email", "name")


_NOT_IN_A_NAME = frozenset({"Cc", "Zl", "Zp", "Cs", "Co"})  # controls, line/paragraph separators, surrogates, private use


class NameRefused(SyndicateError, ValueError):
    """A subscriber name that could become markup or break a header; the message says what to fix."""


def check_name(name: str) -> str:
    """A subscriber's name as stored: printable text on one line, without angle brackets, at most
    `CsvLimits.max_name_length` characters, else `NameRefused`. The same rule for every door
    (public form, CSV import, desk), because the name goes into emails and their `To` header."""
    name = name.strip()
    if len(name) > CsvLimits.max_name_length:
        raise NameRefused(f"the name is longer than {CsvLimits.max_name_length} characters: shorten it")
    if drop_unprintable(name) != name or any(unicodedata.category(c) in _NOT_IN_A_NAME for c in name):
        raise NameRefused("a name may not hold a control character (a line break, a tab or similar): "
                          "write it on one line")
    if "<" in name or ">" in name:
        raise NameRefused("a name may not hold angle brackets (< or >): remove them")
    return name


# Header names, lower-cased, as our own files, Mailchimp ("Email Address", "First Name", "Last Name")
# and listmonk (email, name, attributes) export them; other columns are ignored.
EMAIL_HEADERS = ("email", "email address", "e-mail", "e-mail address")
NAME_HEADERS = ("name", "full name")
FIRST_NAME_HEADERS = ("first name", "firstname", "fname")
LAST_NAME_HEADERS = ("last name", "lastname", "lname")
TAGS_HEADERS = ("tags",)  # "member; cio": what staff segment editions by


def _column(columns: list[str], names: tuple[str, ...]) -> int | None:
    return next((columns.index(name) for name in names if name in columns), None)


def normalise_email(address: str) -> str:
    """The address as stored: validated, domain lower-cased (raises `EmailNotValidError`)."""
    return validate_email(address.strip(), check_deliverability=False).normalized


def parse_subscriber_csv(text: str) -> tuple[list[SubscriberCsvRow], list[CsvProblem]]:
    """Good rows and problems of a CSV with a header `email` (and optionally `name` and `tags`,
    `;`-separated), or the header
    of a Mailchimp or listmonk export (`EMAIL_HEADERS`, `NAME_HEADERS`, first and last name)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], [CsvProblem(1, "the file is empty: the first line must be a header with an `email` column")]
    columns = [column.strip().lower() for column in header]
    email_at = _column(columns, EMAIL_HEADERS)
    if email_at is None:
        return [], [CsvProblem(1, f"the header {header!r} has no `email` column: name it `email` (or "
                                  "`Email Address`, as Mailchimp exports it); `name` is optional")]
    name_at = _column(columns, NAME_HEADERS)
    first_at, last_at = _column(columns, FIRST_NAME_HEADERS), _column(columns, LAST_NAME_HEADERS)
    tags_at = _column(columns, TAGS_HEADERS)
    rows: list[SubscriberCsvRow] = []
    problems: list[CsvProblem] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(columns):
            problems.append(CsvProblem(line, f"expected {len(columns)} columns, found {len(record)}"))
            continue
        raw = record[email_at].strip()
        if not raw:
            problems.append(CsvProblem(line, "the email is empty"))
            continue
        try:
            email = normalise_email(raw)
        except EmailNotValidError as exc:
            problems.append(CsvProblem(line, f"{raw!r} is not a valid email address: {exc}"))
            continue
        name = record[name_at] if name_at is not None else ""
        if not name.strip():
            name = " ".join(record[at].strip() for at in (first_at, last_at) if at is not None and record[at].strip())
        try:
            name = check_name(name)
        except NameRefused as exc:
            problems.append(CsvProblem(line, str(exc)))
            continue
        try:
            tags = split_tags(record[tags_at]) if tags_at is not None else ()
        except SegmentError as exc:
            problems.append(CsvProblem(line, f"tags: {exc}"))
            continue
        key = email.lower()
        if key in seen:
            problems.append(CsvProblem(line, f"{email} is a duplicate of line {seen[key]}"))
            continue
        seen[key] = line
        rows.append(SubscriberCsvRow(line=line, email=email, name=name, tags=tags))
    return rows, problems
