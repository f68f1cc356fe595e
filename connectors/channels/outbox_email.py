"""The outbox: an email channel that writes each message as an RFC 5322 `.eml` file instead of sending.

Used when no SendGrid credentials are configured, for the demo and for review. Files go to
`<outbox_dir>/email/<edition_slug>/<NNNNN>-<subscriber_id>.eml` (NNNNN is the subscriber id,
zero-padded, so a directory listing is in recipient order), each written to a temporary file
and renamed, so a crash never leaves half a message. Writing the same message again replaces it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
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


class OutboxEmailChannel:
    """Writes one `.eml` per recipient, with the headers SendGrid would send."""

    name: ClassVar[str] = "outbox"
    max_batch_size: ClassVar[int] = 1000
    token_first_name: ClassVar[str] = FIRST_NAME_TOKEN
    token_unsubscribe: ClassVar[str] = UNSUBSCRIBE_TOKEN

    def __init__(self, outbox_dir: str | Path, *, now: datetime | None = None) -> None:
        self.root = Path(outbox_dir)
        self._now = now

    def __repr__(self) -> str:
        return f"OutboxEmailChannel({str(self.root)!r})"

    def folder(self, message: OutboundEmail) -> Path:
        return self.root / "email" / message.edition_slug

    def path_for(self, message: OutboundEmail, recipient: Recipient) -> Path:
        return self.folder(message) / f"{recipient.subscriber_id:05d}-{recipient.subscriber_id}.eml"

    def render(self, message: OutboundEmail, recipient: Recipient) -> EmailMessage:
        """The message as this recipient would receive it. Personal values are escaped for the part
        they go into; header values lose control characters (a name or subject with a line break
        cannot add a header). Raises ValueError for a recipient whose address no header can hold."""
        mail = EmailMessage()
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
        folder = self.folder(message)
        folder.mkdir(parents=True, exist_ok=True)
        accepted: list[int] = []
        rejected: dict[int, str] = {}
        for recipient in recipients:
            try:  # one recipient no message can be written for never fails the others
                data = self.render(message, recipient).as_bytes(policy=SMTP)
            except (ValueError, TypeError, LookupError) as exc:
                rejected[recipient.subscriber_id] = f"no message could be written for this recipient: {exc}"
                continue
            _write_atomically(self.path_for(message, recipient), data)
            accepted.append(recipient.subscriber_id)
        return BatchReceipt(accepted=tuple(accepted), provider_id=f"outbox:{folder}", rejected=rejected)

    def close(self) -> None:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".eml", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
