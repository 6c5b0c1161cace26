"""How fast the LAPOR! feed turns simulated national reports into commands on Kafka.

    PYTHONPATH=$PWD python bench/feed.py [REPORTS] [FAULT_RATE]

An in-process simulator (uvicorn on an ephemeral port), the real client, mapping and
poller, feed tables in a throwaway SQLite file, topics with a fresh prefix on
LAPORFLOW_KAFKA_BOOTSTRAP (default 127.0.0.1:9092).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid

from pydantic import SecretStr

from engine.feed_store import FeedStore
from engine.store import Store
from engine.topics import Topics
from lapor.client import LaporClient
from lapor.mapping import load_mapping
from lapor.serving import ThreadedServer
from lapor.sim import LaporSim, create_app
from producers.feed import FeedPoller
from producers.kafka_io import ensure_topics, make_producer


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    fault = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    bootstrap = os.environ.get("LAPORFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    sim = LaporSim(reports=n, seed=1, token="t", fault_rate=fault, stall_s=1.0)
    topics = Topics(f"bench-{uuid.uuid4().hex[:6]}.")
    ensure_topics(bootstrap, topics.all(), 3)
    store = Store(f"sqlite:///{tempfile.mkdtemp()}/feed.db")
    store.migrate()
    producer = make_producer(bootstrap)
    with ThreadedServer(create_app(sim)) as server:
        client = LaporClient(server.url, SecretStr("t"), timeout_s=0.5, backoff_s=0.05)
        poller = FeedPoller(
            client, load_mapping(), FeedStore(store), producer, topics.commands, page_size=100
        )
        started = time.monotonic()
        result = poller.poll_until_caught_up()
        elapsed = time.monotonic() - started
        client.close()
    producer.close()
    store.close()
    print(
        f"{n} reports, fault rate {fault}: {result.produced} commands in {elapsed:.1f} s "
        f"({n / elapsed:.0f} reports/s), faults {dict(sim.faults)}"
    )


if __name__ == "__main__":
    main()
