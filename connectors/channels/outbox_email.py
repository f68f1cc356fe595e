"""The outbox: an email channel that writes each message as an RFC 5322 `.eml` file instead of sending.

Used when no SendGrid credentials are configured, for the demo and for review. Files go to
`<outbox_dir>/email/<edition_slug>/<NNNNN>-e<edition_id>.eml` (NNNNN is the subscriber id,
zero-padded, so a directory listing is in recipient order). Each is written to a temporary file
and linked into place only if the name is free, so a crash never leaves half a message and no
file is ever overwritten: writing the same message to the same person again (a resumed send) is
recognised by its `X-Syndicate-Fingerprint` header and writes nothing, and a different message
under a taken name (another ledger's edition with the same id and date) goes beside it as
`<NNNNN>-e<edition_id>.2.eml`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import ClassVar

from connectors.channels.base import (
    FIRST_NAME_TOKEN,
    UNSUBSCRIBE_TOKEN,
    BatchReceipt,
    OutboundEmail,
    Recipient,
    header_text,
    personalise,
)
from connectors.errors import PermanentError


class OutboxEmailChannel:
    """Writes one `.eml` per recipient, with the headers SendGrid would send."""

    name: ClassVar[str] = "outbox"
    max_batch_size: ClassVar[int] = 1000  # SendGrid's: a demo plans the batches a real send would
    token_first_name: ClassVar[str] = FIRST_NAME_TOKEN
    token_unsubscribe: ClassVar[str] = UNSUBSCRIBE_TOKEN

    def __init__(self, outbox_dir: str | Path, *, now: datetime | None = None) -> None:
        self.root = Path(outbox_dir)
        self._now = now

    def __repr__(self) -> str:
        return f"OutboxEmailChannel({str(self.root)!r})"

    def folder(self, message: OutboundEmail) -> Path:
        return self.root / "email" / message.edition_slug

    def path_for(self, message: OutboundEmail, recipient: Recipient, attempt: int = 1) -> Path:
        """Where this recipient's copy goes; `attempt` > 1 when the plain name holds another message."""
        extra = f".{attempt}" if attempt > 1 else ""
        return self.folder(message) / f"{recipient.subscriber_id:05d}-e{message.edition_id}{extra}.eml"

    def render(self, message: OutboundEmail, recipient: Recipient) -> EmailMessage:
        """The message as this recipient would receive it. Personal values are escaped for the part
        they go into; header values lose control characters (a name or subject with a line break
        cannot add a header). Raises ValueError for a recipient whose address no header can hold."""
        mail = EmailMessage()
        mail["X-Syndicate-Fingerprint"] = fingerprint(message, recipient)
        mail["From"] = formataddr((header_text(message.from_name), message.from_email))
        name = header_text(recipient.name)
        mail["To"] = formataddr((name, recipient.email)) if name else recipient.email
        mail["Reply-To"] = message.reply_to
        mail["Subject"] = header_text(personalise(message.subject, recipient, "header"))
        mail["Date"] = format_datetime(self._now or datetime.now(UTC))
        mail["Message-ID"] = make_msgid(idstring=f"e{message.edition_id}.s{recipient.subscriber_id}",
                                        domain=message.from_email.rsplit("@", 1)[-1])
        targets = [f"<{recipient.unsubscribe_url}>"] if recipient.unsubscribe_url else []
        if message.list_unsubscribe_mailto:
            targets.append(f"<{message.list_unsubscribe_mailto}>")
        if targets:
            mail["List-Unsubscribe"] = ", ".join(targets)
        if recipient.unsubscribe_url:
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        if message.categories:
            mail["X-Categories"] = ", ".join(message.categories)
        mail.set_content(personalise(message.text, recipient, "text"), subtype="plain", charset="utf-8")
        mail.add_alternative(personalise(message.html, recipient, "html"), subtype="html", charset="utf-8")
        return mail

    def send_batch(self, message: OutboundEmail, recipients: Sequence[Recipient]) -> BatchReceipt:
        """Write one `.eml` per recipient; one no message can be written for is rejected alone.
        A batch larger than `max_batch_size` is refused before anything is written, as SendGrid's is."""
        if len(recipients) > self.max_batch_size:
            raise PermanentError(f"{len(recipients)} recipients in one batch; the outbox takes at most "
                                 f"{self.max_batch_size}, as SendGrid does", hint="plan smaller batches")
        folder = self.folder(message)
        folder.mkdir(parents=True, exist_ok=True)
        accepted: list[int] = []
        rejected: dict[int, str] = {}
        for recipient in recipients:
            try:  # one recipient no message can be written for never fails the others
                self.write(message, recipient)
            except (ValueError, TypeError, LookupError) as exc:
                rejected[recipient.subscriber_id] = f"no message could be written for this recipient: {exc}"
                continue
            accepted.append(recipient.subscriber_id)
        return BatchReceipt(accepted=tuple(accepted), provider_id=f"outbox:{folder}", rejected=rejected)

    def write(self, message: OutboundEmail, recipient: Recipient) -> Path:
        """Write this recipient's copy under a free name, or find the copy already written; its path."""
        self.folder(message).mkdir(parents=True, exist_ok=True)
        mark = fingerprint(message, recipient)
        data: bytes | None = None
        attempt = 1
        while True:
            path = self.path_for(message, recipient, attempt)
            if path.exists():
                if _fingerprint_of(path) == mark:
                    return path  # already written: a resumed send writes nothing twice
                attempt += 1
                continue
            if data is None:
                data = self.render(message, recipient).as_bytes(policy=SMTP)
            if _write_exclusively(path, data):
                return path

    def close(self) -> None:
        return None


def fingerprint(message: OutboundEmail, recipient: Recipient) -> str:
    """What makes a copy the same copy: the edition, the person and everything they would read
    (not the Date or Message-ID, which differ on every writing)."""
    digest = hashlib.sha256()
    for part in (str(message.edition_id), message.edition_slug, message.subject, message.html, message.text,
                 message.from_email, message.from_name, message.reply_to, str(recipient.subscriber_id),
                 recipient.email, recipient.name, recipient.unsubscribe_url, recipient.preferences_url):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:32]


def _fingerprint_of(path: Path) -> str | None:
    with path.open("rb") as handle:
        return BytesHeaderParser().parse(handle).get("X-Syndicate-Fingerprint")


def _write_exclusively(path: Path, data: bytes) -> bool:
    """Write `data` to a temporary file and link it to `path` only if `path` is free (atomic,
    never overwriting); False when another writer took the name first."""
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".eml", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        Path(temporary).unlink(missing_ok=True)
