"""Unit tests of the command consumer's ownership and caught-up logic (no broker).

The Kafka client is replaced by a small stand-in that answers the few calls the logic
makes (assignment, highwater, position, end_offsets); the real broker is exercised by
tests/integration/. What is tested here is the decision, not the network.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from consumers.commands import CommandConsumer, ConsumerStats, _Ownership
from engine.metrics import METRICS

TOPIC = "unit.lapor.commands"


class FakeClient:
    """Answers like KafkaConsumer for the partitions it is given."""

    def __init__(
        self,
        positions: dict[int, int | None],
        highwaters: dict[int, int | None],
        ends: dict[int, int] | None = None,
        *,
        ends_fail: bool = False,
    ) -> None:
        self.positions = positions
        self.highwaters = highwaters
        self.ends = ends if ends is not None else {p: h or 0 for p, h in highwaters.items()}
        self.ends_fail = ends_fail
        self.end_offsets_calls: list[list[int]] = []

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TOPIC, p) for p in self.positions}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highwaters[tp.partition]

    def position(self, tp: TopicPartition, timeout_ms: int = 0) -> int:
        position = self.positions[tp.partition]
        if position is None:
            raise KafkaTimeoutError("no position yet")
        return position

    def end_offsets(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        tps = list(tps)
        self.end_offsets_calls.append(sorted(tp.partition for tp in tps))
        if self.ends_fail:
            raise KafkaTimeoutError("broker gone")
        return {tp: self.ends[tp.partition] for tp in tps}


def consumer_with(client: FakeClient) -> CommandConsumer:
    """A CommandConsumer around ``client``, without connecting anywhere."""
    consumer = CommandConsumer.__new__(CommandConsumer)
    consumer._consumer = client  # type: ignore[assignment]
    consumer.topic = TOPIC
    return consumer


def lag(partition: int) -> float:
    value = METRICS.registry.get_sample_value(
        "laporflow_consumer_lag", {"topic": TOPIC, "partition": str(partition)}
    )
    assert value is not None
    return value


def test_a_partition_at_its_confirmed_end_is_caught_up() -> None:
    client = FakeClient(positions={0: 10, 1: 4}, highwaters={0: 10, 1: 9})
    assert consumer_with(client)._caught_up() == {0}
    assert lag(0) == 0
    assert lag(1) == 5


def test_a_stale_cached_highwater_is_confirmed_with_a_real_end_offset() -> None:
    # The cached highwater says 10, but the broker already holds 12: not caught up, so
    # the watermark must not jump to the wall clock past the two unread commands.
    client = FakeClient(positions={0: 10}, highwaters={0: 10}, ends={0: 12})
    assert consumer_with(client)._caught_up() == set()
    assert client.end_offsets_calls == [[0]]
    assert lag(0) == 2


def test_only_partitions_that_look_caught_up_are_confirmed() -> None:
    client = FakeClient(positions={0: 3, 1: 7, 2: 5}, highwaters={0: 3, 1: 9, 2: 5})
    assert consumer_with(client)._caught_up() == {0, 2}
    assert client.end_offsets_calls == [[0, 2]]


@pytest.mark.parametrize(
    ("position", "highwater"),
    [(None, 10), (10, None), (None, None)],
    ids=["no-position", "no-highwater", "neither"],
)
def test_an_unknown_position_or_highwater_is_never_caught_up(
    position: int | None, highwater: int | None
) -> None:
    client = FakeClient(positions={0: position}, highwaters={0: highwater})
    assert consumer_with(client)._caught_up() == set()
    assert client.end_offsets_calls == []


def test_a_failed_end_offset_request_advances_nothing() -> None:
    client = FakeClient(positions={0: 10}, highwaters={0: 10}, ends_fail=True)
    assert consumer_with(client)._caught_up() == set()


def test_the_broker_is_asked_at_most_once_per_sweep_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One end-offset request per poll waited behind the consumer's own fetch: a quarter
    # of the loop's time. The lag gauge still follows every poll, from the cache.
    client = FakeClient(positions={0: 10, 1: 4}, highwaters={0: 10, 1: 9})
    consumer = consumer_with(client)
    consumer.sweep_interval_s = 1.0
    consumer._last_confirmed = float("-inf")
    now = [100.0]
    monkeypatch.setattr("consumers.commands.time.monotonic", lambda: now[0])
    assert consumer._caught_up_now() == {0}
    client.positions[1] = 6
    now[0] = 100.5
    assert consumer._caught_up_now() == set()
    assert lag(1) == 3
    now[0] = 101.0
    assert consumer._caught_up_now() == {0}
    assert client.end_offsets_calls == [[0], [0]]


def test_ownership_follows_assignments_and_revocations() -> None:
    ownership = _Ownership()
    ownership.on_partitions_assigned([TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 3)])
    assert ownership.snapshot() == {0, 3}
    ownership.on_partitions_assigned([TopicPartition(TOPIC, 5)])
    ownership.on_partitions_revoked([TopicPartition(TOPIC, 0)])
    assert ownership.snapshot() == {3, 5}
    snapshot = ownership.snapshot()
    snapshot.add(99)  # a copy: callers cannot change what is owned
    assert ownership.snapshot() == {3, 5}


def test_a_revoked_partition_drops_its_lag_series() -> None:
    METRICS.consumer_lag.labels(topic=TOPIC, partition="7").set(42)
    ownership = _Ownership()
    ownership.on_partitions_assigned([TopicPartition(TOPIC, 7)])
    ownership.on_partitions_revoked([TopicPartition(TOPIC, 7)])
    sample: Any = METRICS.registry.get_sample_value(
        "laporflow_consumer_lag", {"topic": TOPIC, "partition": "7"}
    )
    assert sample is None


class _Records(FakeClient):
    """A FakeClient whose polls return one record of partition 0 each."""

    def poll(self, timeout_ms: int = 0, max_records: int = 0) -> dict[TopicPartition, list[Any]]:
        self.offset = getattr(self, "offset", -1) + 1
        record = type("R", (), {"topic": TOPIC, "partition": 0, "offset": self.offset})()
        return {TopicPartition(TOPIC, 0): [record]}

    def commit_async(self, offsets: Any, callback: Any = None) -> None:
        """Nothing to commit to."""


class _Processor:
    """Records how each batch was asked to sweep; every share leaves more due."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.calls: list[tuple[bool, set[int]]] = []
        self.collecting: list[bool] = []

    def process(self, records: Any, *, caught_up: Any, pending: Any, sweep: bool) -> Any:
        from engine.processor import BatchResult

        self.calls.append((sweep, set(pending)))
        self.collecting.append(gc.isenabled())
        self.clock[0] += 0.2  # the batch takes 200 ms
        return BatchResult(more_due={0} if sweep else set())


