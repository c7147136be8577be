"""Health, readiness and metrics endpoints; refusing to start without dependencies."""

from __future__ import annotations

import json
import logging
import os
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

from newsletter.accounts.api_tokens import create_api_token
from newsletter.config import Settings
from newsletter.db import create_db_engine, create_session_factory
from newsletter.logs import JSONFormatter, ReadableFormatter, mask_email
from newsletter.models import Campaign, CampaignKind, Subscriber, SubscriberStatus
from newsletter.web import create_app
from tests.conftest import TEST_SECRET
from tests.support.webserver import serve as live_server


def test_readyz_ok_on_embedded_defaults(
    database_url: str, settings_factory: type[Settings]
) -> None:
    """With the database, the embedded broker and the outbox all usable, /readyz is 200."""
    settings = settings_factory(database_url=database_url)
    with live_server(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "smtp"}


def test_readyz_names_what_is_down(database_url: str, settings_factory: type[Settings]) -> None:
    """An unreachable broker and SMTP relay give 503 naming both, and the database as fine."""
    settings = settings_factory(
        database_url=database_url,
        broker_url="redis://127.0.0.1:1/0",
        smtp_url="smtp://127.0.0.1:1",
    )
    with live_server(create_app(settings)) as client:
        response = client.get("/readyz")
        alive = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker", "smtp"]
    assert body["checks"]["database"]["ok"] is True
    assert alive.status_code == 200


def test_readyz_with_real_redis_and_smtp(
    database_url: str, settings_factory: type[Settings], redis_url: str, smtp_server: object
) -> None:
    """Against the real Redis broker and a real SMTP server every check passes."""
    settings = settings_factory(
        database_url=database_url,
        broker_url=redis_url,
        smtp_url=smtp_server.url,  # type: ignore[attr-defined]
    )
    with live_server(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 200, response.text


def test_readyz_says_only_the_status_to_strangers(
    database_url: str, settings_factory: type[Settings]
) -> None:
    """A remote caller without a token learns ready or not, never which host failed or why."""
    settings = settings_factory(
        database_url=database_url,
        broker_url="redis://127.0.0.1:1/0",
        smtp_url="smtp://127.0.0.1:1",
    )
    stranger = {"X-Forwarded-For": "203.0.113.7"}  # uvicorn trusts its loopback proxy
    with live_server(create_app(settings)) as client:
        response = client.get("/readyz", headers=stranger)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert "127.0.0.1" not in response.text


def test_readyz_details_for_an_api_token(
    database_url: str, settings_factory: type[Settings]
) -> None:
    """A remote caller with a valid API token gets the failing checks and their details."""
    settings = settings_factory(database_url=database_url, smtp_url="smtp://127.0.0.1:1")
    engine = create_db_engine(database_url)
    with create_session_factory(engine).begin() as session:
        token = create_api_token(session, name="monitoring")
    engine.dispose()
    remote = {"X-Forwarded-For": "203.0.113.7"}
    with live_server(create_app(settings)) as client:
        wrong = client.get("/readyz", headers={**remote, "Authorization": "Bearer nope"})
        right = client.get("/readyz", headers={**remote, "Authorization": f"Bearer {token}"})
    assert wrong.json() == {"status": "unavailable"}
    assert right.json()["failing"] == ["smtp"]
    assert "127.0.0.1:1" in right.json()["checks"]["smtp"]["detail"]


class _CountingRelay(socketserver.ThreadingTCPServer):
    """Just enough SMTP for a readiness probe (greeting, NOOP, QUIT); counts connections."""

    daemon_threads = True
    connections = 0


class _RelayHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, _CountingRelay)
        server.connections += 1
        self.wfile.write(b"220 relay ready\r\n")
        for line in self.rfile:
            if line.upper().startswith(b"QUIT"):
                self.wfile.write(b"221 bye\r\n")
                return
            self.wfile.write(b"250 ok\r\n")


def test_readyz_reuses_its_checks_briefly(
    database_url: str, settings_factory: type[Settings]
) -> None:
    """Ten calls in a row open one connection to the mail relay, not ten."""
    with _CountingRelay(("127.0.0.1", 0), _RelayHandler) as relay:
        threading.Thread(target=relay.serve_forever, daemon=True).start()
        port = relay.server_address[1]
        settings = settings_factory(database_url=database_url, smtp_url=f"smtp://127.0.0.1:{port}")
        with live_server(create_app(settings)) as client:
            answers = [client.get("/readyz").status_code for _ in range(10)]
        relay.shutdown()
    assert answers == [200] * 10
    assert relay.connections == 1


def test_metrics_report_store_and_http(database_url: str, settings_factory: type[Settings]) -> None:
    """/metrics shows subscribers by status, messages by kind, and requests by route template."""
    settings = settings_factory(database_url=database_url)
    engine = create_db_engine(database_url)
    with create_session_factory(engine).begin() as session:
        session.add_all(
            [Subscriber(email=f"a{i}@example.vn", status=SubscriberStatus.ACTIVE) for i in range(3)]
            + [Subscriber(email="p@example.vn")]
        )
        session.add(Campaign(kind=CampaignKind.DIGEST, subject="x", sent_count=7, failed_count=2))
    engine.dispose()
    with live_server(create_app(settings)) as client:
        client.get("/healthz")
        client.get("/static/site.css")
        client.get("/khong-co-trang-nay")
        text = client.get("/metrics").text
    assert 'newsletter_subscribers{status="active"} 3.0' in text
    assert 'newsletter_subscribers{status="pending"} 1.0' in text
    assert 'newsletter_messages{kind="digest",outcome="sent"} 7.0' in text
    assert 'newsletter_messages{kind="digest",outcome="failed"} 2.0' in text
    assert 'newsletter_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="unmatched",status="404"' in text


def test_json_logs_mask_addresses_and_carry_send_context() -> None:
    """Production log lines are JSON, mask e-mail addresses and carry campaign/delivery ids."""
    record = logging.LogRecord(
        "newsletter.delivery.ledger",
        logging.INFO,
        __file__,
        1,
        "sent to %s",
        ("an.nguyen@example.vn",),
        None,
    )
    record.campaign_id = 12
    record.delivery_id = 3456
    entry = json.loads(JSONFormatter().format(record))
    assert entry["message"] == "sent to a***@example.vn"
    assert (entry["campaign_id"], entry["delivery_id"]) == (12, 3456)
    readable = ReadableFormatter().format(record)
    assert "a***@example.vn" in readable
    assert "an.nguyen" not in readable
    assert "campaign_id=12 delivery_id=3456" in readable
    assert mask_email("x@y.vn") == "x***@y.vn"


def test_worker_refuses_to_start_without_database(tmp_path: Path) -> None:
    """`newsletter worker` with an unreachable database exits non-zero with one clear line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_SECRET_KEY=TEST_SECRET,
        NEWSLETTER_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2",
    )
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "worker"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 4
    assert "cannot start: database unreachable" in result.stderr
    assert "Traceback" not in result.stderr
