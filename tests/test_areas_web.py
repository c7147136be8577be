"""Residents choose areas (khu vực) in the subscribe box, the JSON API and on their
preferences page, over real HTTP; a request's areas apply only once it is confirmed."""

from __future__ import annotations

from sqlalchemy import select

from newsletter.models import ConsentEvent, Subscriber, SubscriberStatus
from newsletter.signing import Purpose, make_resident_token
from newsletter.subscribers.areas import add_area
from tests.support.ledger import wait_until
from tests.support.public_site import (  # noqa: F401
    Site,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
    site_fixture,
)

EMAIL = "chi.tran@example.gov.vn"
RULE = "Không chọn khu vực nào: bạn nhận mọi bản tin khẩn"


def add_areas(site: Site) -> None:
    with site.runtime.sessions.begin() as session:
        add_area(session, code="quan-1", name="Quận 1")
        add_area(session, code="p-ben-nghe", name="Phường Bến Nghé", parent_code="quan-1")
        add_area(session, code="xa-an-phu", name="Xã An Phú")


def areas_of(site: Site, email: str) -> list[str] | None:
    with site.runtime.sessions() as session:
        row = session.scalar(select(Subscriber).where(Subscriber.email == email))
        return None if row is None else [a.code for a in row.areas]


def test_the_box_offers_areas_with_the_rule_and_stores_the_choice(site: Site) -> None:
    """The box lists every area as a plain checkbox with the Vietnamese rule next to it;
    a form post and a JSON post store the chosen areas on the new (pending) subscriber."""
    with site.client() as client:
        assert 'name="areas"' not in client.get("/").text  # no areas: no field
        add_areas(site)
        box = client.get("/widget").text
        form = client.post("/subscribe", data={"email": EMAIL, "areas": ["p-ben-nghe", "quan-1"]})
        as_json = client.post(
            "/subscribe", json={"email": "b@example.gov.vn", "areas": ["xa-an-phu"]}
        )
        spaced = client.post("/subscribe", data={"email": "c@example.gov.vn", "areas": "QUAN-1 "})
    assert RULE in box
    assert box.count('type="checkbox" name="areas"') == 3
    assert 'value="p-ben-nghe"' in box
    assert "Phường Bến Nghé" in box
    assert form.status_code == 200
    assert as_json.status_code == 202
    assert spaced.status_code == 200
    assert areas_of(site, EMAIL) == ["p-ben-nghe", "quan-1"]
    assert areas_of(site, "b@example.gov.vn") == ["xa-an-phu"]
    assert areas_of(site, "c@example.gov.vn") == ["quan-1"]
    with site.runtime.sessions() as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == EMAIL)).one()
        assert row.reads_every_area is False
        event = session.scalars(
            select(ConsentEvent).where(ConsentEvent.subscriber_id == row.id)
        ).one()
        assert event.detail is not None
        assert '"areas": ["p-ben-nghe", "quan-1"]' in event.detail


def test_an_unknown_area_is_explained_in_vietnamese_and_nothing_is_stored(site: Site) -> None:
    """A form or JSON naming an area that does not exist gets a 422 in Vietnamese naming
    the code, the box again with the typed values, and no subscriber."""
    add_areas(site)
    with site.client() as client:
        as_json = client.post("/subscribe", json={"email": EMAIL, "areas": ["quan-9"]})
        page = client.post("/subscribe", data={"email": EMAIL, "areas": ["quan-1", "quan-9"]})
    assert as_json.status_code == 422
    assert as_json.json()["field"] == "areas"
    assert "Không có khu vực với mã: quan-9" in as_json.json()["message"]
    assert page.status_code == 422
    assert "Không có khu vực với mã: quan-9" in page.text
    assert f'value="{EMAIL}"' in page.text
    assert areas_of(site, EMAIL) is None


def test_a_known_address_gets_its_new_areas_only_once_confirmed(site: Site) -> None:
    """A second request for a pending address waits in pending_request; confirming it
    applies its areas (the existing rule for every choice of a request)."""
    add_areas(site)
    with site.runtime.sessions.begin() as session:
        session.add(Subscriber(email=EMAIL, status=SubscriberStatus.PENDING))
    with site.client() as client:
        answer = client.post("/subscribe", data={"email": EMAIL, "areas": ["xa-an-phu"]})
        assert answer.status_code == 200

        def waiting() -> bool:
            with site.runtime.sessions() as session:
                row = session.scalars(select(Subscriber).where(Subscriber.email == EMAIL)).one()
                return row.pending_request is not None

        wait_until(waiting, timeout=20, what="the known address's request")
        assert areas_of(site, EMAIL) == []
        with site.runtime.sessions() as session:
            row = session.scalars(select(Subscriber).where(Subscriber.email == EMAIL)).one()
            assert row.confirm_key is not None
            token = make_resident_token(site.settings, Purpose.CONFIRM, row.id, row.confirm_key)
        assert client.post(f"/confirm/{token}").status_code == 200
    assert areas_of(site, EMAIL) == ["xa-an-phu"]


def test_preferences_show_and_change_the_areas(site: Site) -> None:
    """The preferences page ticks the resident's areas, saves a new choice, empties it
    (every area), and refuses an unknown code in Vietnamese without changing anything."""
    add_areas(site)
    with site.runtime.sessions.begin() as session:
        row = Subscriber(email=EMAIL, status=SubscriberStatus.ACTIVE)
        session.add(row)
        session.flush()
        token = make_resident_token(site.settings, Purpose.PREFERENCES, row.id, row.link_key)
    url = f"/preferences/{token}"
    with site.client() as client:
        saved = client.post(url, data={"action": "save", "areas": ["quan-1", "xa-an-phu"]})
        assert saved.status_code == 200
        assert areas_of(site, EMAIL) == ["quan-1", "xa-an-phu"]
        page = client.get(url).text
        assert RULE in page
        assert 'value="quan-1"\n        aria-describedby="prefs-areas-hint" checked' in page
        assert 'value="p-ben-nghe"\n        aria-describedby="prefs-areas-hint">' in page
        refused = client.post(url, data={"action": "save", "areas": ["khong-co"]})
        assert refused.status_code == 422
        assert "Không có khu vực với mã: khong-co" in refused.text
        assert areas_of(site, EMAIL) == ["quan-1", "xa-an-phu"]
        assert client.post(url, data={"action": "save"}).status_code == 200
        exported = client.post(url, data={"action": "export"}).json()
    assert areas_of(site, EMAIL) == []
    assert exported["areas"] == []
    with site.runtime.sessions() as session:
        assert session.scalars(
            select(Subscriber.reads_every_area).where(Subscriber.email == EMAIL)
        ).one()


def test_the_corrected_address_form_keeps_the_areas(site: Site) -> None:
    """A likely typo gets a button that subscribes the corrected address: it carries the
    areas chosen, as it carries the name and categories."""
    add_areas(site)
    with site.client() as client:
        page = client.post("/subscribe", data={"email": "lan@gmial.com", "areas": ["quan-1"]})
    assert page.status_code == 200
    assert "lan@gmail.com" in page.text
    assert '<input type="hidden" name="areas" value="quan-1">' in page.text
