"""``laporflow replay``: state and clocks rebuilt from the stored history equal the live ones.

A real engine runs a quarter (``LAPORFLOW_CHAOS_REPLAY_COMPLAINTS``, default 800) to
rest. Then ``laporflow replay`` (a real process) checks the live tables against the
history, and rebuilds everything into a fresh database; the rebuilt complaints, clocks,
history, command outcomes and partition offsets must equal the live ones. A complaint
row changed behind the engine's back must be reported by the check.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

from engine.topics import Topics
from laporflow.demo_data import generate
from producers.kafka_io import ensure_topics
from tests.chaos.harness import (
    Db,
    EngineProcess,
    assert_history_sound,
    engine_env,
    env_int,
    new_database,
    produce,
    snapshot,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def _replay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "laporflow", "replay", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_replay_rebuilds_the_live_tables(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    _, records = generate(
        seed=41, complaints=env_int("REPLAY_COMPLAINTS", 800), start=date(2026, 1, 5), days=30
    )
    prefix = f"chaos-replay-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix)
    ensure_topics(kafka_bootstrap, topics.all(), 3)
    produce(kafka_bootstrap, topics.commands, records)
    with new_database(postgres_url) as live_url, new_database(postgres_url) as fresh_url:
        env = engine_env(kafka_bootstrap, live_url, prefix, f"chaos-replay-{uuid.uuid4().hex[:8]}")
        engine = EngineProcess.start(env, tmp_path / "engine.log")
        db = Db(live_url)
        try:
            deadline = time.monotonic() + 300
            while not (
                db.scalar("SELECT coalesce(sum(next_offset), 0) FROM partition_progress")
                == len(records)
                and db.scalar("SELECT count(*) FROM complaints WHERE next_due_at <= now()") == 0
            ):
                engine.assert_running()
                assert time.monotonic() < deadline, engine.tail()
                time.sleep(0.2)
            engine.proc.send_signal(signal.SIGTERM)
            assert engine.proc.wait(timeout=60) == 0, engine.tail()
        finally:
            engine.kill_group()
            db.close()
        run_s = time.monotonic() - started

        checked = _replay(env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "0 history conflicts, 0 differences" in checked.stdout, checked.stdout
        assert "Rebuilding complaints" in checked.stderr  # the progress bar

        began = time.monotonic()
        rebuilt = _replay(env, "--into", fresh_url)
        rebuild_s = time.monotonic() - began
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        live, fresh = snapshot(live_url), snapshot(fresh_url)
        assert_history_sound(fresh)
        assert fresh.complaints == live.complaints
        assert fresh.clocks == live.clocks
        assert fresh.events == live.events
        assert fresh.processed == live.processed
        assert fresh.next_offsets == live.next_offsets

        # A row changed behind the engine's back is found by the check.
        tampered = Db(fresh_url)
        try:
            victim = tampered.rows(
                "SELECT complaint_id FROM complaints WHERE state = 'resolved' LIMIT 1"
            )[0][0]
            tampered.conn.execute(
                'UPDATE complaints SET data = replace(data, \'"state":"resolved"\', '
                '\'"state":"dispatched"\') WHERE complaint_id = %s',
                (victim,),
            )
        finally:
            tampered.close()
        broken = _replay({**env, "LAPORFLOW_DATABASE_URL": fresh_url})
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert "1 differences" in broken.stdout and victim in broken.stdout, broken.stdout
        print(
            f"\nCHAOS replay figures: complaints {len(live.complaints)}, events "
            f"{len(live.events)}, engine run {run_s:.1f} s, rebuild {rebuild_s:.1f} s; equal"
        )
