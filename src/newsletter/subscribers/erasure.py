"""What an erasure scrubs beyond the subscriber's own rows: the address in log-like text.

The ledger keeps delivery rows for the campaigns' counts, the audit trail keeps what
officials did, and suppressions keep a bounce's reason; their free text may quote the
address (an SMTP diagnostic such as `550 5.1.1 <an@example.vn>: user unknown`, an audit
target, a bounce detail). Each such column is searched for every spelling of the address
(as stored, lower-cased, with an A-label domain) and the address replaced by ERASED.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import KeyedColumnElement

from newsletter.idn import ascii_address
from newsletter.models import AuditEvent, Delivery, Suppression

ERASED = "[erased address]"

# Every free-text column that may quote a resident's address. The test of erasure
# searches every text column of every table, so a column added later and missing here
# fails it.
_LOG_COLUMNS: tuple[KeyedColumnElement[Any], ...] = (
    Delivery.__table__.c.last_error,
    AuditEvent.__table__.c.target,
    AuditEvent.__table__.c.detail,
    Suppression.__table__.c.detail,
)


def spellings(email: str) -> set[str]:
    """The forms in which `email` may appear in text written about it."""
    forms = {email, email.lower()}
    try:
        forms.add(ascii_address(email))
        forms.add(ascii_address(email).lower())
    except ValueError:
        pass  # a domain IDNA refuses was never sent to, so never quoted in that form
    return {form for form in forms if form}


def scrub_address(session: Session, *, email: str) -> int:
    """Replace `email` by ERASED in every log-like column; returns the rows changed."""
    forms = spellings(email)
    pattern = re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)),
                         re.IGNORECASE)  # fmt: skip
    changed = 0
    for column in _LOG_COLUMNS:
        table = column.table
        assert isinstance(table, Table)
        key = table.primary_key.columns.values()[0]
        found = session.execute(
            select(key, column).where(
                or_(*(func.lower(column).contains(f.lower(), autoescape=True) for f in forms))
            )
        ).all()
        for row_id, text in found:
            session.execute(
                update(table).where(key == row_id).values({column.name: pattern.sub(ERASED, text)})
            )
            changed += 1
    return changed
