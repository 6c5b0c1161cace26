"""Opening a kafka-python consumer in a group: the one place the settings are spelled out.

Every Kafka loop of lapor-flow (commands, notices, sync-back) commits offsets itself,
after its own work is stored, and starts from the earliest record when its group is new.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from engine.errors import BrokerError

__all__ = ["CLOSE_TIMEOUT_MS", "close_group_consumer", "next_offsets", "open_group_consumer"]

#: How long a stopping loop waits for its last commit and for leaving its group. A
#: consumer stopped while its group is still rebalancing (a restart right after a
#: crash) has a JoinGroup in flight that the broker answers only when the rebalance
#: ends; its LeaveGroup queues behind it on the same connection. Without a bound,
#: close() waited the full request timeout (30 s) there. Given up, the member simply
#: expires on the broker, as a crashed one does.
CLOSE_TIMEOUT_MS = 5_000


def open_group_consumer(
    bootstrap: str,
    group_id: str,
    *,
    max_poll_records: int,
    consumer_config: dict[str, Any] | None = None,
    **overrides: Any,
) -> KafkaConsumer:
    """A consumer in ``group_id`` with manual commits; Kafka errors become BrokerError.

    ``overrides`` are this loop's own settings; ``consumer_config`` (security settings,
    tests' timeouts) is applied last.
    """
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": max_poll_records,
        "client_id": f"laporflow-{group_id}",
        **overrides,
        **(consumer_config or {}),
    }
    try:
        return KafkaConsumer(**config)
    except KafkaError as exc:
        raise BrokerError(f"cannot connect to Kafka: {exc}", bootstrap=bootstrap) from exc


def close_group_consumer(consumer: KafkaConsumer) -> None:
    """Leave the group and close the connections, waiting at most :data:`CLOSE_TIMEOUT_MS`."""
    consumer.close(timeout_ms=CLOSE_TIMEOUT_MS)


def next_offsets(polled: dict[TopicPartition, list[Any]]) -> dict[TopicPartition, Any]:
    """What to commit once a poll's records are stored: each partition's last offset + 1."""
    return {
        tp: OffsetAndMetadata(batch[-1].offset + 1, "", -1) for tp, batch in polled.items() if batch
    }
