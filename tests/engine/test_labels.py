"""The label guard: listed values pass, unlisted ones until the limit, the rest fold."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge

from engine.errors import StoreError
from engine.labels import FOLD, GUARDED_LABELS, GuardedMetric, LabelGuard, listed_values
from engine.metrics import METRICS, REGISTRY, Metrics, set_gauge_family
from engine.store import Store
from workflows.policy import Policy


def folded(metrics: Metrics, label: str = "skpd") -> float:
    value = metrics.registry.get_sample_value(
        "laporflow_label_values_folded_total", {"label": label}
    )
    assert value is not None
    return value


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'labels.db'}")
    s.migrate()
    return s


def test_listed_and_structural_values_always_pass(metrics: Metrics) -> None:
    guard = metrics.guard
    guard.configure(limit=2, listed={"skpd": ["PUPR", "DINKES", "DLH"], "region": ["HSU"]})
    assert [guard.value("skpd", v) for v in ("PUPR", "DINKES", "DLH", "", FOLD)] == [
        "PUPR",
        "DINKES",
        "DLH",
        "",
        FOLD,
    ]
    # Three listed values already exceed the limit of 2: nothing unlisted passes.
    assert guard.value("skpd", "NEW") == FOLD
    assert guard.value("region", "HSU") == "HSU"
    # Labels the guard does not bound pass untouched.
    assert guard.value("clock", "anything") == "anything"


def test_unlisted_values_pass_until_the_limit_then_fold(metrics: Metrics) -> None:
    guard = metrics.guard
    guard.configure(limit=4, listed={"skpd": ["PUPR"]})
    exported = [guard.value("skpd", f"X{i}") for i in range(6)]
    # The limit counts the listed value: 1 listed + 3 admitted.
    assert exported == ["X0", "X1", "X2", FOLD, FOLD, FOLD]
    assert guard.value("skpd", "X1") == "X1"  # admitted stays admitted
    assert guard.value("skpd", "PUPR") == "PUPR"  # listed still passes when full
    assert guard.allowed("skpd") == {"PUPR", "X0", "X1", "X2", "", FOLD}
    assert guard.admitted("skpd") == ["X0", "X1", "X2"]
    value = metrics.registry.get_sample_value("laporflow_label_values", {"label": "skpd"})
    assert value == 4
    # Labels are bounded independently.
    assert guard.value("region", "R1") == "R1"


def test_each_folded_value_is_counted_and_logged_once(
    metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    guard = metrics.guard
    guard.configure(limit=1)
    assert guard.value("skpd", "KEPT") == "KEPT"
    caplog.set_level(logging.WARNING, logger="engine.labels")
    for _ in range(3):
        for code in ("A", "B", "A", "C"):
            assert guard.value("skpd", code) == FOLD
    assert folded(metrics) == 3
    assert folded(metrics, "region") == 0
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert "skpd='A' folded into 'other'" in lines[0]
    assert "LAPORFLOW_MAX_LABEL_VALUES=1" in lines[0]


def test_a_batch_is_admitted_in_order(metrics: Metrics) -> None:
    guard = metrics.guard
    guard.configure(limit=3)
    guard.admit("skpd", ["B", "", "A", "B", "C", "D"])
    assert guard.admitted("skpd") == ["B", "A", "C"]
    assert guard.value("skpd", "D") == FOLD


def test_admitted_values_survive_a_restart(store: Store) -> None:
    before = Metrics(CollectorRegistry())
    before.guard.configure(limit=5, listed={"skpd": ["PUPR"]}, store=store)
    exported = {code: before.guard.value("skpd", code) for code in ("Q", "R", "S", "T", "U", "V")}
    assert list(exported.values()) == ["Q", "R", "S", "T", FOLD, FOLD]

    after = Metrics(CollectorRegistry())
    after.guard.configure(limit=5, listed={"skpd": ["PUPR"]}, store=store)
    assert after.guard.admitted("skpd") == ["Q", "R", "S", "T"]
    # The same values pass and the same fold, in whatever order they come back.
    assert {code: after.guard.value("skpd", code) for code in reversed(exported)} == exported


def test_a_lower_limit_keeps_the_first_admitted(store: Store) -> None:
    first = LabelGuard()
    first.configure(limit=10, store=store)
    first.admit("skpd", ["A", "B", "C", "D"])
    second = LabelGuard()
    second.configure(limit=2, store=store)
    assert second.admitted("skpd") == ["A", "B"]
    assert second.value("skpd", "C") == FOLD


def test_instances_sharing_a_database_agree(store: Store) -> None:
    a, b = LabelGuard(), LabelGuard()
    other = Store(store.url)
    a.configure(limit=3, store=store)
    b.configure(limit=3, store=other)
    assert a.value("skpd", "A1") == "A1"
    assert b.value("skpd", "B1") == "B1"
    assert b.value("skpd", "A1") == "A1"  # learned from the database, not admitted twice
    assert a.value("skpd", "A2") == "A2"
    assert b.value("skpd", "B2") == FOLD  # the shared limit of 3 is reached
    assert a.value("skpd", "B2") == FOLD
    assert set(a.admitted("skpd")) == set(b.admitted("skpd")) == {"A1", "B1", "A2"}
    other.close()


class FailingStore:
    """A store whose database is down until ``up`` is set."""

    def __init__(self) -> None:
        self.up = False
        self.values: list[str] = []

    def admitted_label_values(self, label: str, limit: int) -> list[str]:
        return self.values[:limit]

    def admit_label_values(self, label: str, candidates: Sequence[str], limit: int) -> list[str]:
        if not self.up:
            raise StoreError("database unavailable")
        for value in candidates:
            if value not in self.values and len(self.values) < limit:
                self.values.append(value)
        return self.values[:limit]


def test_a_database_failure_folds_for_a_while_and_admits_later(
    metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = FailingStore()
    metrics.guard.configure(limit=3, store=failing)
    assert metrics.guard.value("skpd", "A") == FOLD
    failing.up = True
    assert metrics.guard.value("skpd", "A") == FOLD  # not asked again so soon
    monkeypatch.setattr("engine.labels._STORE_RETRY_S", 0.0)
    metrics.guard.configure(limit=3, store=failing)
    failing.up = False
    assert metrics.guard.value("skpd", "A") == FOLD
    failing.up = True
    assert metrics.guard.value("skpd", "A") == "A"
    assert metrics.guard.admitted("skpd") == ["A"]


def test_guarded_metric_maps_keywords_and_positions(metrics: Metrics) -> None:
    metrics.guard.configure(limit=1)
    metrics.escalations.labels(skpd="A", level="1").inc()
    metrics.escalations.labels("B", "1").inc()
    metrics.escalations.labels(level="1", skpd="C").inc()
    samples = {
        s.labels["skpd"]: s.value
        for family in metrics.registry.collect()
        if family.name == "laporflow_escalations"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert samples == {"A": 1.0, FOLD: 2.0}
    with pytest.raises(ValueError, match="need 2 values"):
        metrics.escalations.labels("only-one")
    with pytest.raises(ValueError, match="need exactly these labels"):
        metrics.escalations.labels(skpd="A", clock="x")


def test_gauge_families_sum_folded_values_and_admit_the_largest_first(metrics: Metrics) -> None:
    metrics.guard.configure(limit=2, listed={"skpd": ["PUPR"]})
    set_gauge_family(
        metrics.complaints,
        {
            ("dispatched", "SMALL"): 1,
            ("dispatched", "BIG"): 50,
            ("dispatched", "PUPR"): 7,
            ("submitted", ""): 4,
            ("dispatched", "TINY"): 2,
        },
    )
    assert metrics.guard.admitted("skpd") == ["BIG"]

    def exported() -> dict[tuple[str, str], float]:
        return {
            (s.labels["state"], s.labels["skpd"]): s.value
            for family in metrics.registry.collect()
            if family.name == "laporflow_complaints"
            for s in family.samples
        }

    assert exported() == {
        ("dispatched", "BIG"): 50,
        ("dispatched", "PUPR"): 7,
        ("submitted", ""): 4,
        ("dispatched", FOLD): 3,
    }
    set_gauge_family(metrics.complaints, {("dispatched", "PUPR"): 8})
    assert exported() == {
        ("dispatched", "BIG"): 0,
        ("dispatched", "PUPR"): 8,
        ("submitted", ""): 0,
        ("dispatched", FOLD): 0,
    }


def test_listed_values_come_from_the_policy_directory_and_regions() -> None:
    policy = Policy.model_validate(
        {"regions": {"ACEH": {}}, "skpds": {"HSU": ["PUPR", "DLH"], "BJM": {"DLH": "Dinas LH"}}}
    )
    assert listed_values(policy) == {
        "skpd": frozenset({"PUPR", "DLH"}),
        "region": frozenset({"ACEH", "HSU", "BJM"}),
    }


def test_every_skpd_or_region_labelled_metric_is_guarded() -> None:
    guarded = {id(m.metric) for m in vars(METRICS).values() if isinstance(m, GuardedMetric)}
    assert all(
        m.guard is METRICS.guard for m in vars(METRICS).values() if isinstance(m, GuardedMetric)
    )
    labelled = [
        collector
        for collector in REGISTRY._collector_to_names
        if set(getattr(collector, "_labelnames", ())) & set(GUARDED_LABELS)
    ]
    names = sorted(c._name for c in labelled)  # type: ignore[attr-defined]
    assert {
        "laporflow_complaints",
        "laporflow_sla_breaches",
        "laporflow_sla_breached",
        "laporflow_escalations",
        "laporflow_stage_duration_seconds",
    } <= set(names)
    unguarded = [c._name for c in labelled if id(c) not in guarded]  # type: ignore[attr-defined]
    assert unguarded == [], f"wrap these in GuardedMetric (engine/labels.py): {unguarded}"


def test_an_unguarded_gauge_still_works_with_set_gauge_family() -> None:
    gauge = Gauge("t_plain", "plain", ["skpd"], registry=CollectorRegistry())
    set_gauge_family(gauge, {("ANY",): 2})
    assert gauge.labels("ANY")._value.get() == 2


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LabelGuard().configure(limit=0)


def test_guarded_metric_keeps_the_metrics_label_names(metrics: Metrics) -> None:
    assert isinstance(metrics.stage_duration, GuardedMetric)
    assert metrics.stage_duration.labelnames == ("clock", "skpd")
