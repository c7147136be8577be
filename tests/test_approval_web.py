"""Two officials, schedules and officials' roles through the admin and the API over real
HTTP (the batches go to the embedded broker; sending itself is tested elsewhere)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, select

from newsletter.accounts.api_tokens import create_api_token
from newsletter.accounts.roles import Role
from newsletter.config import Settings
from newsletter.db import create_db_engine, create_session_factory
from newsletter.models import (
    AdminUser,
    AuditEvent,
    Campaign,
    CampaignStatus,
    Subscriber,
    SubscriberStatus,
)
from newsletter.web import create_app
from tests.support.admin import ADMIN_PASSWORD, create_admin, csrf_from, log_in
from tests.support.ledger import add_subscribers
from tests.support.webserver import WebServer

THRESHOLD = 2
TZ = "Asia/Ho_Chi_Minh"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def server(
    database_url: str, settings_factory: Callable[..., Settings], engine: Engine
) -> Iterator[WebServer]:
    settings = settings_factory(
        database_url=database_url, public_url="http://127.0.0.1", approval_threshold=THRESHOLD
    )
    with create_session_factory(engine).begin() as s:
        add_subscribers(s, THRESHOLD + 1)
    for name, role in (("bientap", Role.EDITOR), ("duyet-a", Role.APPROVER),
                       ("duyet-b", Role.APPROVER), ("quantri", Role.ADMIN)):  # fmt: skip
        create_admin(engine, username=name, role=role)
    web = WebServer(create_app(settings))
    web.start()
    yield web
    for client in OPEN_CLIENTS:
        client.close()
    OPEN_CLIENTS.clear()
    web.stop()


OPEN_CLIENTS: list[httpx.Client] = []


def client_for(server: WebServer, username: str) -> tuple[httpx.Client, str]:
    """A logged-in official's browser (closed when the server fixture ends)."""
    client = httpx.Client(base_url=server.url, timeout=30)
    OPEN_CLIENTS.append(client)
    return client, log_in(client, username=username)


def draft(client: httpx.Client, csrf: str, subject: str = "Thông báo cắt nước") -> int:
    done = client.post(
        "/admin/bulletins", data={"csrf": csrf, "subject": subject, "body": "Cắt nước 8:00."}
    )
    assert done.status_code == 303, done.text
    return int(done.headers["location"].rsplit("/", 1)[1])


def campaign(engine: Engine, campaign_id: int) -> Campaign:
    with create_session_factory(engine)() as s:
        found = s.get(Campaign, campaign_id)
        assert found is not None
        s.expunge(found)
        return found


def audit_of(engine: Engine, campaign_id: int) -> list[tuple[str, str]]:
    with create_session_factory(engine)() as s:
        rows = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.target == f"campaign {campaign_id}")
            .order_by(AuditEvent.id)
        )
        return [(e.actor, e.action) for e in rows]


def test_two_officials_in_the_admin(server: WebServer, engine: Engine) -> None:
    """An editor drafts but cannot send; the author cannot approve their own; a second
    approver approves; then it is sent. Each step is in the bulletin's history."""
    editor, editor_csrf = client_for(server, "bientap")
    campaign_id = draft(editor, editor_csrf)
    page = editor.get(f"/admin/bulletins/{campaign_id}").text
    assert "this bulletin waits for an approver" in page
    assert f"/admin/bulletins/{campaign_id}/send" not in page
    refused = editor.post(
        f"/admin/bulletins/{campaign_id}/send", data={"csrf": editor_csrf, "recipients": "3"}
    )
    assert refused.status_code == 403
    assert "needs the approver role" in refused.text

    a, a_csrf = client_for(server, "duyet-a")
    own_id = draft(a, a_csrf, subject="Bản tin của A")
    blocked = a.post(f"/admin/bulletins/{own_id}/send", data={"csrf": a_csrf, "recipients": "3"})
    assert blocked.status_code == 409
    assert "over the approval threshold of 2" in blocked.text
    own = a.post(f"/admin/bulletins/{own_id}/approve", data={"csrf": a_csrf})
    assert own.status_code == 409
    assert "not its author" in own.text

    b, b_csrf = client_for(server, "duyet-b")
    ok = b.post(f"/admin/bulletins/{own_id}/approve", data={"csrf": b_csrf})
    assert ok.status_code == 303
    assert "Approved by <strong>duyet-b</strong>" in a.get(f"/admin/bulletins/{own_id}").text
    sent = a.post(f"/admin/bulletins/{own_id}/send", data={"csrf": a_csrf, "recipients": "3"})
    assert sent.status_code == 303, sent.text
    assert campaign(engine, own_id).status is not CampaignStatus.DRAFT
    assert audit_of(engine, own_id) == [
        ("duyet-a", "bulletin.drafted"),
        ("duyet-b", "bulletin.approved"),
        ("duyet-a", "bulletin.sent"),
    ]


