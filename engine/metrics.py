"""Every Prometheus metric of lapor-flow, defined once (CONTRACT §5).

Business code never touches these: the processor hands a :class:`BatchReport` to
:func:`record_batch` after its transaction committed (so a rolled-back batch is never
counted), and gauges are refreshed from database counts by :func:`refresh_gauges`.
Label values are bounded: states, clock names, levels and SKPD codes, never ids or text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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


class Metrics:
    """The metric objects, registered on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
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
        self.complaints = Gauge(
            "laporflow_complaints",
            "Complaints now in each state (skpd empty before dispatch).",
            ["state", "skpd"],
            registry=registry,
        )
        self.sla_breaches = Counter(
            "laporflow_sla_breaches",
            "SLA clocks that passed their deadline.",
            ["skpd", "clock"],
            registry=registry,
        )
        self.sla_breached = Gauge(
            "laporflow_sla_breached",
            "Open complaints now past a deadline.",
            ["skpd", "clock"],
            registry=registry,
        )
        self.escalations = Counter(
            "laporflow_escalations",
            "Escalations raised, by level (1 SKPD head, 2 regional secretary, 3 province).",
            ["skpd", "level"],
            registry=registry,
        )
        self.stage_duration = Histogram(
            "laporflow_stage_duration_seconds",
            "How long each SLA clock ran until it stopped.",
            ["clock", "skpd"],
            buckets=_STAGE_BUCKETS,
            registry=registry,
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


METRICS = Metrics(REGISTRY)


def record_batch(report: BatchReport, metrics: Metrics = METRICS) -> None:
    """Count one committed batch."""
    for (command_type, outcome), n in report.outcomes.items():
        metrics.commands.labels(type=command_type, outcome=outcome).inc(n)
    for source, dest in report.transitions:
        metrics.transitions.labels(from_state=source, to_state=dest).inc()
    for event in report.events:
        skpd = event.skpd or ""
        if event.type == "complaint.sla_breached":
            metrics.sla_breaches.labels(skpd=skpd, clock=event.payload["clock"]).inc()
        elif event.type == "complaint.escalated":
            metrics.escalations.labels(skpd=skpd, level=str(event.payload["level"])).inc()
        for stopped in event.payload.get("clocks_stopped", ()):
            metrics.stage_duration.labels(clock=stopped["clock"], skpd=skpd).observe(
                stopped["seconds"]
            )


def set_gauge_family(gauge: Gauge, values: Mapping[tuple[str, ...], float]) -> None:
    """Replace every child of a labelled gauge (series that dropped to zero go to 0)."""
    seen = set(values)
    for labels in list(gauge._metrics):
        if labels not in seen:
            gauge.labels(*labels).set(0)
    for labels, value in values.items():
        gauge.labels(*labels).set(value)
