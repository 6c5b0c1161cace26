"""The outbox relay on a real Kafka broker and a real PostgreSQL (issue 7).

* an invalid record just under the commands topic's size limit, and one the commands
  topic took compressed, reach the DLQ with their headers, and later events still go out;
* a record Kafka refuses for good is parked (counted, listed) and the rest flows;
* published rows are pruned by the relay's loop after the retention period;
* the readiness probe's Kafka check is a real round trip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from engine.metrics import REGISTRY
from engine.settings import Settings
from engine.status import complaint_status
from engine.store import BatchWrite, OutboxRecord, Store
from engine.topics import Topics
from laporflow.runtime import EngineRuntime
from producers.kafka_io import KafkaProbe, _admin, ensure_topics, make_producer, topic_max_bytes
from producers.relay import OutboxRelay
from tests.engine.test_store import complaint, write_new
from workflows.policy import Policy

PARTITIONS = 2


def _read(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> list[Any]:
    """Every record of ``topic`` up to its current end."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in consumer.poll(timeout_ms=500).values():
                out.extend(batch)
        return out
    finally:
        consumer.close()


def _metric(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return value or 0.0


def _command(complaint_id: str, n: int) -> bytes:
    return json.dumps(
        {
            "command_id": f"cmd-{complaint_id}-{n}",
            "type": "submit",
            "complaint_id": complaint_id,
            "issued_at": "2026-03-02T09:15:00+08:00",
            "actor": {"role": "complainant", "id": "p-1"},
            "payload": {
                "title": "Jalan rusak",
                "body": "Jalan di depan pasar berlubang.",
                "category": "infrastruktur",
                "region": "HSU",
                "classification": "pengaduan",
                "channel": "web",
            },
        }
    ).encode()


@pytest.fixture
def store(pg_database_url: str) -> Iterator[Store]:
    s = Store(pg_database_url)
    s.migrate()
    yield s
    s.close()


def test_a_near_1mib_invalid_record_reaches_the_dlq_and_later_events_publish(
    kafka_bootstrap: str, pg_database_url: str
) -> None:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=pg_database_url,
        topic_prefix=f"it-{uuid.uuid4().hex[:8]}.",
        group_id=f"it-{uuid.uuid4().hex[:8]}",
        partitions=1,
    )
    topics = settings.topics
    ensure_topics(kafka_bootstrap, topics.all(), 1)
    limits = topic_max_bytes(kafka_bootstrap, topics.all())
    assert limits[topics.dlq] > limits[topics.commands]
    assert limits[topics.events] > limits[topics.commands]

    # Incompressible bytes, as large as the commands topic accepts (batch overhead aside).
    big = os.urandom(limits[topics.commands] - 200)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=4 << 20)
    # And 3 MiB that the commands topic accepted because its producer compressed it.
    roomy = b'{"type": "submit", "payload": "' + b"x" * (3 << 20) + b'"}'
    squeezing = KafkaProducer(
        bootstrap_servers=kafka_bootstrap, max_request_size=8 << 20, compression_type="gzip"
    )
    try:
        squeezing.send(topics.commands, key=b"HSU-2026-ZIP", value=roomy).get(timeout=30)
    finally:
        squeezing.close()
    try:
        producer.send(topics.commands, key=b"HSU-2026-BIG", value=big).get(timeout=30)
        producer.send(
            topics.commands, key=b"HSU-2026-000001", value=_command("HSU-2026-000001", 1)
        ).get(timeout=30)
    finally:
        producer.close()

    runtime = EngineRuntime(settings, serve_http=False, relay_process=False)
    try:
        deadline = time.monotonic() + 60
        while runtime.consumer.stats.records < 3:
            assert time.monotonic() < deadline, "the engine did not consume both records"
            runtime.consumer.poll_once()
        # The dead letter, then the submit's events (its clocks, months old, fire too).
        published = runtime.relay.drain()
        stored = len(runtime.store.history("HSU-2026-000001"))
        assert published == 2 + stored
        assert runtime.store.outbox_parked_count() == 0
        assert runtime.store.outbox_pending_count() == 0
    finally:
        runtime.shutdown()

    zipped, dead = _read(kafka_bootstrap, topics.dlq, 1)
    assert zipped.value == roomy
    assert dict(zipped.headers)["error"] == b"too_large"
    assert dead.value == big
    headers = dict(dead.headers)
    assert headers["source_topic"].decode() == topics.commands
    assert headers["source_offset"] == b"1"
    assert headers["error"] in (b"not_json", b"not_utf8", b"empty", b"schema")
    events = [json.loads(r.value) for r in _read(kafka_bootstrap, topics.events, 1)]
    assert len(events) == stored
    assert (events[0]["complaint_id"], events[0]["type"]) == (
        "HSU-2026-000001",
        "complaint.submitted",
    )


