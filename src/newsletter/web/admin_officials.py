"""The officials page (admins only): list officials, change a role, disable or enable.

The last active admin can be neither demoted nor disabled (accounts/staff.py). Each
change is audited with who made it.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.accounts.audit import record_audit
from newsletter.accounts.roles import ROLE_NAMES, Role, role_of
from newsletter.accounts.staff import StaffError, list_officials, set_disabled, set_role
from newsletter.web.admin_auth import AdminRoleDep, check_csrf
from newsletter.web.admin_pages import client_ip, page
from newsletter.web.deps import SessionDep, valid_row_id

router = APIRouter(prefix="/admin/officials", include_in_schema=False)


@router.get("")
def officials(
    request: Request, admin: AdminRoleDep, session: SessionDep, notice: str = ""
) -> HTMLResponse:
    rows = [{"user": user, "role": role_of(user.role).label} for user in list_officials(session)]
    context = {"admin": admin, "officials": rows, "roles": ROLE_NAMES, "notice": notice[:200]}
    return page(request, "officials.html", context)


def _done(notice: str) -> Response:
    return RedirectResponse(f"/admin/officials?{urlencode({'notice': notice})}", status_code=303)


@router.post("/{user_id}/role")
def change_role(
    request: Request,
    user_id: int,
    admin: AdminRoleDep,
    session: SessionDep,
    role: Annotated[str, Form(max_length=20)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(admin, csrf)
    if not valid_row_id(user_id):
        raise HTTPException(status_code=404, detail="no such official")
    try:
        wanted = Role.parse(role)
        user = set_role(session, user_id=user_id, role=wanted)
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except StaffError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except ValueError as exc:  # an unknown role
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    record_audit(
        session,
        actor=admin.username,
        action="official.role_changed",
        target=user.username,
        detail=f"role {wanted.label}",
        ip=client_ip(request),
    )
    return _done(f"{user.username} is now {wanted.label}.")


@router.post("/{user_id}/{state}")
def change_state(
    request: Request,
    user_id: int,
    state: str,
    admin: AdminRoleDep,
    session: SessionDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """`disable` (their sessions end at once) or `enable` an official."""
    check_csrf(admin, csrf)
    if state not in ("disable", "enable") or not valid_row_id(user_id):
        raise HTTPException(status_code=404, detail="unknown action")
    try:
        user = set_disabled(session, user_id=user_id, disabled=state == "disable")
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except StaffError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    record_audit(
        session,
        actor=admin.username,
        action=f"official.{state}d",
        target=user.username,
        ip=client_ip(request),
    )
    return _done(f"{user.username} is {state}d.")
