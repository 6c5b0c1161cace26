"""Hostile input: 10,000 records from hypothesis and a corpus, through a real engine.

The records (``LAPORFLOW_CHAOS_FUZZ_RECORDS``, default 10,000) are a small genuine
quarter (so complaints exist to be attacked), a corpus of known-nasty shapes (random
bytes, truncated and deeply nested JSON, huge strings, wrong types, unicode edge cases,
NUL bytes, lone surrogates, SQL-looking strings, forged roles, replayed and reordered
commands, timestamps far in the past and future) and hypothesis-generated commands and
near-commands. One ``laporflow run`` consumes them all. Then:

* the engine never crashed and never stalled (progress within ``STALL_S`` throughout);
* each record ended as exactly one outcome: the outcome counters sum to the record
  count, applied/rejected rows and dead letters sit at distinct offsets, and the rest
  are the counted duplicates;
* every complaint's history is sound (seq 1..n, no gap, no second event per seq);
* no partition's watermark was moved by a record that was not applied (CONTRACT §4).
"""

from __future__ import annotations

import json
import random
import re
import signal
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, Phase, given, settings

from engine.topics import Topics
from laporflow.demo_data import generate
from producers.kafka_io import ensure_topics
from tests.chaos.harness import (
    Db,
    EngineProcess,
    assert_history_sound,
    engine_env,
    env_int,
    get_json,
    new_database,
    snapshot,
)

STALL_S = 90.0
ROLES = ["complainant", "admin", "skpd", "system"]
TYPES = ["submit", "verify", "archive", "dispatch", "return", "follow_up", "reply", "resolve"]
TYPES += ["reopen", "defer", "resume"]
NASTY = [
    "'; DROP TABLE complaints; --",
    "1 OR 1=1",
    '" OR ""="',
    "Robert'); DELETE FROM events WHERE ('1'='1",
    "$$; TRUNCATE outbox; $$",
    "\\x00\\x27",
    "\u0000",
    "a\u0000b",
    "\u202e\u0644\u0627\u0628\u0648\u0631",
    "\ufeff\u200b\u200d",
    "\U0001f600" * 50,
    "e\u0301" * 30,
    "\uffff\ufffe",
    "{{7*7}}[[b]]<script>alert(1)</script>",
    "%s%s%s%n",
    "../../../../etc/passwd",
    "",
    " ",
]
TIMES = [
    "0001-01-01T00:00:00Z",
    "1900-01-01T00:00:00+00:00",
    "1999-12-31T23:59:59+08:00",
    "2100-01-01T00:00:00+08:00",
    "9999-12-31T23:59:59+14:00",
    "2026-02-30T10:00:00+08:00",
    "2026-01-10T10:00:00",
    "2026-01-10T25:61:61+08:00",
    "2026-01-10 10:00:00+08:00",
    "1767225600",
]


def _command(rng: random.Random, complaint_id: str, ctype: str, issued_at: str) -> dict[str, Any]:
    payloads: dict[str, dict[str, Any]] = {
        "submit": {
            "title": rng.choice(NASTY) or "x",
            "body": rng.choice(NASTY) or "y",
            "category": "infrastruktur",
            "classification": "pengaduan",
            "channel": "web",
            "region": "HSU",
        },
        "dispatch": {"skpd": rng.choice(["PUPR", "DINKES", "x" * 64, "A'B"])},
        "archive": {"reason": rng.choice(NASTY)},
        "return": {"reason": rng.choice(NASTY)},
        "reopen": {"reason": rng.choice(NASTY)},
        "defer": {"reason": rng.choice(NASTY)},
    }
    return {
        "command_id": f"h-{uuid.UUID(int=rng.getrandbits(128))}",
        "type": ctype,
        "complaint_id": complaint_id,
        "issued_at": issued_at,
        "actor": {"role": rng.choice(ROLES), "id": rng.choice(NASTY) or "id"},
        "payload": payloads.get(ctype, {"note": rng.choice(NASTY) or "n"}),
    }


