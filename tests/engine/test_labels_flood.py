"""A flood of made-up SKPD codes through the processor: /metrics stays bounded (issue 14).

5,000 complaints are submitted, verified and dispatched to random SKPD codes, with and
without an SKPD directory in the policy, through the real :class:`Processor` on a SQLite
store; every batch also fires the timers due by a clock 40 days later (warnings, breaches,
escalations), so every SKPD-labelled metric is populated. Then:

* every SKPD-labelled family has at most ``LIMIT + 2`` label values and at most the
  series those values allow (asserted strictly);
* the scrape after 5,000 is as large and as slow as after the first 1,000 (the bound is
  already reached then): size within 5 %, time within a generous margin;
* with a directory, exactly the dispatches of a listed region to an unlisted SKPD are
  rejected (``unknown_skpd``), and those to listed SKPDs apply;
* a new guard on the same database (a restart) exports the same series.

The helpers are shared with ``tests/integration/test_labels_engine.py`` (a real engine
process scraped over HTTP).
"""

from __future__ import annotations

import json
import random
import statistics
import string
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from engine.labels import FOLD, listed_values
from engine.metrics import _STAGE_BUCKETS, Metrics
from engine.policy_file import load_policy
from engine.processor import Processor
from engine.schema import events_table
from engine.store import Store
from laporflow.runtime import refresh_gauges
from workflows.complaint import COMPLAINT_WORKFLOW
from workflows.policy import Policy
from workflows.sla import CLOCK_NAMES
from workflows.wire import command_bytes

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_POLICY = REPO / "ops" / "policy.example.yaml"
LIMIT = 300
COMPLAINTS = 5000
BASELINE = 1000
WITA = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=WITA)  # Monday
TOPIC = "lapor.commands"
_CODE_CHARS = string.ascii_letters + string.digits + "._-"

#: Series each SKPD label value can have, per SKPD-labelled family.
PER_VALUE = {
    "laporflow_complaints": len(COMPLAINT_WORKFLOW.states),
    "laporflow_sla_breaches": len(CLOCK_NAMES) * 2,  # _total and _created
    "laporflow_sla_breached": len(CLOCK_NAMES),
    "laporflow_escalations": 3 * 2,
    # buckets (+Inf included), _count, _sum, _created
    "laporflow_stage_duration_seconds": len(CLOCK_NAMES) * (len(_STAGE_BUCKETS) + 1 + 3),
}


# --------------------------------------------------------------------------- traffic


@dataclass(frozen=True)
class Dispatch:
    """One generated complaint: its region and the SKPD it is dispatched to."""

    complaint_id: str
    region: str
    skpd: str


def random_code(rng: random.Random) -> str:
    """A made-up SKPD code, valid for the command schema (up to 64 characters)."""
    return "X-" + "".join(rng.choices(_CODE_CHARS, k=rng.randint(4, 62)))


def flood(
    n: int,
    *,
    seed: int,
    regions: Sequence[str],
    listed: Sequence[str] = (),
    listed_share: float = 0.0,
) -> list[Dispatch]:
    """``n`` complaints, each dispatched to a listed SKPD or (mostly) a random code."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        region = rng.choice(regions)
        code = rng.choice(listed) if listed and rng.random() < listed_share else random_code(rng)
        out.append(Dispatch(f"{region}-FLOOD-{seed}-{i:06d}", region, code))
    return out


def commands(d: Dispatch, at: datetime) -> list[bytes]:
    """Submit, verify and dispatch ``d`` (a minute apart, from ``at``)."""
    submit = {
        "title": "Jalan rusak",
        "body": "Berlubang",
        "category": "infrastruktur",
        "classification": "pengaduan",
        "channel": "web",
        "region": d.region,
    }
    steps = [
        ("submit", "complainant", submit),
        ("verify", "admin", {}),
        ("dispatch", "admin", {"skpd": d.skpd}),
    ]
    return [
        command_bytes(
            kind,
            d.complaint_id,
            at + timedelta(minutes=i),
            role=role,
            actor_id="flood",
            payload=payload,
            command_id=f"c-{kind}-{d.complaint_id}",
        )
        for i, (kind, role, payload) in enumerate(steps)
    ]


# --------------------------------------------------------------------------- /metrics


@dataclass(frozen=True)
class Scrape:
    """One /metrics body, parsed."""

    text: str
    seconds: float

    @property
    def size(self) -> int:
        return len(self.text.encode())

    def samples(self) -> list[tuple[str, str, dict[str, str], float]]:
        """(family, sample name, labels, value) of every series."""
        return [
            (family.name, s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(self.text)
            for s in family.samples
        ]

    def series(
        self, families: Iterable[str] | None = None
    ) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
        wanted = None if families is None else set(families)
        return {
            (name, tuple(sorted(labels.items())))
            for family, name, labels, _ in self.samples()
            if wanted is None or family in wanted
        }

    def values(
        self, families: Iterable[str]
    ) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Series -> value, for the given families."""
        wanted = set(families)
        return {
            (name, tuple(sorted(labels.items()))): value
            for family, name, labels, value in self.samples()
            if family in wanted
        }

    def label_values(self, label: str) -> set[str]:
        return {labels[label] for _, _, labels, _ in self.samples() if label in labels}