def test_emergency_send_and_edit_withdrawing_approval(server: WebServer, engine: Engine) -> None:
    """An approver sends alone only with a reason, which the dashboard then shows; an edit
    after approval withdraws it and the page says so."""
    a, a_csrf = client_for(server, "duyet-a")
    b, b_csrf = client_for(server, "duyet-b")
    edited_id = draft(a, a_csrf)
    assert b.post(f"/admin/bulletins/{edited_id}/approve", data={"csrf": b_csrf}).is_redirect
    saved = a.post(
        f"/admin/bulletins/{edited_id}/edit",
        data={"csrf": a_csrf, "subject": "Thông báo cắt nước (sửa)", "body": "Cắt nước 9:00."},
    )
    assert saved.status_code == 303
    assert "approval was withdrawn" in a.get(saved.headers["location"]).text
    assert campaign(engine, edited_id).approved_by is None
    assert ("duyet-a", "bulletin.approval_withdrawn") in audit_of(engine, edited_id)

    urgent_id = draft(a, a_csrf, subject="Bão khẩn cấp")
    empty = a.post(f"/admin/bulletins/{urgent_id}/emergency", data={"csrf": a_csrf, "reason": " "})
    assert empty.status_code == 422
    assert "needs a reason" in empty.text
    reason = "Bão đổ bộ trong 2 giờ, không kịp chờ người duyệt"
    sent = a.post(
        f"/admin/bulletins/{urgent_id}/emergency", data={"csrf": a_csrf, "reason": reason}
    )
    assert sent.status_code == 303, sent.text
    assert campaign(engine, urgent_id).emergency_reason == reason
    progress_page = a.get(f"/admin/campaigns/{urgent_id}").text
    assert reason in progress_page
    assert "bulletin.emergency_sent" in progress_page  # the campaign's own history
    dashboard = b.get("/admin/").text
    assert reason in dashboard
    assert "bulletin.emergency_sent" in dashboard


def test_scheduling_in_the_admin(server: WebServer, engine: Engine) -> None:
    """Local date and time: the past and beyond 30 days are refused with a clear message; a
    valid time is stored in UTC, shown on the dashboard, and can be taken back."""
    a, a_csrf = client_for(server, "duyet-a")
    campaign_id = draft(a, a_csrf)
    local_now = dt.datetime.now(ZoneInfo(TZ))
    url = f"/admin/bulletins/{campaign_id}/schedule"
    past = (local_now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    refused = a.post(url, data={"csrf": a_csrf, "send_at": past})
    assert refused.status_code == 422
    assert "is in the past" in refused.text
    far = (local_now + dt.timedelta(days=31)).strftime("%Y-%m-%dT%H:%M")
    refused = a.post(url, data={"csrf": a_csrf, "send_at": far})
    assert refused.status_code == 422
    assert "more than 30 days ahead" in refused.text
    soon = (local_now + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    assert a.post(url, data={"csrf": a_csrf, "send_at": soon}).status_code == 303
    stored = campaign(engine, campaign_id).send_at
    assert stored is not None
    assert stored.astimezone(ZoneInfo(TZ)).strftime("%Y-%m-%dT%H:%M") == soon
    dashboard = a.get("/admin/").text
    assert soon.replace("T", " ") in dashboard
    assert "Will not start unless approved" in dashboard  # 3 residents, threshold 2
    gone = a.post(f"/admin/bulletins/{campaign_id}/unschedule", data={"csrf": a_csrf})
    assert gone.status_code == 303
    assert campaign(engine, campaign_id).send_at is None


def test_officials_page(server: WebServer, engine: Engine) -> None:
    """An admin lists officials and changes a role; the last admin cannot be demoted; a
    disabled official's session ends and they cannot log in again."""
    admin, csrf = client_for(server, "quantri")
    listing = admin.get("/admin/officials").text
    assert 'data-official="bientap"' in listing
    with create_session_factory(engine)() as s:
        ids = {u.username: u.id for u in s.scalars(select(AdminUser))}
    last = admin.post(
        f"/admin/officials/{ids['quantri']}/role", data={"csrf": csrf, "role": "editor"}
    )
    assert last.status_code == 409
    assert "last active admin" in last.text
    bad = admin.post(f"/admin/officials/{ids['bientap']}/role", data={"csrf": csrf, "role": "boss"})
    assert bad.status_code == 422
    assert "unknown role" in bad.text.lower()
    promoted = admin.post(
        f"/admin/officials/{ids['bientap']}/role", data={"csrf": csrf, "role": "approver"}
    )
    assert promoted.status_code == 303
    editor, _ = client_for(server, "bientap")
    assert editor.get("/admin/").status_code == 200
    off = admin.post(f"/admin/officials/{ids['bientap']}/disable", data={"csrf": csrf})
    assert off.status_code == 303
    assert editor.get("/admin/").status_code == 303  # back to the login form
    login = editor.get("/admin/login")
    again = editor.post(
        "/admin/login",
        data={"username": "bientap", "password": ADMIN_PASSWORD, "csrf": csrf_from(login.text)},
    )
    assert again.status_code == 401
    with create_session_factory(engine)() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.actor == "quantri")).all()
    assert "official.role_changed" in actions
    assert "official.disabled" in actions