def test_a_record_kafka_refuses_is_parked_and_the_rest_flows(
    kafka_bootstrap: str, store: Store, pg_database_url: str
) -> None:
    topics = Topics(f"it-{uuid.uuid4().hex[:8]}.")
    admin = _admin(kafka_bootstrap)
    try:
        admin.create_topics(
            [
                NewTopic(topics.events, num_partitions=1, replication_factor=1),
                # An operator's too-small dead-letter topic: the broker refuses big records.
                NewTopic(
                    topics.dlq,
                    num_partitions=1,
                    replication_factor=1,
                    topic_configs={"max.message.bytes": "20000"},
                ),
            ]
        )
    finally:
        admin.close()

    def rows(tag: str) -> list[OutboxRecord]:
        return [
            OutboxRecord(topics.events, b"HSU-1", f'{{"n":"{tag}1"}}'.encode(), partition=0),
            OutboxRecord(topics.dlq, b"HSU-1", os.urandom(60_000), partition=0),
            OutboxRecord(topics.events, b"HSU-1", f'{{"n":"{tag}2"}}'.encode(), partition=0),
        ]

    store.write(BatchWrite(outbox=rows("a")))
    before = _metric("laporflow_outbox_parked_records_total", topic=topics.dlq)
    producer = make_producer(kafka_bootstrap)
    # A producer whose own limit is below the record: refused before it leaves.
    small = make_producer(kafka_bootstrap, max_request_size=30_000, compression_type=None)
    try:
        relay = OutboxRelay(
            store,
            producer,
            owned=lambda: {0},
            producer_factory=lambda: make_producer(kafka_bootstrap),
        )
        assert relay.drain() == 3
        assert store.outbox_parked_count() == 1, [
            (p.id, p.topic, p.size, p.reason) for p in store.parked_outbox()
        ]
        producer = relay.producer  # renewed: kafka-python's is fatal after a refusal
        store.write(BatchWrite(outbox=rows("b")))
        assert OutboxRelay(store, small, owned=lambda: {0}).drain() == 3
        assert store.outbox_parked_count() == 2
        assert store.outbox_pending_count() == 0
    finally:
        producer.close()
        small.close()

    # At least once, in order: a batch in flight when the producer failed may have been
    # written although its future failed, and is sent again (consumers de-duplicate).
    values = [r.value for r in _read(kafka_bootstrap, topics.events, 1)]
    assert list(dict.fromkeys(values)) == [
        b'{"n":"a1"}',
        b'{"n":"a2"}',
        b'{"n":"b1"}',
        b'{"n":"b2"}',
    ]
    assert _read(kafka_bootstrap, topics.dlq, 1) == []
    parked = store.parked_outbox("HSU-1")
    assert [p.size for p in parked] == [60_000, 60_000]
    assert "MessageSizeTooLarge" in parked[0].reason or "TooLarge" in parked[0].reason
    assert "MessageSizeTooLarge" in parked[1].reason
    assert _metric("laporflow_outbox_parked_records_total", topic=topics.dlq) == before + 2

    # `laporflow status` shows them on the complaint they concern.
    write_new(store, complaint("HSU-1"))
    found = complaint_status(store, "HSU-1", Policy.default())
    assert found is not None
    assert [(p["topic"], p["size"]) for p in found["parked"]] == [(topics.dlq, 60_000)] * 2

    out = subprocess.run(
        [sys.executable, "-m", "laporflow", "outbox", "--json"],
        env={**os.environ, "LAPORFLOW_DATABASE_URL": pg_database_url},
        capture_output=True,
        text=True,
        check=True,
    )
    listed = json.loads(out.stdout)
    assert (listed["pending"], listed["parked"]) == (0, 2)
    assert {r["key"] for r in listed["parked_records"]} == {"HSU-1"}


