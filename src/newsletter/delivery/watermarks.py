"""Watermarks: an article reaches a subscriber at most once, whatever their frequency.

Each subscriber's `mailed_through` is the highest article id a mail to them already
covered. A digest or alert row, when first claimed, records that watermark in
`deliveries.after_article` and advances the subscriber's to the campaign's `upto` (the
highest article id it covers), in the claim's transaction, under the subscriber's row
lock. The message then shows the subscriber's articles with `after_article < id <= upto`
(the campaign's own list when they had none yet). So two campaigns never cover the same
article for one subscriber, even when they send at the same moment on two workers (the
second claim reads the first's watermark), and a row sent again after a crash shows the
same articles (its `after_article` stays). A row that ends without its mail (refused for
good, cancelled) gives the watermark back when no later mail moved it on
(`restore`). Why at the claim and not at the mark: docs/delivery.md "Frequencies".
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.orm import Session

from newsletter.models import Campaign, CampaignKind, Delivery, Frequency, Subscriber

# The campaign kinds that carry articles, and who receives each (urgent bulletins: all).
FREQUENCY_OF: dict[CampaignKind, Frequency] = {
    CampaignKind.DIGEST: Frequency.WEEKLY,
    CampaignKind.DAILY_DIGEST: Frequency.DAILY,
    CampaignKind.ALERT: Frequency.IMMEDIATELY,
}
NO_WATERMARK = -1  # after_article of a row whose subscriber had none: the campaign's list


def campaign_upto(session: Session, campaign_id: int) -> int | None:
    """The highest article id the campaign covers; None: it keeps no watermarks.

    Bulletins carry no articles; a digest made before watermarks existed has no `upto`
    and sends as it always did.
    """
    row = session.execute(
        select(Campaign.kind, Campaign.meta).where(Campaign.id == campaign_id)
    ).first()
    if row is None or row.kind not in FREQUENCY_OF:
        return None
    upto = (row.meta or {}).get("upto")
    return None if upto is None else int(upto)


def reserve(
    session: Session, *, upto: int, rows: Sequence[tuple[int, int]]
) -> dict[int, int | None]:
    """Record each claimed row's watermark and advance its subscriber's to `upto`.

    `rows`: (delivery_id, subscriber_id) of the deliverable rows just claimed. Returns
    delivery_id → the watermark the message starts after (None: the campaign's own list).
    Subscribers are locked in id order, so two claims over the same people cannot deadlock.
    """
    if not rows:
        return {}
    subscriber_ids = sorted({sid for _, sid in rows})
    delivery_ids = [did for did, _ in rows]
    session.execute(
        select(Subscriber.id)
        .where(Subscriber.id.in_(subscriber_ids))
        .order_by(Subscriber.id)
        .with_for_update()
    )
    # A row's first claim records its subscriber's watermark; a row claimed again (sent
    # again after a crash) keeps what it recorded. One statement for the chunk (it was
    # an executemany: one UPDATE per row, for the database and for the client).
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.after_article.is_(None))
        .values(
            after_article=select(func.coalesce(Subscriber.mailed_through, NO_WATERMARK))
            .where(Subscriber.id == Delivery.subscriber_id)
            .scalar_subquery()
        )
        .execution_options(synchronize_session=False)
    )
    recorded: dict[int, int | None] = dict(
        session.execute(
            select(Delivery.id, Delivery.after_article).where(Delivery.id.in_(delivery_ids))
        ).all()
    )
    session.execute(
        update(Subscriber)
        .where(
            Subscriber.id.in_(subscriber_ids),
            or_(Subscriber.mailed_through.is_(None), Subscriber.mailed_through < upto),
        )
        .values(mailed_through=upto)
        .execution_options(synchronize_session=False)
    )
    return {
        did: (None if recorded[did] in (None, NO_WATERMARK) else recorded[did]) for did, _ in rows
    }


def restore(executor: Session | Connection, *, delivery_ids: Sequence[int]) -> None:
    """Give back the watermark of rows that end without their mail (failed, cancelled).

    Only where no later mail moved it on: the subscriber's watermark is still the
    campaign's `upto`, which only this campaign's rows set.
    """
    if not delivery_ids:
        return
    found = executor.execute(
        select(Delivery.subscriber_id, Delivery.after_article, Campaign.meta)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Delivery.id.in_(delivery_ids),
            Delivery.after_article.is_not(None),
            Delivery.subscriber_id.is_not(None),
            Campaign.kind.in_(list(FREQUENCY_OF)),
        )
    ).all()
    for subscriber_id, after, meta in found:
        upto = (meta or {}).get("upto")
        if upto is None:
            continue
        if after == NO_WATERMARK:
            # They had none: from just before this campaign's own articles, so the next
            # mail brings those too (a watermark, unlike none, reaches into the backlog).
            own = [int(i) for i in (meta or {}).get("article_ids") or []]
            after = min(own) - 1 if own else None
        executor.execute(
            update(Subscriber)
            .where(and_(Subscriber.id == subscriber_id, Subscriber.mailed_through == int(upto)))
            .values(mailed_through=after)
            .execution_options(synchronize_session=False)
        )
