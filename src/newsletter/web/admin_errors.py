"""Errors under /admin answered as pages an official can act on, never as raw JSON.

A browser without a session is sent to the login page (with `next`, so it comes back);
every other refusal (403, 404, 405, 409, 413, 422 …) is an HTML page in the admin layout
with a way back. The API and the residents' pages keep their own answers: these handlers
pass every other path to FastAPI's defaults.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsletter.accounts.roles import role_of
from newsletter.models import AdminUser
from newsletter.web.admin_auth import AdminContext, read_session
from newsletter.web.admin_pages import page

ADMIN_PREFIX = "/admin"
LOGIN_PATH = "/admin/login"

TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Not possible now",
    413: "Too large",
    422: "Check the form",
    429: "Too many attempts",
}


def _is_admin(request: Request) -> bool:
    path = request.url.path
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def safe_next(value: str | None) -> str:
    """`value` if it is a path inside the admin, else the dashboard (no open redirect)."""
    if not value or not value.startswith(ADMIN_PREFIX + "/") or "\\" in value or ".." in value:
        return ADMIN_PREFIX + "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith(LOGIN_PATH):
        return ADMIN_PREFIX + "/"
    return value


def login_url(target: str) -> str:
    return f"{LOGIN_PATH}?next={quote(safe_next(target), safe='/')}"


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _back(request: Request) -> str:
    """Where "Back" leads: the admin page the official came from, else the dashboard."""
    referer = request.headers.get("referer", "")
    parts = urlsplit(referer)
    if parts.netloc == request.url.netloc and parts.path.startswith(ADMIN_PREFIX + "/"):
        return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))
    return ADMIN_PREFIX + "/"


def _signed_in(request: Request) -> AdminContext | None:
    """The official behind the request, if any, so the page keeps the admin's menu."""
    if request.url.path == LOGIN_PATH:
        return None
    runtime = request.app.state.runtime
    found = read_session(request, runtime.settings)
    if found is None:
        return None
    with runtime.sessions() as session:
        user = session.get(AdminUser, found[0])
        if user is None or user.session_version != found[1] or user.disabled_at is not None:
            return None  # a logged-out session shows no menu
        return AdminContext(
            user_id=user.id, username=user.username, csrf=found[2], role=role_of(user.role)
        )


def error_page(
    request: Request, status_code: int, message: str, *, admin: AdminContext | None = None
) -> Response:
    title = TITLES.get(status_code, "Something went wrong")
    back = _back(request)
    context = {
        "admin": admin,
        "title": title,
        "message": message,
        "status_code": status_code,
        "back": back,
        # A form posted after the session ended: log in, then return to the form's page.
        "login": login_url(back) if status_code == 401 else None,
    }
    return page(request, "error.html", context, status_code=status_code)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not _is_admin(request):
        return await http_exception_handler(request, exc)
    if exc.status_code == 401 and request.method in ("GET", "HEAD"):
        return RedirectResponse(login_url(_here(request)), status_code=303)
    admin = None if exc.status_code == 401 else await run_in_threadpool(_signed_in, request)
    response = error_page(request, exc.status_code, str(exc.detail), admin=admin)
    for name, value in (exc.headers or {}).items():
        response.headers.setdefault(name, value)
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not _is_admin(request):
        return await request_validation_exception_handler(request, exc)
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    admin = await run_in_threadpool(_signed_in, request)
    return error_page(request, 422, "; ".join(problems) or "the form is incomplete", admin=admin)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
