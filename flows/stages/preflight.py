"""The pre-flight check as the send stages ask it: the whole report (`doctor_report`, the outside
world's checks and the ledger's), and the gate before a first real send (`gate_first_send`), which
`syndicate send` passes through. The CLI's `syndicate doctor` and the desk's doctor page show the
same report. (The `deliver-edition` flow does not ask it yet: see docs/operations.md.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime

from compose.config import Config
from compose.doctor import DoctorReport
from compose.errors import SyndicateError
from state.db import Database


class FirstSendRefused(SyndicateError):
    """The first real send would start while the pre-flight check reports a blocker."""


def doctor_report(cfg: Config, db: Database, *, now: datetime, env: Mapping[str, str] | None = None) -> DoctorReport:
    """Every check, the outside world's and the ledger's, as one report."""
    from connectors.preflight import outside_findings
    from state.doctor import current_key, ledger_findings

    env = os.environ if env is None else env
    url = db.engine.url.render_as_string(hide_password=False)
    key, _ = current_key(env, database_url=url)
    with db.session() as session:
        ledger = ledger_findings(session, env, now=now, database_url=url)
    return DoctorReport.of([*outside_findings(cfg, env, secret_key=key.value if key else None, now=now), *ledger])


def gate_first_send(cfg: Config, db: Database, *, edition_id: int | None, override: str | None, by: str,
                    when: datetime, env: Mapping[str, str] | None = None) -> DoctorReport | None:
    """Before `send`: a first real send (SendGrid, nothing sent through it yet) waits while the doctor
    reports a blocker (`FirstSendRefused`), unless `override` gives the reason, which the audit log keeps
    with the blockers; then the report is returned so the caller can say so. The outbox never waits."""
    from connectors.preflight import real_sending
    from state.doctor import check_override_reason, first_real_send, record_override

    env = os.environ if env is None else env
    if not real_sending(cfg, env):
        return None
    with db.session() as session:
        if not first_real_send(session, "sendgrid"):
            return None
    if override is not None:
        check_override_reason(override)
    report = doctor_report(cfg, db, now=when, env=env)
    if not report.blockers:
        return None
    if override is None:
        listed = "; ".join(f.title for f in report.blockers)
        raise FirstSendRefused(f"this would be the first real send through SendGrid, and the pre-flight check "
                               f"reports {len(report.blockers)} blocker(s): {listed}. Run `syndicate doctor` to see "
                               "what to change, or send anyway with `syndicate send --override-doctor \"REASON\"` "
                               "(the reason is kept in the audit log)")
    with db.session() as session:
        record_override(session, reason=override, by=by, edition_id=edition_id, report=report, now=when)
    return report
