"""Prometheus metrics. Counts come from the store at scrape time, through indexes and
the campaigns' maintained counters — never a scan of the ledger — so a scrape stays
cheap with a million subscribers. HTTP and rate-limit counters live in the process.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import redis
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from newsletter.models import Campaign, CampaignStatus, Feed, Subscriber
from newsletter.runtime import Runtime
from newsletter.tasks.app import QUEUES


class StoreCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        with self.runtime.sessions.begin() as session:
            by_status = session.execute(
                select(Subscriber.status, func.count()).group_by(Subscriber.status)
            ).all()
            by_kind = session.execute(
                select(
                    Campaign.kind,
                    func.coalesce(func.sum(Campaign.sent_count), 0),
                    func.coalesce(func.sum(Campaign.failed_count), 0),
                    func.coalesce(func.sum(Campaign.bounced_count), 0),
                    func.coalesce(func.sum(Campaign.complaint_count), 0),
                ).group_by(Campaign.kind)
            ).all()
            sending = session.execute(
                select(Campaign.id, Campaign.kind, Campaign.sent_count, Campaign.started_at).where(
                    Campaign.status == CampaignStatus.SENDING
                )
            ).all()
            feed_errors = session.scalar(
                select(func.count()).select_from(Feed).where(Feed.last_error.is_not(None))
            )
        subscribers = GaugeMetricFamily(
            "newsletter_subscribers", "Subscribers by status.", labels=["status"]
        )
        for status, count in by_status:
            subscribers.add_metric([status.value], count)
        yield subscribers
        messages = GaugeMetricFamily(
            "newsletter_messages",
            "Messages by campaign kind and outcome (sum of campaign counters).",
            labels=["kind", "outcome"],
        )
        for kind, sent, failed, bounced, complaints in by_kind:
            for outcome, value in (
                ("sent", sent),
                ("failed", failed),
                ("bounced", bounced),
                ("complained", complaints),
            ):
                messages.add_metric([kind.value, outcome], float(value))
        yield messages
        rate = GaugeMetricFamily(
            "newsletter_campaign_send_rate",
            "Messages per second since start, per campaign being sent.",
            labels=["campaign_id", "kind"],
        )
        now = dt.datetime.now(dt.UTC)
        for campaign_id, kind, sent, started_at in sending:
            elapsed = (now - started_at).total_seconds() if started_at else 0.0
            rate.add_metric([str(campaign_id), kind.value], sent / elapsed if elapsed > 0 else 0.0)
        yield rate
        yield GaugeMetricFamily(
            "newsletter_feeds_failing", "Feeds whose last poll failed.", value=feed_errors or 0
        )
        yield self._queue_depths()

    def _queue_depths(self) -> GaugeMetricFamily:
        depth = GaugeMetricFamily(
            "newsletter_queue_depth",
            "Tasks waiting per queue (Redis broker only).",
            labels=["queue"],
        )
        url = self.runtime.settings.broker_url
        if not url.startswith(("redis://", "rediss://")):
            return depth
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            for queue in QUEUES:
                depth.add_metric([queue], float(client.llen(queue)))
        except redis.RedisError:
            pass  # the broker's own health is /readyz's business; a scrape must not fail
        finally:
            client.close()
        return depth


class AppMetrics:
    """One registry per app, so each test's app has its own numbers."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(runtime))
        self.http_requests = Counter(
            "newsletter_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.rate_limit_hits = Counter(
            "newsletter_subscribe_rate_limited",
            "Subscribe requests refused by the per-IP rate limit.",
            registry=self.registry,
        )
