"""Micro-benchmark of the pure core: decode and decide() per command, no services.

    PYTHONPATH=$PWD python bench/core.py [--complaints N] [--repeat R]

Prints the median over ``R`` runs of CPU microseconds per command (process time, so
other load on a shared machine counts less) (full lifecycles, as in
bench/e2e.py), so before/after comparisons on a noisy machine can quote medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.e2e import decide_us


def once(complaints: int) -> tuple[float, float]:
    """(decode µs, decide µs) per command over ``complaints`` lifecycles, in CPU time."""
    return decide_us(complaints, timer=time.process_time)


def main() -> None:
    """Run and print medians."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--complaints", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs = [once(args.complaints) for _ in range(args.repeat)]
    decode = statistics.median(r[0] for r in runs)
    decide_ = statistics.median(r[1] for r in runs)
    print(f"decode_us={decode:.1f} decide_us={decide_:.1f} (median of {args.repeat})")


if __name__ == "__main__":
    main()