def _corpus(
    rng: random.Random, base: list[tuple[bytes, bytes]], ids: list[str]
) -> list[tuple[bytes, bytes]]:
    """Known-nasty records, each a (key, value)."""
    out: list[tuple[bytes, bytes]] = []
    values = [v for _, v in base]
    # Replayed verbatim, and a complaint's commands again in reverse order under new ids.
    out += rng.sample(base, min(300, len(base)))
    by_key: dict[bytes, list[bytes]] = {}
    for key, value in base:
        by_key.setdefault(key, []).append(value)
    for key in rng.sample(sorted(by_key), min(60, len(by_key))):
        for value in reversed(by_key[key]):
            try:
                doc = json.loads(value)
            except ValueError:
                continue
            if isinstance(doc, dict) and "command_id" in doc:
                doc["command_id"] = f"r-{uuid.UUID(int=rng.getrandbits(128))}"
                out.append((key, json.dumps(doc).encode()))
    for _ in range(1000):  # truncated
        value = rng.choice(values)
        out.append((b"t", value[: rng.randrange(1, max(2, len(value)))]))
    for depth in (50, 254, 255, 256, 1000, 100_000):  # deeply nested
        out.append((b"deep", b"[" * depth + b"]" * depth))
        out.append((b"deep", b'{"a":' * depth + b"1" + b"}" * depth))
        doc = _command(rng, rng.choice(ids), "verify", "2026-01-20T10:00:00+08:00")
        nested: Any = 1
        for _ in range(min(depth, 5000)):
            nested = {"n": nested}
        doc["payload"] = {"note": "x", "extra": nested}
        out.append((b"deep", json.dumps(doc).encode() if depth < 900 else b"{}"))
    for size in (20_000, 20_001, 200_000, 900_000):  # huge strings
        doc = _command(rng, f"HUGE-{size}", "submit", "2026-01-20T10:00:00+08:00")
        doc["payload"]["title"] = "J" * min(size, 20_000)
        doc["payload"]["body"] = "\U0001f4a5" * (size // 4)
        out.append((b"huge", json.dumps(doc, ensure_ascii=False).encode()))
    for n in (128, 129, 10_000):
        doc = _command(rng, rng.choice(ids), "verify", "2026-01-20T10:00:00+08:00")
        doc["command_id"] = "c" * n
        out.append((b"long-id", json.dumps(doc).encode()))
    for _ in range(1500):  # wrong types, forged roles, nasty strings, odd times
        doc = _command(rng, rng.choice(ids), rng.choice(TYPES), rng.choice(TIMES))
        field = rng.choice(["issued_at", "actor", "payload", "type", "command_id", "complaint_id"])
        doc[field] = rng.choice([None, 1, 1.5, True, [], {}, "x", ["a"], {"role": "root"}])
        out.append((b"wrong", json.dumps(doc).encode()))
    for role in ("root", "ADMIN", "Admin", "", "system", "admin ", None):
        for ctype in ("dispatch", "resolve", "verify", "archive"):
            doc = _command(rng, rng.choice(ids), ctype, "2026-01-25T10:00:00+08:00")
            doc["actor"] = {"role": role, "id": "forged"}
            out.append((doc["complaint_id"].encode(), json.dumps(doc).encode()))
    for text in NASTY:  # every nasty string in every string field of a plausible command
        for field in ("command_id", "complaint_id", "type"):
            doc = _command(rng, rng.choice(ids), "verify", "2026-01-25T10:00:00+08:00")
            doc[field] = text
            out.append((b"nasty", json.dumps(doc).encode()))
        doc = _command(rng, f"NASTY-{len(out)}", "submit", "2026-01-25T10:00:00+08:00")
        doc["payload"]["complainant"] = {
            "name": text or "x",
            "phone": text or "x",
            "email": text or "x",
        }
        out.append((b"nasty", json.dumps(doc).encode()))
    for stamp in TIMES:  # far past and future, on real complaints and new ones
        for ctype in ("verify", "submit", "follow_up", "resolve"):
            cid = rng.choice(ids) if ctype != "submit" else f"TIME-{len(out)}"
            out.append((cid.encode(), json.dumps(_command(rng, cid, ctype, stamp)).encode()))
    raw = [
        b'{"command_id":"\\ud800","type":"verify","complaint_id":"HSU-2026-000001",'
        b'"issued_at":"2026-01-20T10:00:00+08:00","actor":{"role":"admin","id":"\\udfff"},'
        b'"payload":{}}',
        b"\xff\xfe\x00\x00",
        b"\xc0\x80",
        b"\xed\xa0\x80",
        b"null",
        b"[]",
        b'"string"',
        b"1e999999",
        b"NaN",
        b'{"command_id": 1e400}',
        b"\x00" * 100,
        b"{" * 10,
    ]
    out += [(b"raw", r) for r in raw]
    out += [(b"rand", rng.randbytes(rng.randrange(1, 3000))) for _ in range(800)]
    for _ in range(500):  # genuine records with a few bytes flipped
        value = bytearray(rng.choice(values))
        for _ in range(rng.randrange(1, 4)):
            value[rng.randrange(len(value))] = rng.randrange(256)
        out.append((b"flip", bytes(value)))
    return out


_TEXT = st.text(min_size=0, max_size=60)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=20,
)


