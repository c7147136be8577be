"""A bulletin sent through the web admin, the API and the CLI reaches every active
subscriber of its categories and no one else (real worker, real SMTP server)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter.accounts.api_tokens import create_api_token
from newsletter.cli import app as cli_app
from newsletter.config import Settings
from newsletter.models import AuditEvent, DeliveryStatus, SubscriberStatus
from newsletter.runtime import Runtime, build_runtime
from newsletter.web import create_app
from tests.support.admin import create_admin, log_in
from tests.support.ledger import (
    WorkerProcess,
    add_category,
    add_subscribers,
    wait_for_ledger,
    wait_until,
    worker_env,
)
from tests.support.smtp import SMTPServer
from tests.support.webserver import serve

EXPECTED = {
    "thongbao00000@example.vn",
    "thongbao00001@example.vn",
    "thongbao00002@example.vn",
    "tatca00000@example.vn",  # chose no category: gets every campaign
}


@pytest.fixture
def settings(
    database_url: str, settings_factory: Callable[..., Settings], smtp_server: SMTPServer
) -> Settings:
    return settings_factory(
        database_url=database_url,
        smtp_url=smtp_server.url,
        public_url="http://127.0.0.1",
        send_rate=500,
        batch_size=50,
    )


@pytest.fixture
def runtime(settings: Settings, tmp_path: Path) -> Iterator[Runtime]:
    rt = build_runtime(settings)
    with rt.sessions.begin() as s:
        notices = add_category(s, "thong-bao", "Thông báo")
        news = add_category(s, "tin-tuc", "Tin tức")
        add_subscribers(s, 3, prefix="thongbao", categories=[notices])
        add_subscribers(s, 2, prefix="tintuc", categories=[news])
        add_subscribers(s, 1, prefix="tatca")
        add_subscribers(s, 1, prefix="cho", status=SubscriberStatus.PENDING, categories=[notices])
        add_subscribers(
            s, 1, prefix="huy", status=SubscriberStatus.UNSUBSCRIBED, categories=[notices]
        )
    create_admin(rt.engine)
    with WorkerProcess(settings, tmp_path / "worker.log", queues="urgent,default"):
        yield rt
    rt.close()


def recipients_of(smtp_server: SMTPServer, subject: str) -> list[str]:
    return sorted(m.rcpt_tos[0] for m in smtp_server.received if m.message["Subject"] == subject)


def test_bulletin_from_the_web_admin(
    runtime: Runtime, settings: Settings, smtp_server: SMTPServer
) -> None:
    """Compose, preview (with the count), test to myself (marked as a test), send; progress
    reaches 100% and a sent campaign offers no action."""
    with serve(create_app(settings, runtime)) as client:
        csrf = log_in(client)
        created = client.post(
            "/admin/bulletins",
            data={
                "csrf": csrf,
                "subject": "Cắt nước khẩn",
                "body": "Phường **Hòa Bình** cắt nước.",
                "categories": "thong-bao",
            },
        )
        assert created.status_code == 303
        preview_url = created.headers["location"]
        preview = client.get(preview_url)
        assert "This bulletin will be sent to 4 residents." in preview.text
        assert "Cắt nước khẩn" in preview.text
        campaign_id = int(preview_url.rsplit("/", 1)[1])
        tested = client.post(
            f"/admin/bulletins/{campaign_id}/test",
            data={"csrf": csrf, "address": "canbo@example.vn"},
        )
        assert tested.status_code == 303
        # The test copy says it is one, in its subject and on the page that sent it.
        assert recipients_of(smtp_server, "[THỬ] Cắt nước khẩn") == ["canbo@example.vn"]
        assert "“[THỬ] Cắt nước khẩn”" in client.get(tested.headers["location"]).text
        # A send that does not carry the count the admin saw is refused.
        stale = client.post(
            f"/admin/bulletins/{campaign_id}/send", data={"csrf": csrf, "recipients": "9"}
        )
        assert "confirm+again" in stale.headers["location"]
        sent = client.post(
            f"/admin/bulletins/{campaign_id}/send", data={"csrf": csrf, "recipients": "4"}
        )
        assert sent.headers["location"] == f"/admin/campaigns/{campaign_id}"
        counts = wait_for_ledger(runtime, campaign_id, timeout=60)
        assert counts == {DeliveryStatus.SENT: 4}
        progress = client.get(f"/admin/campaigns/{campaign_id}/progress.json").json()
        assert (progress["sent"], progress["total"], progress["waiting"]) == (4, 4, 0)
        page = client.get(f"/admin/campaigns/{campaign_id}")
        assert '<span id="percent">100</span>%' in page.text
        # Sent with nothing failed: no button offers to pause, resume, cancel or retry it.
        assert f'action="/admin/campaigns/{campaign_id}/' not in page.text
    smtp_server.wait_for(5)
    assert recipients_of(smtp_server, "Cắt nước khẩn") == sorted(EXPECTED)
    with runtime.sessions() as s:
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["login", "bulletin.drafted", "bulletin.test_sent", "bulletin.sent"]


def test_bulletin_from_the_api(
    runtime: Runtime, settings: Settings, smtp_server: SMTPServer
) -> None:
    """POST /api/v1/bulletins sends to the target categories and reports the count."""
    with runtime.sessions.begin() as s:
        token = create_api_token(s, name="cms")
    with serve(create_app(settings, runtime)) as client:
        auth = {"Authorization": f"Bearer {token}"}
        body = {
            "subject": "Bão số 9",
            "body_markdown": "Người dân **ở nhà**.",
            "categories": ["thong-bao"],
        }
        assert client.post("/api/v1/bulletins", json=body).status_code == 401
        bad = client.post(
            "/api/v1/bulletins", json={**body, "categories": ["khong-co"]}, headers=auth
        )
        assert bad.status_code == 422
        response = client.post("/api/v1/bulletins", json=body, headers=auth)
        assert response.status_code == 201, response.text
        campaign_id = response.json()["id"]
        assert response.json()["recipients"] == 4
        wait_for_ledger(runtime, campaign_id, timeout=60)

        def shown() -> dict[str, object]:
            answer: dict[str, object] = client.get(
                f"/api/v1/campaigns/{campaign_id}", headers=auth
            ).json()
            return answer

        # The worker marks the campaign sent just after its last row: wait for that step.
        wait_until(lambda: shown()["status"] == "sent", timeout=30, what="campaign sent")
        assert shown()["sent"] == 4
        again = client.post(f"/api/v1/campaigns/{campaign_id}/pause", headers=auth)
        assert again.status_code == 409
        assert client.get("/api/v1/campaigns/999999", headers=auth).status_code == 404
    smtp_server.wait_for(4)
    assert recipients_of(smtp_server, "Bão số 9") == sorted(EXPECTED)


def test_bulletin_from_the_cli(
    runtime: Runtime, settings: Settings, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    """`bulletin send --category … --yes` prints the id; the same four residents get it."""
    body = tmp_path / "body.md"
    body.write_text("Tiêm chủng miễn phí tại **trạm y tế phường**.", encoding="utf-8")
    result = CliRunner().invoke(
        cli_app,
        [
            "bulletin",
            "send",
            "--subject",
            "Tiêm chủng",
            "--body-file",
            str(body),
            "--category",
            "thong-bao",
            "--yes",
        ],
        env=worker_env(settings),
    )
    assert result.exit_code == 0, result.output
    campaign_id = int(result.stdout.strip().splitlines()[-1])
    wait_for_ledger(runtime, campaign_id, timeout=60)
    smtp_server.wait_for(4)
    assert recipients_of(smtp_server, "Tiêm chủng") == sorted(EXPECTED)
    declined = CliRunner().invoke(
        cli_app,
        [
            "bulletin",
            "send",
            "--subject",
            "Thử",
            "--body-file",
            str(body),
            "--category",
            "thong-bao",
        ],
        env=worker_env(settings),
        input="n\n",
    )
    assert declined.exit_code == 1
    assert re.search(r"to 4 resident\(s\) now\?", declined.stderr)
    assert recipients_of(smtp_server, "Thử") == []
