"""The cyclic garbage collector, tuned for a long-running engine process.

During a backlog, the engine spent 15 % of its CPU in the cyclic collector (1.67 of
10.9 s; 1,833 young, 167 middle and 15 full collections, the longest 112 ms) and the
relay child 11 %. Most of what they allocate per batch is freed by reference counting;
the collector mostly re-reads the same long-lived objects (modules, compiled SQL,
models' schemas, the policy's calendars) at every full pass. So, once start-up is done:

* :func:`gc.freeze` moves everything alive into a permanent generation no collection
  reads again;
* the young generation is collected every :data:`YOUNG_THRESHOLD` allocations instead
  of 700, and the older ones proportionally less often.

Cycles are still collected, only in fewer, larger passes.

Inside a batch, not at all (:func:`collector_paused`): a batch's objects stay alive until
it is stored, so a pass in its middle reads them all and frees nothing. With the engine's
thresholds a 200,000-command backlog still made 726 passes (1.2 s of the engine's 20 s of
CPU); paused in batches, about 520 passes and 0.6 s (docs/perf.md section 29). The command
loop pauses it for the whole poll, so the pass a batch postponed comes after the batch's
objects are freed: in an 80,000-command backlog, young passes took 0.04 s instead of 0.3
(docs/perf.md section 33).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["YOUNG_THRESHOLD", "collector_paused", "tune_garbage_collector"]

#: Container allocations (minus deallocations) between two young collections.
YOUNG_THRESHOLD = 10_000
#: Young collections per middle one, middle ones per full one (CPython's default: 10, 10).
_OLDER_THRESHOLDS = (10, 10)


def tune_garbage_collector() -> None:
    """Freeze what start-up allocated, then collect less often (call once, when started)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *_OLDER_THRESHOLDS)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block (reference counting still frees as usual).

    For one batch: what it allocates lives until it is stored, so the passes its
    allocations would trigger meanwhile read every object of it for nothing. When the
    block ends, the next allocation triggers the pass it postponed, over what survived.
    A collector already disabled stays disabled.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
