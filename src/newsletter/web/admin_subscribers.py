"""Admin pages for subscribers: search, one subscriber's consent history, erase,
CSV export and import. Every action is written to the audit trail.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import (
    APIRouter,
    BackgroundTasks,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
)
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from newsletter.accounts.audit import record_audit
from newsletter.models import Frequency, Subscriber, SubscriberStatus
from newsletter.runtime import Runtime
from newsletter.subscribers.preferences import erase_subscriber
from newsletter.subscribers.roster import (
    consent_history,
    export_csv,
    import_subscribers,
    read_csv,
    subscriber_page,
)
from newsletter.subscribers.suppression import address_hashes
from newsletter.tasks.enqueue import CeleryProducer, queue_confirmations
from newsletter.web.admin_auth import AdminContext, AdminRoleDep, check_csrf
from newsletter.web.admin_pages import client_ip, page
from newsletter.web.deps import RuntimeDep, SessionDep, valid_row_id
from newsletter.web.limits import IMPORT_FILE_MAX_BYTES

router = APIRouter(prefix="/admin/subscribers", include_in_schema=False)
log = logging.getLogger(__name__)

PER_PAGE = 50
STATUSES = [s.value for s in SubscriberStatus]
FREQUENCIES = [f.value for f in Frequency]


def _listing(
    request: Request,
    admin: AdminContext,
    session: Session,
    *,
    q: str = "",
    status: str = "",
    frequency: str = "",
    page_number: int = 1,
    result: dict[str, object] | None = None,
) -> HTMLResponse:
    wanted = SubscriberStatus(status) if status in STATUSES else None
    how_often = Frequency(frequency) if frequency in FREQUENCIES else None
    found = subscriber_page(
        session,
        query=q[:320],
        status=wanted,
        frequency=how_often,
        page=page_number,
        per_page=PER_PAGE,
    )
    context = {
        "admin": admin,
        "q": q,
        "status": wanted.value if wanted else "",
        "frequency": how_often.value if how_often else "",
        "statuses": STATUSES,
        "found": found,
        "result": result,
        **_IMPORT_LIMIT,
    }
    return page(request, "subscribers.html", context)


@router.get("")
def subscribers(
    request: Request,
    admin: AdminRoleDep,
    session: SessionDep,
    q: Annotated[str, Query(max_length=320)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    frequency: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    return _listing(
        request, admin, session, q=q, status=status, frequency=frequency, page_number=page
    )


_IMPORT_LIMIT = {"import_max_mib": IMPORT_FILE_MAX_BYTES // 2**20}


@router.get("/export.csv")
def export(admin: AdminRoleDep, runtime: RuntimeDep, request: Request) -> StreamingResponse:
    with runtime.sessions.begin() as session:
        record_audit(
            session, actor=admin.username, action="subscribers.export", ip=client_ip(request)
        )

    def rows() -> Iterator[str]:
        with runtime.sessions.begin() as session:
            yield from export_csv(session)

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="subscribers-{stamp}.csv"'},
    )


@router.post("/import")
async def import_csv(
    request: Request,
    admin: AdminRoleDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
    file: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form()] = "",
    consent_source: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse:
    check_csrf(admin, csrf)
    data = await file.read(IMPORT_FILE_MAX_BYTES + 1)
    if len(data) > IMPORT_FILE_MAX_BYTES:
        raise HTTPException(
            status_code=413, detail="CSV larger than 20 MiB: import it with the CLI"
        )
    try:
        rows = list(read_csv(data.decode("utf-8-sig")))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(status_code=400, detail=f"cannot read the CSV: {exc}") from exc
    settings = runtime.settings
    with runtime.sessions.begin() as session:
        result = import_subscribers(
            session,
            rows=rows,
            consent_source=consent_source.strip() or None,
            resend_after=dt.timedelta(hours=settings.confirm_resend_hours),
            development=settings.is_development,
            actor=admin.username,
        )
        summary = result.as_dict()
        record_audit(
            session,
            actor=admin.username,
            action="subscribers.import",
            target=file.filename,
            detail=json.dumps({k: v for k, v in summary.items() if k != "rejected"}),
            ip=client_ip(request),
        )
    producer: CeleryProducer = request.app.state.celery
    ids = [subscriber_id for subscriber_id, _email in result.to_confirm]
    background.add_task(_queue_confirmations, producer, runtime, ids)
    # The summary above the newest subscribers: the ones just created come first.
    with runtime.sessions() as session:
        return _listing(request, admin, session, result=summary)


def _queue_confirmations(producer: CeleryProducer, runtime: Runtime, ids: list[int]) -> None:
    queue_confirmations(producer.app, runtime, subscriber_ids=ids)


@router.get("/{subscriber_id}")
def subscriber(
    request: Request, subscriber_id: int, admin: AdminRoleDep, session: SessionDep
) -> HTMLResponse:
    found = session.get(Subscriber, subscriber_id) if valid_row_id(subscriber_id) else None
    if found is None:
        raise HTTPException(status_code=404, detail="no such subscriber")
    events = consent_history(session, subscriber_id=subscriber_id)
    return page(request, "subscriber.html", {"admin": admin, "s": found, "events": events})


@router.post("/{subscriber_id}/erase")
def erase(
    request: Request,
    subscriber_id: int,
    admin: AdminRoleDep,
    session: SessionDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(admin, csrf)
    found = session.get(Subscriber, subscriber_id) if valid_row_id(subscriber_id) else None
    if found is None:
        raise HTTPException(status_code=404, detail="no such subscriber")
    digest = address_hashes(session, found.email).keyed
    erase_subscriber(session, subscriber_id=subscriber_id)
    # The trail names the hash, never the erased address.
    record_audit(
        session,
        actor=admin.username,
        action="subscriber.erase",
        target=digest,
        ip=client_ip(request),
    )
    return RedirectResponse("/admin/subscribers", status_code=303)
