"""A backlog through a real ``laporflow run``: throughput and where the CPU went.

    PYTHONPATH=$PWD python bench/backlog.py [--complaints N] [--spy DIR]

Produces ``N`` full lifecycles (5 commands each) to fresh topics, starts the engine on a
fresh PostgreSQL database, and waits for every command's event on ``lapor.events``.
Prints the engine's transitions per second (first event to last, as ``bench/e2e.py``),
how busy the machine was meanwhile, and the CPU ticks (1/100 s) each process used:
the engine, its relay child, PostgreSQL and Kafka. A process well below 100 per second
of wall time while the machine has idle CPU is waiting on something, not computing.

``--spy DIR`` records py-spy profiles (raw collapsed stacks, idle samples included) of
the engine and the relay into ``DIR``: where the time of each thread went.

``--pipe`` first runs ``make bench``'s raw pipe (consume, parse, produce; its own
process) over the same records and prints the same figures for it: with both, the CPU
per record of the pipe and per transition of the engine's chain compare directly, and
so does the machine's idle share under each.
"""

from __future__ import annotations

import argparse
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import e2e
from bench.e2e import drop_databases
from producers.kafka_io import ensure_topics

#: What identifies each process in /proc/<pid>/cmdline.
_PROCESSES = {
    "pipe": "--pipe-worker",
    "engine": "laporflow run",
    "relay": "spawn_main",
    "postgresql": "postgres",
    "kafka": "kafka.Kafka",
}


def machine_ticks() -> tuple[int, int]:
    """(all, idle) CPU ticks of the machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values), values[3] + values[4]


def process_ticks(pattern: str) -> int:
    """User + system ticks of every process whose command line contains ``pattern``."""
    total = 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            if pattern.encode() in cmdline:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=4000)
    parser.add_argument("--spy", type=Path, help="record py-spy profiles into this folder")
    parser.add_argument("--pipe", action="store_true", help="run the raw pipe first, measured")
    args = parser.parse_args()
    bootstrap, pg = e2e.services()
    tag = uuid.uuid4().hex[:6]
    prefix = f"backlog-{tag}."
    topics = [f"{prefix}lapor.commands", f"{prefix}lapor.events", f"{prefix}lapor.dlq"]
    ensure_topics(bootstrap, topics, e2e.PARTITIONS)
    out = e2e.producer(bootstrap)
    ids = set()
    base = datetime.now(UTC) - timedelta(days=30)
    for cid, command_id, value in e2e.lifecycles(f"E{tag}", args.complaints, base):
        out.send(topics[0], key=cid.encode(), value=value)
        ids.add(command_id)
    out.flush()
    out.close()
    stop = threading.Event()
    if args.pipe:
        sink = f"{prefix}pipe"
        ensure_topics(bootstrap, [sink], e2e.PARTITIONS)
        piped = e2e.Arrivals(wanted=set(ids))
        e2e.watch(bootstrap, sink, piped, stop, "command_id")
        worker = e2e.start_pipe_worker(bootstrap, topics[0], sink, len(ids))
        with Measured() as pipe:
            e2e.wait_for(piped, len(ids), "raw pipe", 600)
        worker.wait(60)
        print(f"raw pipe: {e2e.rate(piped, len(ids)):,.1f} records/s over {len(ids):,} records")
        pipe.print()
    events = e2e.Arrivals(wanted=set(ids))
    e2e.watch(bootstrap, topics[1], events, stop, "causation_id")
    engine = e2e.Engine(bootstrap, e2e.fresh_database(pg, f"bench_backlog_{tag}"), prefix, 19150)
    spies = []
    if args.spy:
        spies = e2e.start_spies(engine, args.spy)
    with Measured() as chain:
        e2e.wait_for(events, len(ids), "engine", 900)
    e2e.stop_spies(spies)
    engine.stop()
    stop.set()
    print(f"engine: {e2e.rate(events, len(ids)):,.1f} transitions/s over {len(ids):,} commands")
    chain.print()


class Measured:
    """The machine's and each process's CPU ticks over a ``with`` block."""

    def __enter__(self) -> Measured:
        self.all0, self.idle0 = machine_ticks()
        self.before = {name: process_ticks(p) for name, p in _PROCESSES.items()}
        return self

    def __exit__(self, *exc: object) -> None:
        self.all1, self.idle1 = machine_ticks()
        self.after = {name: process_ticks(p) for name, p in _PROCESSES.items()}

    def print(self) -> None:
        """How busy the machine was, and each process's ticks (those that ran)."""
        spent = self.all1 - self.all0
        cpus = len(list(Path("/sys/devices/system/cpu").glob("cpu[0-9]*"))) or 1
        print(f"machine busy: {100 * (1 - (self.idle1 - self.idle0) / spent):.0f}%")
        ticks = {name: self.after[name] - self.before[name] for name in _PROCESSES}
        print(
            f"CPU ticks over {spent / cpus:.0f} ticks of wall time: "
            + ", ".join(f"{name} {n}" for name, n in ticks.items() if n)
        )


if __name__ == "__main__":
    try:
        main()
    finally:
        drop_databases()
