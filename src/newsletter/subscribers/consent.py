"""Consent: how and where a resident acted, kept as append-only consent events.

The proof behind every subscription (DESIGN.md, `consent_events`): the subscribe request,
the confirmation, preference changes and the unsubscription each leave one event.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from newsletter.models import ConsentEvent, ConsentKind, Subscriber


@dataclass(frozen=True)
class Consent:
    """Where and how a resident acted: the proof kept with every consent event."""

    ip: str | None = None
    user_agent: str | None = None
    form_text_version: str | None = None
    consent_text: str | None = None
    source_url: str | None = None
    via: str | None = None  # "form", "json", "one-click", "page", "preferences", "cli"...


def consent_row(
    subscriber_id: int,
    kind: ConsentKind,
    consent: Consent,
    *,
    now: dt.datetime,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The columns of one consent event, for the ORM or for a Core INSERT alike."""
    detail: dict[str, Any] = {}
    if consent.via:
        detail["via"] = consent.via
    if consent.consent_text:
        detail["consent_text"] = consent.consent_text
    detail.update(extra or {})
    return {
        "subscriber_id": subscriber_id,
        "kind": kind,
        "occurred_at": now,
        "ip": clip(consent.ip, 64),
        "user_agent": clip(consent.user_agent, 500),
        "form_text_version": clip(consent.form_text_version, 64),
        "source_url": clip(consent.source_url, 2000),
        "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
    }


def record_consent(
    session: Session,
    subscriber: Subscriber,
    kind: ConsentKind,
    consent: Consent,
    *,
    now: dt.datetime,
    extra: dict[str, Any] | None = None,
) -> ConsentEvent:
    event = ConsentEvent(**consent_row(subscriber.id, kind, consent, now=now, extra=extra))
    session.add(event)
    return event


def clip(value: str | None, length: int) -> str | None:
    return value[:length] if value else None
