"""``decide()`` here against ``decide()`` in another checkout, on the same machine.

    git worktree add /tmp/before 3997698   # main just before issue 12's work
    PYTHONPATH=$PWD python bench/decide_versus.py --tree /tmp/before [--pairs N]

A machine's speed moves ``decide()``'s cost as much as a change to the code does (35 to
46 µs for the same code on three machines of the same kind, docs/perf.md), so a figure
from another day says little. This runs both trees in turn, each in a fresh process, over
the same full lifecycles (:func:`bench.e2e.lifecycles`, decoded by each tree's own
decoder), and prints each pair: CPU µs per command, median of 5 passes, CPython's default
collector in both (the tree before issue 12 had no collector settings of its own).

The other tree needs what this imports from it: ``bench.e2e.lifecycles``,
``engine.decode.decode_command``, ``workflows.apply.decide``, ``Policy.default`` and
``WorkflowRegistry.default``; every commit since the core was built has them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: Run in a fresh interpreter with the tree first on its path: each tree's own modules.
#: Written out rather than calling ``bench.e2e.decide_us``: the tree before issue 12 has
#: one that times wall time and takes no timer, so the two would not measure alike.
_TIMING = """
import statistics, sys, time
from datetime import UTC, datetime
sys.path.insert(0, sys.argv[1])
from bench.e2e import lifecycles
from engine.decode import decode_command
from workflows.apply import decide
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry
registry, policy = WorkflowRegistry.default(), Policy.default()
base = datetime(2026, 3, 2, 1, tzinfo=UTC)
commands = [decode_command(v, registry) for _, _, v in lifecycles("C", int(sys.argv[2]), base)]
now = datetime.now(UTC)
passes = []
for _ in range(5):
    state = {}
    started = time.process_time()
    for c in commands:
        outcome = decide(state.get(c.complaint_id), c, registry=registry, policy=policy, now=now)
        if outcome.complaint is not None:
            state[c.complaint_id] = outcome.complaint
    passes.append((time.process_time() - started) / len(commands) * 1e6)
print(statistics.median(passes))
"""


def decide_us(tree: Path, complaints: int = 2000) -> float:
    """CPU µs per ``decide()`` of ``tree``'s code over ``complaints`` lifecycles.

    In a process of its own, with ``tree`` alone on its path: without ``PYTHONPATH``, no
    module of this checkout can stand in for one the other tree lacks.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", _TIMING, str(tree), str(complaints)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{tree}: the timing failed:\n{done.stderr}")
    return float(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, required=True, help="the other checkout")
    parser.add_argument("--pairs", type=int, default=4)
    args = parser.parse_args()
    other = args.tree.resolve()
    ratios = []
    print(f"CPU µs per decide(), 10,000 commands; {other} then {REPO}")
    for n in range(1, args.pairs + 1):
        before, now = decide_us(other), decide_us(REPO)
        ratios.append(now / before)
        print(f"pair {n}: {before:6.1f}  {now:6.1f}  ratio {now / before:.3f}", flush=True)
    print(f"median ratio {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
