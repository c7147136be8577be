"""`newsletter campaigns …` and `newsletter bulletin send` against a real database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.campaigns.audience import start_campaign
from newsletter.cli import app
from newsletter.config import Settings
from newsletter.models import Campaign, CampaignStatus
from newsletter.runtime import Runtime, build_runtime
from tests.support.ledger import add_campaign, add_subscribers, worker_env
from tests.support.smtp import SMTPServer

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])


@pytest.fixture
def settings(
    database_url: str, settings_factory: Callable[..., Settings], smtp_server: SMTPServer
) -> Settings:
    return settings_factory(database_url=database_url, smtp_url=smtp_server.url)


def invoke(settings: Settings, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=worker_env(settings), input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def started_campaign(runtime: Runtime) -> int:
    with runtime.sessions.begin() as s:
        add_subscribers(s, 5)
        campaign_id = add_campaign(s)
    with runtime.sessions.begin() as s:
        start_campaign(s, campaign_id=campaign_id)
    return campaign_id


def status_of(runtime: Runtime, campaign_id: int) -> CampaignStatus:
    with runtime.sessions() as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.status


def test_pause_resume_show_cancel_list(settings: Settings) -> None:
    """Each control command changes the campaign as it says, and refuses a wrong state."""
    runtime = build_runtime(settings)
    try:
        campaign_id = started_campaign(runtime)
        cid = str(campaign_id)
        assert invoke(settings, "campaigns", "pause", cid)[0] == 0
        assert status_of(runtime, campaign_id) is CampaignStatus.PAUSED
        code, _, err = invoke(settings, "campaigns", "pause", cid)
        assert code == 1
        assert "not sending" in err
        code, out, _ = invoke(settings, "campaigns", "resume", cid)
        assert (code, "1 batches queued" in out) == (0, True)
        code, out, _ = invoke(settings, "campaigns", "show", cid, "--json")
        shown = json.loads(out)
        assert (shown["status"], shown["waiting"], shown["sent"]) == ("sending", 5, 0)
        code, out, _ = invoke(settings, "campaigns", "show", cid, "--no-follow")
        assert "queued 5" in out
        code, out, _ = invoke(settings, "campaigns", "cancel", cid)
        assert "5 messages will not be sent" in out
        assert status_of(runtime, campaign_id) is CampaignStatus.CANCELLED
        code, _, err = invoke(settings, "campaigns", "retry-failed", cid)
        assert code == 1
        listed = json.loads(invoke(settings, "campaigns", "list", "--json")[1])
        assert [(c["id"], c["status"]) for c in listed] == [(campaign_id, "cancelled")]
        code, _, err = invoke(settings, "campaigns", "show", "999")
        assert (code, "does not exist" in err) == (1, True)
    finally:
        runtime.close()


def test_bulletin_send_tests_first_and_asks_before_sending(
    settings: Settings, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    """--test-to mails one copy, its subject marked [THỬ]; declining the question cancels;
    an unknown category is refused."""
    body = tmp_path / "body.txt"
    body.write_text("Mất điện <khu A>.\n\nXin lỗi vì sự bất tiện.", encoding="utf-8")
    runtime = build_runtime(settings)
    try:
        args = ["bulletin", "send", "--subject", "Cúp điện", "--body-file", str(body)]
        code, _, err = invoke(settings, *args, "--category", "khong-co", "--yes")
        assert (code, "unknown categories: khong-co" in err) == (1, True)
        code, _, err = invoke(settings, *args, "--test-to", "thu@example.vn", stdin="n\n")
        assert code == 1
        assert "cancelled" in err
        [test_copy] = smtp_server.wait_for(1)
        assert test_copy.rcpt_tos == ["thu@example.vn"]
        assert test_copy.message["Subject"] == "[THỬ] Cúp điện"  # never taken for the real one
        assert 'subject "[THỬ] Cúp điện"' in err
        html = test_copy.message.get_body(("html",))
        assert html is not None
        assert "Mất điện &lt;khu A&gt;." in html.get_content()
        with runtime.sessions() as s:
            [campaign] = s.query(Campaign).all()
            assert campaign.status is CampaignStatus.CANCELLED
    finally:
        runtime.close()
