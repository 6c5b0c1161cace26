"""Thin wrappers around kafka-python's producer and admin client.

Kafka errors are translated into :class:`engine.errors.BrokerError` here, once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from engine.errors import BrokerError

__all__ = ["ensure_topics", "make_producer"]

log = logging.getLogger(__name__)


def make_producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    """An idempotent producer (acks=all, ordered retries), as the outbox relay needs."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_in_flight_requests_per_connection": 5,
        "client_id": "laporflow-relay",
        **overrides,
    }
    try:
        return KafkaProducer(**config)
    except KafkaError as exc:
        raise BrokerError(f"cannot create Kafka producer: {exc}", bootstrap=bootstrap) from exc


def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int) -> list[str]:
    """Create the topics that are missing; return the names created."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="laporflow-admin")
    except KafkaError as exc:
        raise BrokerError(
            f"cannot reach Kafka to create topics: {exc}", bootstrap=bootstrap
        ) from exc
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        created = []
        for topic in missing:
            try:
                admin.create_topics(
                    [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
                )
                created.append(topic)
            except TopicAlreadyExistsError:
                pass  # another engine instance created it first
        if created:
            log.info("created topics %s with %d partitions", created, partitions)
        return created
    except KafkaError as exc:
        raise BrokerError(f"creating topics failed: {exc}", bootstrap=bootstrap) from exc
    finally:
        admin.close()
