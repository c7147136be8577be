"""One batch: claim rows of an id range chunk by chunk, send each, mark each.

Each row is marked in its own transaction right after the server accepted (or refused)
its message, so a crash can leave at most one accepted-but-unmarked message behind:
the one in flight. That row is sent again after its lease; docs/delivery.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.delivery.budget import DailyCapError, SendBudget
from newsletter.delivery.claims import ClaimedRow, claim, subscriber_categories_of
from newsletter.delivery.lease import RENEW_EVERY
from newsletter.delivery.ledger import (
    finish_if_done,
    mark_failed,
    mark_skipped,
    record_progress,
    release,
    suspend,
)
from newsletter.delivery.marks import ChunkMarks, record_refusal
from newsletter.delivery.transport import (
    DeliveryError,
    MaildirTransport,
    RetryLaterError,
    SMTPTransport,
    open_transport,
)
from newsletter.delivery.watermarks import campaign_upto, reserve
from newsletter.mail.outgoing import Composer, Recipient
from newsletter.models import DeliveryStatus, utcnow
from newsletter.runtime import Runtime

log = logging.getLogger(__name__)

# How a batch gets the composer of its campaign (campaigns.preview.composer_for, passed in
# by the task): the send loop needs the campaign's messages, not how a campaign is stored.
ComposerFor = Callable[[Session, Settings, int], Composer]
# Asked before each message: True when more urgent work waits for this process (a digest
# batch gives way to a bulletin's; the task passes it and answers from the broker at most
# every 0.25 s, docs/delivery.md "Queues").
ShouldYield = Callable[[], bool]
YIELDED = "yielded to urgent work"

# A claimed chunk is about this many seconds of sending at the configured rate, and at
# most MAX_CHUNK rows: a claim, its categories and the progress update cost ~4 ms of
# CPU, ~10 % of a message's when a chunk was 50 rows (docs/benchmarks.md). Pause and
# cancel are noticed at the next claim (under a second at full speed), a bulletin before
# any message; a chunk slower than lease.RENEW_EVERY renews its lease as it goes.
CHUNK_SECONDS = 5.0
MAX_CHUNK = 250


@dataclass
class BatchOutcome:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    requeued: int = 0
    stopped: str | None = None  # why the batch stopped early (daily cap, connection)


def chunk_size(send_rate: float) -> int:
    return max(1, min(MAX_CHUNK, int(send_rate * CHUNK_SECONDS)))


def _mine(rows: list[ClaimedRow], held: set[int] | None) -> list[ClaimedRow]:
    """The rows this batch still holds (all of them until a renewal says otherwise)."""
    return rows if held is None else [r for r in rows if r.delivery_id in held]


class _Batch:
    def __init__(
        self,
        runtime: Runtime,
        budget: SendBudget,
        composer_for: ComposerFor,
        campaign_id: int,
        should_yield: ShouldYield | None = None,
    ) -> None:
        self.runtime = runtime
        self.should_yield = should_yield
        self.budget = budget
        self.composer_for = composer_for
        self.campaign_id = campaign_id
        self.composer: Composer | None = None
        self.transport: MaildirTransport | SMTPTransport | None = None
        self.outcome = BatchOutcome()
        self.tried: set[int] = set()  # rows that failed temporarily in this run
        self.marks = ChunkMarks(runtime)  # one connection for a chunk's per-row marks
        self.held_since = utcnow()  # the chunk's claim stamp: its lease (delivery/lease.py)
        self.renewed = 0.0  # time.monotonic() of that stamp
        self.upto: int | None = None  # a digest's or alert's last article (watermarks)
        self.after: dict[int, int | None] = {}  # delivery id → the watermark it starts after

    def _build_composer(self) -> bool:
        """The campaign's composer, built before any row is claimed; False if it cannot be."""
        with self.runtime.sessions.begin() as session:
            try:
                self.composer = self.composer_for(session, self.runtime.settings, self.campaign_id)
                self.upto = campaign_upto(session, self.campaign_id)
            except (LookupError, ValueError, OSError) as exc:
                # A template, a DKIM key or the campaign itself is broken: retrying cannot
                # help, sending nothing is right. Pause so an operator sees it and resumes.
                log.error("campaign %s cannot be composed: %s", self.campaign_id, exc)
                suspend(session, campaign_id=self.campaign_id, reason=f"cannot compose: {exc}")
                self.outcome.stopped = f"cannot compose: {exc}"
                return False
        return True

    def run(self, first_id: int, last_id: int) -> BatchOutcome:
        settings = self.runtime.settings
        limit = chunk_size(settings.send_rate)
        if not self._build_composer():
            return self.outcome
        try:
            while self.outcome.stopped is None:
                if self._yields():
                    break
                with self.runtime.sessions.begin() as session:
                    self.held_since, self.renewed = utcnow(), time.monotonic()
                    rows = claim(
                        session,
                        campaign_id=self.campaign_id,
                        first_id=first_id,
                        last_id=last_id,
                        limit=limit,
                        exclude=self.tried,
                        now=self.held_since,
                    )
                    if not rows:
                        break
                    categories = subscriber_categories_of(
                        session, [r.subscriber_id for r in rows if r.subscriber_id is not None]
                    )
                    if self.upto is not None:
                        self.after = reserve(
                            session,
                            upto=self.upto,
                            rows=[
                                (r.delivery_id, r.subscriber_id)
                                for r in rows
                                if r.deliverable and r.subscriber_id is not None
                            ],
                        )
                self._send_chunk(rows, categories)
        finally:
            if self.transport is not None:
                self.transport.close()
        with self.runtime.sessions.begin() as session:
            finish_if_done(session, campaign_id=self.campaign_id)
        return self.outcome

    def _send_chunk(self, rows: list[ClaimedRow], categories: dict[int, frozenset[int]]) -> None:
        sessions = self.runtime.sessions
        undeliverable = [r.delivery_id for r in rows if not r.deliverable]
        if undeliverable:
            with sessions.begin() as session:
                mark_skipped(
                    session,
                    delivery_ids=undeliverable,
                    reason="subscriber inactive, erased or suppressed",
                    now=utcnow(),
                )
            self.outcome.skipped += len(undeliverable)
        sent = failed = 0
        todo = [r for r in rows if r.deliverable]
        self.marks.hold()
        try:
            sent, failed = self._send_rows(todo, categories)
        finally:
            self.marks.drop()
        self.outcome.sent += sent
        self.outcome.failed += failed
        with sessions.begin() as session:
            record_progress(
                session, campaign_id=self.campaign_id, sent=sent, failed=failed, now=utcnow()
            )

    def _still_held(self, remaining: list[ClaimedRow]) -> set[int]:
        """Renew the lease of the chunk's remaining rows; the ids this batch still holds."""
        now = utcnow()
        ids = [r.delivery_id for r in remaining]
        held = self.marks.renew(ids, held_since=self.held_since, now=now)
        self.held_since, self.renewed = now, time.monotonic()
        if len(held) < len(ids):
            log.warning(
                "batch of campaign %s lost the lease of %d rows; another worker has them",
                self.campaign_id,
                len(ids) - len(held),
                extra={"campaign_id": self.campaign_id},
            )
        return held

    def _send_rows(
        self, todo: list[ClaimedRow], categories: dict[int, frozenset[int]]
    ) -> tuple[int, int]:
        sent = failed = 0
        tokens = 0  # taken from the budget and not used yet: one budget call per grant
        held: set[int] | None = None  # None: every row of the chunk (no renewal yet)
        renew_every = RENEW_EVERY.total_seconds()
        try:
            for index, row in enumerate(todo):
                assert row.subscriber_id is not None
                if self._yields():
                    # The untried rest goes back at once: the range is enqueued again.
                    self._release_quietly(_mine(todo[index:], held))
                    break
                if time.monotonic() - self.renewed >= renew_every:
                    held = self._still_held(todo[index:])
                if held is not None and row.delivery_id not in held:
                    continue  # taken back after this batch stalled: not ours to send
                if not tokens:
                    try:
                        tokens = self.budget.acquire(len(todo) - index)
                    except DailyCapError as exc:
                        self._stop(str(exc), _mine(todo[index:], held))
                        break
                    except Exception:
                        # The budget's Redis went away: none of these rows was tried, so
                        # give them back now rather than after the lease (docs/faults.md).
                        self._release_quietly(_mine(todo[index:], held))
                        raise
                tokens -= 1
                try:
                    status, connection_lost = self._send_one(row, categories[row.subscriber_id])
                except Exception:
                    # Unexpected (the database went away, a bug): give back the rows not
                    # yet tried so they need not wait for the lease; this one may have been
                    # sent, so it keeps its lease (the window of docs/delivery.md).
                    self._release_quietly(_mine(todo[index + 1 :], held))
                    raise
                if status is DeliveryStatus.SENT:
                    sent += 1
                elif status is DeliveryStatus.FAILED:
                    failed += 1
                elif status is DeliveryStatus.SKIPPED:
                    tokens += 1  # nothing was sent: the token serves the next row
                else:
                    self.outcome.requeued += 1
                    self.tried.add(row.delivery_id)
                if connection_lost:
                    # The relay is unreachable: trying the rest now would only burn attempts.
                    self._stop("SMTP connection lost", _mine(todo[index + 1 :], held))
                    break
        finally:
            self._give_back_quietly(tokens)
        return sent, failed

    def _yields(self) -> bool:
        """True (and the batch stopped) when more urgent work waits for this process."""
        if self.should_yield is None or not self.should_yield():
            return False
        self.outcome.stopped = YIELDED
        return True

    def _give_back_quietly(self, tokens: int) -> None:
        """Unused tokens go back, so a stopped batch does not eat into the daily cap."""
        if not tokens:
            return
        try:
            self.budget.give_back(tokens)
        except Exception as exc:  # the budget's Redis went away: the cap errs on the safe side
            log.warning("could not give back %d send tokens: %s", tokens, exc)

    def _send_one(
        self, row: ClaimedRow, category_ids: frozenset[int]
    ) -> tuple[DeliveryStatus, bool]:
        assert self.composer is not None
        assert row.subscriber_id is not None
        assert row.email is not None
        sessions = self.runtime.sessions
        after = self.after.get(row.delivery_id)
        if self.upto is not None and not self._has_content(category_ids, after):
            # Everything this campaign has for them already reached them (a mail of
            # another frequency, before they switched), or nothing is in their
            # categories: no empty mail, and nothing is lost.
            with sessions.begin() as session:
                mark_skipped(
                    session,
                    delivery_ids=[row.delivery_id],
                    reason="nothing new for this subscriber",
                    now=utcnow(),
                )
            self.outcome.skipped += 1
            return DeliveryStatus.SKIPPED, False
        try:
            message = self.composer.compose(
                Recipient(
                    delivery_id=row.delivery_id,
                    subscriber_id=row.subscriber_id,
                    email=row.email,
                    category_ids=category_ids,
                    link_key=row.link_key or "",
                    after_article=after,
                )
            )
        except ValueError as exc:  # an address or header the message cannot carry
            with sessions.begin() as session:
                mark_failed(
                    session,
                    delivery_id=row.delivery_id,
                    error=f"cannot compose: {exc}",
                    permanent=True,
                    now=utcnow(),
                )
            return DeliveryStatus.FAILED, False
        if self.transport is None:
            self.transport = open_transport(self.runtime.settings.smtp_url)
        try:
            self.transport.send(
                sender=message.envelope_from, recipient=message.recipient, message=message.data
            )
        except DeliveryError as exc:
            with sessions.begin() as session:
                status = record_refusal(session, row=row, exc=exc, settings=self.runtime.settings)
            log.info(
                "delivery %s not accepted: %s",
                row.delivery_id,
                exc,
                extra={"campaign_id": self.campaign_id, "delivery_id": row.delivery_id},
            )
            return status, exc.code is None and not exc.permanent
        # The window of docs/delivery.md: accepted by the server, not yet marked.
        self.marks.mark_sent(row.delivery_id, message.message_id, utcnow())
        return DeliveryStatus.SENT, False

    def _has_content(self, category_ids: frozenset[int], after: int | None) -> bool:
        check = getattr(self.composer, "has_content", None)  # digests' composers have it
        return check is None or bool(check(category_ids, after))

    def _release_quietly(self, untried: list[ClaimedRow]) -> None:
        if not untried:
            return
        try:
            with self.runtime.sessions.begin() as session:
                release(session, delivery_ids=[r.delivery_id for r in untried])
        except SQLAlchemyError:
            log.warning(
                "could not release %d rows; the reconciler will after the lease", len(untried)
            )

    def _stop(self, reason: str, untried: list[ClaimedRow]) -> None:
        self.outcome.stopped = reason
        if untried:
            with self.runtime.sessions.begin() as session:
                release(session, delivery_ids=[r.delivery_id for r in untried])
        log.warning(
            "batch of campaign %s stopped: %s",
            self.campaign_id,
            reason,
            extra={"campaign_id": self.campaign_id},
        )


def send_batch(
    runtime: Runtime,
    budget: SendBudget,
    *,
    composer_for: ComposerFor,
    campaign_id: int,
    first_id: int,
    last_id: int,
    should_yield: ShouldYield | None = None,
) -> BatchOutcome:
    """Send the queued rows of one id range; raise RetryLaterError if some must wait.

    Safe to run twice or concurrently over the same range: rows are claimed, never
    assumed. A paused or cancelled campaign claims nothing, so the batch just ends.
    `should_yield`, asked before each chunk, stops it early (outcome.stopped == YIELDED)
    with the rest of its range still queued; the caller enqueues that range again.
    """
    outcome = _Batch(runtime, budget, composer_for, campaign_id, should_yield).run(
        first_id, last_id
    )
    if outcome.requeued or outcome.stopped == "SMTP connection lost":
        raise RetryLaterError(
            f"campaign {campaign_id} rows {first_id}-{last_id}: {outcome.requeued} to retry"
            + (f" ({outcome.stopped})" if outcome.stopped else "")
        )
    return outcome
