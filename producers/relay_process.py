"""The outbox relay in a process of its own, next to the engine's consumer.

kafka-python's producer is pure Python; in the consumer's process it competes with the
batch path for the GIL (measured: about 40% of busy samples at full load). In a child
process it uses the second core instead. The child reports what it published through
shared counters, so ``/metrics`` stays a single exporter (TECH-NOTES: prefer one).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from engine.metrics import METRICS
from engine.settings import Settings
from engine.store import Store
from producers.kafka_io import kafka_client_config, make_producer
from producers.relay import OutboxRelay

__all__ = ["RelayProcess"]

log = logging.getLogger(__name__)
_CTX = multiprocessing.get_context("spawn")


def _relay_main(settings: Settings, stop: Any, counters: dict[str, Synchronized[int]]) -> None:
    """Entry point of the child: publish until ``stop`` is set, then drain."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s relay: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    # The parent decides when to stop (it sets ``stop``); Ctrl-C in a terminal reaches
    # the whole process group, so the child ignores it and finishes its drain.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def count(topic: str, n: int) -> None:
        counter = counters.get(topic)
        if counter is not None:
            with counter.get_lock():
                counter.value += n

    store = Store(settings.database_url.get_secret_value())
    producer = make_producer(settings.kafka_bootstrap, **kafka_client_config(settings))
    try:
        OutboxRelay(store, producer, on_published=count).run(stop)
    finally:
        producer.close()
        store.close()


class RelayProcess:
    """Starts, watches and stops the relay child process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop_event = _CTX.Event()
        topics = settings.topics
        self.counters: dict[str, Synchronized[int]] = {
            topic: _CTX.Value("q", 0) for topic in (topics.events, topics.dlq)
        }
        self._reported = dict.fromkeys(self.counters, 0)
        self.process = _CTX.Process(
            target=_relay_main,
            args=(settings, self.stop_event, self.counters),
            name="laporflow-relay",
            daemon=True,
        )

    def start(self) -> None:
        """Start the child."""
        self.process.start()
        log.info("outbox relay started (pid %s)", self.process.pid)

    @property
    def alive(self) -> bool:
        """True while the child runs."""
        return self.process.is_alive()

    def report_metrics(self) -> None:
        """Move what the child published since the last call into the counters."""
        for topic, counter in self.counters.items():
            value = counter.value
            delta = value - self._reported[topic]
            if delta:
                METRICS.published.labels(topic=topic).inc(delta)
                self._reported[topic] = value

    def stop(self, timeout_s: float = 40.0) -> None:
        """Ask the child to drain and exit; kill it if it does not within ``timeout_s``."""
        self.stop_event.set()
        self.process.join(timeout_s)
        if self.process.is_alive():
            log.warning("outbox relay did not stop in %.0f s; terminating it", timeout_s)
            self.process.terminate()
            self.process.join(5)
        self.report_metrics()
