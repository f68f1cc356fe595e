"""Checking a subscriber CSV before anything is imported.

`parse_subscriber_csv(text)` returns the good rows and every problem, each with its line
number, so that staff can fix the file in one pass. Addresses are normalised with
email-validator (no DNS lookups: this module is pure); duplicates are found case-insensitively.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email


@dataclass(frozen=True, slots=True)
class SubscriberCsvRow:
    line: int
    email: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class CsvProblem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class CsvLimits:
    max_name_length = 200
    required_columns = ("email",)
    known_columns = ("email", "name")


# Header names, lower-cased, as our own files, Mailchimp ("Email Address", "First Name", "Last Name")
# and listmonk (email, name, attributes) export them; other columns are ignored.
EMAIL_HEADERS = ("email", "email address", "e-mail", "e-mail address")
NAME_HEADERS = ("name", "full name")
FIRST_NAME_HEADERS = ("first name", "firstname", "fname")
LAST_NAME_HEADERS = ("last name", "lastname", "lname")


def _column(columns: list[str], names: tuple[str, ...]) -> int | None:
    return next((columns.index(name) for name in names if name in columns), None)


def normalise_email(address: str) -> str:
    """The address as stored: validated, domain lower-cased (raises `EmailNotValidError`)."""
    return validate_email(address.strip(), check_deliverability=False).normalized


def parse_subscriber_csv(text: str) -> tuple[list[SubscriberCsvRow], list[CsvProblem]]:
    """Good rows and problems of a CSV with a header `email` (and optionally `name`), or the header
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
        name = record[name_at].strip() if name_at is not None else ""
        if not name:
            name = " ".join(record[at].strip() for at in (first_at, last_at) if at is not None and record[at].strip())
        if len(name) > CsvLimits.max_name_length:
            problems.append(CsvProblem(line, f"the name is longer than {CsvLimits.max_name_length} characters"))
            continue
        key = email.lower()
        if key in seen:
            problems.append(CsvProblem(line, f"{email} is a duplicate of line {seen[key]}"))
            continue
        seen[key] = line
        rows.append(SubscriberCsvRow(line=line, email=email, name=name))
    return rows, problems
