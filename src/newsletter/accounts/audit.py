"""The audit trail: who did what, when, from where. Append-only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import AuditEvent


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    detail: str | None = None,
    ip: str | None = None,
) -> AuditEvent:
    event = AuditEvent(actor=actor, action=action, target=target, detail=detail, ip=ip)
    session.add(event)
    session.flush()
    return event


def recent_audit(session: Session, *, limit: int = 50) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)))
