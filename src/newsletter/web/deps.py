"""Request-scoped dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    """A session whose transaction commits when the route returns, rolls back on error."""
    with runtime.sessions.begin() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the transaction commits when the route returns, *before* the answer
# is sent. With the default ("request") the commit came after the response, so a client
# following a redirect could ask for a row that was not committed yet.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


# Ids are 64-bit integers: a larger number names no row (and would overflow the driver),
# so routes answer 404 for it instead of letting the database raise.
MAX_ROW_ID = 2**63 - 1


def valid_row_id(value: int) -> bool:
    return 0 < value <= MAX_ROW_ID
