"""Pages reached through a signed link in a mail: confirm, unsubscribe, preferences.

GET never changes anything (mail scanners follow links); only POST acts. The token is
the only credential: no cookie, no Origin check, no CSRF token, as RFC 8058 requires
for one-click unsubscribe.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from newsletter.content.categories import CategoryError, list_categories
from newsletter.mail.links import preferences_url
from newsletter.models import Frequency, SubscriberStatus
from newsletter.runtime import Runtime
from newsletter.signing import Purpose, TokenError, read_resident_token
from newsletter.subscribers.addresses import InputError
from newsletter.subscribers.areas import AreaError, list_areas
from newsletter.subscribers.frequency import (
    frequency_choices,
    frequency_label,
)
from newsletter.subscribers.lifecycle import Consent, confirm_subscription
from newsletter.subscribers.preferences import (
    erase_subscriber,
    export_subscriber,
    resubscribe,
    subscriber_for_link,
    unsubscribe,
)
from newsletter.web.deps import get_runtime
from newsletter.web.preferences_form import Link, read_preference_form, save_preferences
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
from newsletter.web.resident_areas import unknown_areas_message

router = APIRouter()

STATUS_LABELS = {
    SubscriberStatus.PENDING: "Đang chờ bạn xác nhận qua e-mail",
    SubscriberStatus.ACTIVE: "Đang nhận bản tin",
    SubscriberStatus.UNSUBSCRIBED: "Đã hủy đăng ký – không nhận thư",
    SubscriberStatus.BOUNCED: "Tạm ngừng gửi vì thư bị trả lại",
    SubscriberStatus.COMPLAINED: "Đã ngừng gửi vì thư bị báo là thư rác",
}
UNSUBSCRIBED_MESSAGE = (
    "Bạn đã hủy đăng ký. Bạn sẽ không nhận thêm thư nào từ bản tin. "
    "Nếu đổi ý, bạn có thể đăng ký lại bất cứ lúc nào."
)


def _consent(request: Request, via: str) -> Consent:
    return Consent(ip=client_ip(request), user_agent=request.headers.get("user-agent"), via=via)


def _preferences_url(state: PublicState, link: Link) -> str:
    return preferences_url(state.settings, *link)


# --- confirm ---------------------------------------------------------------------------


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str) -> Response:
    state = public_state(request)
    try:
        read_resident_token(state.settings, Purpose.CONFIRM, token)
    except TokenError as exc:
        return bad_link_page(state, exc)
    return state.page("web/confirm.html", headers=TOKEN_PAGE_HEADERS)


@router.post("/confirm/{token}", response_class=HTMLResponse)
async def confirm(request: Request, token: str) -> Response:
    state = public_state(request)
    try:
        subscriber_id, confirm_key = read_resident_token(state.settings, Purpose.CONFIRM, token)
    except TokenError as exc:
        return bad_link_page(state, exc)
    consent = _consent(request, "page")
    confirmed = await run_in_threadpool(
        _confirm, get_runtime(request), subscriber_id, confirm_key, consent
    )
    if confirmed is None:
        return bad_link_page(state)
    link_key, frequency = confirmed
    how_often = frequency_label(frequency, state.settings)
    return state.message_page(
        "Đăng ký thành công",
        "Cảm ơn bạn đã xác nhận! Từ nay bạn sẽ nhận bản tin qua e-mail "
        f"({how_often[:1].lower()}{how_often[1:]}; thông báo khẩn luôn gửi "
        "ngay). Mỗi thư đều có liên kết để đổi chuyên mục, tần suất hoặc hủy đăng ký.",
        preferences_url=_preferences_url(state, (subscriber_id, link_key)),
        headers=TOKEN_PAGE_HEADERS,
    )


def _confirm(
    runtime: Runtime, subscriber_id: int, confirm_key: str, consent: Consent
) -> tuple[str, Frequency] | None:
    """The confirmed subscriber's link_key (for the preferences link) and frequency."""
    with runtime.sessions.begin() as session:
        subscriber = confirm_subscription(
            session, subscriber_id=subscriber_id, confirm_key=confirm_key, consent=consent
        )
        return (subscriber.link_key, subscriber.frequency) if subscriber is not None else None


