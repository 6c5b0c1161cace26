"""A broker outage seen by ``poll`` is retried, never fatal (found by tests/chaos)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import KafkaConnectionError

import consumers.group
from consumers.commands import CommandConsumer
from engine.policy_file import load_policy
from engine.processor import Processor
from engine.store import Store


class _FlakyConsumer:
    """Raises like kafka-python 3 does while the broker is down, then polls empty."""

    def __init__(self, stop: threading.Event, failures: int) -> None:
        self.stop = stop
        self.failures = failures
        self.polls = 0

    def __call__(self, **_: Any) -> _FlakyConsumer:
        return self

    def subscribe(self, *_: Any, **__: Any) -> None: ...

    def poll(self, **_: Any) -> dict[Any, Any]:
        self.polls += 1
        if self.polls <= self.failures:
            raise KafkaConnectionError("111 ECONNREFUSED")
        self.stop.set()
        return {}

    def assignment(self) -> set[Any]:
        return set()


def test_poll_failures_are_retried_until_the_broker_is_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stop = threading.Event()
    fake = _FlakyConsumer(stop, failures=2)
    monkeypatch.setattr(consumers.group, "KafkaConsumer", fake)
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    store.migrate()
    try:
        consumer = CommandConsumer(
            Processor(store, policy=load_policy(None)),
            bootstrap="127.0.0.1:1",
            group_id="g",
            topic="lapor.commands",
        )
        runner = threading.Thread(target=consumer.run, args=(stop,))
        runner.start()
        runner.join(timeout=20)
        assert not runner.is_alive()
        assert fake.polls == 3  # two failures retried, then a successful poll
    finally:
        store.close()
