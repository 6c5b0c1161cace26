"""Smoke test against the real local Apache Kafka broker (kafka-python 3.0.x)."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.serializer import DefaultSerializer

pytestmark = pytest.mark.kafka

N_RECORDS = 50
COMMIT_AFTER = 20
N_KEYS = 7

Record = tuple[int, str, str]  # offset, key, value


@pytest.fixture
def topic(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Iterator[str]:
    partitions: int = request.param
    name = f"smoke-{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="smoke-admin")
    try:
        admin.create_topics(
            [NewTopic(name=name, num_partitions=partitions, replication_factor=1)],
            wait_for_metadata=True,
        )
        yield name
        admin.delete_topics([name])
    finally:
        admin.close()


def _consumer(bootstrap: str, group: str, topic: str) -> KafkaConsumer:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        key_deserializer=DefaultSerializer(),  # UTF-8 str <-> bytes
        value_deserializer=DefaultSerializer(),
    )
    consumer.subscribe([topic])
    return consumer


def _consume(
    consumer: KafkaConsumer, count: int, timeout: float = 30.0
) -> list[tuple[int, Record]]:
    """Exactly ``count`` records as (partition, (offset, key, value)), in delivery order."""
    got: list[tuple[int, Record]] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        assert time.monotonic() < deadline, f"only {len(got)}/{count} records in {timeout} s"
        batches = consumer.poll(timeout_ms=500, max_records=count - len(got))
        for tp, records in batches.items():
            got.extend((tp.partition, (r.offset, r.key, r.value)) for r in records)
    return got


def _by_partition(records: list[tuple[int, Record]]) -> dict[int, list[Record]]:
    out: dict[int, list[Record]] = defaultdict(list)
    for partition, record in records:
        out[partition].append(record)
    return dict(out)


@pytest.mark.parametrize("topic", [1, 6], indirect=True, ids=["1-partition", "6-partitions"])
def test_produce_consume_commit_resume(kafka_bootstrap: str, topic: str) -> None:
    # Produce: idempotent, acks=all, keyed; remember where every record landed.
    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        key_serializer=DefaultSerializer(),
        value_serializer=DefaultSerializer(),
    )
    try:
        sent = [(f"key-{i % N_KEYS}", f"value-{i:03d}") for i in range(N_RECORDS)]
        futures = [producer.send(topic, key=k, value=v) for k, v in sent]
        producer.flush(timeout=30)
        metadata = [f.get(timeout=30) for f in futures]
    finally:
        producer.close(timeout=10)

    expected: dict[int, list[Record]] = defaultdict(list)
    key_partition: dict[str, int] = {}
    for (key, value), md in zip(sent, metadata, strict=True):
        assert md.topic == topic
        # Same key, same partition.
        assert key_partition.setdefault(key, md.partition) == md.partition
        expected[md.partition].append((md.offset, key, value))
    # Idempotent producer, no retries visible: offsets are 0..n-1 in send order per partition.
    for records in expected.values():
        assert [offset for offset, _, _ in records] == list(range(len(records)))
    assert sum(len(r) for r in expected.values()) == N_RECORDS

    group = f"smoke-group-{uuid.uuid4().hex[:12]}"

    # First consumer: exactly COMMIT_AFTER records, commit them, close (leaves the group).
    first = _consumer(kafka_bootstrap, group, topic)
    try:
        head = _consume(first, COMMIT_AFTER)
        first.commit()
    finally:
        first.close()
    # Records come back per partition in offset order, starting at offset 0.
    head_by_partition = _by_partition(head)
    for partition, records in head_by_partition.items():
        assert records == expected[partition][: len(records)]
    committed = {p: len(records) for p, records in head_by_partition.items()}

    # A NEW consumer in the same group resumes at the committed offsets.
    second = _consumer(kafka_bootstrap, group, topic)
    try:
        tail = _consume(second, N_RECORDS - COMMIT_AFTER)
        for partition in expected:
            got = second.committed(TopicPartition(topic, partition))
            if partition in committed:
                assert got == committed[partition]
            else:  # never consumed by the first member: nothing or offset 0 committed
                assert got in (None, 0)
        extra = second.poll(timeout_ms=1000)
    finally:
        second.close()
    assert extra == {}, "more records than produced"

    tail_by_partition = _by_partition(tail)
    for partition, records in tail_by_partition.items():
        start = committed.get(partition, 0)
        assert records == expected[partition][start:]
        assert records[0][0] == start
    # Together: every record exactly once, each partition complete and in order.
    for partition, records in expected.items():
        together = head_by_partition.get(partition, []) + tail_by_partition.get(partition, [])
        assert together == records
    if len(expected) == 1:
        (only,) = expected
        assert committed == {only: COMMIT_AFTER}
        assert [offset for offset, _, _ in tail_by_partition[only]] == list(
            range(COMMIT_AFTER, N_RECORDS)
        )
