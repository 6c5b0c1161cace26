"""The status of one complaint as ``laporflow status`` shows it (CONTRACT §6)."""

from __future__ import annotations

from typing import Any

from engine.errors import StoreError
from engine.feed_store import FeedStore
from engine.notices import NoticeStore
from engine.store import Store
from workflows.apply import next_due
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry

__all__ = ["complaint_status"]


def complaint_status(
    store: Store, complaint_id: str, policy: Policy, registry: WorkflowRegistry | None = None
) -> dict[str, Any] | None:
    """State, SKPD, seq, escalation level, clocks, next firing instant and history."""
    complaint = store.complaint(complaint_id)
    if complaint is None:
        return None
    registry = registry or WorkflowRegistry.default()
    due = next_due(complaint, registry, policy)
    return {
        "complaint_id": complaint.complaint_id,
        "state": complaint.state,
        "skpd": complaint.skpd,
        "region": complaint.region,
        "category": complaint.category,
        "workflow": f"{complaint.workflow}@{complaint.workflow_version}",
        "seq": complaint.seq,
        "escalation_level": complaint.escalation_level,
        "deferred": complaint.deferred_at is not None,
        "next_due_at": due.isoformat() if due else None,
        "clocks": {
            name: {
                "started_at": clock.started_at.isoformat(),
                "deadline": clock.deadline.isoformat(),
                "limit_days": clock.limit,
                "warning_at": clock.warning_at.isoformat(),
                "paused": clock.paused_at is not None,
                "breached": clock.breached_at is not None,
                "breached_at": clock.breached_at.isoformat() if clock.breached_at else None,
                "escalation_level": clock.escalation_level,
                "stopped": clock.stopped_at is not None,
                "stopped_at": clock.stopped_at.isoformat() if clock.stopped_at else None,
            }
            for name, clock in complaint.clocks.items()
        },
        # Records of this complaint Kafka refused for good (the relay went on without them).
        "parked": [
            {
                "outbox_id": p.id,
                "topic": p.topic,
                "event_id": p.event_id,
                "size": p.size,
                "parked_at": p.parked_at.isoformat(),
                "reason": p.reason,
            }
            for p in store.parked_outbox(complaint_id)
        ],
        "history": [
            {
                "seq": e.seq,
                "type": e.type,
                "occurred_at": e.occurred_at.isoformat(),
                "state": e.state,
                "skpd": e.skpd,
                "actor": f"{e.actor.role}:{e.actor.id}",
                "payload": e.payload,
            }
            for e in store.history(complaint_id)
        ],
        "lapor_sync": _lapor_sync(store, complaint_id),
        # Escalation notices (laporflow notify): sent, pending, failed or no contact.
        "notices": NoticeStore(store).for_complaint(complaint_id),
    }


def _lapor_sync(store: Store, complaint_id: str) -> list[dict[str, Any]]:
    """What the LAPOR! sync-back pushed upstream for this complaint, or failed to."""
    try:
        return [p.as_dict() for p in FeedStore(store).pushes_for(complaint_id)]
    except StoreError:
        return []  # a database from before the feed's tables: nothing was pushed
