"""The bearer-token dependency of every `/api/v1` route."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from newsletter.accounts.api_tokens import find_api_token
from newsletter.accounts.roles import Scope, granted_scopes
from newsletter.web.deps import RuntimeDep

# auto_error=False: we answer 401 with WWW-Authenticate ourselves (HTTPBearer says 403).
_bearer = HTTPBearer(
    auto_error=False, description="An API token from `newsletter admin create-token NAME`."
)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


@dataclass(frozen=True)
class ApiCaller:
    token_id: int
    name: str
    scopes: frozenset[str] = frozenset()

    @property
    def actor(self) -> str:
        """The caller's name in the audit trail and as a bulletin's author."""
        return f"api:{self.name}"


def require_api_token(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiCaller:
    """The caller's token; 401 when the header is missing, malformed, unknown or revoked.

    Checked in a short transaction of its own, so the route's session (and, on SQLite,
    the write lock) is not held open by the check.
    """
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer TOKEN'")
    with runtime.sessions.begin() as session:
        token = find_api_token(session, token=credentials.credentials)
        if token is None:
            raise _unauthorized("invalid or revoked API token")
        return ApiCaller(token_id=token.id, name=token.name, scopes=granted_scopes(token.scopes))


ApiCallerDep = Annotated[ApiCaller, Depends(require_api_token)]


def require_scope(scope: str) -> Callable[[ApiCaller], ApiCaller]:
    """A dependency: the caller if their token has `scope`, else 403 naming it.

    Every /api/v1 route declares one (tests/test_roles_routes.py walks them all).
    """

    def check(caller: ApiCallerDep) -> ApiCaller:
        if scope not in caller.scopes:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"this token lacks the {scope!r} scope; create one with "
                f"`newsletter admin create-token NAME --scope {scope}`",
            )
        return caller

    return check


ReadScope = Depends(require_scope(Scope.READ))
ArticlesWriteScope = Depends(require_scope(Scope.ARTICLES_WRITE))
DraftCallerDep = Annotated[ApiCaller, Depends(require_scope(Scope.BULLETINS_DRAFT))]
SendCallerDep = Annotated[ApiCaller, Depends(require_scope(Scope.BULLETINS_SEND))]
