"""Wiring of ``laporflow feed`` and ``laporflow lapor-sim``.

``laporflow feed`` is one process: the poller in the main thread, the sync-back in a
thread, ``/metrics`` on ``LAPORFLOW_FEED_METRICS_PORT``, and optionally the push-intake
webhook on ``LAPORFLOW_FEED_WEBHOOK_PORT``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from consumers.sync_back import SyncBack
from engine.errors import ConfigError
from engine.feed_store import FeedStore
from engine.metrics import METRICS, REGISTRY
from engine.store import Store
from lapor.client import LaporClient
from lapor.mapping import load_mapping
from lapor.serving import ThreadedServer
from lapor.settings import FeedSettings
from lapor.webhook import create_webhook_app
from producers.feed import FeedPoller
from producers.http_api import HttpApi
from producers.kafka_io import ensure_topics, kafka_client_config, make_producer

__all__ = ["FeedProcess"]

log = logging.getLogger(__name__)


class FeedProcess:
    """The poller, the sync-back, their metrics and the optional webhook."""

    def __init__(
        self,
        settings: FeedSettings,
        *,
        serve_http: bool = True,
        consumer_config: dict[str, Any] | None = None,
    ) -> None:
        if not settings.lapor_token.get_secret_value():
            raise ConfigError("LAPORFLOW_LAPOR_TOKEN is not set: the national API needs it")
        self.settings = settings
        self.stop_event = threading.Event()
        self.store = Store(settings.database_url.get_secret_value())
        self.store.migrate()
        self.feed_store = FeedStore(self.store)
        topics = settings.topics
        security = kafka_client_config(settings)
        ensure_topics(
            settings.kafka_bootstrap, topics.all(), settings.partitions, client_config=security
        )
        # One client per thread: the poller's and the sync-back's.
        self.client, self.push_client = (
            LaporClient(
                settings.lapor_url,
                settings.lapor_token,
                timeout_s=settings.lapor_timeout_s,
                attempts=settings.lapor_attempts,
                backoff_s=settings.lapor_backoff_s,
                on_retry=lambda kind: METRICS.upstream_retries.labels(kind=kind).inc(),
            )
            for _ in range(2)
        )
        self.producer = make_producer(
            settings.kafka_bootstrap, client_id="laporflow-feed", **security
        )
        self.poller = FeedPoller(
            self.client,
            load_mapping(settings.lapor_mapping),
            self.feed_store,
            self.producer,
            topics.commands,
            page_size=settings.feed_page_size,
        )
        self.sync_back = SyncBack(
            self.push_client,
            self.feed_store,
            bootstrap=settings.kafka_bootstrap,
            topic=topics.events,
            group_id=settings.sync_group,
            consumer_config={**security, **(consumer_config or {})},
        )
        self.http = (
            HttpApi(REGISTRY, {"database": self.store.ping}, port=settings.feed_metrics_port)
            if serve_http
            else None
        )
        self.webhook: ThreadedServer | None = None
        if settings.feed_webhook_port is not None:
            if settings.lapor_webhook_secret is None:
                raise ConfigError(
                    "LAPORFLOW_FEED_WEBHOOK_PORT is set but LAPORFLOW_LAPOR_WEBHOOK_SECRET is "
                    "not: the webhook refuses unsigned deliveries"
                )
            app = create_webhook_app(
                settings.lapor_webhook_secret, self.poller.ingest, self.feed_store.delivery_seen
            )
            self.webhook = ThreadedServer(app, host="0.0.0.0", port=settings.feed_webhook_port)
        self._sync_thread = threading.Thread(target=self._run_sync, name="sync-back", daemon=True)

    def _run_sync(self) -> None:
        self.sync_back.run(self.stop_event)

    def run(self) -> None:
        """Poll and sync until :meth:`stop`."""
        if self.http is not None:
            self.http.start()
        if self.webhook is not None:
            self.webhook.start()
            log.info("LAPOR! webhook listening on port %d", self.webhook.port)
        self._sync_thread.start()
        try:
            self.poller.run(self.stop_event, interval_s=self.settings.feed_interval_s)
        finally:
            self.shutdown()

    def stop(self) -> None:
        """Ask both loops to finish."""
        self.stop_event.set()

    def shutdown(self) -> None:
        """Stop everything and close connections."""
        self.stop_event.set()
        if self._sync_thread.is_alive():
            self._sync_thread.join(timeout=30)
        if self.webhook is not None:
            self.webhook.stop()
        if self.http is not None:
            self.http.stop()
        self.sync_back.close()
        self.producer.close()
        self.client.close()
        self.push_client.close()
        self.store.close()
