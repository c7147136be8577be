"""Resident links name one subscriber for ever: ids are never given twice, and a link acts
only on the row holding its key, so an erased resident's links act on no one."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import migrate
from newsletter.models import Subscriber, SubscriberStatus
from newsletter.signing import Purpose, make_resident_token
from newsletter.subscribers.lifecycle import Consent, request_subscription
from newsletter.subscribers.preferences import erase_address
from tests.support.public_site import (  # noqa: F401
    Site,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
    site_fixture,
)
from tests.test_subscribe_web import confirm_link

ATTACKER = "ke.gian@example.vn"
VICTIM = "nan.nhan@example.vn"
CONSENT = Consent(ip="203.0.113.9", via="form")


def row_of(site: Site, email: str) -> Subscriber | None:
    with site.runtime.sessions() as session:
        return session.scalar(select(Subscriber).where(Subscriber.email == email))


def test_old_links_of_an_erased_subscriber_act_on_no_one(site: Site) -> None:
    """The attack: subscribe, keep the links, erase, submit a victim's address; the old
    confirm link does not confirm the victim and the old preferences link exports nothing."""
    with site.client() as client:
        assert client.post("/subscribe", data={"email": ATTACKER}).status_code == 200
        old_confirm = confirm_link(site.smtp.wait_for(1)[-1])
        attacker = row_of(site, ATTACKER)
        assert attacker is not None
        old_preferences = "/preferences/" + make_resident_token(
            site.settings, Purpose.PREFERENCES, attacker.id, attacker.link_key
        )
        erased = client.post(old_preferences, data={"action": "erase", "confirm_erase": "yes"})
        assert erased.status_code == 200
        assert client.post("/subscribe", data={"email": VICTIM}).status_code == 200
        site.smtp.wait_for(2)
        confirm = client.post(old_confirm)
        export = client.post(old_preferences, data={"action": "export"})
        page = client.get(old_preferences)
    victim = row_of(site, VICTIM)
    assert victim is not None
    assert victim.id != attacker.id, "an erased subscriber's id was given again"
    assert confirm.status_code == 400
    assert victim.status is SubscriberStatus.PENDING
    assert export.status_code == 404
    assert VICTIM not in export.text
    assert page.status_code == 404
    assert VICTIM not in page.text


def test_a_link_with_another_rows_key_acts_on_no_one(site: Site) -> None:
    """Were an id ever to name someone else (a restored backup, a reused id), a link signed
    with the earlier holder's key opens neither page nor action for the new holder."""
    with site.client() as client:
        client.post("/subscribe", data={"email": VICTIM})
        victim = row_of(site, VICTIM)
        assert victim is not None
        assert victim.confirm_key is not None
        stale_key = "0" * 32
        confirm = "/confirm/" + make_resident_token(
            site.settings, Purpose.CONFIRM, victim.id, stale_key
        )
        preferences = "/preferences/" + make_resident_token(
            site.settings, Purpose.PREFERENCES, victim.id, stale_key
        )
        unsubscribe = "/unsubscribe/" + make_resident_token(
            site.settings, Purpose.UNSUBSCRIBE, victim.id, stale_key
        )
        assert client.post(confirm).status_code == 400
        assert client.post(preferences, data={"action": "export"}).status_code == 404
        erase = client.post(preferences, data={"action": "erase", "confirm_erase": "yes"})
        assert erase.status_code == 404
        client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    after = row_of(site, VICTIM)
    assert after is not None
    assert after.status is SubscriberStatus.PENDING


def test_ids_are_never_given_twice(session: Session) -> None:
    """Erasing the newest subscriber does not free its id for the next one (both databases)."""
    ids = []
    for email in (ATTACKER, VICTIM):
        outcome = request_subscription(
            session, email=email, name=None, category_slugs=[], consent=CONSENT,
            resend_after=dt.timedelta(hours=6),
        )  # fmt: skip
        assert outcome.subscriber_id is not None
        ids.append(outcome.subscriber_id)
        if email == ATTACKER:
            erase_address(session, email=ATTACKER)
    assert ids[1] > ids[0]


def test_migration_keeps_rows_indexes_and_triggers(tmp_path: Path) -> None:
    """0008 rebuilds subscribers with AUTOINCREMENT: rows, ids, categories, consent events,
    indexes and the reads_every_category triggers survive, and each row gets its own key."""
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url, "0007_reads_every_category")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute(
            "INSERT INTO categories (id, slug, name, position, created_at)"
            " VALUES (1, 'tin-tuc', 'Tin tức', 0, '2026-11-01 00:00:00')"
        )
        for sid in (1, 2, 3):
            db.execute(
                "INSERT INTO subscribers (id, email, status, locale, bounce_score, created_at,"
                " updated_at) VALUES (?, ?, 'active', 'vi', 0, '2026-11-01', '2026-11-01')",
                (sid, f"cu.dan.{sid}@example.vn"),
            )
        db.execute("INSERT INTO subscriber_categories VALUES (2, 1)")
        db.execute(
            "INSERT INTO consent_events (subscriber_id, kind, occurred_at)"
            " VALUES (2, 'confirmed', '2026-11-01')"
        )
        before = db.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger') ORDER BY name"
        ).fetchall()
    migrate.upgrade(url, "0008_security")  # the migration under test; later ones add tables
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys = ON")
        rows = db.execute(
            "SELECT id, email, reads_every_category, link_key FROM subscribers ORDER BY id"
        ).fetchall()
        assert [(r[0], r[1], r[2]) for r in rows] == [
            (1, "cu.dan.1@example.vn", 1), (2, "cu.dan.2@example.vn", 0),
            (3, "cu.dan.3@example.vn", 1),
        ]  # fmt: skip
        assert len({r[3] for r in rows}) == 3
        assert all(len(r[3]) == 32 for r in rows)
        assert db.execute("SELECT * FROM subscriber_categories").fetchall() == [(2, 1)]
        assert db.execute("SELECT count(*) FROM consent_events").fetchone() == (1,)
        after = db.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger') ORDER BY name"
        ).fetchall()
        assert after == before
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        # The triggers still keep the flag; the erased newest id is not given again.
        db.execute("DELETE FROM subscriber_categories")
        assert db.execute("SELECT reads_every_category FROM subscribers WHERE id = 2").fetchone()
        db.execute("DELETE FROM subscribers WHERE id = 3")
        db.execute(
            "INSERT INTO subscribers (email, status, locale, bounce_score, created_at,"
            " updated_at) VALUES ('moi@example.vn', 'pending', 'vi', 0, '2026-12-01',"
            " '2026-12-01')"
        )
        assert db.execute("SELECT max(id) FROM subscribers").fetchone() == (4,)