def _hypothesis_records(n: int, ids: list[str]) -> list[tuple[bytes, bytes]]:
    """``n`` records from hypothesis: near-commands, arbitrary JSON and arbitrary bytes."""
    out: list[tuple[bytes, bytes]] = []
    stamps = st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ).map(lambda d: d.isoformat())
    command = st.fixed_dictionaries(
        {
            "command_id": _TEXT,
            "type": st.sampled_from(TYPES) | _TEXT,
            "complaint_id": st.sampled_from(ids)
            | st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True),
            "issued_at": stamps | st.sampled_from(TIMES) | _TEXT,
            "actor": st.fixed_dictionaries(
                {"role": st.sampled_from(ROLES) | _TEXT, "id": _TEXT | st.sampled_from(NASTY)}
            ),
            "payload": st.dictionaries(
                st.sampled_from(["note", "reason", "skpd", "title", "body", "x"]), _JSON, max_size=3
            ),
        }
    )
    record = st.one_of(
        command.map(lambda d: json.dumps(d).encode()),
        _JSON.map(lambda d: json.dumps(d).encode()),
        st.binary(min_size=0, max_size=500),
    )

    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(record)
    def collect(value: bytes) -> None:
        if len(out) < n:
            out.append((b"hyp", value))

    while len(out) < n:
        collect()
    return out


def _metric_total(text: str, name: str) -> Counter[str]:
    """Sum a counter's samples by its ``outcome`` label from Prometheus text."""
    totals: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith(name + "{"):
            outcome = re.search(r'outcome="([^"]*)"', line)
            totals[outcome.group(1) if outcome else ""] += int(float(line.rsplit(" ", 1)[1]))
    return totals


