"""The LAPOR! feed: national reports in, contract commands out on ``lapor.commands``.

One poll reads one page after the stored cursor, turns each report into commands
(:mod:`lapor.mapping`), produces them, **flushes**, and only then stores the page's
statuses and the new cursor in one transaction. A crash anywhere before that commit
re-reads the same page: the commands come out again with the same deterministic ids and
the engine applies each once. A report whose status did not change produces nothing; a
known tracking ID never gets a second ``submit``. The webhook hands its deliveries to
the same :meth:`FeedPoller.ingest`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from engine.errors import BrokerError, LaporFlowError, UpstreamAuthError
from engine.feed_store import FeedStore, SeenReport
from engine.metrics import METRICS, Metrics
from lapor.client import LaporClient
from lapor.mapping import Mapping, SkipReport
from lapor.models import Report

__all__ = ["FeedPoller", "IngestResult"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """What one page or delivery did."""

    items: int
    produced: int
    skipped: int
    more: bool = False


class FeedPoller:
    """Polls the national API and produces commands; safe to re-run after any crash."""

    def __init__(
        self,
        client: LaporClient,
        mapping: Mapping,
        feed_store: FeedStore,
        producer: KafkaProducer,
        topic: str,
        *,
        page_size: int = 100,
        flush_timeout_s: float = 60.0,
        metrics: Metrics = METRICS,
    ) -> None:
        self.client = client
        self.mapping = mapping
        self.feed_store = feed_store
        self.producer = producer
        self.topic = topic
        self.page_size = page_size
        self.flush_timeout_s = flush_timeout_s
        self.metrics = metrics
        # The poller and the webhook share the last-status table: one ingest at a time.
        self._lock = threading.Lock()

    # --- polling ----------------------------------------------------------------------

    def poll_once(self) -> IngestResult:
        """Read, produce and commit one page."""
        with self._lock:
            cursor = self.feed_store.cursor()
            page = self.client.page(cursor, self.page_size)
            self.metrics.feed_reports.labels(source="poll").inc(len(page.items))
            seen, produced, skipped = self._produce(page.items)
            # A null `next` is the end for now: keep the cursor and ask again later.
            self.feed_store.save(seen, cursor=page.next or cursor, move_cursor=True)
            self.metrics.feed_last_poll.set(time.time())
            return IngestResult(len(page.items), produced, skipped, more=page.next is not None)

    def poll_until_caught_up(self, max_pages: int = 10_000) -> IngestResult:
        """Poll pages until the API says there is no next one; the totals."""
        items = produced = skipped = 0
        for _ in range(max_pages):
            result = self.poll_once()
            items += result.items
            produced += result.produced
            skipped += result.skipped
            if not result.more:
                break
        return IngestResult(items, produced, skipped)

    def run(self, stop: threading.Event, *, interval_s: float = 30.0) -> None:
        """Poll until ``stop``; a failed poll is logged, counted and tried again."""
        while not stop.is_set():
            try:
                result = self.poll_until_caught_up()
                if result.items:
                    log.info(
                        "LAPOR! poll: %d reports, %d commands produced, %d skipped",
                        result.items,
                        result.produced,
                        result.skipped,
                    )
            except UpstreamAuthError as exc:
                self.metrics.feed_poll_failures.inc()
                log.error("LAPOR! poll refused: %s", exc)
            except LaporFlowError as exc:
                self.metrics.feed_poll_failures.inc()
                log.warning("LAPOR! poll failed, will retry: %s", exc)
            stop.wait(interval_s)

    # --- the webhook ------------------------------------------------------------------

    def ingest(self, items: list[Any], delivery_id: str | None = None) -> int:
        """Take a webhook delivery: produce, flush, store statuses and the delivery id."""
        with self._lock:
            self.metrics.feed_reports.labels(source="webhook").inc(len(items))
            seen, produced, _ = self._produce(items)
            self.feed_store.save(seen, cursor=None, move_cursor=False, delivery_id=delivery_id)
            return produced

    # --- reports -> commands ----------------------------------------------------------

    def _parse(self, items: Sequence[Any]) -> list[Report]:
        reports = []
        for raw in items:
            try:
                reports.append(self.mapping.parse(raw))
            except SkipReport as skip:
                self.metrics.feed_skipped.labels(reason=skip.reason).inc()
                log.warning(
                    "LAPOR! report %s skipped (%s): %s",
                    skip.tracking_id or "(no tracking ID)",
                    skip.reason,
                    skip.detail,
                )
        return reports

    def _produce(self, items: Sequence[Any]) -> tuple[list[SeenReport], int, int]:
        reports = self._parse(items)
        skipped = len(items) - len(reports)
        ids = [r.tracking_id for r in reports]
        known = self.feed_store.seen(ids)
        pushed: dict[str, set[str]] = {}
        for cid, push_type in self.feed_store.pushed_types(ids):
            pushed.setdefault(cid, set()).add(push_type)
        taken: dict[str, SeenReport] = {}
        produced: Counter[str] = Counter()
        futures = []
        try:
            for report in reports:
                tid = report.tracking_id
                before = taken.get(tid) or known.get(tid)
                if before is not None and report.updated_at < before.upstream_updated_at:
                    # An older version (a late webhook delivery): what we have is newer.
                    self.metrics.feed_skipped.labels(reason="stale").inc()
                    continue
                planned = self.mapping.commands(report, before.status if before else None)
                if (
                    before is not None
                    and planned
                    and self.mapping.is_echo(report, pushed.get(tid, set()))
                ):
                    # The national status only reflects what our sync-back pushed.
                    self.metrics.feed_skipped.labels(reason="echo_of_push").inc()
                    planned = []
                elif before is not None and not planned:
                    self.metrics.feed_skipped.labels(reason="unchanged").inc()
                for command in planned:
                    value = json.dumps(command.as_dict(), ensure_ascii=False).encode("utf-8")
                    futures.append(
                        self.producer.send(self.topic, key=tid.encode("utf-8"), value=value)
                    )
                    produced[command.type] += 1
                taken[tid] = SeenReport(tid, report.status, report.updated_at)
            # Everything is on the broker before any progress is stored.
            self.producer.flush(timeout=self.flush_timeout_s)
            for future in futures:
                future.get(timeout=self.flush_timeout_s)  # raises if that record failed
        except KafkaError as exc:
            raise BrokerError(f"producing LAPOR! commands failed: {exc}", topic=self.topic) from exc
        for command_type, n in produced.items():
            self.metrics.feed_commands.labels(type=command_type).inc(n)
        return list(taken.values()), sum(produced.values()), skipped
