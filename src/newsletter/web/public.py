"""The residents' pages: subscribe box, confirm, unsubscribe (RFC 8058), preferences, privacy.

Handlers parse the request, call the data functions in `newsletter.subscribers.lifecycle` inside
one transaction, and put mail on the urgent queue only after it commits. Every answer a
resident reads is Vietnamese. POST /subscribe answers the same for every address, known or not.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import threading
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from newsletter.config import Environment
from newsletter.content.categories import CategoryError, list_categories
from newsletter.models import Frequency
from newsletter.runtime import Runtime
from newsletter.subscribers.addresses import (
    InputError,
    check_text,
    normalize_lenient,
    parse_address,
)
from newsletter.subscribers.areas import AreaError, codes_from_fields, list_areas
from newsletter.subscribers.frequency import frequency_choices, read_frequency
from newsletter.subscribers.lifecycle import (
    Consent,
    SubscribeOutcome,
    SubscribeRequest,
    request_again,
    request_new,
)
from newsletter.subscribers.typos import suggest_address
from newsletter.tasks.confirmation_publisher import ConfirmationPublisher
from newsletter.web.deps import get_runtime
from newsletter.web.public_support import (
    BadBodyError,
    PublicState,
    client_ip,
    first,
    json_answer,
    public_state,
    read_fields,
    wants_json,
)
from newsletter.web.public_tokens import router as token_router
from newsletter.web.resident_areas import unknown_areas_message

log = logging.getLogger(__name__)

router = APIRouter(tags=["public"], include_in_schema=False)
router.include_router(token_router)


# The one answer to every accepted request, whatever we knew about the address.
def subscribe_message(resend_hours: float) -> str:
    """The answer to every subscribe request, known address or not: true for each."""
    hours = int(resend_hours) if float(resend_hours).is_integer() else resend_hours
    return (
        "Cảm ơn bạn! Nếu địa chỉ này có thể nhận thư xác nhận, một thư đang trên đường đến "
        "hộp thư của bạn: hãy mở thư và bấm liên kết trong thư để hoàn tất đăng ký. "
        f"Mỗi địa chỉ nhận tối đa một thư xác nhận trong {hours} giờ; nếu bạn vừa đăng ký, "
        "hãy dùng liên kết trong thư trước đó. Nếu không thấy thư, hãy kiểm tra thư mục "
        "Thư rác (Spam)."
    )


RATE_LIMITED_MESSAGE = (
    "Bạn đã gửi quá nhiều yêu cầu trong thời gian ngắn. Vui lòng thử lại sau ít phút."
)
BAD_REQUEST_MESSAGE = "Không đọc được dữ liệu gửi lên. Vui lòng tải lại trang và thử lại."
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class SubscribeForm:
    email: str
    name: str | None
    categories: list[str]
    source: str | None
    frequency: Frequency | None = None
    areas: tuple[str, ...] = ()


def _box_context(runtime: Runtime) -> dict[str, Any]:
    with runtime.sessions() as session:
        categories = [{"slug": c.slug, "name": c.name} for c in list_categories(session)]
        areas = list_areas(session)
    return {
        "categories": categories,
        "frequencies": frequency_choices(runtime.settings),
        "areas": areas,
        "values": {"email": "", "name": "", "categories": [], "frequency": "", "areas": []},
        "error": None,
        "error_field": None,
    }


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    state = public_state(request)
    return state.page("web/index.html", **_box_context(get_runtime(request)))


@router.get("/widget", response_class=HTMLResponse)
def widget(request: Request) -> Response:
    """The footer box as an HTML fragment, for a portal to include (docs/widget.md)."""
    state = public_state(request)
    response = state.page("web/widget.html", **_box_context(get_runtime(request)))
    response.headers.update(state.cors_headers(request))
    return response


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request) -> Response:
    state = public_state(request)
    return state.page("web/privacy.html", retention_days=state.settings.retention_days)


@router.options("/subscribe")
def subscribe_preflight(request: Request) -> Response:
    """CORS preflight for the JSON path: allowed only for NEWSLETTER_ALLOWED_ORIGINS."""
    state = public_state(request)
    headers = state.cors_headers(request)
    if "Access-Control-Allow-Origin" in headers:
        headers.update(
            {
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": "600",
            }
        )
    return Response(status_code=204, headers=headers)


def _parse_subscribe(fields: dict[str, list[str]], referer: str) -> SubscribeForm:
    name = check_text(first(fields, "name").strip(), field="name", label="Họ và tên")
    if len(name) > MAX_NAME_LENGTH:
        raise InputError(
            f"Họ và tên dài quá {MAX_NAME_LENGTH} ký tự. Vui lòng rút gọn.", field="name"
        )
    categories = [
        check_text(slug.strip(), field="categories", label="Chuyên mục")
        for slug in fields.get("categories", [])
        if slug.strip()
    ]
    source = first(fields, "source").strip() or referer
    source = check_text(source[:2000], field="source", label="Trang nguồn") or ""
    areas = tuple(
        check_text(code, field="areas", label="Khu vực")
        for code in codes_from_fields(fields.get("areas", []))
    )
    return SubscribeForm(
        email=first(fields, "email"),
        name=name or None,
        categories=categories,
        source=source,
        frequency=read_frequency(fields),
        areas=areas,
    )


@router.post("/subscribe")
async def subscribe(request: Request) -> Response:
    state = public_state(request)
    as_json = wants_json(request)
    headers = state.cors_headers(request) if as_json else {}
    ip = client_ip(request)
    try:
        fields = await read_fields(request)
    except BadBodyError as exc:
        log.info("subscribe: unreadable body: %s", exc)
        fields = None
    consent = Consent(
        ip=ip,
        user_agent=request.headers.get("user-agent"),
        form_text_version=state.consent_version,
        consent_text=state.consent_text,
        via="json" if as_json else "form",
    )
    try:
        # One trip off the event loop for the limiter (Redis), the MX look-up (DNS, up to
        # two seconds) and the store (PostgreSQL): each trip costs the loop a wake-up.
        outcome = await run_in_threadpool(
            _admit_and_store,
            state,
            get_runtime(request),
            ip,
            fields,
            request.headers.get("referer", ""),
            consent,
        )
    except InputError as exc:
        message = exc.message
        if exc.field == "email" and (better := suggest_address(first(fields or {}, "email"))):
            # In production a typo'd domain is often refused for taking no mail: say which
            # address was probably meant.
            message = f"{message} Có phải bạn muốn nhập {better}?"
        return await _refuse(state, request, message, exc.field, fields or {})
    except CategoryError:
        message = "Chuyên mục bạn chọn không còn tồn tại. Vui lòng tải lại trang và chọn lại."
        return await _refuse(state, request, message, "categories", fields or {})
    except AreaError as exc:
        return await _refuse(state, request, unknown_areas_message(exc), "areas", fields or {})
    if outcome is _Turned.RATE_LIMITED:
        headers["Retry-After"] = str(state.settings.subscribe_rate_window_seconds)
        if as_json:
            return json_answer(
                {"status": "error", "message": RATE_LIMITED_MESSAGE},
                status_code=429,
                headers=headers,
            )
        return state.message_page(
            "Vui lòng thử lại sau", RATE_LIMITED_MESSAGE, status_code=429, is_error=True,
            headers=headers,
        )  # fmt: skip
    if outcome is _Turned.UNREADABLE:
        return await _refuse(state, request, BAD_REQUEST_MESSAGE, None, {}, status_code=400)
    stored, known = outcome
    response = _accepted(state, as_json, headers, fields or {})
    publisher: ConfirmationPublisher = request.app.state.confirmations
    if known is not None:
        # A known address: its request is recorded after the answer is sent, so the
        # answer takes the same path, and the same time, for every address.
        response.background = BackgroundTask(
            run_in_threadpool, _request_again, get_runtime(request), publisher, known
        )
    elif stored.send_confirmation and stored.subscriber_id is not None:
        # After the answer is sent: its timing (even a broker outage) says nothing about
        # the address. The publisher batches it onto the urgent queue, where a worker
        # builds and sends the mail; an async task, so handing it over costs no thread.
        response.background = BackgroundTask(_submit, publisher, stored.subscriber_id)
    return response


async def _submit(publisher: ConfirmationPublisher, subscriber_id: int) -> None:
    publisher.submit(subscriber_id)


def _request_again(
    runtime: Runtime, publisher: ConfirmationPublisher, request: SubscribeRequest
) -> None:
    settings = runtime.settings
    try:
        with runtime.sessions.begin() as session:
            outcome = request_again(
                session,
                request=request,
                resend_after=dt.timedelta(hours=settings.confirm_resend_hours),
            )
    except SQLAlchemyError as exc:  # the answer is sent; the resident may simply retry
        log.warning("subscribe request for a known address not recorded: %s", exc)
        return
    if outcome.send_confirmation and outcome.subscriber_id is not None:
        publisher.submit(outcome.subscriber_id)


class _Turned(enum.Enum):
    """Why `_admit_and_store` stored nothing, when the answer must say so."""

    RATE_LIMITED = "rate-limited"
    UNREADABLE = "unreadable"


# A honeypot hit: the same answer as everyone, nothing stored, nothing sent.
_NOTHING_TO_DO = (SubscribeOutcome(subscriber_id=None, send_confirmation=False), None)
# What the request stored now, and the request of a known address still to record.
Stored = tuple[SubscribeOutcome, SubscribeRequest | None]


def _admit_and_store(
    state: PublicState,
    runtime: Runtime,
    ip: str,
    fields: dict[str, list[str]] | None,
    referer: str,
    consent: Consent,
) -> Stored | _Turned:
    """Count the request against its network and its address, then validate and record it.

    Every request counts against its network, unreadable ones too, and the limit is
    answered first. Returns
    why nothing was stored, or the store's outcome; InputError / CategoryError for
    a form the resident must correct.
    """
    if not state.limiter.admit_client(ip):
        return _Turned.RATE_LIMITED
    if fields is None:
        return _Turned.UNREADABLE
    if first(fields, "website").strip():
        return _NOTHING_TO_DO  # the honeypot is filled: a bot
    if not state.limiter.admit_address(first(fields, "email")):
        return _Turned.RATE_LIMITED
    form = _parse_subscribe(fields, referer)
    consent = dataclasses.replace(consent, source_url=form.source)
    return _store_request(runtime, form, consent, state.store_slots)


def _store_request(
    runtime: Runtime, form: SubscribeForm, consent: Consent, slots: threading.BoundedSemaphore
) -> Stored:
    """Validate the address and record a new one; a known one's request comes back."""
    settings = runtime.settings
    address = parse_address(
        form.email,
        development=settings.env is Environment.DEVELOPMENT,
        check_mx=settings.env is Environment.PRODUCTION,
    )
    request = SubscribeRequest(
        address.normalized,
        form.name,
        form.categories,
        consent,
        form.frequency,
        area_codes=form.areas,
    )
    with slots, runtime.sessions.begin() as session:
        outcome = request_new(session, request=request)
    return outcome, request if outcome.known else None


