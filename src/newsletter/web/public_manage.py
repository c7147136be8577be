"""GET|POST /manage ("Quản lý đăng ký"): type an address, get its preferences link by mail.

The answer is the same page, status and work for every address — known, pending,
unsubscribed, suppressed, erased or never seen: the handler only counts the request
(the subscribe form's limits, shared with it: one budget per network and per address)
and checks the address's syntax, answers, and only then, in the answer's background,
looks the address up and queues the mail on the urgent queue
(subscribers/manage.py says who is mailed; delivery/resident_mail.py builds it).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from kombu.exceptions import OperationalError
from sqlalchemy.exc import SQLAlchemyError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from newsletter.config import Environment
from newsletter.runtime import Runtime
from newsletter.subscribers.addresses import InputError, parse_address
from newsletter.subscribers.manage import claim_manage_mail, forget_manage_mail
from newsletter.tasks.enqueue import CeleryProducer, enqueue_manage_link
from newsletter.web.deps import get_runtime
from newsletter.web.public import BAD_REQUEST_MESSAGE, RATE_LIMITED_MESSAGE
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

log = logging.getLogger(__name__)

router = APIRouter(tags=["public"], include_in_schema=False)

MANAGE_MESSAGE = (
    "Nếu địa chỉ bạn vừa nhập đang đăng ký nhận bản tin, chúng tôi vừa gửi đến đó một thư "
    "có liên kết để quản lý đăng ký. Hãy mở thư trong vài phút tới; nếu không thấy, hãy kiểm "
    "tra thư mục Thư rác (Spam). Mỗi địa chỉ nhận tối đa một thư như vậy trong 10 phút."
)


@router.get("/manage", response_class=HTMLResponse)
def manage_page(request: Request) -> Response:
    return public_state(request).page("web/manage.html", email="", error=None)


@router.post("/manage")
async def manage(request: Request) -> Response:
    state = public_state(request)
    as_json = wants_json(request)
    try:
        fields: dict[str, list[str]] | None = await read_fields(request)
    except BadBodyError as exc:
        log.info("manage: unreadable body: %s", exc)
        fields = None
    typed = first(fields or {}, "email")
    # The limiter may call Redis: off the event loop, as the subscribe form does.
    admitted = await run_in_threadpool(_admit, state, client_ip(request), fields)
    if not admitted:
        headers = {"Retry-After": str(state.settings.subscribe_rate_window_seconds)}
        if as_json:
            return json_answer(
                {"status": "error", "message": RATE_LIMITED_MESSAGE}, status_code=429,
                headers=headers,
            )  # fmt: skip
        return state.message_page(
            "Vui lòng thử lại sau", RATE_LIMITED_MESSAGE, status_code=429, is_error=True,
            headers=headers,
        )  # fmt: skip
    if fields is None:
        return _refuse(state, as_json, BAD_REQUEST_MESSAGE, "", status_code=400)
    if first(fields, "website").strip():
        return _answer(state, as_json)  # the honeypot is filled: a bot; nothing is done
    settings = state.settings
    try:
        address = parse_address(typed, development=settings.env is Environment.DEVELOPMENT)
    except InputError as exc:
        return _refuse(state, as_json, exc.message, typed[:320])
    response = _answer(state, as_json)
    producer: CeleryProducer = request.app.state.celery
    response.background = BackgroundTask(
        run_in_threadpool, mail_manage_link, get_runtime(request), producer, address.normalized
    )
    return response


def _admit(state: PublicState, ip: str, fields: dict[str, list[str]] | None) -> bool:
    if not state.limiter.admit_client(ip):
        return False
    return fields is None or state.limiter.admit_address(first(fields, "email"))


def _answer(state: PublicState, as_json: bool) -> Response:
    if as_json:
        return json_answer({"status": "ok", "message": MANAGE_MESSAGE}, status_code=202)
    return state.page("web/manage_sent.html", message=MANAGE_MESSAGE)


def _refuse(
    state: PublicState, as_json: bool, message: str, typed: str, *, status_code: int = 422
) -> Response:
    if as_json:
        return json_answer(
            {"status": "error", "message": message, "field": "email"}, status_code=status_code
        )
    return state.page("web/manage.html", status_code=status_code, email=typed, error=message)


def mail_manage_link(runtime: Runtime, producer: CeleryProducer, email: str) -> None:
    """After the answer: queue the manage mail when the address may have one (never raises)."""
    try:
        with runtime.sessions.begin() as session:
            subscriber_id = claim_manage_mail(session, email=email)
    except SQLAlchemyError as exc:  # the answer is sent; the resident may simply retry
        log.warning("manage request not recorded: %s", exc)
        return
    if subscriber_id is None:
        return
    try:
        enqueue_manage_link(producer.app, subscriber_id=subscriber_id)
    except OperationalError as exc:  # kombu's "cannot reach the broker"
        log.warning("manage mail of subscriber %s not queued: %s", subscriber_id, exc)
        try:
            with runtime.sessions.begin() as session:
                forget_manage_mail(session, subscriber_id=subscriber_id)
        except SQLAlchemyError:
            log.exception("could not release the manage mail of subscriber %s", subscriber_id)
