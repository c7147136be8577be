"""A worker SIGKILLed mid-digest: each subscriber's set of articles is what their
watermark says, whatever the crash; a mail sent twice (the one in flight) says the same."""

from __future__ import annotations

import datetime as dt
import mailbox
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, update

from newsletter.content.articles import ArticleInput, CategoryIndex, upsert_article
from newsletter.models import Article, DeliveryStatus, Subscriber, utcnow
from newsletter.tasks.enqueue import start_digest
from tests.faults.conftest import Rig
from tests.support.ledger import add_subscribers, wait_for_ledger, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.parametrize("db_backend", ["postgresql"])]

READERS = 1500
TITLE = re.compile(r"Tin số (\d+)")


def read_outbox(path: Path) -> list[tuple[str, frozenset[int]]]:
    """(recipient, article numbers) of every mail the Maildir transport wrote."""
    found = []
    for message in mailbox.Maildir(str(path), create=False):
        text = message.get_payload()[0].get_payload(decode=True).decode("utf-8")
        found.append((message["Delivered-To"], frozenset(int(n) for n in TITLE.findall(text))))
    return found


@pytest.mark.timeout(600)
def test_sigkill_mid_digest_keeps_every_article_set(
    make_rig: Callable[..., Rig], shared_services: dict[str, object], tmp_path: Path
) -> None:
    """Half the readers already had articles 1–3 (their watermark); a worker dies mid-send;
    after the reconciler everyone has their exact set, at most one mail twice, identical."""
    outbox = tmp_path / "outbox"
    rig = make_rig(smtp_url=f"maildir:{outbox}", send_rate=150, batch_size=100, **shared_services)
    with rig.runtime.sessions.begin() as s:
        add_subscribers(s, READERS)
    with rig.runtime.sessions.begin() as s:
        categories = CategoryIndex.load(s)
        for n in range(1, 7):
            upsert_article(
                s,
                article=ArticleInput(
                    url=f"https://example.gov.vn/tin/{n}",
                    title=f"Tin số {n}",
                    published_at=utcnow() - dt.timedelta(hours=1),
                ),
                categories=categories,
            )
    with rig.runtime.sessions.begin() as s:
        third = s.scalar(select(Article.id).where(Article.title == "Tin số 3"))
        ids = list(s.scalars(select(Subscriber.id).order_by(Subscriber.id)))
        s.execute(
            update(Subscriber).where(Subscriber.id.in_(ids[::2])).values(mailed_through=third)
        )
        had_three = set(s.scalars(select(Subscriber.email).where(Subscriber.id.in_(ids[::2]))))
    first = rig.worker()
    with rig.reconciler(lease=15, stall=10):
        campaign_id = start_digest(rig.app, rig.runtime)
        assert isinstance(campaign_id, int), campaign_id
        wait_until(
            lambda: outbox.exists() and len(list((outbox / "new").iterdir())) >= READERS // 3,
            timeout=300,
            what="a third delivered",
        )
        first.kill()
        rig.worker()
        counts = wait_for_ledger(rig.runtime, campaign_id, timeout=400)
    assert counts == {DeliveryStatus.SENT: READERS}, counts
    mails = read_outbox(outbox)
    per_reader: dict[str, set[frozenset[int]]] = {}
    for rcpt, numbers in mails:
        per_reader.setdefault(rcpt, set()).add(numbers)
    assert len(per_reader) == READERS
    for rcpt, sets in per_reader.items():
        expected = frozenset({4, 5, 6}) if rcpt in had_three else frozenset(range(1, 7))
        assert sets == {expected}, (rcpt, sets)
    duplicates = len(mails) - READERS
    assert duplicates <= 1, Counter(r for r, _ in mails).most_common(3)
