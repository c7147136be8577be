"""Officials see each subscriber's frequency (list, filter, detail, CSV), the active
subscribers by frequency on the dashboard, and each campaign's kind in words."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.db import create_db_engine, create_session_factory
from newsletter.models import Campaign, CampaignKind, Frequency, Subscriber, SubscriberStatus
from newsletter.web import create_app
from tests.support.admin import create_admin, log_in
from tests.support.webserver import serve

PEOPLE = [
    ("a@example.vn", SubscriberStatus.ACTIVE, Frequency.IMMEDIATELY),
    ("b@example.vn", SubscriberStatus.ACTIVE, Frequency.DAILY),
    ("c@example.vn", SubscriberStatus.ACTIVE, Frequency.DAILY),
    ("d@example.vn", SubscriberStatus.ACTIVE, Frequency.WEEKLY),
    ("e@example.vn", SubscriberStatus.PENDING, Frequency.DAILY),
    ("f@example.vn", SubscriberStatus.UNSUBSCRIBED, Frequency.IMMEDIATELY),
]


@pytest.fixture
def engine_for(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    with create_session_factory(engine).begin() as s:
        for email, status, frequency in PEOPLE:
            s.add(Subscriber(email=email, status=status, frequency=frequency))
        for kind in CampaignKind:
            s.add(Campaign(kind=kind, subject=f"Chiến dịch {kind.value}"))
    create_admin(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def client(
    database_url: str, settings_factory: type[Settings], engine_for: Engine
) -> Iterator[httpx.Client]:
    settings = settings_factory(database_url=database_url, public_url="http://127.0.0.1")
    with serve(create_app(settings)) as c:
        log_in(c)
        yield c


def test_dashboard_counts_active_subscribers_by_frequency(client: httpx.Client) -> None:
    """Only active subscribers count; every frequency has its row, in words."""
    page = client.get("/admin/").text
    counts = dict(re.findall(r'data-frequency="([a-z-]+)">(\d+)<', page))
    assert counts == {"ngay-khi-co": "1", "hang-ngay": "2", "hang-tuan": "1"}
    assert "daily (hang-ngay)" in page


def test_dashboard_names_each_campaign_kind_in_words(client: httpx.Client) -> None:
    """The campaigns list says weekly digest, daily digest, alert, bulletin."""
    page = client.get("/admin/").text
    kinds = dict(re.findall(r'data-kind="([a-z_]+)">([^<]+)<', page))
    assert kinds == {
        "digest": "weekly digest",
        "daily_digest": "daily digest",
        "alert": "alert (new articles)",
        "bulletin": "bulletin",
    }


def test_subscriber_list_shows_and_filters_by_frequency(client: httpx.Client) -> None:
    """The list has a Frequency column and filter; the detail page names it."""
    every = client.get("/admin/subscribers").text
    assert '<td data-label="Frequency">immediately</td>' in every
    daily = client.get("/admin/subscribers", params={"frequency": "hang-ngay"}).text
    assert "3 found" in daily
    assert "b@example.vn" in daily
    assert "a@example.vn" not in daily
    assert '<option value="hang-ngay" selected>' in daily
    both = client.get(
        "/admin/subscribers", params={"frequency": "hang-ngay", "status": "active"}
    ).text
    assert "2 found" in both
    ignored = client.get("/admin/subscribers", params={"frequency": "monthly"})
    assert ignored.status_code == 200
    assert "6 found" in ignored.text
    [link] = re.findall(r'href="/admin/subscribers/(\d+)">a@example.vn', every)
    detail = client.get(f"/admin/subscribers/{link}").text
    assert re.search(r'id="frequency">immediately \(ngay-khi-co\)', detail)


def test_admin_csv_export_and_import_carry_frequency(client: httpx.Client) -> None:
    """Export has the column; an upload with a bad value names its line and value."""
    exported = client.get("/admin/subscribers/export.csv").text
    assert exported.splitlines()[0].startswith("email,name,status,categories,frequency,")
    assert "b@example.vn,,active,,hang-ngay," in exported
    csrf = log_in(client)
    upload = {"file": ("ds.csv", b"email,frequency\ng@example.vn,hang-ngay\nh@example.vn,yearly\n")}
    imported = client.post(
        "/admin/subscribers/import",
        files=upload,
        data={"csrf": csrf, "consent_source": "phiếu giấy"},
    )
    assert imported.status_code == 200
    assert "1 created" in imported.text
    assert "line 3: invalid frequency &#39;yearly&#39;" in imported.text
    daily = client.get("/admin/subscribers", params={"frequency": "hang-ngay"}).text
    assert "g@example.vn" in daily
