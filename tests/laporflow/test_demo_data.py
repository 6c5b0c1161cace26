"""The demo traffic generator: determinism, contract shape, and a valid lifecycle per complaint.

The state machine below is written from CONTRACT §2/§4 on purpose, independent of the
engine: the generator must agree with the contract, not with whatever the engine does.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from laporflow.demo_data import (
    KINDS,
    DemoMix,
    DemoRecord,
    DemoRegion,
    describe,
    expected_kinds,
    generate,
)

COMPLAINT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
ROLES = {"complainant", "admin", "skpd", "system"}
CLASSIFICATIONS = {"pengaduan", "aspirasi", "permintaan_informasi"}
CHANNELS = {"web", "sms", "mobile", "twitter", "whatsapp", "other"}
REQUIRED_PAYLOAD: dict[str, tuple[str, ...]] = {
    "submit": ("title", "body", "category", "classification", "channel", "region"),
    "verify": (),
    "archive": ("reason",),
    "dispatch": ("skpd",),
    "return": ("reason",),
    "follow_up": ("note",),
    "reply": ("note",),
    "resolve": (),
    "reopen": ("reason",),
    "defer": ("reason",),
    "resume": (),
}
# type -> (from states, to state (None: unchanged), roles); None as a from state means "new".
TABLE: dict[str, tuple[frozenset[str | None], str | None, frozenset[str]]] = {
    "submit": (frozenset({None}), "submitted", frozenset({"complainant", "admin", "system"})),
    "verify": (frozenset({"submitted"}), "verified", frozenset({"admin"})),
    "archive": (frozenset({"submitted", "verified"}), "archived", frozenset({"admin"})),
    "dispatch": (frozenset({"verified"}), "dispatched", frozenset({"admin"})),
    "return": (frozenset({"dispatched"}), "verified", frozenset({"skpd", "admin"})),
    "follow_up": (frozenset({"dispatched", "followed_up"}), "followed_up", frozenset({"skpd"})),
    "reply": (frozenset({"followed_up"}), "dispatched", frozenset({"complainant"})),
    "resolve": (
        frozenset({"followed_up"}),
        "resolved",
        frozenset({"admin", "complainant", "system"}),
    ),
    "reopen": (frozenset({"resolved"}), "dispatched", frozenset({"complainant", "admin"})),
    "defer": (frozenset({"verified", "dispatched"}), None, frozenset({"admin", "skpd"})),
    "resume": (frozenset({"verified", "dispatched"}), None, frozenset({"admin", "skpd"})),
}
AUTO_CLOSE_WORKING_DAYS = 10
WITA = timedelta(hours=8)


def schema_error(value: bytes) -> str | None:
    """Why ``value`` is not a well-formed command per CONTRACT §2, or None when it is."""
    try:
        doc = json.loads(value.decode("utf-8"))
    except UnicodeDecodeError:
        return "not utf-8"
    except json.JSONDecodeError:
        return "not json"
    if not isinstance(doc, dict):
        return "not an object"
    for key in ("command_id", "type", "complaint_id", "issued_at", "actor", "payload"):
        if key not in doc:
            return f"missing {key}"
    cid = doc["command_id"]
    if not isinstance(cid, str) or not 1 <= len(cid) <= 128:
        return "bad command_id"
    if doc["type"] not in REQUIRED_PAYLOAD:
        return "unknown type"
    if not isinstance(doc["complaint_id"], str) or not COMPLAINT_ID.match(doc["complaint_id"]):
        return "bad complaint_id"
    issued = doc["issued_at"]
    if not isinstance(issued, str) or not RFC3339.match(issued):
        return "issued_at not RFC 3339 with offset"
    if datetime.fromisoformat(issued).tzinfo is None:
        return "issued_at without offset"
    actor = doc["actor"]
    if not isinstance(actor, dict) or actor.get("role") not in ROLES:
        return "bad actor role"
    if not isinstance(actor.get("id"), str) or not actor["id"]:
        return "bad actor id"
    payload = doc["payload"]
    if not isinstance(payload, dict):
        return "payload not an object"
    for key in REQUIRED_PAYLOAD[doc["type"]]:
        if not isinstance(payload.get(key), str) or not payload[key]:
            return f"payload.{key} missing"
    if doc["type"] == "submit":
        if payload["classification"] not in CLASSIFICATIONS:
            return "bad classification"
        if payload["channel"] not in CHANNELS:
            return "bad channel"
    return None


def working_days_between(a: date, b: date) -> int:
    """Mon-Fri days d with a < d <= b (the engine also skips holidays: it counts fewer)."""
    return sum(1 for i in range(1, (b - a).days + 1) if (a + timedelta(days=i)).weekday() < 5)


@dataclass
class Complaint:
    state: str | None = None
    submit_payload: dict[str, Any] | None = None
    deferred: bool = False
    last_follow_up: datetime | None = None
    skpd: str = ""
    types: list[str] = field(default_factory=list)
    auto_closed: bool = False
    follow_up_clock: datetime | None = None
    times: list[datetime] = field(default_factory=list)


@dataclass
class Replay:
    """The outcome of replaying the traffic through the contract's state machine."""

    complaints: dict[str, Complaint]
    problems: list[str]
    resolve_gaps: list[int]  # working days from the last follow_up to each resolve/reply
    verification_days: list[int]  # working days from submit to the dispatch
    follow_up_days: dict[str, list[int]]  # per SKPD: working days from dispatch to follow_up