def test_shares_of_due_timers_alternate_with_rests(monkeypatch: pytest.MonkeyPatch) -> None:
    # A share that took 200 ms is followed by 20 ms in which batches apply commands
    # without sweeping; then the left-over partition is swept again at once.
    now = [100.0]
    monkeypatch.setattr("consumers.commands.time.monotonic", lambda: now[0])
    client = _Records(positions={0: 0}, highwaters={0: 10})
    consumer = consumer_with(client)
    processor = _Processor(now)
    consumer.processor = processor  # type: ignore[assignment]
    consumer.poll_timeout_ms, consumer.max_poll_records, consumer.sweep_interval_s = 500, 10, 1.0
    consumer._last_sweep, consumer._last_confirmed, consumer._rest_until = 0.0, 0.0, 0.0
    consumer._more_due, consumer._uncommitted, consumer.on_stored = set(), {}, None
    consumer.outbox_backlog = lambda: 0  # the relay keeps up
    consumer.stats = ConsumerStats()
    consumer._ownership = _Ownership()
    consumer._ownership.on_partitions_assigned([TopicPartition(TOPIC, 0)])
    consumer.poll_once()  # sweeps, leaves partition 0 due: rest until 100.22
    now[0] += 0.01
    consumer.poll_once()  # 100.21: resting, commands only
    now[0] += 0.1
    consumer.poll_once()  # 100.51: the next share, pending partition 0
    assert processor.calls == [(True, set()), (False, set()), (True, {0})]
    # No cyclic collection inside a batch; the collector is back between them.
    assert processor.collecting == [False, False, False] and gc.isenabled()


def test_no_share_of_due_timers_while_the_relay_is_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # More than a share's worth waiting in the outbox: commands go on, timers wait, so
    # their events do not queue in front of the commands' events.
    now = [100.0]
    monkeypatch.setattr("consumers.commands.time.monotonic", lambda: now[0])
    consumer = consumer_with(_Records(positions={0: 0}, highwaters={0: 10}))
    processor = _Processor(now)
    consumer.processor = processor  # type: ignore[assignment]
    consumer.poll_timeout_ms, consumer.max_poll_records, consumer.sweep_interval_s = 500, 10, 1.0
    consumer._last_sweep, consumer._last_confirmed, consumer._rest_until = 0.0, 0.0, 0.0
    consumer._uncommitted, consumer.on_stored = {}, None
    consumer.stats = ConsumerStats()
    consumer._ownership = _Ownership()
    consumer._ownership.on_partitions_assigned([TopicPartition(TOPIC, 0)])
    backlog = [5000]
    consumer.outbox_backlog = lambda: backlog[0]
    consumer._more_due = {0}
    consumer.poll_once()
    backlog[0] = 10
    now[0] += 1.0
    consumer.poll_once()
    assert processor.calls == [(False, set()), (True, {0})]


class _PollsWatched(_Records):
    """A _Records that notes whether the cyclic collector ran during each poll."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.collecting: list[bool] = []

    def poll(self, timeout_ms: int = 0, max_records: int = 0) -> dict[TopicPartition, list[Any]]:
        self.collecting.append(gc.isenabled())
        return super().poll(timeout_ms, max_records)


def test_the_run_loop_pauses_the_collector_for_the_whole_poll() -> None:
    # Paused from the poll to the offset commit, so a batch's objects are freed before
    # the collector is back; enabled again between polls (here: in on_batch).
    client = _PollsWatched(positions={0: 0}, highwaters={0: 10})
    consumer = consumer_with(client)
    processor = _Processor([0.0])
    consumer.processor = processor  # type: ignore[assignment]
    consumer.poll_timeout_ms, consumer.max_poll_records, consumer.sweep_interval_s = 500, 10, 1e9
    consumer._last_sweep, consumer._last_confirmed, consumer._rest_until = 0.0, 0.0, 0.0
    consumer._more_due, consumer._uncommitted, consumer.on_stored = set(), {}, None
    consumer.outbox_backlog = lambda: 0
    consumer.stats = ConsumerStats()
    consumer._ownership = _Ownership()
    consumer._ownership.on_partitions_assigned([TopicPartition(TOPIC, 0)])
    stop = threading.Event()
    between: list[bool] = []

    def on_batch(stats: ConsumerStats) -> None:
        between.append(gc.isenabled())
        if len(between) == 2:
            stop.set()

    consumer.run(stop, on_batch=on_batch)
    assert client.collecting == [False, False]
    assert processor.collecting == [False, False]
    assert between == [True, True] and gc.isenabled()