def check_bound(scrape: Scrape, *, limit: int, listed: Iterable[str]) -> dict[str, int]:
    """Assert the strict bound on SKPD label values and series; return the counts."""
    values_bound = max(limit, len(set(listed))) + 2  # plus "" and "other"
    counts: dict[str, int] = {}
    by_family: dict[str, list[dict[str, str]]] = {name: [] for name in PER_VALUE}
    for family, _, labels, _ in scrape.samples():
        if family in by_family:
            by_family[family].append(labels)
    for family, samples in by_family.items():
        values = {labels["skpd"] for labels in samples}
        assert len(values) <= values_bound, (family, len(values), values_bound)
        assert len(samples) <= values_bound * PER_VALUE[family], (family, len(samples))
        counts[family] = len(samples)
    counts["skpd_values"] = len(scrape.label_values("skpd"))
    assert counts["skpd_values"] <= values_bound
    counts["series"] = len(scrape.samples())
    return counts


def scrape_registry(registry: CollectorRegistry, repeat: int = 5) -> Scrape:
    """The registry's exposition, with the median time of ``repeat`` renderings."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        body = generate_latest(registry)
        times.append(time.perf_counter() - started)
    return Scrape(body.decode(), statistics.median(times))


def assert_flat(baseline: Scrape, final: Scrape) -> None:
    """Size and series count within 5 %, scrape time within 3x + 250 ms of the baseline.

    The time margin is wide on purpose: the machine is shared, and what matters is that
    the time does not grow with the number of codes (it would be ~5x without the bound).
    """
    assert final.size <= baseline.size * 1.05, (baseline.size, final.size)
    assert len(final.samples()) <= len(baseline.samples()) * 1.05
    assert final.seconds <= baseline.seconds * 3 + 0.25, (baseline.seconds, final.seconds)


# --------------------------------------------------------------------------- the runs


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Run:
    """The processor on one SQLite store, with its own metrics registry."""

    def __init__(self, tmp_path: Path, policy: Policy) -> None:
        self.store = Store(f"sqlite:///{tmp_path / 'flood.db'}")
        self.store.migrate()
        self.policy = policy
        self.late = T0 + timedelta(days=40)
        self.metrics = self.new_metrics()
        self.processor = Processor(
            self.store, policy=policy, clock=lambda: self.late, metrics=self.metrics
        )
        self.offset = 0
        self.rejected = 0

    def new_metrics(self) -> Metrics:
        """Fresh metrics whose guard is configured from the store, as at an engine start."""
        metrics = Metrics(CollectorRegistry())
        metrics.guard.configure(limit=LIMIT, listed=listed_values(self.policy), store=self.store)
        return metrics

    def feed(self, dispatches: Sequence[Dispatch], batch: int = 999) -> None:
        values = [
            v
            for i, d in enumerate(dispatches)
            for v in commands(d, T0 + timedelta(seconds=3 * (self.offset // 3 + i)))
        ]
        for start in range(0, len(values), batch):
            records = [
                Rec(TOPIC, 0, self.offset + i, None, v)
                for i, v in enumerate(values[start : start + batch])
            ]
            # Caught up: the watermark jumps to the late clock, so every due timer fires.
            result = self.processor.process(records, caught_up=[0])
            self.rejected += result.outcomes[("dispatch", "rejected")]
            assert result.count("invalid") == 0
            self.offset += len(records)

    def scrape(self, metrics: Metrics | None = None) -> Scrape:
        metrics = metrics or self.metrics
        refresh_gauges(self.store, self.late, metrics)
        return scrape_registry(metrics.registry)

    def rejections(self) -> dict[str, dict[str, object]]:
        """complaint_id -> payload of every stored command.rejected event."""
        with self.store.connect("reading rejections") as conn:
            rows = conn.execute(
                select(events_table.c.complaint_id, events_table.c.body).where(
                    events_table.c.type == "command.rejected"
                )
            )
            return {cid: json.loads(body)["payload"] for cid, body in rows}


@pytest.mark.parametrize("directory", [False, True], ids=["no-directory", "directory"])
def test_5000_dispatches_to_random_skpds_keep_metrics_bounded(
    directory: bool, tmp_path: Path
) -> None:
    policy = load_policy(EXAMPLE_POLICY) if directory else Policy.default()
    listed = sorted(policy.listed_skpds())
    assert len(listed) == (30 if directory else 0)
    # With a directory, HSU refuses made-up codes; BJM has none and takes any code.
    traffic = flood(
        COMPLAINTS,
        seed=14,
        regions=["HSU", "BJM"] if directory else ["HSU"],
        listed=listed,
        listed_share=0.2,
    )
    run = Run(tmp_path, policy)

    run.feed(traffic[:BASELINE])
    baseline = run.scrape()
    assert run.metrics.guard.admitted("skpd"), "nothing admitted: the test would prove nothing"
    assert len(run.metrics.guard.admitted("skpd")) == LIMIT - len(listed)  # full already
    started = time.monotonic()
    run.feed(traffic[BASELINE:])
    fed_s = time.monotonic() - started
    final = run.scrape()

    # The bound, strictly, while far more distinct codes were applied than it allows.
    counts = check_bound(final, limit=LIMIT, listed=listed)
    applied = {d.skpd for d in traffic if policy.skpd_known(d.region, d.skpd)}
    assert len(applied - set(listed)) > 5 * LIMIT
    assert final.label_values("skpd") <= run.metrics.guard.allowed("skpd")
    assert FOLD in final.label_values("skpd")
    folded = run.metrics.registry.get_sample_value(
        "laporflow_label_values_folded_total", {"label": "skpd"}
    )
    assert folded == len(applied - set(listed)) - (LIMIT - len(listed))
    # Timers fired: breaches, open breaches and escalations exist per SKPD.
    assert counts["laporflow_sla_breaches"] > 0
    assert counts["laporflow_escalations"] > 0
    assert counts["laporflow_sla_breached"] > 0
    assert_flat(baseline, final)

    # Rejections: exactly the dispatches of a listed region to an unlisted SKPD.
    expected = {d.complaint_id: d for d in traffic if not policy.skpd_known(d.region, d.skpd)}
    assert (len(expected) > 1000) == directory
    assert run.rejected == len(expected)
    rejections = run.rejections()
    assert set(rejections) == set(expected)
    for cid, payload in rejections.items():
        assert payload["reason"] == "unknown_skpd"
        assert payload["command_type"] == "dispatch"
        assert f"SKPD '{expected[cid].skpd}' is not in the SKPD directory" in str(payload["detail"])

    # A dispatch to a listed SKPD (or any SKPD of a region without directory) works.
    accepted = [d for d in traffic if d.complaint_id not in expected]
    stored = run.store.load(d.complaint_id for d in accepted)
    assert {cid: (c.state, c.skpd) for cid, c in stored.items()} == {
        d.complaint_id: ("dispatched", d.skpd) for d in accepted
    }
    refused = run.store.load(expected)
    assert {c.state for c in refused.values()} <= {"verified"}
    assert all(c.skpd is None for c in refused.values())

    # A restart: a new guard on the same database exports the same gauge series, and
    # maps every code the same way.
    gauges = ("laporflow_complaints", "laporflow_sla_breached", "laporflow_label_values")
    after = run.new_metrics()
    restarted = run.scrape(after)
    assert restarted.series(gauges) == final.series(gauges)
    assert restarted.values(gauges) == final.values(gauges)
    codes = {d.skpd for d in traffic}
    assert {c: after.guard.value("skpd", c) for c in codes} == {
        c: run.metrics.guard.value("skpd", c) for c in codes
    }
    print(
        f"\n{'directory' if directory else 'no directory'}: {counts}; baseline "
        f"{baseline.size} B / {baseline.seconds * 1000:.1f} ms, final {final.size} B / "
        f"{final.seconds * 1000:.1f} ms; {len(expected)} rejected; 4000 complaints fed in "
        f"{fed_s:.1f} s"
    )