def _accepted(
    state: PublicState, as_json: bool, headers: dict[str, str], fields: dict[str, list[str]]
) -> Response:
    # Both come from the typed text alone, so the answer stays the same for every address.
    typed = first(fields, "email")
    address = normalize_lenient(typed)[:320]
    suggestion = suggest_address(typed[:320])
    if as_json:
        answer = {
            "status": "ok",
            "message": subscribe_message(state.settings.confirm_resend_hours),
            "email": address,
            "suggestion": suggestion,  # the likely meant address, or null
        }
        return json_answer(answer, status_code=202, headers=headers)
    return state.page(
        "web/subscribe_done.html",
        message=subscribe_message(state.settings.confirm_resend_hours),
        address=address,
        suggestion=suggestion,
        # For the "subscribe with the corrected address" form; escaped by the template.
        values={
            "name": first(fields, "name")[:MAX_NAME_LENGTH],
            "categories": fields.get("categories", [])[:100],
            "areas": fields.get("areas", [])[:100],
            "source": first(fields, "source")[:2000],
            "frequency": first(fields, "frequency")[:40],
        },
    )


async def _refuse(
    state: PublicState,
    request: Request,
    message: str,
    field: str | None,
    fields: dict[str, list[str]],
    *,
    status_code: int = 422,
) -> Response:
    if wants_json(request):
        return json_answer(
            {"status": "error", "message": message, "field": field},
            status_code=status_code,
            headers=state.cors_headers(request),
        )
    context = await run_in_threadpool(_box_context, get_runtime(request))
    context.update(
        error=message,
        error_field=field,
        # Echoed into value="" attributes only, escaped by the template.
        values={
            "email": first(fields, "email")[:320],
            "name": first(fields, "name")[:MAX_NAME_LENGTH],
            "categories": fields.get("categories", []),
            "frequency": first(fields, "frequency")[:40],
            "areas": fields.get("areas", []),
        },
    )
    return state.page("web/index.html", status_code=status_code, **context)
