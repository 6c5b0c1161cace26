"""Wiring: the engine process (``laporflow run``) built from settings.

The consumer loop runs in the caller's thread; the gauge refresher and the HTTP server
in threads; the outbox relay in a child process (or a thread with
``relay_process=False``). One engine instance owns the partitions the group gives it;
run more instances with the same group id to share the load.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from consumers.commands import CommandConsumer, ConsumerStats
from engine.gc_tuning import tune_garbage_collector
from engine.labels import listed_values
from engine.metrics import METRICS, REGISTRY, Metrics, set_gauge_family
from engine.policy_file import load_policy
from engine.processor import Processor
from engine.settings import Settings
from engine.store import Store
from producers.http_api import HttpApi, cached
from producers.kafka_io import (
    KafkaProbe,
    ensure_topics,
    kafka_client_config,
    make_dead_letter_producer,
    make_producer,
)
from producers.relay import OutboxRelay
from producers.relay_process import RelayProcess
from workflows.policy import Policy

__all__ = ["EngineRuntime", "refresh_gauges", "wall_clock"]

log = logging.getLogger(__name__)


def wall_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def refresh_gauges(store: Store, now: datetime, metrics: Metrics = METRICS) -> None:
    """Set the state gauges from database counts (exact across engine instances)."""
    set_gauge_family(
        metrics.complaints,
        {(state, skpd): n for (state, skpd), n in store.count_by_state_skpd().items()},
    )
    set_gauge_family(
        metrics.sla_breached,
        {(skpd, clock): n for (skpd, clock), n in store.open_breaches().items()},
    )
    metrics.outbox_pending.set(store.outbox_pending_count())
    metrics.outbox_parked.set(store.outbox_parked_count())
    metrics.timer_backlog.set(store.timer_backlog(now))


class EngineRuntime:
    """The running engine: consumer + relay + gauges + HTTP."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: Policy | None = None,
        clock: Callable[[], datetime] = wall_clock,
        consumer_config: dict[str, Any] | None = None,
        serve_http: bool = True,
        gauge_interval_s: float = 5.0,
        relay_process: bool = True,
    ) -> None:
        self.settings = settings
        self.relay_process: RelayProcess | None = RelayProcess(settings) if relay_process else None
        self._relay_lock = threading.Lock()
        self.policy = policy or load_policy(settings.policy)
        self.clock = clock
        self.gauge_interval_s = gauge_interval_s
        self.store = Store(settings.database_url.get_secret_value())
        self.store.migrate()
        # Before any batch: the label values admitted earlier (by any instance) pass again.
        METRICS.guard.configure(
            limit=settings.max_label_values, listed=listed_values(self.policy), store=self.store
        )
        topics = settings.topics
        security = kafka_client_config(settings)
        ensure_topics(
            settings.kafka_bootstrap, topics.all(), settings.partitions, client_config=security
        )
        self.processor = Processor(
            self.store,
            policy=self.policy,
            topics=topics,
            clock=clock,
            max_future_skew=settings.max_future_skew,
        )
        # CONTRACT §4: a changed policy reaches running clocks once, before consuming.
        self.rescheduled = self.processor.reschedule_running_clocks()
        self.consumer = CommandConsumer(
            self.processor,
            bootstrap=settings.kafka_bootstrap,
            group_id=settings.group_id,
            topic=topics.commands,
            max_poll_records=settings.max_poll_records,
            consumer_config={**security, **(consumer_config or {})},
            on_ownership=self._owned_changed,
            on_stored=self._wake_relay,
            outbox_backlog=self.store.outbox_pending_count,
        )
        # In-process relay (thread mode, and the final drain at shutdown): it follows
        # the consumer's partitions, like the child process does.
        self.relay = OutboxRelay(
            self.store,
            make_producer(settings.kafka_bootstrap, **security),
            owned=lambda: self.consumer.owned_partitions,
            retention=settings.outbox_retention,
            producer_factory=lambda: make_producer(settings.kafka_bootstrap, **security),
            dead_letter_producer=make_dead_letter_producer(settings.kafka_bootstrap, **security),
            dead_letter_factory=lambda: make_dead_letter_producer(
                settings.kafka_bootstrap, **security
            ),
        )
        self.kafka_probe = KafkaProbe(settings.kafka_bootstrap, client_config=security)
        self.http: HttpApi | None = None
        if serve_http:
            self.http = HttpApi(
                REGISTRY,
                {
                    "database": cached(self.store.ping, ttl_s=3.0),
                    "kafka": self.kafka_probe.reachable,
                    "relay": self._relay_alive,
                },
                port=settings.metrics_port,
            )
        self.stop_event = threading.Event()
        #: Set after each stored batch; the in-process relay (thread mode) waits on it.
        self.relay_wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def _owned_changed(self, owned: set[int]) -> None:
        """The consumer's partitions changed (IO thread): tell the relay child."""
        with self._relay_lock:
            if self.relay_process is not None:
                self.relay_process.set_owned(owned)

    def _wake_relay(self) -> None:
        """A batch is stored: its outbox rows can go now (either relay mode)."""
        relay_process = self.relay_process  # replaced by the supervisor if it died
        if relay_process is not None:
            relay_process.wake()
        else:
            self.relay_wake.set()

    def _relay_alive(self) -> bool:
        return self.relay_process is None or self.relay_process.alive

    def start_background(self) -> None:
        """Start the relay (its own process, or a thread), the gauge refresher and HTTP."""
        if self.http is not None:
            self.http.start()
        targets = [("gauges", self._run_gauges)]
        if self.relay_process is not None:
            self.relay_process.start()
        else:
            targets.append(("relay", self._run_relay))
        for name, target in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _supervise_relay(self) -> None:
        """Count what the relay process published; restart it if it died."""
        if self.relay_process is None:
            return
        self.relay_process.report_metrics()
        if not self.relay_process.alive and not self.stop_event.is_set():
            log.error(
                "outbox relay process exited (code %s); starting a new one",
                self.relay_process.process.exitcode,
            )
            with self._relay_lock:
                self.relay_process = RelayProcess(
                    self.settings, owned=self.consumer.owned_partitions
                )
            self.relay_process.start()

    def _run_relay(self) -> None:
        self.relay.run(self.stop_event, wake=self.relay_wake)

    def _run_gauges(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._supervise_relay()
                refresh_gauges(self.store, self.clock())
            except Exception:
                log.exception("refreshing gauges failed")
            self.stop_event.wait(self.gauge_interval_s)

    def run(self, *, on_batch: Callable[[ConsumerStats], None] | None = None) -> None:
        """Consume until :meth:`stop` is called (from a signal handler or another thread)."""
        self.start_background()
        tune_garbage_collector()
        try:
            self.consumer.run(self.stop_event, on_batch=on_batch)
        finally:
            self.shutdown()

    def stop(self) -> None:
        """Ask every loop to finish."""
        self.stop_event.set()

    def shutdown(self) -> None:
        """Stop threads, drain the outbox, close connections."""
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=30)
        if self.relay_process is not None and self.relay_process.process.pid is not None:
            self.relay_process.stop()
        self.relay.drain_quietly()
        try:
            refresh_gauges(self.store, self.clock())
        except Exception:
            log.debug("final gauge refresh failed", exc_info=True)
        if self.http is not None:
            self.http.stop()
        self.consumer.close()
        self.kafka_probe.close()
        self.relay.close()
        self.store.close()