def judge(c: Complaint | None, cmd: dict[str, Any]) -> str | None:
    """Why the contract rejects ``cmd`` on complaint ``c``, or None when it applies."""
    ctype, role = cmd["type"], cmd["actor"]["role"]
    if ctype == "submit":
        if c is not None:
            same = c.submit_payload == cmd["payload"]
            return "resubmit" if same else "conflicting_resubmit"
    elif c is None:
        return "unknown_complaint"
    from_states, _, roles = TABLE[ctype]
    if role not in roles:
        return "role_not_allowed"
    state = None if c is None else c.state
    if state not in from_states:
        return "invalid_transition"
    if ctype == "defer" and c is not None and c.deferred:
        return "invalid_transition"
    if ctype == "resume" and c is not None and not c.deferred:
        return "invalid_transition"
    return None


def replay(records: list[DemoRecord]) -> Replay:
    """Run every record through the contract's table, as the engine would see them."""
    complaints: dict[str, Complaint] = {}
    problems: list[str] = []
    applied_ids: set[str] = set()
    resolve_gaps: list[int] = []
    verification_days: list[int] = []
    follow_up_days: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        if record.kind == "invalid":
            continue
        cmd = json.loads(record.value)
        cid, ctype = cmd["complaint_id"], cmd["type"]
        at = datetime.fromisoformat(cmd["issued_at"])
        if record.kind == "duplicate":
            if cmd["command_id"] not in applied_ids:
                problems.append(f"#{i} duplicate of a command never applied")
            continue
        if cmd["command_id"] in applied_ids:
            problems.append(f"#{i} reuses command_id {cmd['command_id']}")
        c = complaints.get(cid)
        # The engine auto-closes 10 working days after the last follow_up; Mon-Fri counts
        # at least as many days as the engine, so this fires no later than the engine does.
        if (
            c is not None
            and c.state == "followed_up"
            and c.last_follow_up is not None
            and working_days_between(c.last_follow_up.date(), at.date()) >= AUTO_CLOSE_WORKING_DAYS
        ):
            c.state, c.auto_closed = "resolved", True
        reason = judge(c, cmd)
        if record.kind == "lifecycle":
            if reason is not None:
                state = None if c is None else c.state
                problems.append(f"#{i} {cid} {ctype} in {state}: {reason}")
                continue
        elif record.kind == "forbidden":
            if reason is None:
                problems.append(f"#{i} forbidden {cid} {ctype} would be applied")
            continue
        elif record.kind == "unknown_complaint":
            if reason != "unknown_complaint":
                problems.append(f"#{i} unknown_complaint record on a known complaint {cid}")
            continue
        applied_ids.add(cmd["command_id"])
        if c is None:
            c = complaints[cid] = Complaint(submit_payload=cmd["payload"])
        _, to_state, _ = TABLE[ctype]
        c.types.append(ctype)
        c.times.append(at)
        if ctype in ("resolve", "reply") and c.last_follow_up is not None:
            resolve_gaps.append(working_days_between(c.last_follow_up.date(), at.date()))
        if ctype == "dispatch":
            c.skpd = cmd["payload"]["skpd"]
            if c.types.count("dispatch") == 1:
                submitted = c.times[0]
                verification_days.append(working_days_between(submitted.date(), at.date()))
        if ctype in ("dispatch", "reply", "reopen"):
            c.follow_up_clock = at
        if ctype == "return":
            c.follow_up_clock = None
        if ctype == "follow_up":
            if c.follow_up_clock is not None:
                days = working_days_between(c.follow_up_clock.date(), at.date())
                follow_up_days[c.skpd].append(days)
                c.follow_up_clock = None
            c.last_follow_up = at
        if ctype == "defer":
            c.deferred = True
        if ctype == "resume":
            c.deferred = False
        if to_state is not None:
            c.state = to_state
    return Replay(complaints, problems, resolve_gaps, verification_days, dict(follow_up_days))


