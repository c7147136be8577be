"""`frequency` in the API: returned and filtered on `GET /api/v1/subscribers`, changed by
`PATCH /api/v1/subscribers/{id}`, counted in `/api/v1/stats`, an enum in OpenAPI."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from newsletter.accounts.api_tokens import create_api_token
from newsletter.config import Settings
from newsletter.db import create_db_engine, create_session_factory
from newsletter.models import (
    AuditEvent,
    ConsentEvent,
    ConsentKind,
    Frequency,
    Subscriber,
    SubscriberStatus,
)
from newsletter.web import create_app
from tests.support.webserver import serve

Api = tuple[httpx.Client, dict[str, str], sessionmaker]  # type: ignore[type-arg]


@pytest.fixture
def api(database_url: str, settings_factory: type[Settings]) -> Iterator[Api]:
    engine: Engine = create_db_engine(database_url)
    sessions = create_session_factory(engine)
    with sessions.begin() as s:
        token = create_api_token(s, name="cms")
        s.add_all(
            [
                Subscriber(email="a@example.vn", status=SubscriberStatus.ACTIVE),
                Subscriber(
                    email="b@example.vn",
                    status=SubscriberStatus.ACTIVE,
                    frequency=Frequency.DAILY,
                ),
                Subscriber(
                    email="c@example.vn",
                    status=SubscriberStatus.ACTIVE,
                    frequency=Frequency.IMMEDIATELY,
                ),
                Subscriber(
                    email="d@example.vn",
                    status=SubscriberStatus.PENDING,
                    frequency=Frequency.IMMEDIATELY,
                ),
            ]
        )
    with serve(create_app(settings_factory(database_url=database_url))) as client:
        yield client, {"Authorization": f"Bearer {token}"}, sessions
    engine.dispose()


def test_subscribers_carry_and_filter_by_frequency(api: Api) -> None:
    """Each subscriber says its frequency; `?frequency=` keeps only those; a bad value is 422."""
    client, auth, _ = api
    every = client.get("/api/v1/subscribers", headers=auth).json()
    assert {s["email"]: s["frequency"] for s in every} == {
        "a@example.vn": "hang-tuan",
        "b@example.vn": "hang-ngay",
        "c@example.vn": "ngay-khi-co",
        "d@example.vn": "ngay-khi-co",
    }
    daily = client.get("/api/v1/subscribers?frequency=hang-ngay", headers=auth).json()
    assert [s["email"] for s in daily] == ["b@example.vn"]
    bad = client.get("/api/v1/subscribers?frequency=monthly", headers=auth)
    assert bad.status_code == 422


def test_stats_count_active_subscribers_by_frequency(api: Api) -> None:
    """The pending subscriber is not counted; every frequency is present."""
    client, auth, _ = api
    stats = client.get("/api/v1/stats", headers=auth).json()
    assert stats["active_by_frequency"] == {"ngay-khi-co": 1, "hang-ngay": 1, "hang-tuan": 1}


def test_patch_changes_the_frequency_with_consent_and_audit(api: Api) -> None:
    """PATCH stores the new frequency, records a consent event and an audit event; unknown
    values, extra fields and unknown subscribers are refused without a change."""
    client, auth, sessions = api
    with sessions() as s:
        sub_id = s.scalars(select(Subscriber.id).where(Subscriber.email == "a@example.vn")).one()
    path = f"/api/v1/subscribers/{sub_id}"
    changed = client.patch(path, json={"frequency": "hang-ngay"}, headers=auth)
    assert changed.status_code == 200
    assert changed.json()["frequency"] == "hang-ngay"
    assert client.patch(path, json={"frequency": "weekly"}, headers=auth).status_code == 422
    assert client.patch(path, json={"frequency": "hang-ngay", "email": "x@example.vn"},
                        headers=auth).status_code == 422  # fmt: skip
    assert client.patch(path, json={}, headers=auth).status_code == 422
    assert client.patch(path, json={"frequency": "hang-ngay"}).status_code == 401
    missing = client.patch("/api/v1/subscribers/999999", json={"frequency": "hang-ngay"},
                           headers=auth)  # fmt: skip
    assert missing.status_code == 404
    with sessions() as s:
        row = s.get(Subscriber, sub_id)
        assert row is not None
        assert (row.frequency, row.email) == (Frequency.DAILY, "a@example.vn")
        [event] = s.scalars(
            select(ConsentEvent).where(ConsentEvent.kind == ConsentKind.PREFERENCES_CHANGED)
        )
        assert event.detail is not None
        assert json.loads(event.detail) == {
            "via": "api", "frequency": "hang-ngay", "previous_frequency": "hang-tuan",
        }  # fmt: skip
        [audit] = s.scalars(select(AuditEvent).where(AuditEvent.action == "subscriber.frequency"))
        assert (audit.actor, audit.target) == ("api:cms", str(sub_id))


def test_openapi_shows_the_frequency_enum(api: Api) -> None:
    """The API documentation lists the three values wherever `frequency` appears."""
    client, _, _ = api
    schema = client.get("/openapi.json").json()
    assert schema["components"]["schemas"]["Frequency"]["enum"] == [
        "ngay-khi-co", "hang-ngay", "hang-tuan",
    ]  # fmt: skip
    assert "patch" in schema["paths"]["/api/v1/subscribers/{subscriber_id}"]
    params = schema["paths"]["/api/v1/subscribers"]["get"]["parameters"]
    assert any(p["name"] == "frequency" for p in params)
