"""Areas (khu vực): the list, its CSV import, the reads_every_area flag, and who a
targeted bulletin reaches. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, exists, func, insert, select
from sqlalchemy.orm import Session

from newsletter.campaigns.audience import count_eligible, start_campaign
from newsletter.campaigns.build import create_bulletin
from newsletter.campaigns.targeting import campaign_targeting, vi_number
from newsletter.models import Area, Delivery, Subscriber, subscriber_areas
from newsletter.subscribers.areas import (
    AreaError,
    add_area,
    areas_by_code,
    choose_areas,
    import_areas,
    list_areas,
    split_codes,
)
from tests.support.ledger import add_category, add_subscribers


def city(session: Session) -> None:
    """A district with two wards, and a commune elsewhere."""
    add_area(session, code="quan-1", name="Quận 1")
    add_area(session, code="p-ben-nghe", name="Phường Bến Nghé", parent_code="quan-1")
    add_area(session, code="p-da-kao", name="Phường Đa Kao", parent_code="quan-1")
    add_area(session, code="xa-an-phu", name="Xã An Phú")


def give_areas(session: Session, ids: list[int], *codes: str) -> None:
    area_ids = [a.id for a in areas_by_code(session, codes)]
    session.execute(
        insert(subscriber_areas),
        [{"subscriber_id": s, "area_id": a} for s in ids for a in area_ids],
    )


def assert_flag_is_no_rows(session: Session) -> None:
    session.flush()
    session.expire_all()
    has_rows = exists().where(subscriber_areas.c.subscriber_id == Subscriber.id)
    wrong = session.scalars(
        select(Subscriber.email).where(Subscriber.reads_every_area == has_rows)
    ).all()
    assert wrong == []


def test_add_list_and_refuse_bad_areas(session: Session) -> None:
    """Areas list parent first, children indented under it; bad codes, duplicates and
    unknown parents are refused with a message naming them."""
    city(session)
    rows = list_areas(session)
    assert [(r.code, r.depth, r.parent_code) for r in rows] == [
        ("quan-1", 0, None),
        ("p-ben-nghe", 1, "quan-1"),
        ("p-da-kao", 1, "quan-1"),
        ("xa-an-phu", 0, None),
    ]
    with pytest.raises(AreaError, match="already exists"):
        add_area(session, code="QUAN-1", name="Quận Một")
    with pytest.raises(AreaError, match="unknown parent area 'quan-9'"):
        add_area(session, code="p-x", name="Phường X", parent_code="quan-9")
    with pytest.raises(AreaError, match="invalid area code"):
        add_area(session, code="phường 1", name="Phường 1")
    with pytest.raises(AreaError, match="unknown areas: khong-co") as caught:
        areas_by_code(session, ["quan-1", "khong-co"])
    assert caught.value.codes == ["khong-co"]
    assert split_codes("quan-1; p-da-kao,xa-an-phu  p-ben-nghe") == [
        "quan-1",
        "p-da-kao",
        "xa-an-phu",
        "p-ben-nghe",
    ]


def test_import_reports_each_bad_line_and_is_idempotent(session: Session) -> None:
    """Bad lines are rejected with their number and reason, the rest imported; a parent
    may come later in the file; importing again changes nothing; a new name updates."""
    rows = [
        {"code": "p-hoa-binh", "name": "Phường Hòa Bình", "parent": "q-hai-chau"},  # line 2
        {"code": "q-hai-chau", "name": "Quận Hải Châu", "parent": ""},
        {"code": "q-hai-chau", "name": "Trùng mã", "parent": ""},
        {"code": "p-mo-coi", "name": "Phường Mồ Côi", "parent": "khong-co"},
        {"code": "x y", "name": "Sai mã", "parent": ""},
        {"code": "p-trong", "name": "", "parent": ""},
        {"code": "vong-a", "name": "Vòng A", "parent": "vong-b"},
        {"code": "vong-b", "name": "Vòng B", "parent": "vong-a"},
        {"code": "con-mo-coi", "name": "Con", "parent": "p-mo-coi"},
    ]
    result = import_areas(session, rows=rows)
    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    reasons = dict(result.rejected)
    assert sorted(reasons) == [4, 5, 6, 7, 8, 9, 10]
    assert "duplicate code 'q-hai-chau' (first on line 3)" in reasons[4]
    assert "unknown parent area 'khong-co'" in reasons[5]
    assert "invalid area code" in reasons[6]
    assert "non-empty name" in reasons[7]
    assert "inside itself" in reasons[8]
    assert "inside itself" in reasons[9]
    assert "unknown parent area 'p-mo-coi'" in reasons[10]
    ward = session.scalar(select(Area).where(Area.code == "p-hoa-binh"))
    assert ward is not None
    assert ward.parent_id is not None

    again = import_areas(session, rows=rows[:2])
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 2, [])
    renamed = import_areas(
        session, rows=[{"code": "q-hai-chau", "name": "Quận  Hải Châu (mới)", "parent": ""}]
    )
    assert renamed.updated == 1
    assert session.scalar(select(Area.name).where(Area.code == "q-hai-chau")) == (
        "Quận Hải Châu (mới)"
    )
    assert session.scalar(select(func.count()).select_from(Area)) == 2


def test_reads_every_area_follows_the_rows(session: Session) -> None:
    """The flag is "has no area rows" after inserts, ORM changes, deletes and an area's
    deletion cascading its rows away."""
    city(session)
    ids = add_subscribers(session, 3)
    give_areas(session, ids[:2], "p-ben-nghe", "xa-an-phu")
    assert_flag_is_no_rows(session)
    subscriber = session.get(Subscriber, ids[0])
    assert subscriber is not None
    choose_areas(session, subscriber, [])
    assert_flag_is_no_rows(session)
    choose_areas(session, subscriber, ["p-da-kao"])
    assert_flag_is_no_rows(session)
    session.execute(delete(subscriber_areas).where(subscriber_areas.c.subscriber_id == ids[1]))
    assert_flag_is_no_rows(session)
    session.execute(delete(Area).where(Area.code == "p-da-kao"))
    assert_flag_is_no_rows(session)
    assert session.get(Subscriber, ids[0]).reads_every_area is True  # type: ignore[union-attr]


def test_an_area_bulletin_reaches_its_area_the_tree_around_it_and_the_area_less(
    session: Session,
) -> None:
    """Targeting a ward reaches that ward, its district and residents with no area, not
    the other ward nor the commune; targeting the district reaches both wards. The count
    shown before the start is the number of rows the start writes."""
    city(session)
    ward = add_subscribers(session, 3, prefix="ward")
    other_ward = add_subscribers(session, 2, prefix="other")
    district = add_subscribers(session, 2, prefix="district")
    commune = add_subscribers(session, 4, prefix="commune")
    everywhere = add_subscribers(session, 5, prefix="all")
    give_areas(session, ward, "p-ben-nghe")
    give_areas(session, other_ward, "p-da-kao")
    give_areas(session, district, "quan-1")
    give_areas(session, commune, "xa-an-phu")
    give_areas(session, commune[:1], "p-ben-nghe")  # two areas: one matching

    def started(codes: list[str]) -> set[int]:
        campaign = create_bulletin(
            session, subject="Cắt nước", body_markdown="Nội dung", category_slugs=[],
            area_codes=codes, created_by="test",
        )  # fmt: skip
        expected = count_eligible(session, campaign_id=campaign.id)
        start_campaign(session, campaign_id=campaign.id)
        rows = set(
            session.scalars(
                select(Delivery.subscriber_id).where(Delivery.campaign_id == campaign.id)
            )
        )
        assert len(rows) == expected == campaign.total_count
        return rows

    assert started(["p-ben-nghe"]) == {*ward, *district, commune[0], *everywhere}
    assert started(["quan-1"]) == {*ward, *other_ward, *district, commune[0], *everywhere}
    assert started(["xa-an-phu", "p-da-kao"]) == {*other_ward, *district, *commune, *everywhere}
    assert len(started([])) == 16
    with pytest.raises(AreaError, match="unknown areas: quan-9"):
        create_bulletin(
            session, subject="S", body_markdown="B", category_slugs=[],
            area_codes=["quan-9"], created_by="test",
        )  # fmt: skip


def test_categories_and_areas_together(session: Session) -> None:
    """Both filters at once: a resident must match (or not have chosen) on each side."""
    city(session)
    news = add_category(session, "tin-tuc", "Tin tức")
    water = add_category(session, "cap-nuoc", "Cấp nước")
    both = add_subscribers(session, 2, prefix="both", categories=[water])
    give_areas(session, both, "p-ben-nghe")
    wrong_category = add_subscribers(session, 2, prefix="news", categories=[news])
    give_areas(session, wrong_category, "p-ben-nghe")
    any_category = add_subscribers(session, 3, prefix="anycat")
    give_areas(session, any_category, "p-ben-nghe")
    any_area = add_subscribers(session, 4, prefix="anyarea", categories=[water])
    wrong_area = add_subscribers(session, 1, prefix="far", categories=[water])
    give_areas(session, wrong_area, "xa-an-phu")
    nothing_chosen = add_subscribers(session, 5, prefix="free")

    campaign = create_bulletin(
        session, subject="Cắt nước", body_markdown="Nội dung", category_slugs=["cap-nuoc"],
        area_codes=["p-ben-nghe"], created_by="test",
    )  # fmt: skip
    targeting = campaign_targeting(session, campaign_id=campaign.id)
    assert targeting.recipients == 14
    assert targeting.as_dict() == {
        "categories": ["cap-nuoc"],
        "areas": ["p-ben-nghe"],
        "recipients": 14,
    }
    assert "areas: p-ben-nghe" in targeting.describe()
    start_campaign(session, campaign_id=campaign.id)
    rows = set(
        session.scalars(select(Delivery.subscriber_id).where(Delivery.campaign_id == campaign.id))
    )
    assert rows == {*both, *any_category, *any_area, *nothing_chosen}


def test_vietnamese_count() -> None:
    """Thousands are grouped with a dot, as Vietnamese writes them."""
    assert vi_number(12304) == "12.304"
    assert vi_number(1_000_000) == "1.000.000"
    assert vi_number(7) == "7"
