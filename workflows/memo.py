"""A memo that stays bounded, for the answers the per-command hot path keeps."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

__all__ = ["BoundedMemo"]

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class BoundedMemo(dict[_K, _V]):
    """A memo that empties itself when full, so a long-running engine's memory stays flat.

    For keys that hold a date: the entries of days gone by stop being asked for, and
    emptied, the memo refills with the days in use.
    """

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        """An empty memo of at most ``limit`` entries."""
        super().__init__()
        self.limit = limit

    def remember(self, key: _K, value: _V) -> _V:
        """Store ``value`` under ``key`` (emptying the memo first if full); return it."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