def api_token(engine: Engine, *scopes: str) -> dict[str, str]:
    with create_session_factory(engine).begin() as s:
        token = create_api_token(s, name=f"cms-{'-'.join(scopes)}", scopes=scopes)
    return {"Authorization": f"Bearer {token}"}


def test_api_approval_and_send_at(server: WebServer, engine: Engine) -> None:
    """A bulletins:draft token's bulletin waits for an approver; a bulletins:send token
    sends under the threshold directly but not over it; send_at schedules, the past and
    beyond 30 days are 422."""
    body = {"subject": "Thông báo", "body_markdown": "Nội dung."}
    with httpx.Client(base_url=server.url, timeout=30) as api:
        drafted = api.post(
            "/api/v1/bulletins", json=body, headers=api_token(engine, "bulletins:draft")
        )
        assert drafted.status_code == 201
        assert drafted.json()["status"] == "awaiting_approval"
        assert "an approver" in drafted.json()["note"]
        assert campaign(engine, drafted.json()["id"]).needs_approval

        sender = api_token(engine, "bulletins:send")
        over = api.post("/api/v1/bulletins", json=body, headers=sender)
        assert over.json()["status"] == "awaiting_approval"
        assert "over the approval threshold of 2" in over.json()["note"]
        small = {**body, "categories": []}
        soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).isoformat()
        scheduled = api.post("/api/v1/bulletins", json={**small, "send_at": soon}, headers=sender)
        assert scheduled.status_code == 201, scheduled.text
        assert scheduled.json()["status"] == "scheduled"
        assert "will not start unless approved" in scheduled.json()["note"]
        stored = campaign(engine, scheduled.json()["id"])
        assert stored.send_at is not None
        assert stored.scheduled_by == "api:cms-bulletins:send"
        for when, message in (
            (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5), "in the past"),
            (dt.datetime.now(dt.UTC) + dt.timedelta(days=31), "more than 30 days ahead"),
        ):
            refused = api.post(
                "/api/v1/bulletins", json={**body, "send_at": when.isoformat()}, headers=sender
            )
            assert refused.status_code == 422
            assert message in refused.json()["detail"]
        bad = api.post("/api/v1/bulletins", json={**body, "send_at": "ngày mai"}, headers=sender)
        assert bad.status_code == 422
        with create_session_factory(engine).begin() as s:  # two residents leave: 1 remains
            for row in s.scalars(select(Subscriber).order_by(Subscriber.id).limit(2)):
                row.status = SubscriberStatus.UNSUBSCRIBED
        direct = api.post("/api/v1/bulletins", json=body, headers=sender)
        assert direct.json()["status"] == "sending"
        assert direct.json()["recipients"] == 1
