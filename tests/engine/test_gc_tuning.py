"""The engine's garbage-collector settings (engine/gc_tuning.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from engine.gc_tuning import YOUNG_THRESHOLD, collector_paused, tune_garbage_collector


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """Put the test process's collector back as it was."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    gc.unfreeze()
    survivor = [object()]  # alive across the call: it must land in the frozen generation
    tune_garbage_collector()
    assert gc.get_freeze_count() > 0
    assert gc.is_tracked(survivor)
    young, middle, full = gc.get_threshold()
    assert young == YOUNG_THRESHOLD > 700  # CPython's default
    assert (middle, full) == (10, 10)
    # Cycles are still found: one made after the call is collected by a full pass.
    node = _Node()
    node.me = node
    gone = weakref.ref(node)
    del node
    assert gone() is not None  # only the collector can free a cycle
    gc.collect()
    assert gone() is None


def test_no_collection_runs_inside_a_paused_block_and_the_postponed_one_runs_after() -> None:
    assert gc.isenabled()
    node = _Node()
    node.me = node
    gone = weakref.ref(node)
    del node
    passes: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes.append(info["generation"])

    gc.callbacks.append(count)
    try:
        with collector_paused():
            assert not gc.isenabled()
            # A batch's objects, alive to its end: past several young passes' worth.
            batch: list[list[int]] = [[] for _ in range(3 * gc.get_threshold()[0])]
            assert passes == [] and gone() is not None
        assert gc.isenabled()
        after: list[list[int]] = [[] for _ in range(10)]  # the next allocations: it runs
        assert passes and len(batch) > len(after)
    finally:
        gc.callbacks.remove(count)
    gc.collect()
    assert gone() is None


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


class _Node:
    me: object
