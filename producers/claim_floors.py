"""Where the relay's next outbox claim may start: past what it settled, partition by partition.

The outbox's partial index (``ix_outbox_unpublished``) keeps an entry for each row marked
published until VACUUM removes it, and a claim that starts at the index's beginning reads
every one of them. With 200,000 rows marked and not yet vacuumed, a page took 7 ms
instead of 0.2 (docs/perf.md section 30), and it grows with the outbox, whatever the
rate. So a claim starts after a *floor*: an id at or below which no row of the claimed
partitions can still be pending.

Why a floor per partition is sound: a partition's rows are written by its owner's
command loop, one batch at a time, in the transaction that also moves the partition's
stored progress, and that update checks the offset it read (``Store.write``): of two
batches writing one partition at once, only one commits. So a partition's rows commit in
id order, and once the relay has settled (published or parked) each row of a partition
up to some id, no row of it at or below that id can turn up later. Across partitions
nothing of the kind holds (two engines commit independently), so there is no shared
floor, except for the single-instance relay that claims every row (``None``), whose rows
all come from one loop.

One thing does put an old row back in line: ``laporflow outbox --retry-parked``. The
floors are forgotten every ``ttl_s`` seconds, so such a row (or any the reasoning above
missed) waits at most that long, never forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from engine.store import OutboxClaim

__all__ = ["ClaimFloors"]


class ClaimFloors:
    """The highest outbox id settled in order, per commands-topic partition."""

    def __init__(self, ttl_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._floors: dict[int | None, int] = {}
        self._since = clock()

    def start(self, partitions: Collection[int] | None) -> int:
        """The id after which the next claim of ``partitions`` may start (0: the first)."""
        now = self._clock()
        if now - self._since >= self.ttl_s:
            self._floors.clear()
            self._since = now
        keys: Collection[int | None] = [None] if partitions is None else partitions
        return min((self._floors.get(key, 0) for key in keys), default=0)

    def settle(self, claim: OutboxClaim) -> None:
        """Advance each partition's floor over ``claim``'s rows settled in id order.

        Call it once the claim's marks are committed. A row that stays pending (Kafka
        failed it for a reason that may pass) holds its partition's floor below it.
        """
        settled = {*claim.published, *claim.parked}
        held: set[int | None] = set()
        for record in claim.records:  # in id order
            # Rows placed before revision 0003 have no partition and go with partition 0.
            key = None if claim.partitions is None else (record.partition or 0)
            if key in held or record.id is None:
                continue
            if record.id in settled:
                self._floors[key] = max(self._floors.get(key, 0), record.id)
            else:
                held.add(key)
