"""Kafka SASL/SSL settings reach every client the engine makes (no broker needed).

The client classes are replaced by recorders *in the modules that construct them*, so the
test sees the exact keyword arguments kafka-python would get; nothing connects.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from kafka.partitioner.default import DefaultPartitioner

import consumers.group
import producers.kafka_io
from engine.errors import BrokerError
from engine.settings import Settings
from laporflow.runtime import EngineRuntime
from producers.kafka_io import (
    KeyedPartitioner,
    ensure_topics,
    kafka_client_config,
    make_producer,
)

SECURE_ENV = {
    "LAPORFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "LAPORFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "LAPORFLOW_KAFKA_SASL_USERNAME": "laporflow-engine",
    "LAPORFLOW_KAFKA_SASL_PASSWORD": "s3cret-sasl-Pw",
    "LAPORFLOW_KAFKA_SSL_CAFILE": "/etc/laporflow/kafka-ca.pem",
    "LAPORFLOW_KAFKA_SSL_CHECK_HOSTNAME": "false",
}
EXPECTED = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_plain_username": "laporflow-engine",
    "sasl_plain_password": "s3cret-sasl-Pw",
    "ssl_cafile": "/etc/laporflow/kafka-ca.pem",
    "ssl_check_hostname": False,
}


class _Recorder:
    """Stands in for a kafka-python client class; records each construction."""

    made: list[tuple[str, dict[str, Any]]]

    def __init__(self, kind: str, made: list[tuple[str, dict[str, Any]]]) -> None:
        self.kind = kind
        self.made = made

    def __call__(self, **config: Any) -> _Recorder:
        self.made.append((self.kind, config))
        return self

    # The few methods the engine calls right after construction.
    def subscribe(self, *_: Any, **__: Any) -> None: ...

    def list_topics(self) -> list[str]:
        return []

    def create_topics(self, *_: Any, **__: Any) -> None: ...

    def describe_configs(self, resources: list[Any], **_: Any) -> dict[str, Any]:
        limit = {"max.message.bytes": {"value": "1048588"}}
        return {"topic": {r.name: limit for r in resources}}

    def alter_configs(self, *_: Any, **__: Any) -> dict[str, Any]:
        return {}

    def describe_cluster(self) -> dict[str, Any]:
        return {"brokers": [{"node_id": 1}]}

    def close(self, *_: Any, **__: Any) -> None: ...


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    made: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(producers.kafka_io, "KafkaProducer", _Recorder("producer", made))
    monkeypatch.setattr(producers.kafka_io, "_Admin", _Recorder("admin", made))
    monkeypatch.setattr(consumers.group, "KafkaConsumer", _Recorder("consumer", made))
    return made


def test_settings_read_security_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECURE_ENV.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert kafka_client_config(settings) == EXPECTED
    # The secret stays hidden wherever settings are shown.
    assert "s3cret-sasl-Pw" not in repr(settings)
    assert "s3cret-sasl-Pw" not in str(settings.as_dict())


def test_plaintext_default_passes_only_the_protocol() -> None:
    assert kafka_client_config(Settings()) == {"security_protocol": "PLAINTEXT"}


def test_ssl_client_certificate_settings() -> None:
    settings = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_cafile="/ca.pem",
        kafka_ssl_certfile="/client.pem",
        kafka_ssl_keyfile="/client.key",
        kafka_ssl_password="key-pass",  # type: ignore[arg-type]
    )
    assert kafka_client_config(settings) == {
        "security_protocol": "SSL",
        "ssl_cafile": "/ca.pem",
        "ssl_certfile": "/client.pem",
        "ssl_keyfile": "/client.key",
        "ssl_password": "key-pass",
        "ssl_check_hostname": True,
    }


def test_helpers_pass_the_config_to_producer_and_admin(
    made: list[tuple[str, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECURE_ENV.items():
        monkeypatch.setenv(name, value)
    security = kafka_client_config(Settings())
    make_producer("broker:9093", **security)
    ensure_topics("broker:9093", ["t"], 1, client_config=security)
    assert [kind for kind, _ in made] == ["producer", "admin"]
    for _, config in made:
        assert config.items() >= EXPECTED.items()
        assert config["bootstrap_servers"] == "broker:9093"


def test_engine_runtime_passes_security_to_every_client(
    made: list[tuple[str, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in SECURE_ENV.items():
        monkeypatch.setenv(name, value)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'e.db'}")  # type: ignore[arg-type]
    runtime = EngineRuntime(settings, serve_http=False, relay_process=False)
    assert runtime.kafka_probe.reachable()  # the readiness probe's own admin client
    runtime.store.close()
    kinds = sorted(kind for kind, _ in made)
    # topics admin + readiness admin, the consumer, the event and dead-letter producers
    assert kinds == ["admin", "admin", "consumer", "producer", "producer"]
    for kind, config in made:
        assert config.items() >= EXPECTED.items(), kind


class _SlowToDescribe:
    """An admin client whose broker answers DescribeConfigs of a new topic late.

    kafka-python returns an UNKNOWN_TOPIC_OR_PARTITION result as an empty config dict.
    """

    def __init__(self, empty_answers: int) -> None:
        self.empty_answers = empty_answers
        self.describes = 0

    def list_topics(self) -> list[str]:
        return []

    def create_topics(self, *_: Any, **__: Any) -> None: ...

    def describe_configs(self, resources: list[Any], **_: Any) -> dict[str, Any]:
        self.describes += 1
        if self.describes <= self.empty_answers:
            return {"topic": {r.name: {} for r in resources}}
        return {"topic": {r.name: {"max.message.bytes": {"value": "2000000"}} for r in resources}}

    def close(self, *_: Any, **__: Any) -> None: ...


def test_a_just_created_topic_is_described_once_the_broker_knows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = _SlowToDescribe(empty_answers=3)
    monkeypatch.setattr(producers.kafka_io, "_admin", lambda *_, **__: admin)
    created = ensure_topics("broker:9092", ["p.lapor.commands", "p.lapor.events"], 1)
    assert created == ["p.lapor.commands", "p.lapor.events"]
    assert admin.describes == 4


def test_a_topic_the_broker_never_describes_is_a_broker_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = _SlowToDescribe(empty_answers=10**6)
    monkeypatch.setattr(producers.kafka_io, "_admin", lambda *_, **__: admin)
    monkeypatch.setattr(producers.kafka_io, "DESCRIBE_WAIT_S", 0.3)
    with pytest.raises(BrokerError, match=r"max\.message\.bytes"):
        ensure_topics("broker:9092", ["p.lapor.commands"], 1)


class _Cluster:
    """The three questions a partitioner asks of kafka-python's cluster metadata."""

    def __init__(self, partitions: dict[str, set[int]]) -> None:
        self._partitions = partitions

    def topics(self) -> set[str]:
        return set(self._partitions)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        found = self._partitions.get(topic)
        return None if found is None else set(found)

    def available_partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.partitions_for_topic(topic)


