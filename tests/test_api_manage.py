"""Management API: bounces by webhook, stats, subscriber search — all behind a bearer token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from newsletter.accounts.api_tokens import create_api_token
from newsletter.config import Settings
from newsletter.db import create_db_engine
from newsletter.models import (
    Campaign,
    CampaignKind,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
)
from newsletter.subscribers.suppression import is_suppressed
from newsletter.web import create_app
from tests.bounce_samples import sample
from tests.support.keys import keyed_sessions
from tests.support.webserver import serve


@pytest.fixture
def engine_for(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(database_url: str, settings_factory: type[Settings]) -> Settings:
    return settings_factory(database_url=database_url, bounce_domain="bounce.example.gov.vn")


@pytest.fixture
def api(settings: Settings, engine_for: Engine) -> Iterator[tuple[httpx.Client, str]]:
    with keyed_sessions(engine_for).begin() as s:
        token = create_api_token(s, name="mta")
    with serve(create_app(settings)) as client:
        yield client, token


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/bounces"), ("GET", "/api/v1/stats"), ("GET", "/api/v1/subscribers")],
)
def test_routes_need_a_token(api: tuple[httpx.Client, str], method: str, path: str) -> None:
    """Without a token, or with a wrong one, every management route answers 401."""
    client, _ = api
    assert client.request(method, path).status_code == 401
    wrong = client.request(method, path, headers={"Authorization": "Bearer sai"})
    assert wrong.status_code == 401


def test_bounce_webhook_suppresses(
    api: tuple[httpx.Client, str], engine_for: Engine, settings: Settings
) -> None:
    """A raw DSN posted to /api/v1/bounces suppresses the address its VERP names."""
    client, token = api
    with keyed_sessions(engine_for).begin() as s:
        sub = Subscriber(email="khong.ton.tai@gmail.com", status=SubscriberStatus.ACTIVE)
        campaign = Campaign(kind=CampaignKind.DIGEST, subject="Bản tin")
        s.add_all([sub, campaign])
        s.flush()
        delivery = Delivery(
            campaign_id=campaign.id, subscriber_id=sub.id, status=DeliveryStatus.SENT
        )
        s.add(delivery)
        s.flush()
        delivery_id = delivery.id
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"}
    empty = client.post("/api/v1/bounces", content=b"", headers=auth)
    assert empty.status_code == 422
    response = client.post(
        "/api/v1/bounces",
        content=sample("gmail_hard", settings, delivery_id=delivery_id),
        headers=auth,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "action": "suppressed",
        "reason": "hard bounce",
        "delivery_id": delivery_id,
    }
    with keyed_sessions(engine_for).begin() as s:
        assert is_suppressed(s, "khong.ton.tai@gmail.com")
    stats = client.get("/api/v1/stats", headers={"Authorization": f"Bearer {token}"}).json()
    assert stats["subscribers_by_status"]["bounced"] == 1
    assert stats["bounced_messages"] == 1
    found = client.get(
        "/api/v1/subscribers", params={"q": "khong"}, headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert [s["email"] for s in found] == ["khong.ton.tai@gmail.com"]
