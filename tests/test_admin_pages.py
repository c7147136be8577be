"""The admin as an official's browser meets it, over real HTTP: log in and come back,
errors as pages with a way back, subscribers in pages with a search."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, insert

from newsletter.config import Settings
from newsletter.db import create_db_engine, create_session_factory
from newsletter.models import Subscriber
from newsletter.web import create_app
from tests.support.admin import ADMIN_PASSWORD, create_admin, csrf_from, log_in
from tests.support.ledger import add_campaign, add_subscribers
from tests.support.webserver import serve

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])


@pytest.fixture
def engine_for(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def client(
    database_url: str, settings_factory: type[Settings], engine_for: Engine
) -> Iterator[httpx.Client]:
    settings = settings_factory(database_url=database_url, public_url="http://127.0.0.1")
    create_admin(engine_for)
    with serve(create_app(settings)) as c:
        yield c


def test_login_brings_the_official_back_where_they_were_going(client: httpx.Client) -> None:
    """An anonymous visit to an admin page leads to the login form and, after it, back to
    that page; a `next` leading outside the admin leads to the dashboard instead."""
    visit = client.get("/admin/subscribers", params={"q": "an", "page": "2"})
    assert visit.status_code == 303
    login = client.get(visit.headers["location"])
    assert login.status_code == 200
    assert 'name="next" value="/admin/subscribers?q=an&amp;page=2"' in login.text
    form = {"username": "canbo", "password": ADMIN_PASSWORD, "csrf": csrf_from(login.text)}
    done = client.post("/admin/login", data={**form, "next": "/admin/subscribers?q=an&page=2"})
    assert done.headers["location"] == "/admin/subscribers?q=an&page=2"
    for elsewhere in (
        "//evil.example/admin/",
        "https://evil.example/",
        "/admin/login",
        "/api/v1/",
        "/admin/../api/v1/",
    ):
        page = client.get("/admin/login", params={"next": elsewhere})
        assert 'name="next" value="/admin/"' in page.text, elsewhere


def test_admin_errors_are_pages_with_a_way_back(client: httpx.Client, engine_for: Engine) -> None:
    """404, 403, 409 and 422 under /admin are HTML pages in the admin layout with a link
    back; the API still answers JSON."""
    with create_session_factory(engine_for).begin() as s:
        add_subscribers(s, 2)
        campaign_id = add_campaign(s)
    csrf = log_in(client)
    back = {"referer": f"{client.base_url}/admin/campaigns/{campaign_id}"}
    answers = {
        404: client.get("/admin/campaigns/999999"),
        403: client.post(f"/admin/campaigns/{campaign_id}/pause", data={}, headers=back),
        409: client.post(
            f"/admin/campaigns/{campaign_id}/pause", data={"csrf": csrf}, headers=back
        ),
        422: client.post("/admin/bulletins", data={"csrf": csrf}),
    }
    for status, answer in answers.items():
        assert answer.status_code == status
        assert answer.headers["content-type"].startswith("text/html"), status
        assert "newsletter admin" in answer.text  # the admin layout
        assert ">Back</a>" in answer.text
        assert '{"detail"' not in answer.text
    assert f'href="/admin/campaigns/{campaign_id}">Back' in answers[409].text
    assert "draft, not sending" in answers[409].text
    assert "Subject: Field required" in answers[422].text
    assert client.get("/admin/nothing-here").status_code == 404
    api = client.get("/api/v1/campaigns/1")
    assert api.status_code == 401
    assert api.headers["content-type"] == "application/json"


def test_subscribers_come_in_pages_with_a_total_and_a_search(
    client: httpx.Client, engine_for: Engine
) -> None:
    """120 subscribers: 50 a page, a total, links to the next pages; a name search finds one."""
    with create_session_factory(engine_for).begin() as s:
        add_subscribers(s, 119)
        s.execute(
            insert(Subscriber),
            [{"email": "lan@example.vn", "name": "Trần Thị Lan", "status": "active"}],
        )
    log_in(client)
    first = client.get("/admin/subscribers")
    assert "120 found · showing 1–50" in first.text
    assert first.text.count('<a href="/admin/subscribers/') == 50
    assert "page=3" in first.text  # "Last »"
    last = client.get("/admin/subscribers", params={"page": "3"})
    assert "120 found · showing 101–120" in last.text
    assert last.text.count('<a href="/admin/subscribers/') == 20
    found = client.get("/admin/subscribers", params={"q": "thị lan"})
    assert "1 found" in found.text
    assert "lan@example.vn" in found.text
    pending = client.get("/admin/subscribers", params={"status": "pending"})
    assert "No subscriber matches this search." in pending.text


def test_an_import_shows_the_subscribers_it_created(client: httpx.Client) -> None:
    """After a CSV import the summary sits above the subscribers just created, never above
    "No subscriber found"."""
    csrf = log_in(client)
    rows = "email,name\n" + "".join(f"dan{i}@example.vn,Dân {i}\n" for i in range(60))
    upload = {"file": ("ds.csv", rows.encode(), "text/csv")}
    source = f"paper forms, {dt.date.today():%B %Y}"
    imported = client.post(
        "/admin/subscribers/import", files=upload, data={"csrf": csrf, "consent_source": source}
    )
    assert imported.status_code == 200
    assert "Import: 60 created" in imported.text
    assert "60 found · showing 1–50" in imported.text
    assert "dan59@example.vn" in imported.text