def test_hostile_records_each_end_as_one_outcome_and_never_stall_the_engine(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> None:
    total = env_int("FUZZ_RECORDS", 10_000)
    rng = random.Random(env_int("SEED", 11))
    started = time.monotonic()
    _, demo = generate(seed=5, complaints=250, start=date(2026, 1, 5), days=20)
    base = [(r.key, r.value) for r in demo]
    ids = sorted({r.key.decode() for r in demo if r.kind == "lifecycle"})
    corpus = _corpus(rng, base, ids)
    fuzz = _hypothesis_records(max(0, total - len(base) - len(corpus)), ids)
    records = base + corpus + fuzz
    head, tail = records[: len(base)], records[len(base) :]
    rng.shuffle(tail)
    records = head + tail
    generated_s = time.monotonic() - started

    prefix = f"chaos-fuzz-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix)
    ensure_topics(kafka_bootstrap, topics.all(), 3)
    produced = _produce_raw(kafka_bootstrap, topics.commands, records)

    with new_database(postgres_url) as url:
        env = engine_env(kafka_bootstrap, url, prefix, f"chaos-fuzz-{uuid.uuid4().hex[:8]}")
        port = int(env["LAPORFLOW_METRICS_PORT"])
        engine = EngineProcess.start(env, tmp_path / "engine.log")
        db = Db(url)
        try:
            last, last_change = -1, time.monotonic()
            while True:
                engine.assert_running()
                consumed = db.scalar("SELECT coalesce(sum(next_offset), 0) FROM partition_progress")
                if consumed != last:
                    last, last_change = consumed, time.monotonic()
                if consumed == len(records) and not db.scalar(
                    "SELECT count(*) FROM outbox WHERE NOT published"
                ):
                    break
                assert time.monotonic() - last_change < STALL_S, (
                    f"engine stalled at {consumed} of {len(records)} records\n{engine.tail(60)}"
                )
                time.sleep(0.2)
            consumed_s = time.monotonic() - started
            status, health = get_json(port, "/healthz")
            assert status == 200, health
            metrics = _metrics_text(port)
            outcomes = _metric_total(metrics, "laporflow_commands_total")
            rows = db.rows('SELECT outcome, "partition", "offset" FROM processed_commands')
            dlq = db.rows("SELECT headers FROM outbox WHERE event_id IS NULL")
            rejected_events = db.scalar(
                "SELECT count(*) FROM events WHERE type = 'command.rejected'"
            )
            watermarks = dict(db.rows('SELECT "partition", watermark FROM partition_progress'))
            applied_max = dict(
                db.rows(
                    'SELECT c."partition", max(e.occurred_at) FROM events e JOIN '
                    "processed_commands c ON c.command_id = e.causation_id "
                    "WHERE c.outcome = 'applied' GROUP BY 1"
                )
            )
            engine.proc.send_signal(signal.SIGTERM)
            assert engine.proc.wait(timeout=60) == 0, engine.tail()
        finally:
            engine.kill_group()
            db.close()
        log = engine.log.read_text(errors="replace")

        # Exactly one outcome per record.
        assert sum(outcomes.values()) == len(records), (outcomes, len(records))
        invalid_rows = {(p, o) for outcome, p, o in rows if outcome == "invalid"}
        rows = [r for r in rows if r[0] != "invalid"]
        positions = Counter((p, o) for _, p, o in rows)
        dead = Counter(
            (int(h["source_partition"]), int(h["source_offset"]))
            for h in (dict(json.loads(raw)) for (raw,) in dlq)
        )
        assert max(positions.values(), default=1) == 1, "two outcomes stored for one record"
        assert max(dead.values(), default=1) == 1, "a record dead-lettered twice"
        assert not set(positions) & set(dead), "a record both processed and dead-lettered"
        assert invalid_rows <= set(dead), "a record recorded invalid but not dead-lettered"
        assert set(positions) | set(dead) <= {(p.partition, p.offset) for p in produced}
        by_outcome = Counter(outcome for outcome, _, _ in rows)
        assert by_outcome["applied"] == outcomes["applied"], (by_outcome, outcomes)
        # A rejected command id sent again is rejected again: one processed row per id,
        # but one command.rejected event per record (its id is salted by the position).
        assert rejected_events == outcomes["rejected"], (rejected_events, outcomes)
        assert by_outcome["rejected"] <= rejected_events
        assert len(dead) == outcomes["invalid"], (len(dead), outcomes)
        assert by_outcome["applied"] + rejected_events + len(dead) + outcomes["duplicate"] == len(
            records
        )

        snap = snapshot(url)
        assert_history_sound(snap)
        figures = {
            "records": len(records),
            "corpus": len(corpus),
            "hypothesis": len(fuzz),
            "genuine": len(base),
            "outcomes": dict(outcomes),
            "generate_s": round(generated_s, 1),
            "consumed_s": round(consumed_s, 1),
            "database_retries_logged": log.count("database unavailable"),
        }
        print(f"\nCHAOS fuzz figures: {figures}")

        # CONTRACT §4: only an applied command moves its partition's clock, and never
        # past the engine's own clock (+5 min skew).
        limit = datetime.now(UTC) + timedelta(minutes=5)
        moved = {p: w for p, w in watermarks.items() if w is not None and w > limit}
        assert not moved, f"a watermark moved past the engine clock: {moved} ({applied_max})"


def _metrics_text(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def _produce_raw(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> list[Any]:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, max_request_size=2**21
    )
    try:
        futures = [producer.send(topic, key=k, value=v) for k, v in records]
        producer.flush(timeout=120)
        return [f.get(timeout=30) for f in futures]
    finally:
        producer.close()
