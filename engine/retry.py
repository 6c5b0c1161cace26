"""The one retry loop of lapor-flow: run a step until stopped, backing off on failures.

The consumer and the outbox relay both loop "do one unit of work; on a database or
broker outage, wait and try again, longer each time". That loop lives here once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

__all__ = ["StopSignal", "run_with_backoff"]

log = logging.getLogger(__name__)


class StopSignal(Protocol):
    """A ``threading.Event`` or a ``multiprocessing`` event: the loops run in either."""

    def is_set(self) -> bool:
        """True once the loop should stop."""
        ...

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until set or ``timeout``."""
        ...


def run_with_backoff(
    step: Callable[[], float],
    stop: StopSignal,
    *,
    retry_on: tuple[type[BaseException], ...],
    what: str,
    on_failure: Callable[[BaseException], None] | None = None,
    initial_s: float = 0.5,
    max_s: float = 30.0,
) -> None:
    """Call ``step`` until ``stop`` is set.

    ``step`` returns how long to rest before the next call (0: at once). An exception
    of ``retry_on`` is logged and retried after an exponential backoff (``initial_s``
    doubling up to ``max_s``, back to ``initial_s`` after a success); any other
    exception ends the loop.
    """
    delay = initial_s
    while not stop.is_set():
        try:
            rest = step()
        except retry_on as exc:
            if on_failure is not None:
                on_failure(exc)
            log.error("%s failed, retrying in %.1fs: %s", what, delay, exc)
            stop.wait(delay)
            delay = min(delay * 2, max_s)
            continue
        delay = initial_s
        if rest > 0:
            stop.wait(rest)
