"""Areas through the faces: `newsletter areas`, `bulletin send --area` (real worker and
SMTP server), `areas` in the API, the admin's areas page and targeted preview, and the
CSV import and export."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from newsletter.accounts.api_tokens import create_api_token
from newsletter.cli import app as cli_app
from newsletter.config import Settings
from newsletter.models import AuditEvent, Delivery, Subscriber, SubscriberStatus, subscriber_areas
from newsletter.runtime import Runtime, build_runtime
from newsletter.subscribers.areas import DEMO_AREAS, add_area, areas_by_code
from newsletter.subscribers.roster import export_csv, import_subscribers, read_csv
from newsletter.web import create_app
from tests.support.admin import create_admin, log_in
from tests.support.ledger import WorkerProcess, add_subscribers, wait_for_ledger, worker_env
from tests.support.smtp import SMTPServer
from tests.support.webserver import serve

WARD = {"phuong00000@example.vn", "phuong00001@example.vn"}
DISTRICT = {"quan00000@example.vn"}
NO_AREA = {"moinoi00000@example.vn"}
EXPECTED = WARD | DISTRICT | NO_AREA  # a bulletin for the ward


@pytest.fixture
def settings(
    database_url: str, settings_factory: Callable[..., Settings], smtp_server: SMTPServer
) -> Settings:
    return settings_factory(
        database_url=database_url,
        smtp_url=smtp_server.url,
        public_url="http://127.0.0.1",
        send_rate=500,
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = build_runtime(settings)
    with rt.sessions.begin() as s:
        add_area(s, code="quan-1", name="Quận 1")
        add_area(s, code="p-ben-nghe", name="Phường Bến Nghé", parent_code="quan-1")
        add_area(s, code="xa-an-phu", name="Xã An Phú")
        chosen = {
            "p-ben-nghe": add_subscribers(s, 2, prefix="phuong")
            + add_subscribers(s, 1, prefix="cho", status=SubscriberStatus.PENDING),
            "quan-1": add_subscribers(s, 1, prefix="quan"),
            "xa-an-phu": add_subscribers(s, 3, prefix="xa"),
        }
        add_subscribers(s, 1, prefix="moinoi")
        for code, ids in chosen.items():
            [area] = areas_by_code(s, [code])
            s.execute(
                insert(subscriber_areas), [{"subscriber_id": i, "area_id": area.id} for i in ids]
            )
    create_admin(rt.engine)
    yield rt
    rt.close()


def cli(settings: Settings, *args: str, stdin: str | None = None) -> object:
    return CliRunner().invoke(cli_app, list(args), env=worker_env(settings), input=stdin)


def test_areas_cli_add_list_import(runtime: Runtime, settings: Settings, tmp_path: Path) -> None:
    """`areas add` (with --parent), `areas list --json`, and `areas import` reporting each
    bad line while importing the rest; a second import changes nothing."""
    added = CliRunner().invoke(
        cli_app,
        ["areas", "add", "p-da-kao", "Phường Đa Kao", "--parent", "quan-1"],
        env=worker_env(settings),
    )
    assert added.exit_code == 0, added.output
    unknown = CliRunner().invoke(
        cli_app, ["areas", "add", "p-x", "X", "--parent", "quan-9"], env=worker_env(settings)
    )
    assert unknown.exit_code == 1
    assert "unknown parent area 'quan-9'" in unknown.stderr
    listed = CliRunner().invoke(cli_app, ["areas", "list", "--json"], env=worker_env(settings))
    rows = json.loads(listed.stdout)
    assert {"code": "p-da-kao", "name": "Phường Đa Kao", "parent": "quan-1"} in rows
    assert [r["code"] for r in rows][:3] == ["quan-1", "p-ben-nghe", "p-da-kao"]
    csv_file = tmp_path / "areas.csv"
    csv_file.write_text(
        "code,name,parent\n"
        "xa-an-phu,Xã An Phú (Củ Chi),\n"
        "ap-1,Ấp 1,xa-an-phu\n"
        "ap-1,Ấp Một,xa-an-phu\n"
        "ap-2,Ấp 2,khong-co\n",
        encoding="utf-8",
    )
    imported = CliRunner().invoke(
        cli_app, ["areas", "import", str(csv_file)], env=worker_env(settings)
    )
    assert imported.exit_code == 1  # some lines were rejected
    assert "created 1, updated 1, unchanged 0, rejected 2" in imported.stdout
    assert "line 4: duplicate code 'ap-1' (first on line 3)" in imported.stderr
    assert "line 5: unknown parent area 'khong-co'" in imported.stderr
    csv_file.write_text("code,name,parent\nap-1,Ấp 1,xa-an-phu\n", encoding="utf-8")
    again = CliRunner().invoke(
        cli_app, ["areas", "import", str(csv_file), "--json"], env=worker_env(settings)
    )
    assert again.exit_code == 0
    assert json.loads(again.stdout) == {"created": 0, "updated": 0, "unchanged": 1, "rejected": []}
    no_header = tmp_path / "bad.csv"
    no_header.write_text("ma,ten\n1,2\n", encoding="utf-8")
    refused = CliRunner().invoke(
        cli_app, ["areas", "import", str(no_header)], env=worker_env(settings)
    )
    assert refused.exit_code == 1
    assert "'code', 'name'" in refused.stderr


def test_bulletin_send_with_area_reaches_exactly_its_residents(
    runtime: Runtime, settings: Settings, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    """`bulletin send --area` asks with the count and the targeting, refuses an unknown
    area, and the mail reaches the ward, its district and the area-less residents only."""
    body = tmp_path / "body.md"
    body.write_text("Cắt nước tại **Phường Bến Nghé** từ 14:00.", encoding="utf-8")
    base = ["bulletin", "send", "--subject", "Cắt nước", "--body-file", str(body)]
    unknown = CliRunner().invoke(
        cli_app, [*base, "--area", "quan-9", "--yes"], env=worker_env(settings)
    )
    assert unknown.exit_code == 1
    assert "unknown areas: quan-9" in unknown.stderr
    declined = CliRunner().invoke(
        cli_app, [*base, "--area", "p-ben-nghe"], env=worker_env(settings), input="n\n"
    )
    assert declined.exit_code == 1
    assert "to 4 resident(s) now?" in declined.stderr
    assert "areas: p-ben-nghe" in declined.stderr
    with WorkerProcess(settings, tmp_path / "worker.log", queues="urgent,default"):
        sent = CliRunner().invoke(
            cli_app, [*base, "--area", "p-ben-nghe", "--yes"], env=worker_env(settings)
        )
        assert sent.exit_code == 0, sent.output
        campaign_id = int(sent.stdout.strip().splitlines()[-1])
        wait_for_ledger(runtime, campaign_id, timeout=60)
        smtp_server.wait_for(4)
    assert {m.rcpt_tos[0] for m in smtp_server.received} == EXPECTED
    with runtime.sessions() as s:
        detail = s.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "bulletin.sent")
        ).one()
    assert detail == "4 recipients; categories: every category; areas: p-ben-nghe"


def test_api_bulletin_and_subscribers_carry_areas(runtime: Runtime, settings: Settings) -> None:
    """POST /api/v1/bulletins takes `areas` (unknown: 422 naming it) and answers the count
    and the targeting; GET /api/v1/subscribers shows each subscriber's areas."""
    with runtime.sessions.begin() as s:
        token = create_api_token(s, name="cms")
    auth = {"Authorization": f"Bearer {token}"}
    body = {"subject": "Bão", "body_markdown": "Ở nhà.", "areas": ["quan-1"], "send": False}
    with serve(create_app(settings, runtime)) as client:
        bad = client.post("/api/v1/bulletins", json={**body, "areas": ["quan-9"]}, headers=auth)
        assert bad.status_code == 422
        assert "unknown areas: quan-9" in bad.text
        malformed = client.post(
            "/api/v1/bulletins", json={**body, "areas": ["Quận 1"]}, headers=auth
        )
        assert malformed.status_code == 422
        made = client.post("/api/v1/bulletins", json=body, headers=auth)
        assert made.status_code == 201, made.text
        assert made.json() | {"id": 0} == {
            "id": 0,
            "status": "draft",
            "recipients": 4,  # the ward's two, the district's one, the area-less one
            "categories": [],
            "areas": ["quan-1"],
            "send_at": None,
            "note": None,
        }
        found = client.get(
            "/api/v1/subscribers", params={"q": "phuong00000@example.vn"}, headers=auth
        ).json()
    assert [s["areas"] for s in found] == [["p-ben-nghe"]]


