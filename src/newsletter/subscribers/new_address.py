"""A new address in as few statements as the database allows (the subscribe endpoint's path).

`request_new` (lifecycle.py) uses these: on PostgreSQL one statement checks the
suppression list and inserts the subscriber and its consent event; elsewhere an INSERT
... ON CONFLICT DO NOTHING RETURNING does the insert. Both give a new row its own
`link_key` and `confirm_key` (the keys its links carry).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, Table, bindparam, exists, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from newsletter.models import (
    ConsentEvent,
    ConsentKind,
    Frequency,
    Subscriber,
    SubscriberStatus,
    Suppression,
    subscriber_categories,
)
from newsletter.models.subscribers import new_link_key
from newsletter.subscribers.consent import Consent, clip, consent_row
from newsletter.subscribers.suppression import SUPPRESSION_ERASED, key_hashes

# Built once: executed with fresh parameters, they skip statement construction and hit
# SQLAlchemy's compiled cache directly (the subscribe endpoint runs them per request).
_SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]
_INSERT_NEW = {
    name: dialect_insert(_SUBSCRIBERS)
    .on_conflict_do_nothing(index_elements=[_SUBSCRIBERS.c.email])
    .returning(_SUBSCRIBERS.c.id)
    for name, dialect_insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}
INSERT_CONSENT = insert(ConsentEvent.__table__)  # type: ignore[arg-type]
INSERT_CATEGORIES = insert(subscriber_categories)


def _postgresql_subscribe_new() -> Select[int | None, bool]:
    """One statement for the common request on PostgreSQL: a new, unsuppressed address.

    Checks the suppression list, inserts the pending subscriber (ON CONFLICT DO NOTHING)
    and its consent event, and answers (new id or NULL, kept silent): one round trip
    where `_insert_new` and its neighbours take three. Same rows, same outcome.
    """
    subscribers = _SUBSCRIBERS
    consents: Table = ConsentEvent.__table__  # type: ignore[assignment]
    suppressions: Table = Suppression.__table__  # type: ignore[assignment]
    silent = exists().where(
        # Keyed, or unkeyed if not re-keyed yet (suppression.py).
        suppressions.c.email_hash.in_([bindparam("email_hash"), bindparam("legacy_hash")]),
        suppressions.c.reason != SUPPRESSION_ERASED,
    )
    subscriber_columns = ("email", "name", "status", "source", "created_at", "updated_at",
                          "confirmation_sent_at", "locale", "bounce_score",
                          "reads_every_category", "link_key", "confirm_key",
                          "frequency")  # fmt: skip
    new = (
        postgresql_insert(subscribers)
        .from_select(
            list(subscriber_columns),
            select(
                *(
                    bindparam(f"s_{name}", type_=subscribers.c[name].type)
                    for name in subscriber_columns
                )
            ).where(~silent),
        )
        .on_conflict_do_nothing(index_elements=[subscribers.c.email])
        .returning(subscribers.c.id)
        .cte("new_subscriber")
    )
    consent_columns = ("kind", "occurred_at", "ip", "user_agent", "form_text_version",
                       "source_url", "detail")  # fmt: skip
    consent = (
        insert(consents)
        .from_select(
            ["subscriber_id", *consent_columns],
            select(
                new.c.id,
                *(bindparam(f"c_{name}", type_=consents.c[name].type) for name in consent_columns),
            ),
        )
        .cte("new_consent")
    )
    # add_cte: PostgreSQL runs a data-modifying WITH even when nothing reads it, but
    # SQLAlchemy only renders the CTEs a statement refers to.
    return select(select(new.c.id).scalar_subquery(), silent).add_cte(consent)


_SUBSCRIBE_NEW_POSTGRESQL = _postgresql_subscribe_new()


def subscribe_new_postgresql(
    session: Session,
    *,
    email: str,
    name: str | None,
    consent: Consent,
    now: dt.datetime,
    extra: dict[str, Any],
    reads_every_category: bool,
    frequency: Frequency = Frequency.WEEKLY,
) -> tuple[int | None, bool]:
    """Run `_SUBSCRIBE_NEW_POSTGRESQL`: (the new subscriber's id or None, kept silent)."""
    row = consent_row(0, ConsentKind.SUBSCRIBE_REQUESTED, consent, now=now, extra=extra)
    params = {f"c_{key}": value for key, value in row.items() if key != "subscriber_id"}
    hashes = key_hashes(session, email)
    params.update(
        {
            "email_hash": hashes.keyed,
            "legacy_hash": hashes.legacy,
            "s_email": email,
            "s_name": name or None,
            "s_status": SubscriberStatus.PENDING,
            "s_source": clip(consent.source_url, 500),
            "s_created_at": now,
            "s_updated_at": now,
            "s_confirmation_sent_at": now,
            "s_locale": "vi",
            "s_bounce_score": 0.0,
            "s_reads_every_category": reads_every_category,
            "s_link_key": new_link_key(),
            "s_confirm_key": new_link_key(),
            "s_frequency": frequency,
        }
    )
    new_id, silent = session.execute(_SUBSCRIBE_NEW_POSTGRESQL, params).one()
    return new_id, bool(silent)


def insert_new(
    session: Session,
    *,
    email: str,
    name: str | None,
    consent: Consent,
    now: dt.datetime,
    reads_every_category: bool,
    frequency: Frequency = Frequency.WEEKLY,
) -> int | None:
    """INSERT the address as pending, due its confirmation now; None when it exists.

    One statement (ON CONFLICT DO NOTHING RETURNING) instead of SELECT, SAVEPOINT, INSERT,
    RELEASE and UPDATEs: two simultaneous first requests cannot both create the row.
    `reads_every_category` is what the triggers would make it once the category rows
    follow; inserted right, their UPDATE finds nothing to change.
    """
    statement = _INSERT_NEW[session.get_bind().dialect.name]
    new_id: int | None = session.execute(
        statement,
        {
            "email": email,
            "name": name or None,
            "status": SubscriberStatus.PENDING,
            "source": clip(consent.source_url, 500),
            "created_at": now,
            "updated_at": now,
            "confirmation_sent_at": now,
            "reads_every_category": reads_every_category,
            "link_key": new_link_key(),
            "confirm_key": new_link_key(),
            "frequency": frequency,
        },
    ).scalar()
    return new_id
