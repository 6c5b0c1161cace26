"""Secrets and complainant identity never leak: logs, errors, events and metrics.

A real engine runs a quarter whose submits carry identified complainants (name, phone,
email), with a database password in its URL and a SASL password in its settings. Then
every line it logged (engine and relay), every stored and published event, the outbox
and ``/metrics`` are scanned: no secret, no name, no phone, no email. Failure paths are
scanned too: the engine and the CLI pointed at an unreachable database or broker with
those secrets set must fail with messages that name neither.

Dead letters are out of scope by contract: ``lapor.dlq`` keeps the original bytes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import date
from pathlib import Path

from sqlalchemy.engine import make_url

from engine.topics import Topics
from laporflow.demo_data import generate
from producers.kafka_io import ensure_topics
from tests.chaos.harness import (
    Db,
    EngineProcess,
    engine_env,
    env_int,
    free_port,
    get_json,
    new_database,
    produce,
    read_topic,
)

DB_SECRET = "Chaos-Db-Secret-7431"
SASL_SECRET = "Chaos-Sasl-Secret-9920"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _with_password(url: str) -> str:
    return make_url(url).set(password=DB_SECRET).render_as_string(hide_password=False)


def _identities(records: list[object]) -> set[str]:
    found: set[str] = set()
    for record in records:
        try:
            doc = json.loads(record.value)  # type: ignore[attr-defined]
        except ValueError:
            continue
        if not isinstance(doc, dict) or doc.get("type") != "submit":
            continue
        who = (doc.get("payload") or {}).get("complainant") or {}
        found |= {v for v in who.values() if isinstance(v, str) and len(v) >= 6}
    return found


def _leaks(text: str, needles: set[str]) -> list[str]:
    return sorted(n for n in needles if n in text)


def test_no_secret_and_no_identity_in_logs_events_or_metrics(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> None:
    _, records = generate(
        seed=9, complaints=env_int("SECURITY_COMPLAINTS", 400), start=date(2026, 1, 5), days=20
    )
    identities = _identities(records)
    assert len(identities) > 300, "the run must carry identified complainants"
    prefix = f"chaos-sec-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix)
    ensure_topics(kafka_bootstrap, topics.all(), 3)
    produce(kafka_bootstrap, topics.commands, records)
    secrets = {DB_SECRET, SASL_SECRET}

    with new_database(postgres_url) as url:
        env = engine_env(
            kafka_bootstrap,
            _with_password(url),
            prefix,
            f"chaos-sec-{uuid.uuid4().hex[:8]}",
            LAPORFLOW_KAFKA_SASL_USERNAME="engine",
            LAPORFLOW_KAFKA_SASL_PASSWORD=SASL_SECRET,
        )
        port = int(env["LAPORFLOW_METRICS_PORT"])
        engine = EngineProcess.start(env, tmp_path / "engine.log")
        db = Db(url)
        try:
            deadline = time.monotonic() + 300
            while not (
                db.scalar("SELECT coalesce(sum(next_offset), 0) FROM partition_progress")
                == len(records)
                and db.scalar("SELECT count(*) FROM outbox WHERE NOT published") == 0
            ):
                engine.assert_running()
                assert time.monotonic() < deadline, engine.tail()
                time.sleep(0.2)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                metrics = r.read().decode()
            readyz = json.dumps(get_json(port, "/readyz"))
            stored = "\n".join(str(row) for row in db.rows("SELECT body, causation_id FROM events"))
            outbox = "\n".join(
                bytes(v or b"").decode(errors="replace")
                for (v,) in db.rows(
                    "SELECT value FROM outbox WHERE event_id IS NOT NULL AND value IS NOT NULL"
                )
            )
            complainants = db.scalar(
                "SELECT count(*) FROM complaints WHERE complainant IS NOT NULL"
            )
            engine.proc.send_signal(signal.SIGTERM)
            assert engine.proc.wait(timeout=60) == 0, engine.tail()
        finally:
            engine.kill_group()
            db.close()
        log = engine.log.read_text(errors="replace")
        published = read_topic(kafka_bootstrap, topics.events)
        on_topic = "\n".join(
            (r.key or b"").decode(errors="replace")
            + (r.value or b"").decode(errors="replace")
            + "".join(v.decode(errors="replace") for _, v in r.headers)
            for r in published
        )

    assert complainants > 0, "identity is kept where it belongs (the complaints table)"
    for name, text in {
        "engine and relay log": log,
        "/metrics": metrics,
        "/readyz": readyz,
        "events table": stored,
        "outbox": outbox,
        "lapor.events": on_topic,
    }.items():
        assert not _leaks(text, secrets), f"secret in {name}"
        leaked = _leaks(text, identities)
        assert not leaked, f"{len(leaked)} identities in {name}, e.g. {leaked[:3]}"
    print(
        f"\nCHAOS security figures: identities {len(identities)}, log lines "
        f"{len(log.splitlines())}, events {len(published)}, metric lines "
        f"{len(metrics.splitlines())}: 0 leaks"
    )


def _cli(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "laporflow", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode != 0, f"{args} should fail: {result.stdout}{result.stderr}"
    return result.stdout + result.stderr


def test_failures_name_no_secret(kafka_bootstrap: str, postgres_url: str) -> None:
    dead_db = (
        make_url(postgres_url)
        .set(host="127.0.0.1", port=free_port(), password=DB_SECRET)
        .render_as_string(hide_password=False)
    )
    env = engine_env(
        kafka_bootstrap,
        dead_db,
        "chaos-sec-x.",
        "chaos-sec-x",
        LAPORFLOW_KAFKA_SASL_PASSWORD=SASL_SECRET,
    )
    outputs = {
        "run, database down": _cli(["run"], env),
        "status, database down": _cli(["status", "HSU-1"], env),
        "report, database down": _cli(["report"], env),
    }
    with_db = {**env, "LAPORFLOW_DATABASE_URL": _with_password(postgres_url)}
    with_db["LAPORFLOW_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{free_port()}"
    outputs["run, broker down"] = _cli(["run"], with_db, timeout=180)
    for what, text in outputs.items():
        assert text.strip(), f"{what}: no error message at all"
        assert DB_SECRET not in text, f"database password in the output of {what}:\n{text}"
        assert SASL_SECRET not in text, f"SASL password in the output of {what}:\n{text}"
