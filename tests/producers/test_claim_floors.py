"""Where the relay's next claim starts (producers/claim_floors.py): pure, no store."""

from __future__ import annotations

from engine.store import OutboxClaim, OutboxRecord
from producers.claim_floors import ClaimFloors


def _claim(
    rows: list[tuple[int, int | None]],
    partitions: frozenset[int] | None,
    *,
    published: list[int],
    parked: tuple[int, ...] = (),
) -> OutboxClaim:
    records = [OutboxRecord("e", b"k", b"v", id=i, partition=p) for i, p in rows]
    return OutboxClaim(
        records, partitions, published=published, parked={i: "refused" for i in parked}
    )


def test_each_partitions_floor_is_the_end_of_what_it_settled_in_order() -> None:
    floors = ClaimFloors()
    assert floors.start({0, 1}) == 0
    # Partition 1's row 4 stayed pending (Kafka failed it for now): its floor stops at 2.
    claim = _claim(
        [(1, 0), (2, 1), (3, 0), (4, 1), (5, 0), (6, 1)],
        frozenset({0, 1}),
        published=[1, 2, 3, 5, 6],
    )
    floors.settle(claim)
    assert floors.start({0}) == 5
    assert floors.start({1}) == 2
    assert floors.start({0, 1}) == 2
    # A partition never settled here starts at the beginning.
    assert floors.start({0, 1, 2}) == 0
    assert floors.start(set()) == 0


def test_a_parked_row_counts_as_settled_and_rows_without_a_partition_go_with_0() -> None:
    floors = ClaimFloors()
    floors.settle(
        _claim([(7, None), (8, 0), (9, 0)], frozenset({0}), published=[7, 9], parked=(8,))
    )
    assert floors.start({0}) == 9


def test_a_floor_never_moves_back() -> None:
    floors = ClaimFloors()
    floors.settle(_claim([(10, 0)], frozenset({0}), published=[10]))
    # Another relay published rows 11 to 19 meanwhile; this one settles an old straggler.
    floors.settle(_claim([(3, 0)], frozenset({0}), published=[3]))
    assert floors.start({0}) == 10


def test_the_relay_of_every_row_keeps_one_floor() -> None:
    floors = ClaimFloors()
    floors.settle(_claim([(1, 0), (2, 5), (3, None)], None, published=[1, 2, 3]))
    assert floors.start(None) == 3
    assert floors.start({0}) == 0  # per-partition floors are another thing


def test_floors_are_forgotten_after_their_time_to_live() -> None:
    now = [100.0]
    floors = ClaimFloors(ttl_s=10.0, clock=lambda: now[0])
    floors.settle(_claim([(42, 0)], frozenset({0}), published=[42]))
    now[0] = 109.9
    assert floors.start({0}) == 42
    now[0] = 110.0  # e.g. `laporflow outbox --retry-parked` put an old row back in line
    assert floors.start({0}) == 0
    floors.settle(_claim([(50, 0)], frozenset({0}), published=[50]))
    now[0] = 119.0
    assert floors.start({0}) == 50
