"""Thin wrappers around kafka-python's producer and admin client.

Kafka errors are translated into :class:`engine.errors.BrokerError` here, once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from engine.errors import BrokerError
from engine.settings import Settings

__all__ = ["ensure_topics", "kafka_client_config", "make_producer"]

log = logging.getLogger(__name__)


def kafka_client_config(settings: Settings) -> dict[str, Any]:
    """kafka-python keyword arguments for SASL/SSL, common to consumer, producer and admin.

    Only what is set is returned, so PLAINTEXT deployments pass nothing but the protocol.
    """
    config: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_sasl_mechanism is not None:
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_username is not None:
        config["sasl_plain_username"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password is not None:
        config["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        value = getattr(settings, f"kafka_{key}")
        if value is not None:
            config[key] = value
    if settings.kafka_ssl_password is not None:
        config["ssl_password"] = settings.kafka_ssl_password.get_secret_value()
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        config["ssl_check_hostname"] = settings.kafka_ssl_check_hostname
    return config


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


def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    partitions: int,
    *,
    client_config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the topics that are missing; return the names created.

    ``client_config`` adds admin-client settings (security: :func:`kafka_client_config`).
    """
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, client_id="laporflow-admin", **(client_config or {})
        )
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
