"""Fault injection: the records that are not a clean lifecycle.

* **duplicate**: a lifecycle record re-sent verbatim (same key and bytes) seconds to
  minutes later;
* **forbidden**: well-formed commands the engine must reject;
* **unknown_complaint**: verifies of ids never submitted (``HSU-2026-9xxxxx``);
* **invalid**: bytes that are not a valid command at all (they belong in ``lapor.dlq``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from laporflow.demo_data.lifecycle import Complaint, Generator, Person
from laporflow.demo_data.records import WITA, WORK_START, DemoRecord, add_workdays, encode, iso
from laporflow.demo_data.region import DATA
from workflows.wire import command_doc

__all__ = ["duplicates", "forbidden", "invalid", "unknown"]


def duplicates(g: Generator) -> None:
    """Re-send a share of the lifecycle records verbatim, seconds to minutes later."""
    n = round(g.mix.duplicate * len(g.lifecycle))
    for original in g.rng.sample(g.lifecycle, n):
        delay = g.rng.randint(1, 30) if g.rng.random() < 0.7 else g.rng.randint(31, 900)
        at = original.issued_at + timedelta(seconds=delay)
        g.extras.append(DemoRecord(original.key, original.value, "duplicate", at))


def forbidden(g: Generator) -> None:
    """Add well-formed commands that are surely not allowed when they are issued."""
    makers: tuple[Callable[[Generator], bool], ...] = (
        _follow_up_while_submitted,
        _dispatch_by_complainant,
        _resolve_archived,
        _conflicting_resubmit,
    )
    n = round(g.mix.forbidden * len(g.lifecycle))
    for i in range(max(n, len(makers))):
        maker = makers[i % len(makers)]
        for _ in range(200):  # tries; a maker says False when its pick does not fit
            if maker(g):
                break


def _follow_up_while_submitted(g: Generator) -> bool:
    """A liaison follows up a complaint nobody has verified or dispatched yet."""
    c = g.rng.choice(g.complaints)
    submitted = c.events[0][0]
    at = g.staff_after(submitted, 0)
    if len(c.events) > 1 and at >= c.events[1][0] - timedelta(minutes=1):
        return False
    note = "Sudah kami tindak lanjuti."
    g.emit(c, at, "follow_up", g.liaison(c.topic.skpds[0]), {"note": note}, "forbidden")
    return True


def _dispatch_by_complainant(g: Generator) -> bool:
    """A complainant tries to dispatch a verified complaint (role not allowed)."""
    c = g.rng.choice(g.complaints)
    if len(c.events) < 2 or c.events[1][1] != "verify":
        return False
    verified = c.events[1][0]
    if len(c.events) > 2:
        gap = int((c.events[2][0] - verified).total_seconds())
        if gap < 120:
            return False
        at = verified + timedelta(seconds=g.rng.randint(30, gap - 30))
    else:
        at = verified + timedelta(seconds=g.rng.randint(600, 2 * 86400))
    citizen = ("complainant", c.person.actor_id)
    g.emit(c, at, "dispatch", citizen, {"skpd": c.topic.skpds[0]}, "forbidden")
    return True


def _resolve_archived(g: Generator) -> bool:
    """A complainant tries to resolve an archived complaint."""
    c = g.rng.choice(g.complaints)
    if c.events[-1][1] != "archive":
        return False
    at = g.citizen_after(c.events[-1][0], 0, 14)
    payload = {"note": "Masalah sudah selesai."}
    g.emit(c, at, "resolve", ("complainant", c.person.actor_id), payload, "forbidden")
    return True


def _conflicting_resubmit(g: Generator) -> bool:
    """The complaint's id is submitted again with other content."""
    c = g.rng.choice(g.complaints)
    at = g.citizen_after(c.events[0][0], 0, 3)
    other = g.topic(at.date())
    payload = g.submit_payload(c, "web", other)
    payload["title"] = "[Kirim ulang] " + payload["title"]
    g.emit(c, at, "submit", ("complainant", c.person.actor_id), payload, "forbidden")
    return True


def unknown(g: Generator) -> None:
    """Add verifies of complaint ids that were never submitted."""
    n = max(3, round(g.mix.unknown_complaint * len(g.complaints)))
    used: set[int] = set()
    weekdays = [
        g.start + timedelta(days=i)
        for i in range(g.days)
        if (g.start + timedelta(days=i)).weekday() < 5
    ] or [add_workdays(g.start, 0)]
    for _ in range(n):
        number = g.rng.randint(900_000, 999_999)
        while number in used:
            number = g.rng.randint(900_000, 999_999)
        used.add(number)
        ghost = Complaint(
            complaint_id=f"{g.region.region}-{g.start.year}-{number:06d}",
            submitted_at=datetime.combine(g.start, WORK_START, WITA),
            topic=DATA.topics[0],
            person=Person("", "", "", ""),
            place=DATA.villages[0],
            submitter=("admin", g.admin),
        )
        at = g.work_time(g.rng.choice(weekdays))
        g.emit(ghost, at, "verify", ("admin", g.admin), {}, "unknown_complaint")