def test_a_row_committed_after_a_higher_id_of_another_partition_is_still_published(
    kafka_bootstrap: str, store: Store
) -> None:
    # Two engines commit independently: partition 1's row takes its id first but commits
    # after the relay has published partition 0's higher one. The claim's floors are per
    # partition (producers/claim_floors.py), so the next claim still finds it.
    topics = Topics(f"it-{uuid.uuid4().hex[:8]}.")
    ensure_topics(kafka_bootstrap, topics.all(), PARTITIONS)
    producer = make_producer(kafka_bootstrap)
    relay = OutboxRelay(store, producer, owned=lambda: {0, 1})
    late = store.engine.connect()
    try:
        from engine.schema import outbox_table

        store.write(
            BatchWrite(outbox=[OutboxRecord(topics.events, b"FIRST", b"partition 1", partition=1)])
        )
        assert relay.publish_pending() == 1  # partition 1 has a floor now
        transaction = late.begin()
        late.execute(
            outbox_table.insert().values(
                topic=topics.events,
                key=b"LATE",
                value=b"partition 1, committed last",
                created_at=datetime.now(UTC),
                published=False,
                partition=1,
            )
        )
        store.write(
            BatchWrite(outbox=[OutboxRecord(topics.events, b"EARLY", b"partition 0", partition=0)])
        )
        assert relay.publish_pending() == 1  # the early row; the late one is not committed
        transaction.commit()
        assert relay.publish_pending() == 1
        assert relay.publish_pending() == 0
    finally:
        late.close()
        producer.close()
    assert store.outbox_pending_count() == 0
    values = {r.value for r in _read(kafka_bootstrap, topics.events)}
    assert values == {b"partition 1", b"partition 0", b"partition 1, committed last"}


def test_the_relay_loop_prunes_published_rows_after_the_retention(
    kafka_bootstrap: str, store: Store
) -> None:
    topics = Topics(f"it-{uuid.uuid4().hex[:8]}.")
    ensure_topics(kafka_bootstrap, topics.all(), 1)
    store.write(BatchWrite(outbox=[OutboxRecord(topics.events, b"K", b"v", partition=0)] * 5))
    producer = make_producer(kafka_bootstrap)
    stop = threading.Event()
    relay = OutboxRelay(
        store,
        producer,
        owned=lambda: {0},
        retention=timedelta(seconds=1),
        prune_interval_s=0.2,
        prune_batch=2,
    )
    thread = threading.Thread(target=relay.run, args=(stop,), kwargs={"idle_wait_s": 0.05})
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            with store.engine.connect() as conn:
                from sqlalchemy import func, select

                from engine.schema import outbox_table

                left = conn.execute(select(func.count()).select_from(outbox_table)).scalar_one()
            if left == 0:
                break
            assert time.monotonic() < deadline, f"{left} rows never pruned"
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(10)
        producer.close()
    assert len(_read(kafka_bootstrap, topics.events, 1)) == 5
    # Young rows stay: the retention counts from publication.
    assert store.prune_outbox(datetime.now(UTC) - timedelta(days=7)) == 0


def test_the_readiness_probe_is_a_real_round_trip(kafka_bootstrap: str) -> None:
    up = KafkaProbe(kafka_bootstrap, ttl_s=0)
    try:
        # Asked again and again, as /readyz is: a loaded metadata cache stays "ready".
        assert all(up.reachable() for _ in range(5))
    finally:
        up.close()
    # No broker: "not ready" within the timeout, and no IO thread leaked per attempt.
    # (In a child process: kafka-python leaves a refused connection's socket unclosed.)
    script = (
        "import threading, time\n"
        "from producers.kafka_io import KafkaProbe\n"
        "probe = KafkaProbe('127.0.0.1:1', ttl_s=0, timeout_ms=500)\n"
        "started = time.monotonic()\n"
        "answers = [probe.reachable() for _ in range(3)]\n"
        "probe.close()\n"
        "print(answers, round(time.monotonic() - started, 1), threading.active_count())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    answers, seconds, threads = out.stdout.rsplit(" ", 2)
    assert answers == "[False, False, False]"
    assert float(seconds) < 5
    assert int(threads) == 1
