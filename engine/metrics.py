"""Every Prometheus metric of lapor-flow, defined once (CONTRACT §5).

Business code never touches these: the processor hands a :class:`BatchReport` to
:func:`record_batch` after its transaction committed (so a rolled-back batch is never
counted), and gauges are refreshed from database counts by :func:`refresh_gauges`.
Label values are bounded: states, clock names, levels and SKPD codes, never ids or text.
Every metric with an ``skpd`` or ``region`` label is a :class:`~engine.labels.GuardedMetric`:
its values go through the one :class:`~engine.labels.LabelGuard` (``Metrics.guard``), so a
flood of made-up codes folds into ``other`` instead of multiplying the series.
"""

from __future__ import annotations

import collections
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from engine.labels import GUARDED_LABELS, GuardedMetric, LabelGuard
from workflows.model import Event

__all__ = ["METRICS", "REGISTRY", "BatchReport", "Metrics", "record_batch", "set_gauge_family"]

REGISTRY = CollectorRegistry(auto_describe=True)

# Stage durations span minutes to months: buckets in hours and working weeks.
_HOUR = 3600.0
_STAGE_BUCKETS = tuple(
    h * _HOUR for h in (1, 4, 8, 24, 48, 72, 120, 168, 240, 336, 720, 1440, 2160)
)


@dataclass(frozen=True)
class BatchReport:
    """What one committed batch did, for the metrics."""

    outcomes: Mapping[tuple[str, str], int] = field(default_factory=dict)
    transitions: Iterable[tuple[str, str]] = ()
    events: Iterable[Event] = ()
    #: Records skipped below a partition's stored next offset, per topic.
    skipped: Mapping[str, int] = field(default_factory=dict)