def test_admin_areas_page_and_targeted_preview(runtime: Runtime, settings: Settings) -> None:
    """The nav links the areas page, which lists each area with its residents; a bulletin
    composed for an area previews its targeting and the count in Vietnamese, and sending
    writes exactly that many ledger rows and records the areas in the audit trail."""
    with serve(create_app(settings, runtime)) as client:
        csrf = log_in(client)
        dashboard = client.get("/admin/").text
        assert 'href="/admin/areas"' in dashboard
        page = client.get("/admin/areas").text
        assert "Phường Bến Nghé" in page
        assert "<code>xa-an-phu</code>" in page
        assert "<td>p-ben-nghe</td>" not in page
        assert "<strong>1</strong> active resident chose no area" in page
        with runtime.sessions() as s:
            ward_id = s.scalar(
                select(Subscriber.id).where(Subscriber.email == "phuong00000@example.vn")
            )
            nowhere_id = s.scalar(
                select(Subscriber.id).where(Subscriber.email == "moinoi00000@example.vn")
            )
        detail = client.get(f"/admin/subscribers/{ward_id}").text
        assert '<td id="areas">Phường Bến Nghé <span class="muted">p-ben-nghe</span></td>' in detail
        assert "all (no area chosen)" in client.get(f"/admin/subscribers/{nowhere_id}").text
        new = client.get("/admin/bulletins/new").text
        assert 'name="areas" value="xa-an-phu"' in new
        refused = client.post(
            "/admin/bulletins",
            data={"csrf": csrf, "subject": "S", "body": "B", "areas": "khong-co"},
        )
        assert refused.status_code == 422
        assert "unknown areas: khong-co" in refused.text
        created = client.post(
            "/admin/bulletins",
            data={"csrf": csrf, "subject": "Ngập", "body": "Tránh đường.", "areas": "xa-an-phu"},
        )
        assert created.status_code == 303
        preview = client.get(created.headers["location"]).text
        assert "Xã An Phú" in preview
        assert "every category" in preview
        assert "(sẽ gửi đến 4 người)" in preview  # the commune's three and the area-less one
        campaign_id = int(created.headers["location"].rsplit("/", 1)[1])
        sent = client.post(
            f"/admin/bulletins/{campaign_id}/send", data={"csrf": csrf, "recipients": "4"}
        )
        assert sent.status_code == 303
    with runtime.sessions() as s:
        rows = s.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign_id)).all()
        detail = s.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "bulletin.sent")
        ).one()
    assert len(rows) == 4
    assert detail == "4 recipients; categories: every category; areas: xa-an-phu"


