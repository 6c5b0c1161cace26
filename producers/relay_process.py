"""The outbox relay in a process of its own, next to the engine's consumer.

kafka-python's producer is pure Python; in the consumer's process it competes with the
batch path for the GIL (measured: about 40% of busy samples at full load). In a child
process it uses the second core instead. The child reports what it published and parked
through shared counters, so ``/metrics`` stays a single exporter (TECH-NOTES: prefer
one). The parent tells it which ``lapor.commands`` partitions its consumer owns through
shared memory (:meth:`RelayProcess.set_owned`, called by the rebalance listener): the
child publishes only the outbox rows of those partitions.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Collection, Iterable
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray
from typing import Any

from engine.gc_tuning import tune_garbage_collector
from engine.logs import configure_logging
from engine.metrics import METRICS
from engine.settings import Settings
from engine.store import Store
from producers.kafka_io import kafka_client_config, make_dead_letter_producer, make_producer
from producers.relay import OutboxRelay

__all__ = ["MAX_PARTITIONS", "RelayProcess"]

log = logging.getLogger(__name__)
_CTX = multiprocessing.get_context("spawn")

#: How many owned partitions the shared ownership list can hold.
MAX_PARTITIONS = 4096
#: How often the child checks that the engine that started it is still there.
PARENT_CHECK_S = 0.5
#: The child's exit status when it finds itself orphaned.
ORPHANED_EXIT = 75


def _read_owned(owned: SynchronizedArray[int]) -> list[int]:
    """The partitions in the shared list: ``owned[0]`` is the count, then the numbers."""
    with owned.get_lock():
        count = owned[0]
        return list(owned[1 : 1 + count])


def _exit_when_orphaned(parent: int) -> None:
    """End this process at once when ``parent`` is gone (a thread of the child).

    ``daemon=True`` ends the child only when the engine exits normally. An engine killed
    alone (SIGKILL, the OOM killer) left its relay running for ever: publishing for
    partitions it no longer owned, next to the restarted engine's own relay, holding a
    database connection. The child then ends as if killed with its parent: no drain
    (on SQLite, which has no claim lock, a drain beside the new relay could publish a
    row twice); the next engine publishes what is left, as after any crash.
    """
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    log.warning("the engine (pid %d) is gone; the outbox relay stops without draining", parent)
    logging.shutdown()
    os._exit(ORPHANED_EXIT)


def _relay_main(
    settings: Settings,
    stop: Any,
    wake: Any,
    counters: dict[str, Synchronized[int]],
    owned: SynchronizedArray[int],
    parent: int,
) -> None:
    """Entry point of the child: publish until ``stop`` is set, then drain."""
    configure_logging(settings.log_level, settings.log_format or "text", secrets=settings.secrets())
    threading.Thread(
        target=_exit_when_orphaned, args=(parent,), name="parent-watch", daemon=True
    ).start()
    # The parent decides when to stop (it sets ``stop``); Ctrl-C in a terminal reaches
    # the whole process group, so the child ignores it and finishes its drain.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def counter(kind: str) -> Any:
        def count(topic: str, n: int) -> None:
            shared = counters.get(f"{kind}:{topic}")
            if shared is not None:
                with shared.get_lock():
                    shared.value += n

        return count

    store = Store(settings.database_url.get_secret_value())
    security = kafka_client_config(settings)
    relay = OutboxRelay(
        store,
        make_producer(settings.kafka_bootstrap, **security),
        owned=lambda: _read_owned(owned),
        retention=settings.outbox_retention,
        on_published=counter("published"),
        on_parked=counter("parked"),
        producer_factory=lambda: make_producer(settings.kafka_bootstrap, **security),
        dead_letter_producer=make_dead_letter_producer(settings.kafka_bootstrap, **security),
        dead_letter_factory=lambda: make_dead_letter_producer(settings.kafka_bootstrap, **security),
    )
    log.info("outbox relay running", extra={"topic": settings.topics.events})
    tune_garbage_collector()
    try:
        relay.run(stop, wake=wake)
    finally:
        relay.close()
        store.close()


class RelayProcess:
    """Starts, watches and stops the relay child process."""

    def __init__(self, settings: Settings, owned: Iterable[int] = ()) -> None:
        self.settings = settings
        self.stop_event = _CTX.Event()
        self.wake_event = _CTX.Event()
        topics = settings.topics
        self.counters: dict[str, Synchronized[int]] = {
            f"{kind}:{topic}": _CTX.Value("q", 0)
            for kind in ("published", "parked")
            for topic in (topics.events, topics.dlq)
        }
        self.owned: SynchronizedArray[int] = _CTX.Array("i", MAX_PARTITIONS + 1)
        self.set_owned(owned)
        self._reported = dict.fromkeys(self.counters, 0)
        self.process = _CTX.Process(
            target=_relay_main,
            args=(
                settings,
                self.stop_event,
                self.wake_event,
                self.counters,
                self.owned,
                os.getpid(),
            ),
            name="laporflow-relay",
            daemon=True,
        )

    def set_owned(self, partitions: Collection[int] | Iterable[int]) -> None:
        """Tell the child which partitions' rows to publish (non-blocking, any thread)."""
        parts = sorted(set(partitions))
        if len(parts) > MAX_PARTITIONS:
            log.error(
                "%d partitions owned; the relay follows the first %d", len(parts), MAX_PARTITIONS
            )
            parts = parts[:MAX_PARTITIONS]
        with self.owned.get_lock():
            self.owned[0] = len(parts)
            self.owned[1 : 1 + len(parts)] = parts

    def wake(self) -> None:
        """Tell the child that new rows are stored (non-blocking): it claims them now."""
        self.wake_event.set()

    def owned_partitions(self) -> list[int]:
        """The partitions the child publishes now."""
        return _read_owned(self.owned)

    def start(self) -> None:
        """Start the child."""
        self.process.start()
        log.info("outbox relay started (pid %s)", self.process.pid)

    @property
    def alive(self) -> bool:
        """True while the child runs."""
        return self.process.is_alive()

    def report_metrics(self) -> None:
        """Move what the child published or parked since the last call into the counters."""
        for key, shared in self.counters.items():
            value = shared.value
            delta = value - self._reported[key]
            if delta:
                kind, topic = key.split(":", 1)
                metric = METRICS.published if kind == "published" else METRICS.parked
                metric.labels(topic=topic).inc(delta)
                self._reported[key] = value

    def stop(self, timeout_s: float = 40.0) -> None:
        """Ask the child to drain and exit; kill it if it does not within ``timeout_s``."""
        self.stop_event.set()
        self.process.join(timeout_s)
        if self.process.is_alive():
            log.warning("outbox relay did not stop in %.0f s; terminating it", timeout_s)
            self.process.terminate()
            self.process.join(5)
        self.report_metrics()