# --- unsubscribe -----------------------------------------------------------------------


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str) -> Response:
    state = public_state(request)
    try:
        link = read_resident_token(state.settings, Purpose.UNSUBSCRIBE, token)
    except TokenError as exc:
        return bad_link_page(state, exc)
    return state.page(
        "web/unsubscribe.html",
        headers=TOKEN_PAGE_HEADERS,
        preferences_url=_preferences_url(state, link),
    )


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_post(request: Request, token: str) -> Response:
    """The page's button, and RFC 8058 one-click: `List-Unsubscribe=One-Click`, answered 200."""
    state = public_state(request)
    try:
        link = read_resident_token(state.settings, Purpose.UNSUBSCRIBE, token)
    except TokenError as exc:
        return bad_link_page(state, exc)
    try:
        fields = await read_fields(request)
    except BadBodyError:
        fields = {}
    one_click = first(fields, "List-Unsubscribe") == "One-Click"
    consent = _consent(request, "one-click" if one_click else "page")
    await run_in_threadpool(_unsubscribe, get_runtime(request), link, consent)
    # An erased subscriber gets the same page: nothing will be sent to them either way.
    return state.message_page("Đã hủy đăng ký", UNSUBSCRIBED_MESSAGE, headers=TOKEN_PAGE_HEADERS)


def _owner(session: Session, link: Link) -> int | None:
    found = subscriber_for_link(session, subscriber_id=link[0], link_key=link[1])
    return found.id if found is not None else None


def _unsubscribe(runtime: Runtime, link: Link, consent: Consent) -> None:
    with runtime.sessions.begin() as session:
        subscriber_id = _owner(session, link)
        if subscriber_id is not None:
            unsubscribe(session, subscriber_id=subscriber_id, consent=consent)


# --- preferences -----------------------------------------------------------------------


def _preferences_context(runtime: Runtime, link: Link) -> dict[str, Any] | None:
    with runtime.sessions() as session:
        subscriber = subscriber_for_link(session, subscriber_id=link[0], link_key=link[1])
        if subscriber is None:
            return None
        categories = [{"slug": c.slug, "name": c.name} for c in list_categories(session)]
        chosen = [c.slug for c in subscriber.categories] or [c["slug"] for c in categories]
        return {
            "areas": list_areas(session),
            "chosen_areas": [a.code for a in subscriber.areas],
            "subscriber": {"email": subscriber.email},
            "unsubscribed": subscriber.status is SubscriberStatus.UNSUBSCRIBED,
            "status_label": STATUS_LABELS[subscriber.status],
            "name": subscriber.name or "",
            "categories": categories,
            "chosen": chosen,
            "frequencies": frequency_choices(runtime.settings),
            "frequency": subscriber.frequency.value,
            "notice": None,
            "error": None,
            # The "Đổi địa chỉ e-mail" form (web/public_change_address.py).
            "pending_email": subscriber.pending_email,
            "change_address_action": preferences_url(runtime.settings, *link) + "/address",
        }


@router.get("/preferences/{token}", response_class=HTMLResponse)
async def preferences_page(request: Request, token: str) -> Response:
    state = public_state(request)
    try:
        link = read_resident_token(state.settings, Purpose.PREFERENCES, token)
    except TokenError as exc:
        return bad_link_page(state, exc)
    context = await run_in_threadpool(_preferences_context, get_runtime(request), link)
    if context is None:
        return not_found_page(state)
    return state.page("web/preferences.html", headers=TOKEN_PAGE_HEADERS, **context)


