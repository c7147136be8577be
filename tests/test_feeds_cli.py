"""`newsletter feeds add | list | poll` as a user runs them, against a local feed server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.feedserver import FeedServer, rss, rss_item
from tests.test_cli import newsletter


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A threaded HTTP server on 127.0.0.1 (port 0) serving the test's feeds."""
    server = FeedServer()
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_add_list_poll(feed_server: FeedServer, database_url: str, tmp_path: Path) -> None:
    """Poll reports each feed and exits 1 when one failed; list shows last success and error."""
    env = {"NEWSLETTER_DATABASE_URL": database_url, "NEWSLETTER_FEED_ALLOW_PRIVATE": "true"}
    good = feed_server.serve("/good", rss(rss_item(1), rss_item(2)).encode())
    bad = feed_server.serve("/bad", b"<rss", Content_Type="application/rss+xml")
    assert (
        newsletter("categories", "add", "tin-tuc", "Tin tức", env=env, cwd=tmp_path).returncode == 0
    )
    added = newsletter("feeds", "add", good, "--category", "tin-tuc", env=env, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert newsletter("feeds", "add", bad, env=env, cwd=tmp_path).returncode == 0
    unknown = newsletter("feeds", "add", good + "?x", "--category", "nope", env=env, cwd=tmp_path)
    assert unknown.returncode == 1
    assert "unknown categories: nope" in unknown.stderr

    polled = newsletter("feeds", "poll", "--json", env=env, cwd=tmp_path)

    assert polled.returncode == 1
    report = {r["url"]: r for r in json.loads(polled.stdout)}
    assert (report[good]["status"], report[good]["new"]) == ("ok", 2)
    assert report[bad]["status"] == "error"
    listed = json.loads(newsletter("feeds", "list", "--json", env=env, cwd=tmp_path).stdout)
    by_url = {f["url"]: f for f in listed}
    assert by_url[good]["category"] == "tin-tuc"
    assert by_url[good]["last_success_at"] is not None
    assert by_url[good]["last_error"] is None
    assert "not well-formed XML" in by_url[bad]["last_error"]
    assert by_url[bad]["last_success_at"] is None
    table = newsletter("feeds", "list", env=env, cwd=tmp_path)
    assert "never" in table.stdout
