"""The bearer-token dependency of every `/api/v1` route."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from newsletter.apitokens import find_api_token
from newsletter.models import ApiToken
from newsletter.web.deps import SessionDep

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


def require_api_token(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiToken:
    """The caller's token row; 401 when the header is missing, malformed, unknown or revoked."""
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer TOKEN'")
    token = find_api_token(session, token=credentials.credentials)
    if token is None:
        raise _unauthorized("invalid or revoked API token")
    return token


ApiTokenDep = Annotated[ApiToken, Depends(require_api_token)]