@pytest.fixture(scope="module")
def demo() -> tuple[DemoRegion, list[DemoRecord]]:
    return generate()


@pytest.fixture(scope="module")
def played(demo: tuple[DemoRegion, list[DemoRecord]]) -> Replay:
    return replay(demo[1])


def test_same_seed_gives_identical_bytes() -> None:
    first = generate(seed=7, complaints=300)
    second = generate(seed=7, complaints=300)
    assert first == second
    other = generate(seed=8, complaints=300)
    assert [r.value for r in other[1]] != [r.value for r in first[1]]


def test_region_has_about_thirty_real_skpds(demo: tuple[DemoRegion, list[DemoRecord]]) -> None:
    region, _ = demo
    codes = [code for code, _ in region.skpds]
    assert region.region == "HSU"
    assert region.timezone == "Asia/Makassar"
    assert 28 <= len(codes) <= 32
    assert len(set(codes)) == len(codes)
    assert {"DINKES", "PUPR", "DISDIK", "DISHUB", "DLH", "DINSOS", "DISDUKCAPIL"} <= set(codes)
    assert {"DPMPTSP", "SATPOLPP", "BPBD", "RSUD", "DISPERKIM"} <= set(codes)
    assert region.skpd_name("DINKES") == "Dinas Kesehatan"
    assert set(region.slow_skpds) < set(codes)
    for _, skpds in region.categories:
        assert set(skpds) <= set(codes)


def test_one_submit_per_complaint(demo: tuple[DemoRegion, list[DemoRecord]]) -> None:
    _, records = demo
    submits = [
        json.loads(r.value)["complaint_id"]
        for r in records
        if r.kind == "lifecycle" and json.loads(r.value)["type"] == "submit"
    ]
    assert len(submits) == 3000
    assert len(set(submits)) == 3000
    assert all(re.fullmatch(r"HSU-2026-\d{6}", cid) for cid in submits)


def test_every_command_is_well_formed(demo: tuple[DemoRegion, list[DemoRecord]]) -> None:
    region, records = demo
    codes = {code for code, _ in region.skpds}
    for record in records:
        if record.kind == "invalid":
            continue
        assert schema_error(record.value) is None, record
        cmd = json.loads(record.value)
        assert list(cmd) == [
            "command_id",
            "type",
            "complaint_id",
            "issued_at",
            "actor",
            "payload",
        ]
        assert record.key == cmd["complaint_id"].encode("utf-8")
        assert re.fullmatch(r"c-[0-9a-f]+", cmd["command_id"])
        if cmd["type"] == "dispatch":
            assert cmd["payload"]["skpd"] in codes
        if cmd["type"] == "submit":
            assert cmd["payload"]["region"] == "HSU"
            if cmd["payload"]["anonymous"]:
                assert "complainant" not in cmd["payload"]


def test_actors_follow_the_brief(demo: tuple[DemoRegion, list[DemoRecord]]) -> None:
    _, records = demo
    for record in records:
        if record.kind != "lifecycle":
            continue
        cmd = json.loads(record.value)
        role, actor_id = cmd["actor"]["role"], cmd["actor"]["id"]
        if cmd["type"] in ("verify", "dispatch", "archive"):
            assert (role, actor_id) == ("admin", "diskominfo-hsu")
        elif cmd["type"] in ("follow_up", "return", "defer", "resume"):
            assert role == "skpd"
            assert re.fullmatch(r"penghubung-[a-z0-9]+", actor_id)
        elif cmd["type"] in ("reply", "resolve", "reopen"):
            assert role == "complainant"
            assert re.fullmatch(r"pelapor-\d+", actor_id)
        else:
            assert cmd["type"] == "submit"
            if role == "admin":
                assert cmd["payload"]["channel"] == "other"
            else:
                assert role == "complainant"
                assert cmd["payload"]["channel"] != "other"