def test_the_keyed_partitioner_chooses_the_default_partitioners_partition() -> None:
    rng = random.Random(12)
    # Odd partition numbers too: the index is into the sorted partitions, as the default's.
    topics = {f"t{n}": set(rng.sample(range(200), n)) for n in (1, 2, 3, 7, 12, 64)}
    cluster = _Cluster(topics)
    keyed, default = KeyedPartitioner(memo_size=50), DefaultPartitioner()
    keys = [f"LAPOR-{rng.randrange(10**9):09d}".encode() for _ in range(300)]
    keys += [b"", b"a", "Sumbawa é".encode(), bytes(range(256))]
    # Each key twice in a row, as a complaint's events come: the second from the memo,
    # and the whole list again once the memo has long overflowed.
    for _ in range(2):
        for topic in topics:
            for key in keys:
                for _ in range(2):
                    assert keyed.partition(topic, key, key, b"v", b"v", cluster) == (
                        default.partition(topic, key, key, b"v", b"v", cluster)
                    ), (topic, key)
    info = keyed._hash.cache_info()
    assert info.currsize == 50 and info.hits >= 2 * len(topics) * len(keys)


def test_the_keyed_partitioner_leaves_keyless_records_and_unknown_topics_to_the_default() -> None:
    cluster = _Cluster({"events": {0, 1, 2}})
    keyed = KeyedPartitioner()
    assert {keyed.partition("events", None, None, b"v", b"v", cluster) for _ in range(50)} <= {
        0,
        1,
        2,
    }
    with pytest.raises(ValueError, match="not found"):
        keyed.partition("missing", b"k", b"k", b"v", b"v", cluster)


def test_every_producer_hashes_keys_with_the_keyed_partitioner(
    made: list[tuple[str, dict[str, Any]]],
) -> None:
    make_producer("127.0.0.1:1")
    ((_, config),) = made
    assert isinstance(config["partitioner"], KeyedPartitioner)
