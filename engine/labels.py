"""The label guard: metric label values stay bounded, whatever producers send (CONTRACT §5).

Every metric with an ``skpd`` or ``region`` label is wrapped in :class:`GuardedMetric`
(``engine.metrics`` does this once), so no code path can create a series for a value the
guard has not let through. A value passes when it is

* one of the structural values ``""`` (no SKPD yet) and ``other`` (the fold itself);
* listed: an SKPD code of the policy's ``skpds`` directory, a region the policy names;
* admitted: one of the first ``limit - len(listed)`` other values seen (by this engine or
  any other instance sharing the database); see :class:`LabelGuard`.

Anything else folds into ``other``: its observations are still counted, under one series.
Each folded value is counted once in ``laporflow_label_values_folded_total{label}`` and
logged once (per process). The label therefore never has more than
``max(limit, len(listed)) + 2`` distinct values.

Admitted values are kept in the database (``label_values``), so after a restart the same
values pass and the same ones fold: the series are the same as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from engine.errors import StoreError
from workflows.policy import Policy

__all__ = [
    "ALWAYS",
    "DEFAULT_MAX_LABEL_VALUES",
    "FOLD",
    "GUARDED_LABELS",
    "GuardedMetric",
    "LabelGuard",
    "LabelStore",
    "listed_values",
]

log = logging.getLogger(__name__)

#: What every unlisted value beyond the limit becomes.
FOLD = "other"
#: Values that always pass and are never counted against the limit.
ALWAYS: frozenset[str] = frozenset({"", FOLD})
#: The labels the guard bounds; every other label passes untouched.
GUARDED_LABELS: tuple[str, ...] = ("skpd", "region")
DEFAULT_MAX_LABEL_VALUES = 300
#: Distinct folded values remembered per label (to count and log each once); beyond it a
#: folded value may be counted again, and is no longer logged one by one.
_MAX_REMEMBERED_FOLDS = 100_000
#: After a database failure while admitting, new values fold (without asking) this long.
_STORE_RETRY_S = 5.0


class LabelStore(Protocol):
    """Where admitted values are kept (``engine.store.Store`` implements it)."""

    def admitted_label_values(self, label: str, limit: int) -> list[str]:
        """The first ``limit`` admitted values of ``label``, in admission order."""
        ...

    def admit_label_values(self, label: str, candidates: Sequence[str], limit: int) -> list[str]:
        """Admit ``candidates`` while fewer than ``limit`` are admitted; return all admitted."""
        ...


def listed_values(policy: Policy) -> dict[str, frozenset[str]]:
    """The label values a policy names: its SKPD directory codes and its regions."""
    return {"skpd": policy.listed_skpds(), "region": policy.listed_regions()}


@dataclass
class _LabelState:
    """What the guard knows about one label."""

    listed: frozenset[str] = frozenset()
    admitted: dict[str, None] = field(default_factory=dict)  # ordered set
    #: No more room: every further unknown value folds without asking the store.
    full: bool = False
    folded: set[int] = field(default_factory=set)
    forgetful_warned: bool = False


class LabelGuard:
    """Decides, per label, which values pass and which fold into ``other``.

    Thread-safe (the consumer thread records batches, the gauge thread refreshes). With a
    store, admission goes through the database, one short transaction for all the new
    values of a batch and only while there is room, so once a label is full a flood of
    new values costs no database work at all. Without a store (unit tests, tools) it
    admits in memory only. A database failure while admitting folds the new values of the
    next few seconds, then admission is tried again: the bound holds either way.
    """

    def __init__(
        self,
        limit: int = DEFAULT_MAX_LABEL_VALUES,
        *,
        on_fold: Callable[[str], None] | None = None,
        on_change: Callable[[str, int], None] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._on_fold = on_fold
        self._on_change = on_change
        self._limit = limit
        self._store: LabelStore | None = None
        self._retry_at = 0.0
        self._labels: dict[str, _LabelState] = {}
        self.configure(limit=limit)

    def configure(
        self,
        *,
        limit: int,
        listed: Mapping[str, Iterable[str]] | None = None,
        store: LabelStore | None = None,
    ) -> None:
        """Start over with this limit, these lists and this store (loading what it admitted)."""
        if limit < 1:
            raise ValueError(f"the label value limit must be at least 1, got {limit}")
        with self._lock:
            self._limit = limit
            self._store = store
            self._retry_at = 0.0
            listed = listed or {}
            self._labels = {
                label: _LabelState(listed=frozenset(listed.get(label, ())) - ALWAYS)
                for label in GUARDED_LABELS
            }
            for label, state in self._labels.items():
                room = self._room(state)
                if store is not None and room > 0:
                    state.admitted = dict.fromkeys(store.admitted_label_values(label, room))
                state.full = len(state.admitted) >= room
                self._changed(label, state)

    @property
    def limit(self) -> int:
        """Distinct values per label, listed ones included (``LAPORFLOW_MAX_LABEL_VALUES``)."""
        return self._limit

    def allowed(self, label: str) -> frozenset[str]:
        """Every value of ``label`` that passes now: listed, admitted and the structural ones."""
        with self._lock:
            state = self._labels.get(label)
            if state is None:
                raise KeyError(f"{label!r} is not a guarded label")
            return state.listed | frozenset(state.admitted) | ALWAYS

    def admitted(self, label: str) -> list[str]:
        """The admitted (unlisted) values of ``label``, in admission order."""
        with self._lock:
            return list(self._labels[label].admitted)

    def admit(self, label: str, values: Iterable[str]) -> None:
        """Offer ``values`` for admission at once, in order (one store trip for a batch)."""
        with self._lock:
            state = self._labels.get(label)
            if state is None:
                return
            fresh = [v for v in dict.fromkeys(values) if not self._passes(state, v)]
            if fresh and not state.full:
                self._admit(label, state, fresh)

    def value(self, label: str, raw: str) -> str:
        """The value to export for ``raw``: itself if it passes, else ``other``."""
        with self._lock:
            state = self._labels.get(label)
            if state is None or self._passes(state, raw):
                return raw
            if not state.full:
                self._admit(label, state, [raw])
                if raw in state.admitted:
                    return raw
            self._fold(label, state, raw)
            return FOLD

    # --- internals (called with the lock held) -------------------------------------

    def _room(self, state: _LabelState) -> int:
        return max(self._limit - len(state.listed), 0)

    @staticmethod
    def _passes(state: _LabelState, value: str) -> bool:
        return value in ALWAYS or value in state.listed or value in state.admitted

    def _admit(self, label: str, state: _LabelState, fresh: list[str]) -> None:
        room = self._room(state)
        if self._store is None:
            for value in fresh[: max(room - len(state.admitted), 0)]:
                state.admitted[value] = None
        else:
            if time.monotonic() < self._retry_at:
                return  # the database failed a moment ago: fold meanwhile, do not hammer it
            try:
                admitted = self._store.admit_label_values(label, fresh, room)
            except StoreError as exc:
                self._retry_at = time.monotonic() + _STORE_RETRY_S
                log.warning(
                    "cannot admit %s label values now (they fold for %.0f s): %s",
                    label,
                    _STORE_RETRY_S,
                    exc,
                )
                return
            state.admitted = dict.fromkeys(admitted)
        state.full = len(state.admitted) >= room
        self._changed(label, state)

    def _fold(self, label: str, state: _LabelState, raw: str) -> None:
        key = hash(raw)
        if key in state.folded:
            return
        if len(state.folded) < _MAX_REMEMBERED_FOLDS:
            state.folded.add(key)
            log.warning(
                "metric label %s=%r folded into %r: %d values already pass (limit "
                "LAPORFLOW_MAX_LABEL_VALUES=%d); list real SKPDs and regions in the policy",
                label,
                raw,
                FOLD,
                len(state.listed) + len(state.admitted),
                self._limit,
            )
        elif not state.forgetful_warned:
            state.forgetful_warned = True
            log.warning(
                "more than %d distinct %s label values folded: further ones are counted "
                "without being remembered or logged one by one",
                _MAX_REMEMBERED_FOLDS,
                label,
            )
        if self._on_fold is not None:
            self._on_fold(label)

    def _changed(self, label: str, state: _LabelState) -> None:
        if self._on_change is not None:
            self._on_change(label, len(state.listed) + len(state.admitted))


M = TypeVar("M", Counter, Gauge, Histogram)


class GuardedMetric(Generic[M]):
    """A labelled metric whose ``skpd`` and ``region`` values go through a :class:`LabelGuard`.

    ``labels(...)`` has the metric's own signature (keywords or positional values) and
    returns the metric's child, so callers use it exactly like the bare metric.
    """

    def __init__(self, metric: M, guard: LabelGuard) -> None:
        self.metric: M = metric
        self.guard = guard
        self.labelnames: tuple[str, ...] = tuple(metric._labelnames)
        self._guarded = tuple(
            (i, name) for i, name in enumerate(self.labelnames) if name in GUARDED_LABELS
        )

    def labels(self, *values: str, **labels: str) -> M:
        """The child for these label values, guarded labels mapped first."""
        if labels:
            if values or sorted(labels) != sorted(self.labelnames):
                raise ValueError(f"{self.labelnames} need exactly these labels, got {labels}")
            values = tuple(labels[name] for name in self.labelnames)
        child: M = self.metric.labels(*self.key(tuple(values)))
        return child

    def key(self, values: tuple[str, ...]) -> tuple[str, ...]:
        """Label values (in ``labelnames`` order) as they will be exported."""
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.labelnames} need {len(self.labelnames)} values, got {values}")
        mapped = list(values)
        for i, name in self._guarded:
            mapped[i] = self.guard.value(name, values[i])
        return tuple(mapped)

    def admit(self, rows: Iterable[tuple[str, ...]]) -> None:
        """Offer the guarded values of ``rows`` (label value tuples) for admission, in order."""
        rows = list(rows)
        for i, name in self._guarded:
            self.guard.admit(name, (row[i] for row in rows))
