"""Configuration problems end a command with one English line naming the fix, never a traceback.

Each test runs the real `newsletter` process from an empty folder, as a second terminal or a
cron job would.
"""

from __future__ import annotations

import socket
from pathlib import Path

from sqlalchemy.orm import Session

from newsletter.db import create_db_engine
from tests.support.ledger import add_subscribers
from tests.test_cli import newsletter


def closed_port() -> int:
    """A local port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_command_from_a_folder_without_var_says_where_the_database_is(tmp_path: Path) -> None:
    """From a folder with no var/: one line naming the missing file and the fixes; nothing made."""
    result = newsletter("digest", "send", "--now", cwd=tmp_path)
    assert result.returncode == 4
    line = one_line_error(result.stderr)
    assert f"no database at {tmp_path}/var/newsletter.db" in line
    assert "NEWSLETTER_VAR_DIR" in line
    assert "newsletter db upgrade" in line
    assert not (tmp_path / "var").exists()


def test_enqueue_from_a_folder_without_var_creates_the_embedded_broker(
    db_backend: str, database_url: str, tmp_path: Path
) -> None:
    """`bulletin send` with the database set and no ./var/: the broker's folder is made."""
    engine = create_db_engine(database_url)
    with Session(engine) as s, s.begin():
        add_subscribers(s, 2)
    engine.dispose()
    body = tmp_path / "body.txt"
    body.write_text("Cắt nước từ 8 giờ.\n", encoding="utf-8")
    result = newsletter(
        "bulletin", "send", "--subject", "Thông báo", "--body-file", str(body), "--yes",
        env={"NEWSLETTER_DATABASE_URL": database_url}, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 batches queued" in result.stderr
    assert (tmp_path / "var" / "broker.db").exists()


def test_database_without_schema_says_run_db_upgrade(tmp_path: Path) -> None:
    """A database file with no tables: "run `newsletter db upgrade`", not `no such table`."""
    (tmp_path / "empty.db").touch()
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    for command in (("categories", "list"), ("digest", "send", "--now")):
        result = newsletter(*command, env={"NEWSLETTER_DATABASE_URL": url}, cwd=tmp_path)
        assert result.returncode == 4
        assert one_line_error(result.stderr) == (
            "error: the database has no schema yet: run `newsletter db upgrade`"
        )


def test_refused_connections_name_the_setting(database_url: str, tmp_path: Path) -> None:
    """PostgreSQL or a Redis broker refusing the connection: one line with the setting's name."""
    port = closed_port()
    db = newsletter(
        "categories", "list",
        env={"NEWSLETTER_DATABASE_URL": f"postgresql://u:pw@127.0.0.1:{port}/x"}, cwd=tmp_path,
    )  # fmt: skip
    assert db.returncode == 4
    line = one_line_error(db.stderr)
    assert line.startswith("error: cannot reach PostgreSQL (NEWSLETTER_DATABASE_URL):")
    assert "pw" not in line
    engine = create_db_engine(database_url)
    with Session(engine) as s, s.begin():
        add_subscribers(s, 1)
    engine.dispose()
    body = tmp_path / "body.txt"
    body.write_text("Cắt nước.\n", encoding="utf-8")
    broker = newsletter(
        "bulletin", "send", "--subject", "Thông báo", "--body-file", str(body), "--yes",
        env={"NEWSLETTER_DATABASE_URL": database_url,
             "NEWSLETTER_BROKER_URL": f"redis://127.0.0.1:{port}/0"},
        cwd=tmp_path,
    )  # fmt: skip
    assert broker.returncode == 4
    assert one_line_error(broker.stderr).startswith(
        "error: cannot reach the broker (NEWSLETTER_BROKER_URL):"
    )
