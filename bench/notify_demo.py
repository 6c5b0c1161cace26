"""Notices of the demo quarter: run the engine demo, then the notifier until idle, twice.

    PYTHONPATH=$PWD python bench/notify_demo.py [--out /tmp/nbench]

Once with ops/policy.example.yaml as it is (quiet hours and a daily digest) and once
without its `notify` section (every notice a mail), each on its own copy of the demo's
SQLite database; prints who got how many notices, the messages and the wall time.
Needs the local Kafka (LAPORFLOW_KAFKA_BOOTSTRAP).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import time
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console

from engine.policy_file import load_policy
from engine.settings import Settings
from laporflow.demo import demo_database_url, run_demo
from laporflow.notify import run_until_idle

POLICY = "ops/policy.example.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/laporflow-notify-bench")
    parser.add_argument("--complaints", type=int, default=3000)
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    db = out / "demo.db"
    settings = Settings(database_url=SecretStr(demo_database_url(db)), policy=POLICY)
    with (out / "demo.log").open("w") as log:
        result = run_demo(settings, complaints=args.complaints, console=Console(file=log))
    policy = load_policy(POLICY)
    runs = [
        ("quiet hours + digest: daily", policy),
        ("no notify section", policy.model_copy(update={"notify": None})),
    ]
    for i, (label, run_policy) in enumerate(runs):
        copy = out / f"run{i}.db"
        # The backup API includes what is still in the write-ahead log; a file copy would not.
        with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        run_settings = settings.model_copy(
            update={
                "topic_prefix": result.topic_prefix,
                "database_url": SecretStr(f"sqlite:///{copy}"),
            }
        )
        started = time.monotonic()
        summary = run_until_idle(run_settings, run_policy, timeout_s=900)
        seconds = time.monotonic() - started
        print(
            f"== {label}: {seconds:.1f} s, {sum(summary.sent.values())} notices sent in "
            f"{summary.messages} messages ({summary.captured_mails} mails captured), "
            f"{summary.obsolete} obsolete, {summary.held} held"
        )
        for line in summary.lines():
            print("  ", line)


if __name__ == "__main__":
    main()
