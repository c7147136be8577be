"""Subscriber management for admins: search, import, export, stats.

Import follows the contract: with a stated consent source, rows become `active` with
that consent recorded (an `imported` consent event); without one they become `pending`
and each receives a confirmation, exactly as if they had used the form.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.orm import Session, selectinload

from newsletter.content.categories import CategoryError, categories_by_slug
from newsletter.models import (
    Area,
    Campaign,
    Category,
    ConsentEvent,
    ConsentKind,
    Frequency,
    Subscriber,
    SubscriberStatus,
    Suppression,
    utcnow,
)
from newsletter.subscribers.addresses import InputError, normalize_lenient, parse_address
from newsletter.subscribers.areas import AreaError, areas_by_code, split_codes
from newsletter.subscribers.frequency import FrequencyError, parse_frequency
from newsletter.subscribers.lifecycle import Consent, _kept_silent, request_subscription

EXPORT_COLUMNS = [
    "email", "name", "status", "categories", "frequency", "created_at", "confirmed_at", "source",
    "areas",
]  # fmt: skip
MAX_IMPORT_ROWS = 1_000_000


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    to_confirm: list[tuple[int, str]] = field(default_factory=list)  # (subscriber id, email)

    def as_dict(self) -> dict[str, object]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "confirmations": len(self.to_confirm),
            "rejected": [{"line": line, "reason": reason} for line, reason in self.rejected],
        }


def _matching(query: str) -> ColumnElement[bool]:
    """Exact address when `query` has an @, else addresses starting with it (the index
    serves that) or names containing it, in any case (SQLite folds ASCII letters only)."""
    query = query.strip()
    if "\x00" in query or not _encodable(query):
        return false()  # no stored address holds NUL or a lone surrogate (PostgreSQL refuses both)
    if "@" in query:
        key = normalize_lenient(query)
        return or_(Subscriber.email == key, Subscriber.email == query)
    if not query:
        return true()
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(
        Subscriber.email.like(f"{escaped}%", escape="\\"),
        func.lower(Subscriber.name).like(f"%{escaped.lower()}%", escape="\\"),
    )


def search_subscribers(
    session: Session, *, query: str, limit: int = 50, frequency: Frequency | None = None
) -> list[Subscriber]:
    """The newest `limit` subscribers matching `query` (see _matching) and `frequency`."""
    where = [_matching(query)]
    if frequency is not None:
        where.append(Subscriber.frequency == frequency)
    statement = select(Subscriber).where(*where).order_by(Subscriber.id.desc()).limit(limit)
    return list(session.scalars(statement))


@dataclass(frozen=True)
class SubscriberPage:
    rows: list[Subscriber]
    total: int  # every match, on all pages
    page: int  # 1-based
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def subscriber_page(
    session: Session,
    *,
    query: str = "",
    status: SubscriberStatus | None = None,
    frequency: Frequency | None = None,
    page: int = 1,
    per_page: int = 50,
) -> SubscriberPage:
    """One page of the matching subscribers, newest first, with the number of matches.

    Offset paging: an admin jumps to a page and reads a total, and even 100,000 rows
    cost one indexed count and one short scan.
    """
    where = [_matching(query)]
    if status is not None:
        where.append(Subscriber.status == status)
    if frequency is not None:
        where.append(Subscriber.frequency == frequency)
    total = session.scalar(select(func.count()).select_from(Subscriber).where(*where)) or 0
    page = max(1, page)
    rows = session.scalars(
        select(Subscriber)
        .where(*where)
        .order_by(Subscriber.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return SubscriberPage(rows=list(rows), total=total, page=page, per_page=per_page)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def consent_history(session: Session, *, subscriber_id: int) -> list[ConsentEvent]:
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.subscriber_id == subscriber_id)
            .order_by(ConsentEvent.occurred_at, ConsentEvent.id)
        )
    )


def _split_categories(value: str) -> list[str]:
    parts = value.replace("|", ";").replace(",", ";").split(";")
    return [part.strip() for part in parts if part.strip()]


def import_subscribers(
    session: Session,
    *,
    rows: Iterable[dict[str, str]],
    consent_source: str | None,
    resend_after: dt.timedelta,
    development: bool = False,
    actor: str = "cli",
    now: dt.datetime | None = None,
) -> ImportResult:
    """Import CSV rows (`email`, optional `name`, `categories` and `areas` separated by ;,
    `frequency`: ngay-khi-co, hang-ngay or hang-tuan; blank is weekly for a new address
    and leaves a known one's choice as it is).

    Each row stands alone: a bad row is rejected with its line number and reason, the
    others go on. Bounced, complained and otherwise suppressed addresses are never
    reactivated by an import.
    """
    now = now or utcnow()
    result = ImportResult()
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        if line - 1 > MAX_IMPORT_ROWS:
            result.rejected.append((line, f"more than {MAX_IMPORT_ROWS} rows"))
            break
        try:
            address = parse_address(row.get("email") or "", development=development)
            slugs = _split_categories(row.get("categories") or "")
            categories = categories_by_slug(session, slugs)
            areas = areas_by_code(session, split_codes(row.get("areas") or ""))
            frequency = parse_frequency(row.get("frequency"))
        except FrequencyError as exc:
            result.rejected.append((line, str(exc)))
            continue
        except InputError:
            result.rejected.append((line, f"invalid address: {(row.get('email') or '')[:100]!r}"))
            continue
        except (CategoryError, AreaError) as exc:
            result.rejected.append((line, str(exc)))
            continue
        name = (row.get("name") or "").strip()[:200] or None
        if consent_source is None:
            outcome = request_subscription(
                session,
                email=address.normalized,
                name=name,
                category_slugs=slugs,
                consent=Consent(via="import", source_url=None, consent_text=None),
                resend_after=resend_after,
                frequency=frequency,
                now=now,
                area_codes=[a.code for a in areas],
            )
            if outcome.subscriber_id is None:
                result.rejected.append((line, "address is suppressed (bounce, complaint)"))
            elif outcome.send_confirmation:
                result.created += 1
                result.to_confirm.append((outcome.subscriber_id, address.normalized))
            else:
                result.unchanged += 1
            continue
        chosen = Chosen(categories, areas)
        _import_active(
            session,
            result,
            line,
            address.normalized,
            name,
            chosen,
            frequency,
            consent_source,
            actor,
            now,
        )
    session.flush()
    return result


class Chosen(NamedTuple):
    """What an imported row chose: its categories and areas."""

    categories: list[Category]
    areas: list[Area]


def _import_active(
    session: Session,
    result: ImportResult,
    line: int,
    email: str,
    name: str | None,
    chosen: Chosen,
    frequency: Frequency | None,
    consent_source: str,
    actor: str,
    now: dt.datetime,
) -> None:
    if _kept_silent(session, email=email):
        result.rejected.append((line, "address is suppressed (bounce, complaint)"))
        return
    subscriber = session.scalar(
        select(Subscriber).where(Subscriber.email == email).with_for_update()
    )
    if subscriber is not None and subscriber.status is SubscriberStatus.ACTIVE:
        result.unchanged += 1
        return
    if subscriber is not None and subscriber.status is not SubscriberStatus.PENDING:
        # Unsubscribed, bounced or complained: an old list must not override a resident's choice.
        result.rejected.append((line, f"address is {subscriber.status.value}; not reactivated"))
        return
    if subscriber is None:
        subscriber = Subscriber(email=email, created_at=now, frequency=Frequency.WEEKLY)
        session.add(subscriber)
        result.created += 1
    else:
        result.updated += 1
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.name = name
    subscriber.categories = chosen.categories
    subscriber.areas = chosen.areas
    if frequency is not None:
        subscriber.frequency = frequency
    subscriber.confirmed_at = now
    subscriber.updated_at = now
    subscriber.source = f"import: {consent_source}"[:500]
    session.flush()
    session.add(
        ConsentEvent(
            subscriber_id=subscriber.id,
            kind=ConsentKind.IMPORTED,
            occurred_at=now,
            detail=f"imported by {actor}; consent source: {consent_source}"[:2000],
        )
    )


def read_csv(text: str) -> Iterator[dict[str, str]]:
    """Rows of a CSV text whose header names at least `email`; ValueError otherwise."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if reader.fieldnames is None or "email" not in [f.strip().lower() for f in reader.fieldnames]:
        raise ValueError("the CSV needs a header row with an 'email' column")
    for row in reader:
        yield {(k or "").strip().lower(): (v or "") for k, v in row.items()}


def _csv_cell(value: str) -> str:
    # A cell starting with = + - @ is a formula in spreadsheet programs: defuse it.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_csv(session: Session, *, batch: int = 2000) -> Iterator[str]:
    """The subscriber list as CSV text chunks, streamed in id order (memory stays flat)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    last_id = 0
    while True:
        chunk = list(
            session.scalars(
                select(Subscriber)
                .options(selectinload(Subscriber.categories), selectinload(Subscriber.areas))
                .where(Subscriber.id > last_id)
                .order_by(Subscriber.id)
                .limit(batch)
            )
        )
        if not chunk:
            break
        for s in chunk:
            writer.writerow(
                [
                    _csv_cell(s.email),
                    _csv_cell(s.name or ""),
                    s.status.value,
                    ";".join(c.slug for c in s.categories),
                    s.frequency.value,
                    s.created_at.isoformat(),
                    s.confirmed_at.isoformat() if s.confirmed_at else "",
                    _csv_cell(s.source or ""),
                    ";".join(a.code for a in s.areas),
                ]
            )
        last_id = chunk[-1].id
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        session.expunge_all()
    tail = buffer.getvalue()
    if tail:
        yield tail


@dataclass(frozen=True)
class SubscriberStats:
    by_status: dict[str, int]
    suppressed: int
    bounced_messages: int
    complaints: int


def subscriber_stats(session: Session) -> SubscriberStats:
    by_status = {s.value: 0 for s in SubscriberStatus}
    for status, count in session.execute(
        select(Subscriber.status, func.count()).group_by(Subscriber.status)
    ):
        by_status[status.value] = count
    suppressed = session.scalar(select(func.count()).select_from(Suppression)) or 0
    bounced, complaints = session.execute(
        select(
            func.coalesce(func.sum(Campaign.bounced_count), 0),
            func.coalesce(func.sum(Campaign.complaint_count), 0),
        )
    ).one()
    return SubscriberStats(by_status, suppressed, int(bounced), int(complaints))
