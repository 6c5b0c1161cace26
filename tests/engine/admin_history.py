"""A hand-computable history for the admin's queries (intake, liaisons, listing).

Applied with the real :class:`~engine.processor.Processor` (in-memory records, fixed
engine clock) on SQLite or PostgreSQL. Policy: HSU and BJM in WITA (UTC+8, the default
zone), ACEH in WIB (Asia/Jakarta, UTC+7); intake targets HSU 3 and BJM 2 a month.

Instants are chosen on local month edges, where UTC says otherwise:
- HSU-1 submitted 03-31 23:30 WITA (March), HSU-2 04-01 00:30 WITA (April; March in UTC);
- ACEH-1 submitted 04-30 23:30 WIB: April in Jakarta, though 05-01 00:30 in WITA.
Every submission comes through the web but HSU-3's (SMS).

Answers (``follow_up``, role ``skpd``), in time order:
- HSU/DINKES: ani 04-07, budi 04-08, ani 04-09 (on another complaint), ani 04-10:
  officers [ani, budi], 2 changes, current ani since 04-09 10:00 WITA;
- HSU/PUPR: citra 04-08 and 04-09: 0 changes, citra since 04-08;
- ACEH/DINKES: dewi 05-04 (same SKPD code, another region: its own row).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.processor import Processor
from engine.store import Store
from workflows.policy import Policy
from workflows.wire import command_bytes

WITA = timezone(timedelta(hours=8))
WIB = timezone(timedelta(hours=7))
TOPIC = "lapor.commands"
#: The engine's clock: everything below has happened, few timers matter.
NOW = datetime(2026, 5, 6, 12, 0, tzinfo=WITA)

POLICY = Policy.model_validate(
    {
        "regions": {"ACEH": {"timezone": "Asia/Jakarta"}, "HSU": {"timezone": "Asia/Makassar"}},
        "targets": {"HSU": {"complaints_per_month": 3}, "BJM": {"complaints_per_month": 2}},
    }
)


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Cmd:
    at: datetime
    kind: str
    cid: str
    actor: tuple[str, str]
    payload: dict[str, Any]


ADMIN = ("admin", "diskominfo")


def submit(cid: str, at: datetime, region: str, channel: str = "web") -> Cmd:
    payload = {
        "title": "Jalan rusak",
        "body": "Mohon diperbaiki",
        "category": "jalan",
        "classification": "pengaduan",
        "channel": channel,
        "region": region,
    }
    return Cmd(at, "submit", cid, ("complainant", "warga"), payload)


def dispatch(cid: str, at: datetime, skpd: str) -> list[Cmd]:
    return [
        Cmd(at, "verify", cid, ADMIN, {}),
        Cmd(at + timedelta(minutes=5), "dispatch", cid, ADMIN, {"skpd": skpd}),
    ]


def answer(cid: str, at: datetime, officer: str) -> Cmd:
    return Cmd(at, "follow_up", cid, ("skpd", officer), {"note": "Ditindaklanjuti"})


def wita(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WITA)


def history() -> list[Cmd]:
    return [
        submit("HSU-1", wita(3, 31, 23, 30), "HSU"),  # March (local)
        submit("HSU-2", wita(4, 1, 0, 30), "HSU"),  # April (local), March in UTC
        submit("HSU-3", wita(4, 6, 8), "HSU", channel="sms"),
        submit("HSU-4", wita(4, 6, 9), "HSU"),
        submit("HSU-5", wita(5, 2, 9), "HSU"),  # May
        submit("ACEH-1", datetime(2026, 4, 30, 23, 30, tzinfo=WIB), "ACEH"),  # April in WIB
        *dispatch("HSU-1", wita(4, 6, 10), "DINKES"),
        *dispatch("HSU-2", wita(4, 6, 10), "DINKES"),
        *dispatch("HSU-3", wita(4, 6, 11), "PUPR"),
        answer("HSU-1", wita(4, 7, 10), "ani"),
        answer("HSU-1", wita(4, 8, 10), "budi"),
        answer("HSU-3", wita(4, 8, 11), "citra"),
        answer("HSU-2", wita(4, 9, 10), "ani"),
        answer("HSU-3", wita(4, 9, 11), "citra"),
        answer("HSU-1", wita(4, 10, 10), "ani"),
        *dispatch("ACEH-1", wita(5, 4, 9), "DINKES"),
        answer("ACEH-1", wita(5, 4, 15), "dewi"),
    ]


def to_records(commands: list[Cmd]) -> list[Rec]:
    """One partition, in issued_at order, each command with a unique id."""
    ordered = sorted(commands, key=lambda c: c.at)
    records = []
    for offset, c in enumerate(ordered):
        value = command_bytes(
            c.kind,
            c.cid,
            c.at,
            role=c.actor[0],
            actor_id=c.actor[1],
            payload=c.payload,
            command_id=f"c-{offset}-{c.kind}-{c.cid}",
        )
        records.append(Rec(TOPIC, 0, offset, c.cid.encode(), value))
    return records


def apply(store: Store, commands: list[Cmd], now: datetime = NOW) -> None:
    """Apply the commands, then let the caught-up partition's timers fire up to ``now``."""
    result = Processor(store, policy=POLICY, clock=lambda: now).process(
        to_records(commands), caught_up=[0]
    )
    assert result.count("applied") == len(commands), result.outcomes


@pytest.fixture(
    name="store", params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.integration])]
)
def history_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store holding :func:`history`, on SQLite and on PostgreSQL (the ``store`` fixture)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'admin.db'}"
    else:
        url = str(request.getfixturevalue("pg_database_url"))
    s = Store(url)
    s.migrate()
    apply(s, history())
    yield s
    s.close()
