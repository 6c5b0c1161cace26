"""Thin wrappers around kafka-python's producer and admin client.

Kafka errors are translated into :class:`engine.errors.BrokerError` here, once.

Record sizes (TECH-NOTES, issue 7): a record the commands topic accepts must always fit
on the dead-letter topic, which adds headers to it, and an event may carry most of a
command's bytes. So :func:`ensure_topics` gives ``lapor.dlq`` and ``lapor.events`` a
``max.message.bytes`` of the commands topic's limit plus :data:`SIZE_HEADROOM` (raising
it on existing topics that have less); the relay's producers accept records far above
it, and the dead-letter one compresses (gzip, in the standard library). A record that
still does not fit is parked by the relay, never retried forever.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import DefaultPartitioner, murmur2

from engine.errors import BrokerError
from engine.settings import Settings

__all__ = [
    "MAX_REQUEST_BYTES",
    "SIZE_HEADROOM",
    "KafkaProbe",
    "KeyedPartitioner",
    "ensure_topics",
    "kafka_client_config",
    "make_dead_letter_producer",
    "make_producer",
    "topic_max_bytes",
]

log = logging.getLogger(__name__)

#: Room for the dead-letter headers (error detail is cut at 1000 characters) and an
#: event's envelope around a command's payload, above the commands topic's limit.
SIZE_HEADROOM = 64 * 1024
#: The relay producer's limit on one uncompressed record; the topics' own limits (on
#: the compressed batch) are what the broker enforces.
MAX_REQUEST_BYTES = 16 * 1024 * 1024
#: The broker default of ``message.max.bytes`` (1 MiB + 12 bytes of batch overhead).
_BROKER_DEFAULT_MAX_BYTES = 1048588
_MAX_BYTES = "max.message.bytes"
#: How long a just-created topic may stay undescribable (see :func:`_max_bytes`).
DESCRIBE_WAIT_S = 10.0


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


class KeyedPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """kafka-python's default partitioner, with each key's murmur2 hash computed once.

    The partition is exactly the default's (and Java's): ``murmur2(key)``, made positive,
    modulo the topic's partition count, indexing its sorted partitions. kafka-python
    hashes in pure Python, about 5 µs a record, a seventh of the relay's own work per
    record; every event of a complaint carries the same key, and a backlog publishes
    them a page (at most 1,000 records) at a time, so the last ``memo_size`` keys'
    hashes are kept: 4,096 take about 1 MB (65,536 took 14.6). Records without a key
    go to the default unchanged.
    """

    def __init__(self, memo_size: int = 4_096) -> None:
        self._hash = functools.lru_cache(maxsize=memo_size)(murmur2)

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        """The partition of a record, as :class:`DefaultPartitioner` would choose it."""
        partitions = cluster.partitions_for_topic(topic)
        if serialized_key is None or not partitions:
            return int(
                super().partition(topic, key, serialized_key, value, serialized_value, cluster)
            )
        ordered = sorted(partitions)
        return int(ordered[(self._hash(bytes(serialized_key)) & 0x7FFFFFFF) % len(ordered)])


def make_producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    """An idempotent producer (acks=all, ordered retries), as the outbox relay needs."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        # Batches of up to 256 KiB instead of kafka-python's 16 KiB: a relay page goes out
        # in a few requests, which halves the relay's CPU per record (bench/relay_micro.py).
        # Below the smallest topic limit (1 MiB), so a batch is never refused for its size.
        "batch_size": 256 * 1024,
        "max_in_flight_requests_per_connection": 5,
        "client_id": "laporflow-relay",
        "max_request_size": MAX_REQUEST_BYTES,
        "partitioner": KeyedPartitioner(),
        **overrides,
    }
    try:
        return KafkaProducer(**config)
    except KafkaError as exc:
        raise BrokerError(f"cannot create Kafka producer: {exc}", bootstrap=bootstrap) from exc


class _Admin(KafkaAdminClient):  # type: ignore[misc]
    """An admin client that stops its IO thread when it cannot bootstrap.

    kafka-python 3 starts the thread before bootstrapping and leaks it when that fails;
    a readiness probe retrying through an outage would leak one per attempt.
    """

    def __init__(self, **configs: Any) -> None:
        try:
            super().__init__(**configs)
        except Exception:
            if hasattr(self, "_net"):
                self._closed = False
                self.close()
            raise


def make_dead_letter_producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    """The relay's producer for ``lapor.dlq``: gzip, so what the commands topic accepted
    compressed (a record of many MiB that compresses well) fits on the DLQ again."""
    return make_producer(
        bootstrap, **{"compression_type": "gzip", "client_id": "laporflow-relay-dlq", **overrides}
    )


def _admin(bootstrap: str, **config: Any) -> KafkaAdminClient:
    try:
        return _Admin(bootstrap_servers=bootstrap, client_id="laporflow-admin", **config)
    except KafkaError as exc:
        raise BrokerError(f"cannot reach Kafka: {exc}", bootstrap=bootstrap) from exc


