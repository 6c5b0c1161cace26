"""``laporflow demo`` leaves no timer due: its database is what replaying its history gives.

The demo publishes the outbox only after the commands, so no relay drains it while they
are applied; the engine's timer shares must not wait for one (they did, and timers due on
complaints without a later command stayed unfired: 1,108 conflicts on the default demo).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from engine.policy_file import load_policy
from engine.replay import compare_with_live, rebuild
from engine.settings import Settings
from engine.store import Store
from laporflow.demo import demo_database_url, run_demo
from workflows.registry import WorkflowRegistry


def test_the_demo_fires_every_due_timer_and_replays_without_conflict(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    url = demo_database_url(tmp_path / "demo.db")
    run_demo(
        Settings(kafka_bootstrap=kafka_bootstrap, database_url=url),
        complaints=400,
        seed=11,
        days=45,
        console=Console(record=True, width=160),
    )
    store = Store(url)
    differences: list[str] = []
    report = rebuild(
        store,
        registry=WorkflowRegistry.default(),
        policy=load_policy(None),
        on_complaint=lambda r: differences.extend(compare_with_live(store, r)),
    )
    assert report.complaints == 400
    assert report.conflicts == []
    assert differences == []
    assert report.unfired == 0  # nothing left due: the demo fired every timer
    store.close()