@router.post("/preferences/{token}", response_class=HTMLResponse)
async def preferences_post(request: Request, token: str) -> Response:
    state = public_state(request)
    runtime = get_runtime(request)
    try:
        link = read_resident_token(state.settings, Purpose.PREFERENCES, token)
        fields = await read_fields(request)
    except TokenError as exc:
        return bad_link_page(state, exc)
    except BadBodyError:
        fields = {}
    action = first(fields, "action")
    if action == "export":
        data = await run_in_threadpool(_export, runtime, link)
        if data is None:
            return not_found_page(state)
        return Response(
            json.dumps(data, ensure_ascii=False, indent=2),
            media_type="application/json; charset=utf-8",
            headers={
                **TOKEN_PAGE_HEADERS,
                "Content-Disposition": 'attachment; filename="du-lieu-ban-tin.json"',
            },
        )
    if action == "erase":
        if first(fields, "confirm_erase") != "yes":
            return await _preferences_again(
                state, runtime, link,
                error="Vui lòng đánh dấu ô «Tôi hiểu rằng việc xóa không thể hoàn tác» để xóa.",
            )  # fmt: skip
        if not await run_in_threadpool(_erase, runtime, link):
            return not_found_page(state)
        return state.message_page(
            "Đã xóa dữ liệu",
            "Mọi dữ liệu của bạn đã được xóa. Chúng tôi chỉ giữ một mã băm một chiều của địa chỉ "
            "để không gửi thư nào đến địa chỉ này nữa.",
            headers=TOKEN_PAGE_HEADERS,
        )
    if action == "unsubscribe":
        await run_in_threadpool(_unsubscribe, runtime, link, _consent(request, "preferences"))
        return state.message_page(
            "Đã hủy đăng ký", UNSUBSCRIBED_MESSAGE, headers=TOKEN_PAGE_HEADERS
        )
    if action == "resubscribe":
        done = await run_in_threadpool(
            _resubscribe, runtime, link, _consent(request, "preferences")
        )
        notice = "Bạn đã đăng ký lại. Bản tin sẽ được gửi đến bạn như trước." if done else None
        return await _preferences_again(state, runtime, link, notice=notice, status_code=200)
    return await _save_preferences(state, request, runtime, link, fields)


async def _save_preferences(
    state: PublicState,
    request: Request,
    runtime: Runtime,
    link: Link,
    fields: dict[str, list[str]],
) -> Response:
    try:
        choices = read_preference_form(fields)
        found = await run_in_threadpool(
            save_preferences, runtime, link, choices, _consent(request, "preferences")
        )
    except InputError as exc:
        return await _preferences_again(state, runtime, link, error=exc.message)
    except CategoryError:
        return await _preferences_again(
            state, runtime, link,
            error="Chuyên mục bạn chọn không còn tồn tại. Vui lòng chọn lại.",
        )  # fmt: skip
    except AreaError as exc:
        return await _preferences_again(state, runtime, link, error=unknown_areas_message(exc))
    if not found:
        return not_found_page(state)
    notice = "Đã lưu lựa chọn của bạn."
    if not choices.category_slugs:
        notice = "Đã lưu lựa chọn của bạn: bạn sẽ nhận tin của tất cả các chuyên mục."
    return await _preferences_again(state, runtime, link, notice=notice, status_code=200)


async def _preferences_again(
    state: PublicState,
    runtime: Runtime,
    link: Link,
    *,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 422,
) -> Response:
    context = await run_in_threadpool(_preferences_context, runtime, link)
    if context is None:
        return not_found_page(state)
    context.update(error=error, notice=notice)
    return state.page(
        "web/preferences.html", status_code=status_code, headers=TOKEN_PAGE_HEADERS, **context
    )


def _resubscribe(runtime: Runtime, link: Link, consent: Consent) -> bool:
    with runtime.sessions.begin() as session:
        subscriber_id = _owner(session, link)
        if subscriber_id is None:
            return False
        return resubscribe(session, subscriber_id=subscriber_id, consent=consent)


def _export(runtime: Runtime, link: Link) -> dict[str, Any] | None:
    with runtime.sessions() as session:
        subscriber_id = _owner(session, link)
        if subscriber_id is None:
            return None
        return export_subscriber(session, subscriber_id=subscriber_id)


def _erase(runtime: Runtime, link: Link) -> bool:
    with runtime.sessions.begin() as session:
        subscriber_id = _owner(session, link)
        if subscriber_id is None:
            return False
        return erase_subscriber(session, subscriber_id=subscriber_id)
