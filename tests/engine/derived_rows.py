"""Helpers for the tests of the rows ``Store.write`` derives from events (receipts,
settlements): whatever the cut into batches and the order within each, the rows must be
those of the whole history, and a migration must derive the same from a stored history.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from importlib.resources import files
from typing import TypeVar

from alembic import command as alembic_command
from alembic.config import Config

from engine.store import BatchWrite, Store
from workflows.model import Event

__all__ = ["migrate_again_from", "write_interleaved"]


_Step = TypeVar("_Step")


def write_interleaved(
    store: Store,
    history: Callable[[str, list[_Step]], list[Event]],
    steps: list[list[_Step]],
    cuts: list[int],
    seed: int,
) -> tuple[set[str], list[Event]]:
    """A history per entry of ``steps``, for new complaint ids, interleaved and written.

    Each history stays in seq order; the stream is cut at ``cuts`` and each batch is
    shuffled first (a rebuild copies a batch's events in any order). The last batch
    takes whatever the cuts left. Returns the complaint ids and the interleaved stream.
    """
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:8]
    ids = [f"P-{tag}-{n}" for n in range(len(steps))]
    queues = [h for h in (history(cid, s) for cid, s in zip(ids, steps, strict=True)) if h]
    stream: list[Event] = []
    while queues:
        queue = rng.choice(queues)
        stream.append(queue.pop(0))
        queues = [q for q in queues if q]
    start = 0
    for size in [*cuts, len(stream)]:
        batch = stream[start : start + size]
        rng.shuffle(batch)
        store.write(BatchWrite(events=batch))
        start += size
        if start >= len(stream):
            break
    return set(ids), stream


def migrate_again_from(store: Store, revision: str) -> None:
    """Downgrade ``store`` to ``revision``, then upgrade it as ``laporflow run`` does."""
    config = Config()
    config.set_main_option("script_location", str(files("engine") / "migrations"))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        alembic_command.downgrade(config, revision)
    store.migrate()
