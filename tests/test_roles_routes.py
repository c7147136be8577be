"""Every admin route checks the official's role and every /api/v1 route the token's scope.

The tests walk `app.routes`: a route missing from the tables below fails them, so a new
route cannot ship without deciding who may use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import Engine

from newsletter.accounts.api_tokens import create_api_token
from newsletter.accounts.roles import ALL_SCOPES, Role, Scope, granted_scopes
from newsletter.config import Settings
from newsletter.db import create_db_engine, create_session_factory
from newsletter.web import create_app
from tests.support.admin import create_admin, log_in
from tests.support.webserver import serve

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])

# (method, path) -> the least role that may use it; None: no login (the login form).
ADMIN_ROUTES: dict[tuple[str, str], Role | None] = {
    ("GET", "/admin/login"): None,
    ("POST", "/admin/login"): None,
    ("POST", "/admin/logout"): Role.VIEWER,
    ("GET", "/admin/"): Role.VIEWER,
    ("GET", "/admin/subscribers"): Role.ADMIN,
    ("GET", "/admin/subscribers/export.csv"): Role.ADMIN,
    ("POST", "/admin/subscribers/import"): Role.ADMIN,
    ("GET", "/admin/subscribers/{subscriber_id}"): Role.ADMIN,
    ("POST", "/admin/subscribers/{subscriber_id}/erase"): Role.ADMIN,
    ("GET", "/admin/bulletins/new"): Role.EDITOR,
    ("POST", "/admin/bulletins"): Role.EDITOR,
    ("GET", "/admin/bulletins/{campaign_id}"): Role.VIEWER,
    ("POST", "/admin/bulletins/{campaign_id}/test"): Role.EDITOR,
    ("GET", "/admin/bulletins/{campaign_id}/edit"): Role.EDITOR,
    ("POST", "/admin/bulletins/{campaign_id}/edit"): Role.EDITOR,
    ("POST", "/admin/bulletins/{campaign_id}/send"): Role.APPROVER,
    ("POST", "/admin/bulletins/{campaign_id}/approve"): Role.APPROVER,
    ("POST", "/admin/bulletins/{campaign_id}/emergency"): Role.APPROVER,
    ("POST", "/admin/bulletins/{campaign_id}/schedule"): Role.APPROVER,
    ("POST", "/admin/bulletins/{campaign_id}/unschedule"): Role.APPROVER,
    ("GET", "/admin/campaigns/{campaign_id}"): Role.VIEWER,
    ("GET", "/admin/campaigns/{campaign_id}/progress.json"): Role.VIEWER,
    ("POST", "/admin/campaigns/{campaign_id}/{action}"): Role.APPROVER,
    ("GET", "/admin/areas"): Role.VIEWER,
    ("GET", "/admin/officials"): Role.ADMIN,
    ("POST", "/admin/officials/{user_id}/role"): Role.ADMIN,
    ("POST", "/admin/officials/{user_id}/{state}"): Role.ADMIN,
}

API_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/articles"): Scope.ARTICLES_WRITE,
    ("GET", "/api/v1/articles"): Scope.READ,
    ("POST", "/api/v1/bounces"): Scope.BULLETINS_SEND,
    ("GET", "/api/v1/stats"): Scope.READ,
    ("GET", "/api/v1/subscribers"): Scope.READ,
    ("PATCH", "/api/v1/subscribers/{subscriber_id}"): Scope.BULLETINS_SEND,
    ("POST", "/api/v1/bulletins"): Scope.BULLETINS_DRAFT,
    ("GET", "/api/v1/campaigns"): Scope.READ,
    ("GET", "/api/v1/campaigns/{campaign_id}"): Scope.READ,
    ("POST", "/api/v1/campaigns/{campaign_id}/{action}"): Scope.BULLETINS_SEND,
}

# Path parameters: ids of no row (a route that lets the caller in answers 404, changing
# nothing), and a valid word where the route takes one.
FILL = {"action": "pause", "state": "disable"}
NO_ROW = "999999"


def _routes(app: FastAPI, prefix: str) -> list[tuple[str, str]]:
    """Every (method, path) of the app under `prefix`, included routers' routes too
    (FastAPI's own walk, the one its OpenAPI schema uses)."""
    found = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and (route.path or "").startswith(prefix):
            found += [(method, route.path or "") for method in sorted(route.methods or ())]
    return found


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: FILL.get(m.group(1), NO_ROW), path)


