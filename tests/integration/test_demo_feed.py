"""``laporflow demo`` with the national LAPOR! feed: some complaints come in through the
simulator and the real feed, and their progress goes back through the real sync-back."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from sqlalchemy import select

from engine.schema import processed_commands_table
from engine.settings import Settings
from engine.store import Store
from laporflow.demo import demo_database_url, run_demo


def test_the_demo_feeds_from_the_simulator_and_pushes_back(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    url = demo_database_url(tmp_path / "demo.db")
    console = Console(record=True, width=160)
    result = run_demo(
        Settings(kafka_bootstrap=kafka_bootstrap, database_url=url),
        complaints=150,
        seed=4,
        days=30,
        feed_reports=8,
        console=console,
    )
    assert result.feed_reports == 8
    pushed = result.pushed or {}
    assert pushed.get("dispatch", 0) >= 1 and pushed.get("follow_up", 0) >= 1
    assert "8 reports came in through the feed" in console.export_text()
    # The feed's submits were applied, once each, for complaints the engine knows.
    store = Store(url)
    table = processed_commands_table
    with store.connect("test") as conn:
        rows = conn.execute(
            select(table.c.complaint_id, table.c.outcome).where(
                table.c.command_id.like("lapor:%:submit")
            )
        ).all()
    assert len(rows) == 8 and {o for _, o in rows} == {"applied"}
    assert len(store.load([c for c, _ in rows])) == 8
    # Every record still ends as exactly one outcome.
    assert sum(result.outcomes.values()) == result.records
    store.close()
