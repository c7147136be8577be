"""Arrival batches: the new articles one transaction brings, numbered in commit order.

A feed's poll, a push to the API, a file import: each transaction that stores new articles
gets one `article_batches` row, and each new article its `batch_id`. The batch is what an
alert to "ngay-khi-co" subscribers covers (campaigns/alerts.py): a poll bringing three
articles sends one mail, not three.

Watermarks (docs/delivery.md "Frequencies") compare article ids, so an id must never be
committed after a higher one: on PostgreSQL a sequence hands ids out at insert time, and two
ingests running side by side could commit 11 before 10. Every transaction that stores a new
article therefore first takes one transaction-level advisory lock, held until its commit:
ingests commit one after another, in id order. On SQLite `BEGIN IMMEDIATE` already
serialises writers. Ingests are rare (a feed every 15 minutes, a CMS push), so the lock
costs nothing that shows.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session, SessionTransaction

from newsletter.models import Article, ArticleBatch, utcnow

# pg_advisory_xact_lock's key for ingests: any constant the service uses for nothing else.
ARRIVAL_LOCK = 0x6E6C_6172  # "nlar"
# An article is news when it was published at most this long before it arrived: an
# import of an old archive stores the articles but mails none of them.
NEWS_DAYS = 7
_INFO_KEY = "newsletter.arrival_batch"


def arrival_batch(session: Session, *, now: dt.datetime | None = None) -> int:
    """The arrival batch of the session's current transaction, made on first use.

    Call before the savepoint that inserts a new article: the batch row must not be
    rolled back with a savepoint that lost a race.
    """
    transaction: SessionTransaction | None = session.get_transaction()
    cached = session.info.get(_INFO_KEY)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return int(cached[1])
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ARRIVAL_LOCK})
    batch = ArticleBatch(created_at=now or utcnow())
    session.add(batch)
    session.flush()
    session.info[_INFO_KEY] = (transaction, batch.id)
    return batch.id


def is_news(article: Article) -> bool:
    """The article was published at most NEWS_DAYS before it arrived.

    Tested in Python, on the few articles a campaign reads: SQLite has no date arithmetic
    SQLAlchemy can compile portably.
    """
    return article.published_at >= article.first_seen_at - dt.timedelta(days=NEWS_DAYS)
