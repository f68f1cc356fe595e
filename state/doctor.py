"""The pre-flight checks that read the ledger, and the gate on a first real send.

- `key_findings`: the secret key in use is the one that signed the links already sent (the
  fingerprints `state.secret_key` keeps per edition);
- `clip_findings`: the next edition (or, with none waiting, the last one sent) is under Gmail's clip;
- `first_real_send`: no edition has gone out through the provider yet (a batch accepted by it);
- `record_override`: a member of staff sent despite blockers; the audit log keeps who, why and which.

The checks of the outside world are `connectors.preflight`'s; the CLI and the desk join both into
one `compose.doctor.DoctorReport`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from compose.doctor import DoctorReport, Finding, clip_finding
from state.errors import LedgerError
from state.ledger import audit
from state.models import BatchStatus, DeliveryBatchRow, EditionRow, EditionStatus
from state.secret_key import (
    SecretKey,
    SecretKeyError,
    editions_signed_otherwise,
    key_file,
    load_secret_key,
    mismatch_message,
)

OVERRIDE_ACTION = "doctor-override"
MAX_REASON = 500
_WAITING = (EditionStatus.DRAFT, EditionStatus.APPROVED, EditionStatus.HELD, EditionStatus.SENDING)


def current_key(env: Mapping[str, str], *, database_url: str) -> tuple[SecretKey | None, Finding | None]:
    """The key in use, without creating one; or a blocker saying why it cannot be read."""
    try:
        return load_secret_key(env, database_url=database_url, create=False), None
    except SecretKeyError as exc:
        return None, Finding("secret-key", "blocker", "the secret key cannot be used", detail=str(exc),
                             fix=str(exc).rpartition(": ")[2] or "set SYNDICATE_SECRET_KEY", private=True)


def key_findings(session: Session, key: SecretKey | None, *, now: datetime, database_url: str) -> list[Finding]:
    mismatched = editions_signed_otherwise(session, key, now=now)
    if mismatched:
        return [Finding("secret-key", "blocker", "the secret key does not match the links already sent",
                        detail=mismatch_message(key, mismatched, database_url=database_url), private=True,
                        fix="put the key that signed those links back (SYNDICATE_SECRET_KEY or the key file "
                            f"{key_file(database_url)}), then check again")]
    signed = session.scalar(select(EditionRow.id).where(EditionRow.key_fingerprint.is_not(None)).limit(1))
    if key is None:
        return [Finding("secret-key", "ok", "no secret key yet and no links sent: the first send creates one",
                        detail=f"it will be kept in {key_file(database_url)} (mode 0600): back it up", private=True)]
    return [Finding("secret-key", "ok", "the secret key matches the links already sent" if signed is not None
                    else "a secret key is ready; no links sent with any key yet",
                    detail=f"from {key.origin}", private=True)]


def clip_findings(session: Session) -> list[Finding]:
    row = session.scalars(select(EditionRow).where(EditionRow.status.in_(_WAITING))
                          .order_by(EditionRow.scheduled_for, EditionRow.id).limit(1)).first()
    which = "the next edition"
    if row is None:
        row = session.scalars(select(EditionRow).where(EditionRow.status == EditionStatus.SENT)
                              .order_by(EditionRow.sent_at.desc()).limit(1)).first()
        which = "the last edition sent"
    if row is None:
        return [Finding("clip", "ok", "no edition built yet: Gmail's clip is checked once one is",
                        fix="")]
    return [clip_finding(row.html_bytes, which=f"{which}, {row.id} ({row.slug}),")]


def ledger_findings(session: Session, env: Mapping[str, str], *, now: datetime, database_url: str,
                    key: SecretKey | None = None) -> list[Finding]:
    """Every check of the ledger, in the order the report lists them. `key` is the key in use when the
    caller holds it (the web app); without it, the environment's or the key file's is read."""
    problem = None
    if key is None:
        key, problem = current_key(env, database_url=database_url)
    findings = [problem] if problem else key_findings(session, key, now=now, database_url=database_url)
    return [*findings, *clip_findings(session)]


def first_real_send(session: Session, channel: str) -> bool:
    """True until some batch of an edition has been accepted (or may have been) by `channel`."""
    sent = session.scalar(select(DeliveryBatchRow.id).where(
        DeliveryBatchRow.channel == channel,
        DeliveryBatchRow.status.in_([BatchStatus.ACCEPTED, BatchStatus.SENDING, BatchStatus.AMBIGUOUS])).limit(1))
    return sent is None


def check_override_reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if len(text) < 10:
        raise LedgerError("overriding the pre-flight check needs a reason staff will read later (10 characters or "
                          "more), e.g. --override-doctor \"DMARC record added, not yet visible from here\"")
    if len(text) > MAX_REASON:
        raise LedgerError(f"the reason is {len(text)} characters: keep it under {MAX_REASON}")
    return text


def record_override(session: Session, *, reason: str, by: str, edition_id: int | None, report: DoctorReport,
                    now: datetime) -> None:
    """Keep in the audit log that `by` sent despite the report's blockers, and why. Does not commit."""
    blockers: Sequence[Finding] = report.blockers
    audit(session, actor=by, action=OVERRIDE_ACTION, kind="edition", ident=edition_id, now=now,
          reason=check_override_reason(reason), blockers=[{"check": f.check, "title": f.title} for f in blockers])