def test_command_ids_are_unique(demo: tuple[DemoRegion, list[DemoRecord]]) -> None:
    _, records = demo
    ids = [json.loads(r.value)["command_id"] for r in records if r.kind not in ("invalid",)]
    counts = Counter(ids)
    # Only duplicates may repeat an id, each exactly once more.
    repeated = {cid for cid, n in counts.items() if n > 1}
    assert len(repeated) == sum(1 for r in records if r.kind == "duplicate")
    assert all(counts[cid] == 2 for cid in repeated)


def test_issued_at_is_sorted_and_in_wita(demo: tuple[DemoRegion, list[DemoRecord]]) -> None:
    _, records = demo
    times = [r.issued_at for r in records]
    assert times == sorted(times)
    assert all(t.utcoffset() == WITA for t in times)
    for record in records:
        if record.kind == "invalid":
            continue
        stamp = json.loads(record.value)["issued_at"]
        assert stamp.endswith("+08:00")
        if record.kind == "duplicate":
            assert datetime.fromisoformat(stamp) < record.issued_at
        else:
            assert datetime.fromisoformat(stamp) == record.issued_at
    assert min(times).date() == date(2026, 1, 5)


def test_submits_stay_within_the_window(demo: tuple[DemoRegion, list[DemoRecord]]) -> None:
    _, records = demo
    for record in records:
        if record.kind == "lifecycle" and json.loads(record.value)["type"] == "submit":
            assert date(2026, 1, 5) <= record.issued_at.date() < date(2026, 4, 6)


def test_staff_work_office_hours_on_weekdays(demo: tuple[DemoRegion, list[DemoRecord]]) -> None:
    _, records = demo
    weekend_citizen = 0
    for record in records:
        if record.kind not in ("lifecycle", "unknown_complaint"):
            continue
        role = json.loads(record.value)["actor"]["role"]
        local = record.issued_at
        if role in ("admin", "skpd"):
            assert local.weekday() < 5, record
            assert (7, 30) <= (local.hour, local.minute) < (16, 0), record
        elif local.weekday() >= 5:
            weekend_citizen += 1
    assert weekend_citizen > 100  # complainants do write on weekends


def test_every_kind_is_present_in_about_the_asked_share(
    demo: tuple[DemoRegion, list[DemoRecord]],
) -> None:
    _, records = demo
    kinds = expected_kinds(records)
    assert list(kinds) == list(KINDS)
    assert all(kinds[k] > 0 for k in KINDS)
    assert sum(kinds.values()) == len(records)
    lifecycle = kinds["lifecycle"]
    assert 0.015 <= kinds["duplicate"] / lifecycle <= 0.025
    assert 0.007 <= kinds["forbidden"] / lifecycle <= 0.013
    assert 0.003 <= kinds["invalid"] / lifecycle <= 0.007
    assert 3 <= kinds["unknown_complaint"] <= 30


def test_lifecycle_is_valid_per_the_contract_table(played: Replay) -> None:
    assert played.problems == []


def test_resolve_and_reply_come_before_auto_close(played: Replay) -> None:
    assert played.resolve_gaps
    assert max(played.resolve_gaps) <= 9
    assert not any(c.auto_closed and c.types[-1] != "follow_up" for c in played.complaints.values())


def test_lifecycle_mix(played: Replay) -> None:
    complaints = list(played.complaints.values())
    n = len(complaints)

    def share(predicate: Any) -> float:
        return sum(1 for c in complaints if predicate(c)) / n

    assert 0.04 <= share(lambda c: c.state == "archived") <= 0.08
    assert 0.005 <= share(lambda c: c.state in ("submitted", "verified")) <= 0.03
    assert 0.05 <= share(lambda c: "return" in c.types) <= 0.09
    assert 0.04 <= share(lambda c: "reply" in c.types) <= 0.08
    assert 0.015 <= share(lambda c: "reopen" in c.types) <= 0.045
    assert 0.015 <= share(lambda c: "defer" in c.types) <= 0.045
    followed = [c for c in complaints if "follow_up" in c.types]
    left = sum(1 for c in followed if c.types[-1] == "follow_up") / len(followed)
    assert 0.25 <= left <= 0.35
    # A returned complaint goes to another SKPD; a deferred one is always resumed.
    for c in complaints:
        if "return" in c.types:
            assert c.types.count("dispatch") >= 2
        assert c.types.count("defer") == c.types.count("resume")


