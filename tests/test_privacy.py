"""Privacy: erasure leaves the address nowhere in the database; logs mask it in any encoding."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from sqlalchemy import JSON, String, Text, cast, func, select
from sqlalchemy.orm import Session

from newsletter.accounts.audit import record_audit
from newsletter.logs import redact
from newsletter.models import (
    Base,
    Campaign,
    CampaignKind,
    Delivery,
    DeliveryStatus,
    Subscriber,
    Suppression,
)
from newsletter.subscribers.lifecycle import Consent, confirm_subscription, request_subscription
from newsletter.subscribers.preferences import erase_address
from newsletter.subscribers.suppression import suppress

ADDRESS = "nghi.viec@congty.example"
OTHER = "dong.nghiep@congty.example"


def _subscribe(session: Session, email: str, name: str) -> int:
    outcome = request_subscription(
        session, email=email, name=name, category_slugs=[],
        consent=Consent(ip="203.0.113.5", user_agent="Trình duyệt", via="form"),
        resend_after=dt.timedelta(hours=6),
    )  # fmt: skip
    assert outcome.subscriber_id is not None
    row = session.get(Subscriber, outcome.subscriber_id)
    assert row is not None
    assert row.confirm_key is not None
    confirm_subscription(
        session, subscriber_id=row.id, confirm_key=row.confirm_key, consent=Consent(via="page")
    )
    return row.id


def _texts_holding(session: Session, needle: str) -> list[str]:
    """Every (table.column) of the whole database whose text holds `needle`, any case."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, String | Text | JSON):
                continue
            text = cast(column, Text) if isinstance(column.type, JSON) else column
            hits = session.scalar(
                select(func.count())
                .select_from(table)
                .where(func.lower(text).contains(needle.lower(), autoescape=True))
            )
            if hits:
                found.append(f"{table.name}.{column.name}")
    return found


def test_erase_leaves_the_address_in_no_text_column(session: Session) -> None:
    """After erase no text column of any table holds the address, in any letter case, though
    bounce diagnostics, the audit trail and a suppression's detail quoted it."""
    subscriber_id = _subscribe(session, ADDRESS, "Nghỉ Việc")
    other_id = _subscribe(session, OTHER, "Đồng Nghiệp")
    campaign = Campaign(kind=CampaignKind.BULLETIN, subject="Thông báo cắt nước")
    session.add(campaign)
    session.flush()
    diagnostic = f"550 5.1.1 <{ADDRESS.upper()}>: Recipient address rejected: User unknown"
    session.add_all(
        [
            Delivery(campaign_id=campaign.id, subscriber_id=subscriber_id,
                     status=DeliveryStatus.BOUNCED, last_error=diagnostic),
            # A colleague's mail forwarded to the address bounced, quoting it.
            Delivery(campaign_id=campaign.id, subscriber_id=other_id,
                     status=DeliveryStatus.FAILED, last_error=f"forward to {ADDRESS} failed"),
        ]
    )  # fmt: skip
    record_audit(session, actor="canbo", action="subscriber.search", target=ADDRESS,
                 detail=f"q={ADDRESS}")  # fmt: skip
    suppress(session, email="cu@congty.example", reason="bounced", detail=diagnostic)
    session.flush()
    assert _texts_holding(session, ADDRESS)  # the search does find it before

    assert erase_address(session, email=ADDRESS) is True
    session.flush()

    assert _texts_holding(session, ADDRESS) == []
    assert _texts_holding(session, ADDRESS.lower()) == []
    # What the ledger and the audit need stays, without the person.
    errors = session.scalars(select(Delivery.last_error).order_by(Delivery.id)).all()
    assert errors[0] is not None
    assert errors[0].startswith("550 5.1.1 <[erased address]>")
    assert session.scalar(select(func.count()).select_from(Suppression)) == 2
    assert session.get(Subscriber, other_id) is not None


def test_logs_mask_percent_encoded_addresses() -> None:
    """An address in a URL, percent-encoded once or twice, is masked like a plain one."""
    for address in ("an.nguyen@example.vn", "lan+tin@hà-nội.vn", "AN@EXAMPLE.VN"):
        once = quote(address, safe="")
        twice = quote(once, safe="")
        for encoded, at in ((once, "%40"), (twice, "%2540")):
            local, domain = encoded.split(at)
            line = redact(f'GET /admin/subscribers?q={encoded}&page=2 HTTP/1.1" 200')
            assert local not in line, line
            assert f"q={local[0]}***{at}{domain}&page=2" in line
    assert redact("giảm giá 100%40 off.com") == "giảm giá 100%40 off.com"