def _max_bytes(admin: KafkaAdminClient, topics: list[str]) -> dict[str, int]:
    """Each topic's ``max.message.bytes``; waits up to ``DESCRIBE_WAIT_S`` for new topics.

    Right after a topic is created the broker may still answer its DescribeConfigs with
    UNKNOWN_TOPIC_OR_PARTITION, which kafka-python returns as an empty config dict.
    """
    deadline = time.monotonic() + DESCRIBE_WAIT_S
    while True:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t, {_MAX_BYTES: None}) for t in topics],
            config_filter="all",
        ).get("topic", {})
        missing = [t for t in topics if _MAX_BYTES not in described.get(t, {})]
        if not missing:
            return {t: int(described[t][_MAX_BYTES]["value"]) for t in topics}
        if time.monotonic() >= deadline:
            raise BrokerError(f"Kafka did not describe {_MAX_BYTES} of {missing}")
        time.sleep(0.1)


def topic_max_bytes(
    bootstrap: str, topics: Iterable[str], *, client_config: Mapping[str, Any] | None = None
) -> dict[str, int]:
    """The effective ``max.message.bytes`` of each topic."""
    admin = _admin(bootstrap, **(client_config or {}))
    try:
        return _max_bytes(admin, list(topics))
    except KafkaError as exc:
        raise BrokerError(f"describing topics failed: {exc}", bootstrap=bootstrap) from exc
    finally:
        admin.close()


def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    partitions: int,
    *,
    client_config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the topics that are missing, sized for dead letters; return the names created.

    Topics are told apart by name (``…lapor.commands``, ``…lapor.events``,
    ``…lapor.dlq``): the events and dead-letter topics get the commands topic's
    ``max.message.bytes`` plus :data:`SIZE_HEADROOM`, at creation or by raising it.
    ``client_config`` adds admin-client settings (security: :func:`kafka_client_config`).
    """
    names = list(topics)
    admin = _admin(bootstrap, **(client_config or {}))
    try:
        existing = set(admin.list_topics())
        commands = [t for t in names if t.endswith("lapor.commands")]
        limit = _BROKER_DEFAULT_MAX_BYTES
        created = []
        for topic in commands:
            if topic not in existing and _create(admin, topic, partitions, {}):
                created.append(topic)
        if commands:
            limit = max(_max_bytes(admin, commands).values())
        roomy = {_MAX_BYTES: str(limit + SIZE_HEADROOM)}
        outputs = [t for t in names if t.endswith(("lapor.dlq", "lapor.events"))]
        for topic in names:
            if topic in existing or topic in commands:
                continue
            if _create(admin, topic, partitions, roomy if topic in outputs else {}):
                created.append(topic)
        if created:
            log.info("created topics %s with %d partitions", created, partitions)
        _raise_limits(admin, [t for t in outputs if t in existing], limit + SIZE_HEADROOM)
        return created
    except KafkaError as exc:
        raise BrokerError(f"creating topics failed: {exc}", bootstrap=bootstrap) from exc
    finally:
        admin.close()


def _create(admin: KafkaAdminClient, topic: str, partitions: int, configs: dict[str, str]) -> bool:
    try:
        admin.create_topics(
            [
                NewTopic(
                    topic, num_partitions=partitions, replication_factor=1, topic_configs=configs
                )
            ]
        )
        return True
    except TopicAlreadyExistsError:
        return False  # another engine instance created it first


def _raise_limits(admin: KafkaAdminClient, topics: list[str], wanted: int) -> None:
    """Raise ``max.message.bytes`` of existing topics that have less than ``wanted``."""
    if not topics:
        return
    small = [t for t, n in _max_bytes(admin, topics).items() if n < wanted]
    if not small:
        return
    # Incremental (one key set, the others kept) on every broker this project supports.
    result = admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, t, {_MAX_BYTES: str(wanted)}) for t in small],
        raise_on_unknown=False,
    )
    log.warning("raised %s of %s to %d: %s", _MAX_BYTES, small, wanted, result)


class KafkaProbe:
    """Is the cluster reachable now? A metadata round trip, cached for ``ttl_s``.

    For ``/readyz``: kafka-python's ``bootstrap_connected()`` turns false once metadata
    is loaded (TECH-NOTES), and the consumer is not thread-safe, so the probe keeps an
    admin connection of its own and asks it for the cluster description.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        ttl_s: float = 3.0,
        timeout_ms: int = 3000,
        client_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.client_config = dict(client_config or {})
        self.ttl_s = ttl_s
        self.timeout_ms = timeout_ms
        self._admin: KafkaAdminClient | None = None
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._ok = False

    def reachable(self) -> bool:
        """True when a metadata request succeeded within the last ``ttl_s`` seconds."""
        with self._lock:
            if time.monotonic() - self._checked_at < self.ttl_s:
                return self._ok
            self._ok = self._round_trip()
            self._checked_at = time.monotonic()
            return self._ok

    def _round_trip(self) -> bool:
        try:
            if self._admin is None:
                self._admin = _Admin(
                    bootstrap_servers=self.bootstrap,
                    client_id="laporflow-readiness",
                    request_timeout_ms=self.timeout_ms,
                    bootstrap_timeout_ms=self.timeout_ms,
                    **self.client_config,
                )
            brokers = self._admin.describe_cluster().get("brokers", [])
            return bool(brokers)
        except Exception as exc:  # any failure means "not ready"; reconnect next time
            log.warning("readiness: Kafka metadata request failed: %s", exc)
            self.close_locked()
            return False

    def close_locked(self) -> None:
        """Drop the connection (caller holds the lock, or no other thread uses it)."""
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception:
                log.debug("closing the readiness admin client failed", exc_info=True)
            self._admin = None

    def close(self) -> None:
        """Close the probe's connection."""
        with self._lock:
            self.close_locked()
