"""Micro-benchmark of the pure core: decode and decide() per command, no services.

    PYTHONPATH=$PWD python bench/core.py [--complaints N] [--repeat R]

Prints, as ``make bench`` records them, the medians over ``R`` runs of CPU microseconds
per command (process time, so other load on a shared machine counts less) over full
lifecycles: decode and decide() under the default collector settings, and decide() under
the engine's (engine/gc_tuning.py). Before/after comparisons on a noisy machine quote
medians of interleaved runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.e2e import core_costs


def main() -> None:
    """Run and print medians."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--complaints", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    costs = core_costs(args.complaints, args.repeat)
    print(" ".join(f"{key}={value}" for key, value in costs.items()), f"(median of {args.repeat})")


if __name__ == "__main__":
    main()