def test_sla_breaches_happen_and_slow_skpds_stand_out(
    demo: tuple[DemoRegion, list[DemoRecord]], played: Replay
) -> None:
    region, _ = demo
    late_verifications = sum(1 for d in played.verification_days if d > 3)
    assert 0.05 <= late_verifications / len(played.verification_days) <= 0.25
    slow = [d for s in region.slow_skpds for d in played.follow_up_days.get(s, [])]
    others = [
        d for s, days in played.follow_up_days.items() if s not in region.slow_skpds for d in days
    ]
    assert statistics.median(slow) >= statistics.median(others) + 2
    late_share_slow = sum(1 for d in slow if d > 5) / len(slow)
    late_share_others = sum(1 for d in others if d > 5) / len(others)
    assert late_share_slow > 0.5 > 0.2 > late_share_others
    assert len(played.follow_up_days) >= 25  # nearly every SKPD receives complaints


def test_duplicates_repeat_an_earlier_record_byte_for_byte(
    demo: tuple[DemoRegion, list[DemoRecord]],
) -> None:
    _, records = demo
    seen: set[tuple[bytes, bytes]] = set()
    for record in records:
        if record.kind == "duplicate":
            assert (record.key, record.value) in seen
        elif record.kind == "lifecycle":
            seen.add((record.key, record.value))


def test_invalid_records_really_are_invalid(demo: tuple[DemoRegion, list[DemoRecord]]) -> None:
    _, records = demo
    reasons: Counter[str] = Counter()
    for record in records:
        if record.kind == "invalid":
            reason = schema_error(record.value)
            assert reason is not None, record.value
            reasons[reason.split()[0]] += 1
    # Not just one kind of garbage: bytes, JSON and schema errors all show up.
    for expected in ("not", "missing", "unknown", "bad", "issued_at", "payload"):
        assert any(r.startswith(expected) for r in reasons), (expected, reasons)
    garbage = [r.value for r in records if r.kind == "invalid"]
    assert b"" in garbage
    assert any(v.startswith(b"[") for v in garbage)


def test_forbidden_and_unknown_ids(demo: tuple[DemoRegion, list[DemoRecord]]) -> None:
    _, records = demo
    forbidden: Counter[tuple[str, str]] = Counter()
    for record in records:
        cmd = None if record.kind == "invalid" else json.loads(record.value)
        if record.kind == "forbidden":
            assert cmd is not None
            forbidden[(cmd["type"], cmd["actor"]["role"])] += 1
        if record.kind == "unknown_complaint":
            assert cmd is not None
            assert re.fullmatch(r"HSU-2026-9\d{5}", cmd["complaint_id"])
            assert cmd["type"] == "verify"
    assert set(forbidden) == {
        ("follow_up", "skpd"),
        ("dispatch", "complainant"),
        ("resolve", "complainant"),
        ("submit", "complainant"),
    }


def test_small_and_custom_runs() -> None:
    region, records = generate(seed=1, complaints=5, days=3, region="BJM")
    assert region.admin_id == "diskominfo-bjm"
    kinds = expected_kinds(records)
    assert all(kinds[k] > 0 for k in ("lifecycle", "unknown_complaint", "invalid"))
    assert replay(records).problems == []
    quiet = DemoMix(duplicate=0, forbidden=0, invalid=0, auto_close=1.0)
    _, records = generate(complaints=200, mix=quiet)
    kinds = expected_kinds(records)
    assert kinds["duplicate"] == 0
    played = replay(records)
    assert played.problems == []
    # Nobody resolves: every followed-up complaint is left for the engine's auto_close.
    assert not any(c.types[-1] == "resolve" for c in played.complaints.values())


@pytest.mark.parametrize(
    "kwargs",
    [{"complaints": 0}, {"days": 0}, {"region": "H S U"}, {"complaints": 900_000}],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        generate(**kwargs)


def test_bad_mix_is_refused() -> None:
    with pytest.raises(ValueError):
        DemoMix(duplicate=1.5)
    with pytest.raises(ValueError):
        DemoMix(archived=0.6, left_open=0.4)


def test_describe(demo: tuple[DemoRegion, list[DemoRecord]]) -> None:
    region, records = demo
    line = describe(region, records)
    assert "\n" not in line
    assert line.startswith("HSU (Asia/Makassar): 3000 complaints, 30 SKPDs")
    assert f"duplicate {expected_kinds(records)['duplicate']}" in line
