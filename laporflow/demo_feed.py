"""The demo's national LAPOR!: some of the demo's complaints arrive through the feed.

A simulated national LAPOR! (:mod:`lapor.sim`) runs in a thread on an ephemeral port.
When the demo reaches the submit of a complaint chosen for the feed, it does not produce
that submit itself: it files the report on the simulator and runs one poll of the real
feed (:class:`producers.feed.FeedPoller`), which produces the submit. The rest of the
complaint's lifecycle (the regional admin's and SKPD's commands) comes from the demo's
generator as before. At the end, the real sync-back (:class:`consumers.sync_back.SyncBack`)
pushes those complaints' dispatches, follow-ups and resolutions back to the simulator.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from datetime import datetime

from pydantic import SecretStr

from consumers.sync_back import SyncBack
from engine.feed_store import FeedStore
from engine.settings import Settings
from engine.store import Store
from lapor.client import LaporClient
from lapor.mapping import load_mapping
from lapor.serving import ThreadedServer
from lapor.sim import LaporSim, SimReport, create_app
from laporflow.demo_data import DemoRecord
from producers.feed import FeedPoller
from producers.kafka_io import make_producer

__all__ = ["DemoFeed"]


class DemoFeed:
    """The simulator, the feed and the sync-back, wired for one demo run."""

    def __init__(self, settings: Settings, *, seed: int) -> None:
        self.settings = settings
        token = secrets.token_urlsafe(16)
        self.sim = LaporSim(reports=0, seed=seed, token=token)
        self.server = ThreadedServer(create_app(self.sim)).start()
        self.store = Store(settings.database_url.get_secret_value())
        self.store.migrate()
        self.feed_store = FeedStore(self.store)
        self.client = LaporClient(self.server.url, SecretStr(token), timeout_s=10.0)
        self.producer = make_producer(settings.kafka_bootstrap, client_id="laporflow-demo-feed")
        self.poller = FeedPoller(
            self.client,
            load_mapping(),
            self.feed_store,
            self.producer,
            settings.topics.commands,
        )
        self.reports = 0

    @property
    def url(self) -> str:
        """Where the simulator listens."""
        return self.server.url

    def file(self, submit: DemoRecord) -> None:
        """File the report of a demo submit upstream, then let the feed poll it in."""
        doc = json.loads(submit.value)
        payload = doc["payload"]
        at = datetime.fromisoformat(doc["issued_at"])
        self.sim.put_report(
            SimReport(
                tracking_id=doc["complaint_id"],
                title=payload["title"],
                body=payload["body"],
                category=payload["category"],
                classification=payload["classification"],
                channel=payload["channel"],
                region=payload["region"],
                anonymous=payload.get("anonymous", False),
                confidential=payload.get("confidential", False),
                status="Belum Terverifikasi",
                created_at=at,
                updated_at=at,
                complainant=payload.get("complainant"),
                location=payload.get("location"),
            )
        )
        self.reports += self.poller.poll_until_caught_up().produced

    def sync_back(self, timeout_s: float = 60.0) -> Counter[str]:
        """Push the engine's progress on the feed's complaints back; pushes by type."""
        sync = SyncBack(
            self.client,
            self.feed_store,
            bootstrap=self.settings.kafka_bootstrap,
            topic=self.settings.topics.events,
            group_id=f"{self.settings.group_id}-lapor-sync",
        )
        try:
            deadline = time.monotonic() + timeout_s
            read, idle = 0, 0
            # Caught up: something was read, then three empty polls in a row.
            while time.monotonic() < deadline and not (read and idle >= 3):
                n = sync.poll_once(timeout_ms=500)
                read += n
                idle = 0 if n else idle + 1
        finally:
            sync.close()
        return Counter(p["type"] for pushes in self.sim.followups().values() for p in pushes)

    def close(self) -> None:
        """Stop the simulator and close connections."""
        self.producer.close()
        self.client.close()
        self.server.stop()
        self.store.close()
