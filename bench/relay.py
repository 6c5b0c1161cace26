"""Outbox relay throughput on a real Kafka and PostgreSQL: gzip against no compression.

    python bench/relay.py --database-url postgresql+psycopg://... [--rows 20000]

Writes ``--rows`` event-sized outbox rows (about 900 bytes of JSON each, spread over 6
partitions), then times one relay draining them, once per compression setting.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

from engine.store import BatchWrite, OutboxRecord, Store
from engine.topics import Topics
from producers.kafka_io import ensure_topics, make_producer
from producers.relay import OutboxRelay


def main() -> None:
    """Run the benchmark and print one line per setting."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--compression", action="append")
    args = parser.parse_args()
    store = Store(args.database_url)
    store.migrate()
    for compression in args.compression or ("gzip", None):
        topics = Topics(f"bench-{uuid.uuid4().hex[:8]}.")
        ensure_topics(args.bootstrap, topics.all(), 6)
        body = {"type": "complaint.dispatched", "payload": {"note": "x" * 600}}
        rows = [
            OutboxRecord(
                topics.events,
                f"HSU-2026-{i:06d}".encode(),
                json.dumps({**body, "event_id": f"e-{i}"}).encode(),
                partition=i % 6,
            )
            for i in range(args.rows)
        ]
        for start in range(0, len(rows), 5000):
            store.write(BatchWrite(outbox=rows[start : start + 5000]))
        codec = None if compression in (None, "none") else compression
        producer = make_producer(args.bootstrap, compression_type=codec)
        relay = OutboxRelay(store, producer, owned=lambda: set(range(6)))
        started = time.perf_counter()
        published = relay.drain()
        seconds = time.perf_counter() - started
        producer.close()
        print(
            f"compression={compression}: {published} records in {seconds:.1f} s "
            f"= {published / seconds:,.0f}/s"
        )
    store.close()


if __name__ == "__main__":
    main()