class Metrics:
    """The metric objects, registered on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.label_values_folded = Counter(
            "laporflow_label_values_folded",
            "Distinct skpd/region label values folded into 'other' (counted once each per "
            "process) because LAPORFLOW_MAX_LABEL_VALUES values of the label already exist.",
            ["label"],
            registry=registry,
        )
        self.label_values = Gauge(
            "laporflow_label_values",
            "Values of an skpd/region label that pass the guard: listed in the policy plus "
            "admitted (at most LAPORFLOW_MAX_LABEL_VALUES unless the policy lists more).",
            ["label"],
            registry=registry,
        )
        for label in GUARDED_LABELS:
            self.label_values_folded.labels(label=label)
        #: The one guard of every skpd/region label (configured by the engine at start).
        self.guard = LabelGuard(
            on_fold=lambda label: self.label_values_folded.labels(label=label).inc(),
            on_change=lambda label, n: self.label_values.labels(label=label).set(n),
        )
        self.commands = Counter(
            "laporflow_commands",
            "Commands consumed, by type and outcome (applied, duplicate, rejected, invalid).",
            ["type", "outcome"],
            registry=registry,
        )
        self.transitions = Counter(
            "laporflow_transitions",
            "State transitions applied.",
            ["from_state", "to_state"],
            registry=registry,
        )
        self.complaints = GuardedMetric(
            Gauge(
                "laporflow_complaints",
                "Complaints now in each state (skpd empty before dispatch).",
                ["state", "skpd"],
                registry=registry,
            ),
            self.guard,
        )
        self.sla_breaches = GuardedMetric(
            Counter(
                "laporflow_sla_breaches",
                "SLA clocks that passed their deadline.",
                ["skpd", "clock"],
                registry=registry,
            ),
            self.guard,
        )
        self.sla_breached = GuardedMetric(
            Gauge(
                "laporflow_sla_breached",
                "Open complaints now past a deadline.",
                ["skpd", "clock"],
                registry=registry,
            ),
            self.guard,
        )
        self.escalations = GuardedMetric(
            Counter(
                "laporflow_escalations",
                "Escalations raised, by level (1 SKPD head, 2 regional secretary, 3 province).",
                ["skpd", "level"],
                registry=registry,
            ),
            self.guard,
        )
        self.stage_duration = GuardedMetric(
            Histogram(
                "laporflow_stage_duration_seconds",
                "How long each SLA clock ran until it stopped.",
                ["clock", "skpd"],
                buckets=_STAGE_BUCKETS,
                registry=registry,
            ),
            self.guard,
        )
        self.outbox_pending = Gauge(
            "laporflow_outbox_pending", "Outbox records not yet published.", registry=registry
        )
        self.consumer_lag = Gauge(
            "laporflow_consumer_lag",
            "Records waiting on each assigned partition.",
            ["topic", "partition"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "laporflow_batch_duration_seconds",
            "Time to apply and commit one batch of records.",
            registry=registry,
        )
        self.timer_backlog = Gauge(
            "laporflow_timer_backlog",
            "Complaints with a timer already due but not yet fired.",
            registry=registry,
        )
        self.sweep_seconds = Histogram(
            "laporflow_timer_sweep_duration_seconds",
            "Time to fire the due timers of the owned partitions.",
            registry=registry,
        )
        self.published = Counter(
            "laporflow_outbox_published", "Outbox records published.", ["topic"], registry=registry
        )
        self.outbox_parked = Gauge(
            "laporflow_outbox_parked",
            "Outbox records Kafka refused for good, waiting for an operator (laporflow outbox).",
            registry=registry,
        )
        self.parked = Counter(
            "laporflow_outbox_parked_records",
            "Outbox records parked because Kafka refused them for good (e.g. too large).",
            ["topic"],
            registry=registry,
        )
        self.pruned = Counter(
            "laporflow_outbox_pruned",
            "Published outbox rows deleted after the retention period.",
            registry=registry,
        )
        self.batch_failures = Counter(
            "laporflow_batch_failures",
            "Batches that failed (database or broker unavailable) and will be retried.",
            registry=registry,
        )
        # Notices (laporflow notify, CONTRACT §8).
        self.notices = Counter(
            "laporflow_notices",
            "Notice attempts by channel, kind (escalation, warning, dispatch, digest) and "
            "outcome (sent, retry, failed, obsolete: its clock stopped before it went out).",
            ["channel", "kind", "outcome"],
            registry=registry,
        )
        self.notice_pending = Gauge(
            "laporflow_notice_pending",
            "Notices stored and not yet sent (database count; includes held ones).",
            registry=registry,
        )
        self.notice_failed = Gauge(
            "laporflow_notice_failed",
            "Notices recorded as failed after their last attempt (database count).",
            registry=registry,
        )
        self.notice_missing_contacts = Counter(
            "laporflow_notice_missing_contacts",
            "Notices not sent because the policy names no contact for the role.",
            ["role", "kind"],
            registry=registry,
        )
        self.concurrency_conflicts = Counter(
            "laporflow_concurrency_conflicts",
            "Batches rolled back because another writer changed a complaint first.",
            registry=registry,
        )

        self.records_skipped = Counter(
            "laporflow_records_skipped",
            "Records read again below a partition's stored next offset (already applied).",
            ["topic"],
            registry=registry,
        )
        # --- the LAPOR! feed and sync-back (``laporflow feed``, CONTRACT §7) ---
        self.feed_reports = Counter(
            "laporflow_feed_reports_fetched",
            "Reports read from the national LAPOR! API (polled or delivered to the webhook).",
            ["source"],
            registry=registry,
        )
        self.feed_commands = Counter(
            "laporflow_feed_commands_produced",
            "Commands the feed produced on lapor.commands, by type.",
            ["type"],
            registry=registry,
        )
        self.feed_skipped = Counter(
            "laporflow_feed_skipped",
            "Reports or commands the feed skipped, by reason (malformed, unknown_status, "
            "echo_of_push, unchanged).",
            ["reason"],
            registry=registry,
        )
        self.feed_last_poll = Gauge(
            "laporflow_feed_last_poll_success_timestamp_seconds",
            "Unix time of the feed's last successful poll of the national LAPOR! API.",
            registry=registry,
        )
        self.feed_poll_failures = Counter(
            "laporflow_feed_poll_failures",
            "Polls that failed after every retry (the next poll tries again).",
            registry=registry,
        )
        self.upstream_retries = Counter(
            "laporflow_lapor_upstream_retries",
            "Retried calls to the national LAPOR! API, by kind (status_5xx, status_429, "
            "timeout, connection).",
            ["kind"],
            registry=registry,
        )
        self.webhook_deliveries = Counter(
            "laporflow_feed_webhook_deliveries",
            "Webhook deliveries, by outcome (accepted, duplicate, bad_signature, invalid).",
            ["outcome"],
            registry=registry,
        )
        self.lapor_pushes = Counter(
            "laporflow_lapor_pushes",
            "Sync-back pushes to the national LAPOR! API, by outcome (pushed, failed, duplicate).",
            ["outcome"],
            registry=registry,
        )
        self.lapor_push_failed = Gauge(
            "laporflow_lapor_push_failed",
            "Pushes recorded as failed and not yet delivered (database count).",
            registry=registry,
        )


METRICS = Metrics(REGISTRY)


def record_batch(report: BatchReport, metrics: Metrics = METRICS) -> None:
    """Count one committed batch."""
    for (command_type, outcome), n in report.outcomes.items():
        metrics.commands.labels(type=command_type, outcome=outcome).inc(n)
    for topic, n in report.skipped.items():
        metrics.records_skipped.labels(topic=topic).inc(n)
    # Counted per distinct pair: a labels() lookup costs more than the increment.
    for (source, dest), n in collections.Counter(report.transitions).items():
        metrics.transitions.labels(from_state=source, to_state=dest).inc(n)
    events = [e for e in report.events if _touches_skpd_metrics(e)]
    # New SKPD values of the whole batch are admitted at once (one store trip), in order.
    metrics.guard.admit("skpd", (event.skpd or "" for event in events))
    durations: dict[tuple[str, str], Any] = {}  # each histogram child looked up once
    for event in events:
        skpd = event.skpd or ""
        if event.type == "complaint.sla_breached":
            metrics.sla_breaches.labels(skpd=skpd, clock=event.payload["clock"]).inc()
        elif event.type == "complaint.escalated":
            metrics.escalations.labels(skpd=skpd, level=str(event.payload["level"])).inc()
        for stopped in event.payload.get("clocks_stopped", ()):
            key = (stopped["clock"], skpd)
            child = durations.get(key)
            if child is None:
                child = durations[key] = metrics.stage_duration.labels(clock=key[0], skpd=skpd)
            child.observe(stopped["seconds"])


def _touches_skpd_metrics(event: Event) -> bool:
    return event.type in ("complaint.sla_breached", "complaint.escalated") or bool(
        event.payload.get("clocks_stopped")
    )


def set_gauge_family(
    gauge: Gauge | GuardedMetric[Gauge], values: Mapping[tuple[str, ...], float]
) -> None:
    """Replace every child of a labelled gauge (series that dropped to zero go to 0).

    For a guarded gauge, values are offered for admission largest first (so the busiest
    SKPDs win the free slots, in the same order on every engine), and values folded into
    ``other`` are summed.
    """
    target = gauge
    if isinstance(gauge, GuardedMetric):
        ordered = sorted(values.items(), key=lambda item: (-item[1], item[0]))
        gauge.admit(labels for labels, _ in ordered)
        exported: defaultdict[tuple[str, ...], float] = defaultdict(float)
        for labels, value in ordered:
            exported[gauge.key(labels)] += value
        target, values = gauge.metric, exported
    assert isinstance(target, Gauge)
    seen = set(values)
    for existing in list(target._metrics):
        if existing not in seen:
            target.labels(*existing).set(0)
    for key, value in values.items():
        target.labels(*key).set(value)