@pytest.fixture
def app_and_engine(
    database_url: str, settings_factory: Callable[..., Settings]
) -> Iterator[tuple[FastAPI, Engine]]:
    settings = settings_factory(database_url=database_url, public_url="http://127.0.0.1")
    engine = create_db_engine(database_url)
    yield create_app(settings), engine
    engine.dispose()


def test_every_admin_route_is_in_the_table(app_and_engine: tuple[FastAPI, Engine]) -> None:
    """A new /admin route fails here until the table says which role it needs."""
    app, _engine = app_and_engine
    assert set(_routes(app, "/admin")) == set(ADMIN_ROUTES)


def test_every_admin_route_refuses_a_role_below_its_own(
    app_and_engine: tuple[FastAPI, Engine],
) -> None:
    """Each role, walking every admin route: a route above the role answers 403 with the
    admin's error page naming the role it needs; every other route lets them in."""
    app, engine = app_and_engine
    for role in Role:
        create_admin(engine, username=f"canbo-{role.label}", role=role)
    with serve(app) as client:
        for role in Role:
            client.cookies.clear()
            csrf = log_in(client, username=f"canbo-{role.label}")
            for (method, path), least in ADMIN_ROUTES.items():
                if least is None or (path == "/admin/logout" and role >= least):
                    continue  # the login form; logging out would end this walk
                response = client.request(
                    method, _url(path), data={"csrf": csrf} if method == "POST" else None
                )
                where = f"{role.label} {method} {path}"
                if role < least:
                    assert response.status_code == 403, where
                    assert response.headers["content-type"].startswith("text/html"), where
                    assert "<h1>Not allowed</h1>" in response.text, where
                    assert f"needs the {least.label} role" in response.text, where
                else:
                    assert "role; you are" not in response.text, where
                    assert response.status_code != 401, where


def test_the_admin_menu_shows_only_what_the_role_may_open(
    app_and_engine: tuple[FastAPI, Engine],
) -> None:
    """A viewer's dashboard links neither to subscribers, new bulletins nor officials."""
    app, engine = app_and_engine
    create_admin(engine, username="xem", role=Role.VIEWER)
    with serve(app) as client:
        log_in(client, username="xem")
        dashboard = client.get("/admin/").text
    assert 'href="/admin/subscribers"' not in dashboard
    assert 'href="/admin/bulletins/new"' not in dashboard
    assert 'href="/admin/officials"' not in dashboard


def test_every_api_route_is_in_the_table(app_and_engine: tuple[FastAPI, Engine]) -> None:
    """A new /api/v1 route fails here until the table says which scope it needs."""
    app, _engine = app_and_engine
    assert set(_routes(app, "/api/v1")) == set(API_ROUTES)


def test_every_api_route_refuses_a_token_without_its_scope(
    app_and_engine: tuple[FastAPI, Engine],
) -> None:
    """A token of each single scope, walking every API route: 403 naming the missing scope
    where its scope does not reach (bulletins:send includes bulletins:draft), never
    where it does."""
    app, engine = app_and_engine
    tokens = {}
    with create_session_factory(engine).begin() as session:
        for scope in ALL_SCOPES:
            tokens[scope] = create_api_token(session, name=f"only-{scope}", scopes=[scope])
    with serve(app) as client:
        for scope, token in tokens.items():
            granted = granted_scopes(scope)
            headers = {"Authorization": f"Bearer {token}"}
            for (method, path), needed in API_ROUTES.items():
                extra: dict[str, object] = {}
                if method == "POST":
                    extra = {"content": b"x"} if path.endswith("/bounces") else {"json": {}}
                response = client.request(method, _url(path), headers=headers, **extra)  # type: ignore[arg-type]
                where = f"{scope} {method} {path}"
                if needed in granted:
                    assert response.status_code not in (401, 403), where
                else:
                    assert response.status_code == 403, where
                    assert needed in response.json()["detail"], where
