"""The sender loop: stored notices that are due go out by mail or webhook, then are marked.

Order per notice: claim (one attempt, under a lease), send, mark sent. A failure is
retried with exponential backoff stored in ``next_attempt_at``; after the last attempt
(or at once, for a failure that retrying cannot fix) the notice is recorded as failed,
counted, and shown by ``laporflow status``. Nothing is dropped silently.

Digest notices of one recipient that are due together go out as one mail.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.errors import DeliveryError, StoreError
from engine.metrics import METRICS
from engine.notices import ComplaintContext, NoticeStore, StoredNotice
from notices.mail import MailChannel, MailSession
from notices.render import DigestItem, Renderer
from notices.webhook import WebhookChannel
from workflows.notices import notice_facts
from workflows.policy import Policy

__all__ = ["NoticeSender", "RetryPolicy", "SendStats"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff: ``base_s`` doubling per attempt, at most ``cap_s``."""

    max_attempts: int = 8
    base_s: float = 30.0
    cap_s: float = 3600.0
    #: How long an attempt may take before another sender may claim the notice.
    lease_s: float = 300.0

    def backoff(self, attempt: int) -> timedelta:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        return timedelta(seconds=min(self.base_s * 2 ** max(attempt - 1, 0), self.cap_s))


@dataclass
class SendStats:
    """What the sender did: notices per (channel, recipient, outcome), and messages sent."""

    notices: dict[tuple[str, str, str], int] = field(default_factory=dict)
    messages: int = 0

    def add(self, channel: str, recipient: str, outcome: str, n: int = 1) -> None:
        """Count ``n`` notices."""
        key = (channel, recipient, outcome)
        self.notices[key] = self.notices.get(key, 0) + n


