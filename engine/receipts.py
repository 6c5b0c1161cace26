"""SKPD receipts: what the report counts per SKPD, kept as rows as events are written.

A *receipt* is a complaint's first dispatch to an SKPD (CONTRACT §6: "received"), with
that SKPD's first answer (``complaint.followed_up``) and first return
(``complaint.returned``) after it. Each one is a fact of the history. Deriving them at
report time costs three index probes per dispatch of the period, about 1.1 s for a month
with 1,000,000 complaints stored. So ``Store.write`` keeps them in ``skpd_receipts``, in
the batch's own transaction, from the events it writes; the report then reads its
period's rows through one index.

:func:`receipt_changes` is the pure half: what a batch of events adds. The store applies
it with conditions that make the order of batches the only order that matters:

* a receipt is inserted unless its (complaint, SKPD) has one (an earlier dispatch);
* an answer or a return fills its receipt's column only while that is empty and only if
  it comes after the receipt's dispatch, in seq order, so the first one after the first
  dispatch is kept, whichever batch each arrived in.

Rejections (no seq) and events naming no SKPD never touch a receipt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from workflows.model import Event

__all__ = [
    "DISPATCHED",
    "FOLLOWED_UP",
    "RETURNED",
    "Outcome",
    "Receipt",
    "ReceiptChanges",
    "receipt_changes",
]

DISPATCHED = "complaint.dispatched"
FOLLOWED_UP = "complaint.followed_up"
RETURNED = "complaint.returned"


@dataclass(frozen=True)
class Receipt:
    """A complaint's first dispatch to an SKPD (in the events given)."""

    complaint_id: str
    skpd: str
    region: str | None
    dispatch_seq: int
    dispatched_at: datetime


@dataclass(frozen=True)
class Outcome:
    """An answer or a return naming an SKPD: it counts if it is the first after the dispatch."""

    complaint_id: str
    skpd: str
    seq: int
    at: datetime


@dataclass
class ReceiptChanges:
    """What a batch of events does to the receipts, each list in seq order per complaint."""

    receipts: list[Receipt] = field(default_factory=list)
    answers: list[Outcome] = field(default_factory=list)
    returns: list[Outcome] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.receipts or self.answers or self.returns)


def receipt_changes(events: Iterable[Event]) -> ReceiptChanges:
    """The receipts, answers and returns ``events`` hold (any order; sorted by seq here).

    Only a complaint's first dispatch to an SKPD among ``events`` becomes a receipt; every
    answer and return is kept, because which one is first after the stored dispatch is
    the store's condition to decide (an earlier batch may hold the dispatch).
    """
    relevant = [
        e
        for e in events
        if e.seq is not None
        and e.skpd is not None
        and e.type in (DISPATCHED, FOLLOWED_UP, RETURNED)
    ]
    # The engine writes a complaint's events in seq order; a rebuild copies them in any.
    relevant.sort(key=lambda e: (e.complaint_id, e.seq or 0))
    changes = ReceiptChanges()
    seen: set[tuple[str, str]] = set()
    for e in relevant:
        assert e.skpd is not None and e.seq is not None  # filtered above
        if e.type == DISPATCHED:
            if (e.complaint_id, e.skpd) not in seen:
                seen.add((e.complaint_id, e.skpd))
                changes.receipts.append(
                    Receipt(e.complaint_id, e.skpd, e.region, e.seq, e.occurred_at)
                )
        else:
            outcome = Outcome(e.complaint_id, e.skpd, e.seq, e.occurred_at)
            (changes.answers if e.type == FOLLOWED_UP else changes.returns).append(outcome)
    return changes
