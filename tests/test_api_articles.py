"""POST /api/v1/articles over real HTTP handling: bearer tokens and idempotent pushes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import func, select

from newsletter.accounts.api_tokens import create_api_token
from newsletter.config import Settings
from newsletter.content.categories import add_category
from newsletter.models import ApiToken, Article, Category, utcnow
from newsletter.runtime import Runtime, build_runtime
from newsletter.web.app import create_app
from tests.support.webserver import WebServer

ARTICLE = {
    "guid": "cms-42",
    "url": "https://example.gov.vn/tin/42",
    "title": "Thông báo lịch cắt nước",
    "summary": '<p onclick="x()">Khu vực phường Tân An<script>alert(1)</script></p>',
    "category": "thong-bao",
    "published_at": "2026-11-27T08:00:00+07:00",
}


@pytest.fixture
def runtime(settings_factory: Callable[..., Settings], database_url: str) -> Iterator[Runtime]:
    """A runtime on a fresh database with one category."""
    rt = build_runtime(settings_factory(database_url=database_url))
    with rt.sessions.begin() as session:
        add_category(session, slug="thong-bao", name="Thông báo")
    yield rt
    rt.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[httpx.Client]:
    """An HTTP client for the app served by a real uvicorn on a loopback port."""
    server = WebServer(create_app(runtime.settings, runtime))
    server.start()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
    server.stop()


@pytest.fixture
def token(runtime: Runtime) -> str:
    with runtime.sessions.begin() as session:
        return create_api_token(session, name="cms")


def stored(runtime: Runtime) -> list[Article]:
    with runtime.sessions.begin() as session:
        return list(session.scalars(select(Article).order_by(Article.id)))


def test_missing_token_is_401(client: httpx.Client, runtime: Runtime) -> None:
    """Without Authorization the push is refused with 401 and a Bearer challenge."""
    response = client.post("/api/v1/articles", json=ARTICLE)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert stored(runtime) == []


@pytest.mark.parametrize("db_backend", ["sqlite"])
@pytest.mark.parametrize("header", ["Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer"])
def test_wrong_token_is_401(
    client: httpx.Client, runtime: Runtime, token: str, header: str
) -> None:
    """An unknown token, another scheme or an empty token is refused; nothing is stored."""
    response = client.post("/api/v1/articles", json=ARTICLE, headers={"Authorization": header})
    assert response.status_code == 401
    assert stored(runtime) == []


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_revoked_token_is_401(client: httpx.Client, runtime: Runtime, token: str) -> None:
    """A revoked token no longer works."""
    with runtime.sessions.begin() as session:
        session.scalars(select(ApiToken)).one().revoked_at = utcnow()
    response = client.post(
        "/api/v1/articles", json=ARTICLE, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


def test_token_is_stored_only_as_its_hash(runtime: Runtime, token: str) -> None:
    """The database holds the SHA-256 of the token, never the token itself."""
    with runtime.sessions.begin() as session:
        row = session.scalars(select(ApiToken)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.token_hash


def test_valid_token_pushes_and_repush_updates(
    client: httpx.Client, runtime: Runtime, token: str
) -> None:
    """One article, then a list re-pushing it changed plus a new one: updated, never doubled."""
    auth = {"Authorization": f"Bearer {token}"}
    first = client.post("/api/v1/articles", json=ARTICLE, headers=auth)
    assert first.status_code == 200, first.text
    assert first.json()["new"] == 1
    assert first.json()["articles"][0]["outcome"] == "new"

    changed = {**ARTICLE, "title": "Thông báo lịch cắt nước (cập nhật)"}
    other = {"url": "https://example.gov.vn/tin/43", "title": "Tin khác"}
    second = client.post("/api/v1/articles", json=[changed, other], headers=auth)
    assert second.status_code == 200, second.text
    assert (second.json()["new"], second.json()["updated"]) == (1, 1)
    again = client.post("/api/v1/articles", json=[changed, other], headers=auth)
    assert (again.json()["new"], again.json()["unchanged"]) == (0, 2)

    articles = stored(runtime)
    assert [a.guid for a in articles] == ["cms-42", "https://example.gov.vn/tin/43"]
    pushed = articles[0]
    assert pushed.title == "Thông báo lịch cắt nước (cập nhật)"
    assert pushed.summary == "<p>Khu vực phường Tân An</p>"
    with runtime.sessions.begin() as session:
        category = session.get(Category, pushed.category_id or 0)
        assert category is not None
        assert category.slug == "thong-bao"
        assert session.scalars(select(ApiToken)).one().last_used_at is not None


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_a_bad_item_rejects_the_whole_push(
    client: httpx.Client, runtime: Runtime, token: str
) -> None:
    """A list with one unusable item is answered 422 naming its index; nothing is stored."""
    bad = {"url": "javascript:alert(1)", "title": "x"}
    response = client.post(
        "/api/v1/articles", json=[ARTICLE, bad], headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["index"] == 1
    assert stored(runtime) == []


def test_a_date_before_year_one_in_utc_is_refused(
    client: httpx.Client, runtime: Runtime, token: str
) -> None:
    """0001-01-01T00:02+01:00 is before year 1 in UTC: a 422 naming the item, not a 500."""
    early = {**ARTICLE, "published_at": "0001-01-01T00:02:00.0+01:00"}
    response = client.post(
        "/api/v1/articles", json=early, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 422, response.text
    assert "out of range" in response.json()["detail"][0]["error"]
    assert stored(runtime) == []


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_unknown_fields_are_refused(client: httpx.Client, runtime: Runtime, token: str) -> None:
    """A typo in a field name is a 422, not a silently dropped value."""
    response = client.post(
        "/api/v1/articles",
        json={**ARTICLE, "titel": "x"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422
    with runtime.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 0


def test_openapi_documents_the_bearer_scheme(client: httpx.Client) -> None:
    """/docs' schema shows the push route and its bearer security."""
    schema = client.get("/openapi.json").json()
    assert "/api/v1/articles" in schema["paths"]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_list_returns_newest_first_and_filters_by_date(
    client: httpx.Client, runtime: Runtime, token: str
) -> None:
    """GET /api/v1/articles lists what was pushed, newest first, and honours `since`."""
    auth = {"Authorization": f"Bearer {token}"}
    older = {"url": "https://example.gov.vn/tin/1", "title": "Cũ", "published_at": "2026-11-01"}
    pushed = client.post("/api/v1/articles", json=[ARTICLE, older], headers=auth)
    assert pushed.status_code == 200, pushed.text

    listed = client.get("/api/v1/articles", headers=auth).json()
    assert [a["title"] for a in listed] == ["Thông báo lịch cắt nước", "Cũ"]
    assert listed[0]["category"] == "thong-bao"
    recent = client.get(
        "/api/v1/articles", params={"since": "2026-11-20T00:00:00Z"}, headers=auth
    ).json()
    assert [a["guid"] for a in recent] == ["cms-42"]
    assert client.get("/api/v1/articles").status_code == 401