def invalid(g: Generator) -> None:
    """Add records that are not commands at all: they belong in the DLQ."""
    variants = _INVALID_VARIANTS
    n = max(len(variants), round(g.mix.invalid * len(g.lifecycle)))
    order = list(variants) * (n // len(variants) + 1)
    g.rng.shuffle(order)
    for variant in order[:n]:
        base = g.rng.choice(g.lifecycle)
        at = base.issued_at + timedelta(seconds=g.rng.randint(1, 900))
        key, value = variant(g, base, at)
        g.extras.append(DemoRecord(key, value, "invalid", at))


def _doc(g: Generator, base: DemoRecord, at: datetime, ctype: str, payload: dict[str, Any]) -> Any:
    """A well-formed command document for ``base``'s complaint (for the broken variants)."""
    role = {"dispatch": "admin", "archive": "admin", "verify": "admin"}.get(ctype, "skpd")
    actor_id = g.admin if role == "admin" else "penghubung-pupr"
    if ctype == "submit":
        role, actor_id = "complainant", "pelapor-1"
    return command_doc(
        ctype,
        base.key.decode("utf-8"),
        iso(at),
        role=role,
        actor_id=actor_id,
        payload=payload,
        command_id=g.command_id(),
    )


_Variant = Callable[[Generator, DemoRecord, datetime], tuple[bytes, bytes]]


def _not_json(g: Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    texts = (
        b"LAPOR 1708: jalan rusak di desa kami tolong diperbaiki",
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"complaint_id=" + base.key + b"&type=verify",
    )
    return base.key, g.rng.choice(texts)


def _truncated(g: Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    # Any strict prefix of a JSON object is not JSON: the closing brace is missing.
    return base.key, base.value[: g.rng.randint(8, len(base.value) - 2)]


def _unknown_type(g: Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    ctype = g.rng.choice(("close", "escalate", "assign", "tutup"))
    return base.key, encode(_doc(g, base, at, ctype, {"note": "tutup laporan"}))


def _missing_field(g: Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    ctype, payload = g.rng.choice(
        (
            ("dispatch", {}),
            ("archive", {"note": "tidak lengkap"}),
            ("follow_up", {}),
            ("return", {}),
            ("submit", {"title": "Jalan rusak", "body": "Mohon diperbaiki", "region": "HSU"}),
        )
    )
    return base.key, encode(_doc(g, base, at, ctype, payload))


def _bad_complaint_id(g: Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    good = base.key.decode("utf-8")
    region, year, number = good.split("-", 2)
    bad = g.rng.choice(
        (f"{region} {year}/{number}", f"{good}#1", f"{good}?", "", f"{good}-" + "0" * 64)
    )
    doc = _doc(g, base, at, "verify", {})
    doc["complaint_id"] = bad
    return bad.encode("utf-8"), encode(doc)


def _naive_issued_at(g: Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    doc = _doc(g, base, at, "verify", {})
    doc["issued_at"] = g.rng.choice(
        (at.strftime("%Y-%m-%dT%H:%M:%S"), at.strftime("%d-%m-%Y %H:%M WITA"))
    )
    return base.key, encode(doc)


def _not_an_object(g: Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    doc = _doc(g, base, at, "verify", {})
    return base.key, g.rng.choice((encode([doc]), b"null", b"42", encode(base.key.decode("utf-8"))))


def _empty(g: Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    return base.key, b""


def _invalid_utf8(g: Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    # Latin-1 text from an old SMS gateway: "\xb1" alone is not UTF-8.
    doc = _doc(g, base, at, "follow_up", {"note": "Sudah diperbaiki \u00b150 meter"})
    return base.key, json.dumps(doc, ensure_ascii=False).encode("latin-1")


def _unknown_role(g: Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    doc = _doc(g, base, at, "verify", {})
    doc["actor"] = g.rng.choice(({"role": "warga", "id": "pelapor-1"}, {"id": "diskominfo"}))
    return base.key, encode(doc)


def _bad_enum(g: Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    payload: dict[str, Any] = {
        "title": "Pelayanan lambat",
        "body": "Mohon ditindaklanjuti.",
        "category": "kesehatan",
        "classification": "pengaduan",
        "channel": "web",
        "region": g.region.region,
    }
    field_name, value = g.rng.choice((("classification", "keluhan"), ("channel", "email")))
    payload[field_name] = value
    return base.key, encode(_doc(g, base, at, "submit", payload))


def _bad_command_id(g: Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    doc = _doc(g, base, at, "verify", {})
    choice = g.rng.randrange(3)
    if choice == 0:
        del doc["command_id"]
    else:
        doc["command_id"] = "" if choice == 1 else "c-" + "f" * 127
    return base.key, encode(doc)


def _payload_not_object(g: Generator, base: DemoRecord, at: datetime) -> tuple[bytes, bytes]:
    doc = _doc(g, base, at, "dispatch", {})
    doc["payload"] = g.rng.choice(("DINKES", ["DINKES"], None))
    return base.key, encode(doc)


_INVALID_VARIANTS: Final[tuple[_Variant, ...]] = (
    _not_json,
    _truncated,
    _unknown_type,
    _missing_field,
    _bad_complaint_id,
    _naive_issued_at,
    _not_an_object,
    _empty,
    _invalid_utf8,
    _unknown_role,
    _bad_enum,
    _bad_command_id,
    _payload_not_object,
)
