"""Changing a subscription's address: POST /preferences/{token}/address, then the link
mailed to the new address, GET|POST /change-address/{token}.

The preferences link is the credential for asking; only the new mailbox can confirm.
The answer to a request is the same whatever the new address (free, another
subscriber's, suppressed): it is checked for its syntax (as on the subscribe form) and
counted against the subscribe limits, the resident is answered, and only then, in the
answer's background, is it looked up, kept aside and its confirmation queued
(subscribers/change_address.py). GET never changes anything; only POST acts.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from kombu.exceptions import OperationalError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from newsletter.config import Environment
from newsletter.mail.links import preferences_url
from newsletter.runtime import Runtime
from newsletter.signing import Purpose, TokenError, read_resident_token
from newsletter.subscribers.addresses import InputError, parse_address
from newsletter.subscribers.change_address import (
    SameAddressError,
    confirm_change,
    request_change,
)
from newsletter.subscribers.consent import Consent
from newsletter.subscribers.preferences import subscriber_for_link
from newsletter.tasks.enqueue import CeleryProducer, enqueue_address_confirmation
from newsletter.web.deps import get_runtime
from newsletter.web.preferences_form import Link
from newsletter.web.public import RATE_LIMITED_MESSAGE
from newsletter.web.public_support import (
    TOKEN_PAGE_HEADERS,
    BadBodyError,
    PublicState,
    bad_link_page,
    client_ip,
    first,
    not_found_page,
    public_state,
    read_fields,
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["public"], include_in_schema=False)


def change_requested_message(new_email: str) -> str:
    """The answer to every change request: true whether or not a mail was sent."""
    return (
        f"Nếu địa chỉ {new_email} có thể dùng để nhận bản tin, chúng tôi vừa gửi đến đó một "
        "thư có liên kết xác nhận. Địa chỉ chỉ được đổi khi bạn bấm liên kết trong thư đó; "
        "cho đến khi đó, bản tin vẫn được gửi đến địa chỉ hiện tại. Nếu không thấy thư, hãy "
        "kiểm tra thư mục Thư rác (Spam)."
    )


CHANGE_FAILED_MESSAGE = (
    "Không thể đổi sang địa chỉ này: liên kết đã được thay bằng một yêu cầu mới hơn, hoặc "
    "địa chỉ này không thể dùng cho đăng ký (đã được dùng cho một đăng ký khác hoặc không "
    "nhận được thư). Địa chỉ cũ vẫn nhận bản tin như trước."
)


EXPIRED_MESSAGE = (
    "Liên kết xác nhận địa chỉ mới đã hết hạn. Hãy mở trang Quản lý đăng ký và nhập lại "
    "địa chỉ mới để nhận liên kết khác. Địa chỉ cũ vẫn nhận bản tin như trước."
)


def _bad_change_link(state: PublicState, error: TokenError) -> Response:
    if not error.expired:
        return bad_link_page(state, error)
    return state.message_page(
        "Liên kết đã hết hạn", EXPIRED_MESSAGE, status_code=400, is_error=True,
        headers=TOKEN_PAGE_HEADERS,
    )  # fmt: skip


def _consent(request: Request) -> Consent:
    return Consent(
        ip=client_ip(request), user_agent=request.headers.get("user-agent"), via="preferences"
    )


def _current_email(runtime: Runtime, link: Link) -> str | None:
    with runtime.sessions() as session:
        subscriber = subscriber_for_link(session, subscriber_id=link[0], link_key=link[1])
        return subscriber.email if subscriber is not None else None


def _form_again(
    state: PublicState, link: Link, token: str, current: str, typed: str, error: str
) -> Response:
    link_url = preferences_url(state.settings, *link)
    return state.page(
        "web/change_address.html",
        status_code=422,
        headers=TOKEN_PAGE_HEADERS,
        current_email=current,
        pending_email=None,
        new_email=typed,
        address_error=error,
        change_address_action=state.settings.public_link(f"/preferences/{token}/address"),
        preferences_url=link_url,
    )


@router.post("/preferences/{token}/address", response_class=HTMLResponse)
async def change_address(request: Request, token: str) -> Response:
    state = public_state(request)
    runtime = get_runtime(request)
    try:
        link = read_resident_token(state.settings, Purpose.PREFERENCES, token)
    except TokenError as exc:
        return bad_link_page(state, exc)
    try:
        fields = await read_fields(request)
    except BadBodyError:
        fields = {}
    typed = first(fields, "email")[:320]
    admitted = await run_in_threadpool(_admit, state, client_ip(request), typed)
    if not admitted:
        return state.message_page(
            "Vui lòng thử lại sau", RATE_LIMITED_MESSAGE, status_code=429, is_error=True,
            headers={**TOKEN_PAGE_HEADERS,
                     "Retry-After": str(state.settings.subscribe_rate_window_seconds)},
        )  # fmt: skip
    current = await run_in_threadpool(_current_email, runtime, link)
    if current is None:
        return not_found_page(state)
    settings = state.settings
    try:
        address = await run_in_threadpool(
            parse_address,
            typed,
            development=settings.env is Environment.DEVELOPMENT,
            check_mx=settings.env is Environment.PRODUCTION,
        )
    except InputError as exc:
        return _form_again(state, link, token, current, typed, exc.message)
    if address.normalized == current:
        message = "Đây đã là địa chỉ nhận bản tin hiện tại của bạn. Vui lòng nhập địa chỉ mới."
        return _form_again(state, link, token, current, typed, message)
    response = state.message_page(
        "Kiểm tra hộp thư mới",
        change_requested_message(address.normalized),
        preferences_url=preferences_url(settings, *link),
        headers=TOKEN_PAGE_HEADERS,
    )
    producer: CeleryProducer = request.app.state.celery
    response.background = BackgroundTask(
        run_in_threadpool,
        record_change_request,
        runtime,
        producer,
        link[0],
        address.normalized,
        _consent(request),
    )
    return response


def _admit(state: PublicState, ip: str, typed: str) -> bool:
    return state.limiter.admit_client(ip) and state.limiter.admit_address(typed)


def record_change_request(
    runtime: Runtime, producer: CeleryProducer, subscriber_id: int, email: str, consent: Consent
) -> None:
    """After the answer: keep the new address aside and queue its confirmation (never raises)."""
    try:
        with runtime.sessions.begin() as session:
            outcome = request_change(
                session, subscriber_id=subscriber_id, new_email=email, consent=consent
            )
    except SameAddressError:
        return
    except SQLAlchemyError as exc:  # the answer is sent; the resident may simply retry
        log.warning("address change of subscriber %s not recorded: %s", subscriber_id, exc)
        return
    if not outcome.send_confirmation:
        return
    try:
        enqueue_address_confirmation(producer.app, subscriber_id=subscriber_id)
    except OperationalError as exc:  # the link is kept: asking again after 10 minutes mails it
        log.warning("new-address confirmation of %s not queued: %s", subscriber_id, exc)


@router.get("/change-address/{token}", response_class=HTMLResponse)
def change_address_page(request: Request, token: str) -> Response:
    state = public_state(request)
    try:
        read_resident_token(state.settings, Purpose.CHANGE_ADDRESS, token)
    except TokenError as exc:
        return _bad_change_link(state, exc)
    return state.page("web/change_address_confirm.html", headers=TOKEN_PAGE_HEADERS)


@router.post("/change-address/{token}", response_class=HTMLResponse)
async def change_address_confirm(request: Request, token: str) -> Response:
    state = public_state(request)
    try:
        subscriber_id, key = read_resident_token(state.settings, Purpose.CHANGE_ADDRESS, token)
    except TokenError as exc:
        return _bad_change_link(state, exc)
    done = await run_in_threadpool(
        _confirm, get_runtime(request), subscriber_id, key, _consent(request)
    )
    if done is None:
        return state.message_page(
            "Không thể đổi địa chỉ", CHANGE_FAILED_MESSAGE, status_code=400, is_error=True,
            headers=TOKEN_PAGE_HEADERS,
        )  # fmt: skip
    email, link_key = done
    return state.message_page(
        "Đã đổi địa chỉ",
        f"Từ nay bản tin sẽ được gửi đến {email}. Địa chỉ cũ không còn nhận thư nào.",
        preferences_url=preferences_url(state.settings, subscriber_id, link_key),
        headers=TOKEN_PAGE_HEADERS,
    )


def _confirm(
    runtime: Runtime, subscriber_id: int, key: str, consent: Consent
) -> tuple[str, str] | None:
    """(new address, link_key) once moved; None when the link or the address cannot be used."""
    try:
        with runtime.sessions.begin() as session:
            subscriber = confirm_change(
                session, subscriber_id=subscriber_id, key=key, consent=consent
            )
            if subscriber is None:
                return None
            return subscriber.email, subscriber.link_key
    except IntegrityError:  # the address was subscribed by someone else a moment ago
        return None
