"""Where decide()'s time goes in a lifecycle: each piece's share, and what is left.

    PYTHONPATH=$PWD python bench/core_pieces.py [--complaints N] [--repeat R]

Times ``decide()`` over full lifecycles (the commands ``make bench`` times) with
``bench/core.py``'s measure (:func:`bench.e2e.decide_us`): CPU time per command, under
the engine's collector settings, medians of ``R`` runs. Then, for each piece of its
work, it times ``decide()`` again with that piece replaced by a value built before the
timed loop: the difference is the piece's share, measured where it runs (a piece timed
alone in a tight loop looks cheaper than it is inside the whole chain). The last row
replaces every piece at once: what is left is the decisions themselves (the checks, the
call chain) and the new state built per command, which nothing can replace without
changing the path.

Every variant runs the same path: its commands are all applied, with the states
decide() makes (tests/bench/test_core_pieces.py). Variants run interleaved, one run of
each in turn, so a slower spell of a shared machine weighs on all of them alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.e2e import decide_us, engine_collector, lifecycles
from engine.decode import decode_command
from workflows import apply, transition
from workflows.apply import Outcome, decide
from workflows.model import ClockState, Command, ComplaintState
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry

#: Lifecycles start here: minutes apart, no timer of theirs falls due between commands.
BASE = datetime(2026, 3, 2, 1, tzinfo=UTC)

#: The pieces, each with the module whose global decide() calls it through.
PIECES: dict[str, tuple[Any, str]] = {
    "clock starts": (transition, "start_clock"),
    "events (id, model)": (transition, "build_event"),
    "stopped clocks' summaries": (transition, "_stop_summary"),
    "event payloads": (transition, "_event_payload"),
    "submission fingerprint": (apply, "_fingerprint"),
    "timers' scan": (apply, "fire_timers"),
}


def lifecycle_commands(complaints: int) -> list[Command]:
    """The decoded commands of ``complaints`` full lifecycles, one complaint after another."""
    registry = WorkflowRegistry.default()
    return [decode_command(v, registry) for _, _, v in lifecycles("P", complaints, BASE)]


def stand_ins(commands: list[Command]) -> dict[str, Callable[..., Any]]:
    """For each piece, a stand-in returning a value built now, from the first lifecycle.

    Each keeps the path decide() takes: a started clock of the right name, an event, a
    payload dict of its own (the caller adds to it), the timers' "nothing due".
    """
    registry, policy = WorkflowRegistry.default(), Policy.default()
    now = datetime.now(UTC)
    first = decide(None, commands[0], registry=registry, policy=policy, now=now)
    submitted = first.complaint
    assert submitted is not None
    event = first.events[-1]
    definition = registry.get(submitted.workflow, submitted.workflow_version)
    at = commands[0].issued_at
    clocks = {
        name: transition.start_clock(name, at, submitted, definition, policy)
        for name in ("verification", "follow_up", "resolution", "auto_close")
    }
    summary = {"clock": "verification", "seconds": 60.0, "breached": False}

    def start_clock(name: str, *_: Any) -> ClockState:
        return clocks[name]

    def build_event(*_: Any, **__: Any) -> Any:
        return event

    def stop_summary(_: Any) -> dict[str, Any]:
        return summary

    def event_payload(*_: Any) -> dict[str, Any]:
        return {}

    def fingerprint(_: Any) -> str:
        return submitted.submit_fingerprint

    def fire_timers(
        complaint: ComplaintState, *_: Any
    ) -> tuple[ComplaintState, list[Any], list[Any]]:
        return complaint, [], []

    return {
        "clock starts": start_clock,
        "events (id, model)": build_event,
        "stopped clocks' summaries": stop_summary,
        "event payloads": event_payload,
        "submission fingerprint": fingerprint,
        "timers' scan": fire_timers,
    }


@contextmanager
def replaced(pieces: dict[str, Callable[..., Any]]) -> Iterator[None]:
    """decide() with ``pieces`` (name -> stand-in) in place of its own, then its own back."""
    with ExitStack() as stack:
        for name, stand_in in pieces.items():
            module, attribute = PIECES[name]
            original = getattr(module, attribute)
            setattr(module, attribute, stand_in)
            stack.callback(setattr, module, attribute, original)
        yield


def outcomes(commands: list[Command]) -> list[Outcome]:
    """decide()'s outcomes of ``commands``, in order (what every variant must keep)."""
    registry, policy = WorkflowRegistry.default(), Policy.default()
    now = datetime.now(UTC)
    state: dict[str, ComplaintState] = {}
    made = []
    for c in commands:
        outcome = decide(state.get(c.complaint_id), c, registry=registry, policy=policy, now=now)
        if outcome.complaint is not None:
            state[c.complaint_id] = outcome.complaint
        made.append(outcome)
    return made


def variants(commands: list[Command]) -> dict[str, dict[str, Callable[..., Any]]]:
    """decide() as it is, without each piece in turn, and without them all."""
    stand = stand_ins(commands)
    return {
        "decide()": {},
        **{f"without {name}": {name: stand[name]} for name in PIECES},
        "without every piece": stand,
    }


def measure(complaints: int, repeat: int) -> dict[str, float]:
    """Median CPU µs per command of each variant, runs interleaved."""
    runs: dict[str, list[float]] = {}
    each = variants(lifecycle_commands(1))
    with engine_collector():
        for _ in range(repeat):
            for label, pieces in each.items():
                with replaced(pieces):
                    _, cost = decide_us(complaints, timer=time.process_time)
                runs.setdefault(label, []).append(cost)
    return {label: statistics.median(costs) for label, costs in runs.items()}


def main() -> None:
    """Measure and print a table: each variant, and what it saves against decide()."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--complaints", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    medians = measure(args.complaints, args.repeat)
    whole = medians["decide()"]
    print(f"CPU µs per command, medians of {args.repeat}, {args.complaints * 5:,} commands")
    for label, cost in medians.items():
        share = "" if label == "decide()" else f"   saves {whole - cost:5.1f}"
        print(f"{label:38} {cost:6.1f}{share}")


if __name__ == "__main__":
    main()