def test_csv_import_and_export_carry_areas(runtime: Runtime) -> None:
    """The `areas` column: codes separated by ';' or spaces on import, ';' on export; an
    unknown code rejects that row with its line."""
    text = (
        "email,name,areas\n"
        "moi1@example.vn,Một,quan-1; xa-an-phu\n"
        "moi2@example.vn,Hai,p-ben-nghe xa-an-phu\n"
        "moi3@example.vn,Ba,quan-9\n"
        "moi4@example.vn,Bốn,\n"
    )
    with runtime.sessions.begin() as s:
        result = import_subscribers(
            s,
            rows=read_csv(text),
            consent_source="phiếu giấy 2026",
            resend_after=dt.timedelta(hours=6),
        )
    assert (result.created, result.rejected) == (3, [(4, "unknown areas: quan-9")])
    with runtime.sessions() as s:
        exported = "".join(export_csv(s))
    lines = {line.split(",")[0]: line for line in exported.splitlines()}
    assert lines["email"].endswith(",areas")
    assert lines["moi1@example.vn"].endswith(",quan-1;xa-an-phu")
    assert lines["moi2@example.vn"].endswith(",p-ben-nghe;xa-an-phu")
    assert lines["moi4@example.vn"].endswith(",")


def test_the_demo_import_seeds_the_demo_areas(runtime: Runtime, settings: Settings) -> None:
    """`articles import --demo` adds the demo city's wards and communes (once), next to
    the areas already there."""
    for _ in range(2):
        done = CliRunner().invoke(
            cli_app, ["articles", "import", "--demo"], env=worker_env(settings)
        )
        assert done.exit_code == 0, done.output
    listed = CliRunner().invoke(cli_app, ["areas", "list", "--json"], env=worker_env(settings))
    codes = [row["code"] for row in json.loads(listed.stdout)]
    assert len(codes) == len(set(codes)) == 3 + len(DEMO_AREAS)
    assert {"phuong-hoa-binh", "xa-hoa-phong", "quan-1"} <= set(codes)