class NoticeSender:
    """Sends due notices through the channels; one instance per process."""

    def __init__(
        self,
        notices: NoticeStore,
        policy: Policy,
        renderer: Renderer,
        *,
        mail: MailChannel | None,
        webhooks: WebhookChannel,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch_size: int = 100,
    ) -> None:
        self.notices = notices
        self.policy = policy
        self.renderer = renderer
        self.mail = mail
        self.webhooks = webhooks
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.batch_size = batch_size
        self.stats = SendStats()

    # --- the loop -----------------------------------------------------------------

    def run(self, stop: threading.Event, *, interval_s: float = 1.0) -> None:
        """Send what is due until ``stop`` is set; database outages are waited out."""
        while not stop.is_set():
            try:
                while not stop.is_set() and self.send_due():
                    pass
                self.refresh_gauges()
            except StoreError as exc:
                log.error("database unavailable, retrying: %s", exc)
            except Exception:
                # A bug must not stop the sender thread while the consumer keeps storing.
                log.exception("the notice sender failed; retrying")
            stop.wait(interval_s)

    def refresh_gauges(self) -> None:
        """Pending and failed notices, from database counts."""
        counts = self.notices.counts()
        METRICS.notice_pending.set(sum(n for (s, _), n in counts.items() if s == "pending"))
        METRICS.notice_failed.set(sum(n for (s, _), n in counts.items() if s == "failed"))

    def send_due(self) -> int:
        """Claim and send one batch of due notices; returns how many were claimed."""
        now = self.clock()
        claimed = self.notices.claim_due(
            now, timedelta(seconds=self.retry.lease_s), self.batch_size
        )
        if not claimed:
            return 0
        contexts: dict[str, ComplaintContext] = {}
        digests: dict[tuple[str, str], list[StoredNotice]] = {}
        with _Sessions(self.mail) as sessions:
            for notice in claimed:
                if notice.digest:
                    digests.setdefault((notice.channel, notice.recipient), []).append(notice)
                    continue
                self._deliver([notice], contexts, sessions)
            for group in digests.values():
                self._deliver(group, contexts, sessions)
        return len(claimed)

    # --- one message --------------------------------------------------------------

    def _facts(self, notice: StoredNotice, contexts: dict[str, ComplaintContext]) -> dict[str, Any]:
        context = contexts.get(notice.complaint_id)
        if context is None:
            context = self.notices.complaint_context(notice.complaint_id)
            contexts[notice.complaint_id] = context
        follow_up_deadline = None
        if notice.kind == "dispatch":
            follow_up_deadline = self.notices.clock_deadline(
                notice.complaint_id, "follow_up", notice.event.occurred_at
            )
        return notice_facts(
            notice.event,
            self.policy,
            title=context.title,
            confidential=context.confidential,
            follow_up_deadline=follow_up_deadline,
        )

    def _deliver(
        self,
        group: list[StoredNotice],
        contexts: dict[str, ComplaintContext],
        sessions: _Sessions,
    ) -> None:
        group = self._drop_obsolete(group)
        if not group:
            return
        first = group[0]
        ids = [n.id for n in group]
        try:
            facts = [self._facts(n, contexts) for n in group]
            if first.channel == "email":
                session = sessions.mail()
                if first.digest:
                    message = self.renderer.digest([DigestItem(f) for f in facts], first.role)
                    key = "digest:" + ",".join(str(i) for i in sorted(ids))
                else:
                    message = self.renderer.notice(facts[0], first.role)
                    key = f"{first.event_id}:{first.recipient}"
                session.send(first.recipient, message, message_key=key)
            elif first.channel == "webhook":
                body = self.renderer.webhook_body(facts[0], first.role, first.recipient)
                self.webhooks.send(
                    first.recipient, body, notice_key=f"{first.event_id}:{first.recipient}"
                )
            else:
                raise DeliveryError(f"unknown channel {first.channel!r}", permanent=True)
        except DeliveryError as exc:
            self._failed(group, exc)
            return
        except StoreError:
            raise
        except Exception as exc:
            # A template or data bug: retried like a transient failure, then recorded
            # as failed with the error, never lost in a dead thread.
            log.exception("cannot render or send notice(s) %s", ids)
            self._failed(group, DeliveryError(f"cannot render or send: {exc!r}"))
            return
        self.notices.mark_sent(ids, self.clock())
        self.stats.messages += 1
        self.stats.add(first.channel, first.recipient, "sent", len(group))
        for n in group:
            METRICS.notices.labels(channel=n.channel, kind=n.kind, outcome="sent").inc()

    def _drop_obsolete(self, group: list[StoredNotice]) -> list[StoredNotice]:
        """Record, not send, warnings and escalations whose clock stopped before they were due.

        A notice held by quiet hours or a digest may find the SKPD answered before it
        could go out: "please act" would be noise. It is kept as ``obsolete`` (counted,
        shown by ``laporflow status``), never silently dropped.
        """
        live: list[StoredNotice] = []
        for n in group:
            clock = n.event.payload.get("clock")
            started = n.event.payload.get("started_at")
            stopped = None
            if n.kind in ("warning", "escalation") and clock and isinstance(started, str):
                stopped = self.notices.clock_stopped_at(
                    n.complaint_id, str(clock), datetime.fromisoformat(started)
                )
            # Judged at the notice's due time, not at "now": a replay, a backfill or a
            # notifier back from an outage decides exactly as a live one would have.
            if stopped is None or stopped > n.due_at:
                live.append(n)
                continue
            self.notices.mark_obsolete(
                [n.id], f"the {clock} clock stopped at {stopped.isoformat()} before sending"
            )
            self.stats.add(n.channel, n.recipient, "obsolete")
            METRICS.notices.labels(channel=n.channel, kind=n.kind, outcome="obsolete").inc()
        return live

    def _failed(self, group: list[StoredNotice], exc: DeliveryError) -> None:
        first = group[0]
        ids = [n.id for n in group]
        attempts = max(n.attempts for n in group)
        if exc.permanent or attempts >= self.retry.max_attempts:
            self.notices.mark_failed(ids, str(exc))
            outcome = "failed"
            log.error(
                "notice to %s %s failed for good after %d attempt(s) (%d notice(s), "
                "complaint %s): %s",
                first.channel,
                first.recipient,
                attempts,
                len(group),
                first.complaint_id,
                exc,
            )
        else:
            wait = self.retry.backoff(attempts)
            self.notices.mark_retry(ids, str(exc), self.clock() + wait)
            outcome = "retry"
            log.warning(
                "notice to %s %s failed (attempt %d of %d), retrying in %.0fs: %s",
                first.channel,
                first.recipient,
                attempts,
                self.retry.max_attempts,
                wait.total_seconds(),
                exc,
            )
        self.stats.add(first.channel, first.recipient, outcome, len(group))
        for n in group:
            METRICS.notices.labels(channel=n.channel, kind=n.kind, outcome=outcome).inc()


class _Sessions:
    """One SMTP connection per batch, opened on the first mail."""

    def __init__(self, mail: MailChannel | None) -> None:
        self._channel = mail
        self._session: MailSession | None = None

    def __enter__(self) -> _Sessions:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._session is not None:
            self._session.close()

    def mail(self) -> MailSession:
        if self._channel is None:
            raise DeliveryError(
                "no mail server configured: set LAPORFLOW_SMTP_URL (e.g. smtp://host:587)",
                permanent=False,
            )
        if self._session is None:
            self._session = self._channel.session()
        return self._session
