"""The pure core (``workflows.apply``) against CONTRACT §2-§4.

Commands are built as JSON bytes and decoded by ``engine.decode.decode_command``, the
way the engine receives them. Every SLA instant below is computed by hand from the
2026 calendar of the ``holidays`` package (Asia/Makassar, UTC+8, no DST):

    March 2026  Mo Tu We Th Fr Sa Su
                 2  3  4  5  6  7  8
                 9 10 11 12 13 14 15
                16 17 18 19 20 21 22     18 Cuti Bersama Nyepi, 19 Nyepi,
                23 24 25 26 27 28 29     20 Cuti Bersama Idul Fitri, 21-22 Idul Fitri,
                30 31                    23-24 Cuti Bersama Idul Fitri
    May 2026: Fri 1 is Hari Buruh.

So the working days from 16 March on are 16, 17, 25, 26, 27, 30, 31.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.decode import decode_command
from tests.workflows.test_definition import ALLOWED, CONTRACT_TABLE, EVENT_TYPES, FORBIDDEN, ROLES
from workflows.apply import AUTO_CLOSE_ACTOR, Outcome, decide, event_id_for, fire_due, next_due
from workflows.definition import NEW
from workflows.model import Actor, Command, ComplaintState, Event
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry
from workflows.sla import shift_for_pause, warning_instant
from workflows.wire import command_bytes

REGISTRY = WorkflowRegistry.default()
POLICY = Policy.default()
WITA = ZoneInfo("Asia/Makassar")
CID = "HSU-2026-000123"
#: The recording instant: deliberately far from every command time, so nothing may use it
#: for SLA arithmetic.
NOW = datetime(2026, 12, 31, 4, 0, tzinfo=UTC)

NAME = "Siti Aminah Rahmawati"
PHONE = "+6281234567890"
EMAIL = "siti.aminah@contoh.id"
TITLE = "Jalan berlubang di depan puskesmas Amuntai"
BODY = "Lubang besar di Jalan Basuki Rahmat membahayakan pengendara sejak dua minggu"
LOCATION = "Jl. Basuki Rahmat km 3, Amuntai Tengah"

ACTOR_IDS = {
    "complainant": "warga-8812",
    "admin": "diskominfo-hsu",
    "skpd": "dinkes-hsu-lo",
    "system": "lapor-feed",
}
DEFAULT_ROLE = {
    "submit": "complainant",
    "verify": "admin",
    "archive": "admin",
    "dispatch": "admin",
    "return": "skpd",
    "follow_up": "skpd",
    "reply": "complainant",
    "resolve": "complainant",
    "reopen": "complainant",
    "defer": "admin",
    "resume": "admin",
}
PAYLOADS: dict[str, dict[str, Any]] = {
    "verify": {"note": "laporan lengkap"},
    "archive": {"reason": "laporan tidak dapat diproses"},
    "dispatch": {"skpd": "DINKES"},
    "return": {"reason": "bukan wewenang"},
    "follow_up": {"note": "lubang sudah ditambal"},
    "reply": {"note": "masih berlubang"},
    "resolve": {},
    "reopen": {"reason": "lubang muncul lagi"},
    "defer": {"reason": "menunggu anggaran"},
    "resume": {},
}


def wita(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=WITA)


def eod(y: int, mo: int, d: int) -> datetime:
    """23:59:59 WITA: where every deadline and escalation falls."""
    return wita(y, mo, d, 23, 59, 59)


def submit_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "title": TITLE,
        "body": BODY,
        "category": "infrastruktur",
        "classification": "pengaduan",
        "channel": "web",
        "region": "HSU",
        "complainant": {"name": NAME, "phone": PHONE, "email": EMAIL},
        "location": LOCATION,
        "attachments": ["foto-lubang-1.jpg"],
    }
    payload.update(changes)
    return payload


def command(
    command_type: str,
    at: datetime,
    *,
    role: str | None = None,
    payload: dict[str, Any] | None = None,
    command_id: str | None = None,
    complaint_id: str = CID,
) -> Command:
    """A command as the engine gets it: JSON bytes through the decoder."""
    role = role or DEFAULT_ROLE[command_type]
    if payload is None:
        payload = submit_payload() if command_type == "submit" else PAYLOADS[command_type]
    raw = command_bytes(
        command_type,
        complaint_id,
        at,
        role=role,
        actor_id=ACTOR_IDS[role],
        payload=payload,
        command_id=command_id or f"c-{command_type}-{role}-{at.isoformat()}",
    )
    return decode_command(raw, REGISTRY)


def run(complaint: ComplaintState | None, cmd: Command) -> Outcome:
    return decide(complaint, cmd, registry=REGISTRY, policy=POLICY, now=NOW)


def apply_ok(complaint: ComplaintState | None, cmd: Command) -> ComplaintState:
    outcome = run(complaint, cmd)
    assert outcome.kind == "applied", (outcome.reason, outcome.detail)
    assert outcome.complaint is not None
    return outcome.complaint


def fire(complaint: ComplaintState, until: datetime) -> Outcome:
    return fire_due(complaint, until, registry=REGISTRY, policy=POLICY, now=NOW)


#: A valid prefix of commands leading to each state.
PATHS: dict[str, tuple[str, ...]] = {
    NEW: (),
    "submitted": ("submit",),
    "verified": ("submit", "verify"),
    "dispatched": ("submit", "verify", "dispatch"),
    "followed_up": ("submit", "verify", "dispatch", "follow_up"),
    "resolved": ("submit", "verify", "dispatch", "follow_up", "resolve"),
    "archived": ("submit", "archive"),
}
START = wita(2026, 3, 2, 9, 0)  # Monday
STEP = timedelta(minutes=10)  # far too short for any timer to fall due


def build(state: str, *, deferred: bool = False) -> tuple[ComplaintState | None, datetime]:
    """A complaint in ``state`` (paused if ``deferred``) and the next free instant."""
    complaint = None
    at = START
    for command_type in PATHS[state] + (("defer",) if deferred else ()):
        complaint = apply_ok(complaint, command(command_type, at))
        at += STEP
    if state != NEW:
        assert complaint is not None and complaint.state == state
    return complaint, at


def dispatched_at(at: datetime) -> ComplaintState:
    """Submitted 1 h and verified 30 min before ``at``, dispatched to DINKES at ``at``."""
    complaint = apply_ok(None, command("submit", at - timedelta(hours=1)))
    complaint = apply_ok(complaint, command("verify", at - timedelta(minutes=30)))
    return apply_ok(complaint, command("dispatch", at))


def summary(events: tuple[Event, ...] | list[Event]) -> list[tuple[Any, ...]]:
    """(type, occurred_at, clock, level, target) per event, for exact comparisons."""
    return [
        (
            e.type,
            e.occurred_at,
            e.payload.get("clock"),
            e.payload.get("level"),
            e.payload.get("target"),
        )
        for e in events
    ]


def assert_consecutive(events: tuple[Event, ...], first_seq: int) -> None:
    assert [e.seq for e in events] == list(range(first_seq, first_seq + len(events)))
    assert [e.event_id for e in events] == [event_id_for(CID, e.seq or 0) for e in events]


# --- transitions ------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "command_type"), sorted(ALLOWED))
def test_every_allowed_transition_applies(state: str, command_type: str) -> None:
    before, at = build(state, deferred=command_type == "resume")
    cmd = command(command_type, at)

    outcome = run(before, cmd)

    assert outcome.kind == "applied"
    assert outcome.reason is None
    after = outcome.complaint
    assert after is not None
    dest = ALLOWED[(state, command_type)]
    assert after.state == dest
    assert after.seq == (before.seq if before else 0) + 1
    # defer and resume change no state: no transition to count (CONTRACT §5).
    in_place = command_type in ("defer", "resume")
    assert outcome.transition == (None if in_place else (state, dest))
    assert len(outcome.events) == 1
    event = outcome.events[0]
    assert event.type == EVENT_TYPES[command_type]
    assert event.seq == after.seq
    assert event.state == dest
    assert event.previous_state == (None if state == NEW else state)
    assert event.causation_id == cmd.command_id
    assert event.actor == cmd.actor
    assert event.complaint_id == CID
    assert event.region == "HSU"
    assert event.occurred_at == at
    assert event.recorded_at == NOW
    assert event.event_id == event_id_for(CID, after.seq)
    # Same inputs, same outcome: event ids survive a replay.
    again = run(before, cmd)
    assert again.events == outcome.events
    assert again.complaint == after


def test_event_ids_are_distinct_per_complaint_and_seq() -> None:
    ids = {event_id_for(c, s) for c in (CID, "HSU-2026-000124") for s in (1, 2, 3)}
    assert len(ids) == 6
    assert all(i.startswith("e-") for i in ids)


def test_a_full_lifecycle_has_gapless_seq_and_tracks_the_skpd() -> None:
    complaint = None
    events: list[Event] = []
    at = START
    for command_type in (
        "submit",
        "verify",
        "dispatch",
        "return",
        "dispatch",
        "follow_up",
        "reply",
        "follow_up",
        "resolve",
        "reopen",
    ):
        outcome = run(complaint, command(command_type, at))
        assert outcome.kind == "applied"
        complaint = outcome.complaint
        events.extend(outcome.events)
        at += STEP
    assert complaint is not None
    assert complaint.state == "dispatched"
    assert complaint.seq == 10
    assert_consecutive(tuple(events), 1)
    assert len({e.event_id for e in events}) == 10
    # skpd on the events: none before dispatch; the returning SKPD still named on the
    # return; none again until the second dispatch.
    assert [e.skpd for e in events] == [None, None, "DINKES", "DINKES"] + ["DINKES"] * 6
    assert complaint.skpd == "DINKES"


def test_return_hands_the_complaint_back_without_skpd() -> None:
    complaint, at = build("dispatched")
    after = apply_ok(complaint, command("return", at))
    assert after.state == "verified"
    assert after.skpd is None


NON_SUBMIT_FORBIDDEN = [(s, c) for s, c in FORBIDDEN if s != NEW and c != "submit"]


@pytest.mark.parametrize(("state", "command_type"), NON_SUBMIT_FORBIDDEN)
def test_every_forbidden_pair_is_rejected(state: str, command_type: str) -> None:
    before, at = build(state)
    cmd = command(command_type, at)

    outcome = run(before, cmd)

    assert outcome.kind == "rejected"
    assert outcome.reason == "invalid_transition"
    assert outcome.complaint == before
    assert len(outcome.events) == 1
    event = outcome.events[0]
    assert event.type == "command.rejected"
    assert event.seq is None
    assert event.causation_id == cmd.command_id
    assert event.state == state
    assert event.payload == {
        "command_id": cmd.command_id,
        "command_type": command_type,
        "reason": "invalid_transition",
        "detail": f"'{command_type}' is not allowed in state '{state}'",
    }
    assert outcome.detail == event.payload["detail"]
    assert run(before, cmd).events == outcome.events  # a replay gives the same event id


@pytest.mark.parametrize("command_type", sorted(set(CONTRACT_TABLE) - {"submit"}))
def test_command_on_unknown_complaint_is_rejected(command_type: str) -> None:
    cmd = command(command_type, START)
    outcome = run(None, cmd)
    assert outcome.kind == "rejected"
    assert outcome.reason == "unknown_complaint"
    assert outcome.complaint is None
    (event,) = outcome.events
    assert event.type == "command.rejected"
    assert event.seq is None
    assert event.state is None
    assert event.complaint_id == CID
    assert event.payload["reason"] == "unknown_complaint"
    assert event.payload["command_id"] == cmd.command_id
    assert event.payload["command_type"] == command_type
    assert event.payload["detail"]


ROLE_REFUSED = [
    (c, r) for c, (_, _, roles) in CONTRACT_TABLE.items() for r in ROLES if r not in roles
]
ROLE_ALLOWED = [(c, r) for c, (_, _, roles) in CONTRACT_TABLE.items() for r in sorted(roles)]


def _source_state(command_type: str) -> str:
    return CONTRACT_TABLE[command_type][0][0]


@pytest.mark.parametrize(("command_type", "role"), ROLE_REFUSED)
def test_role_not_allowed(command_type: str, role: str) -> None:
    before, at = build(_source_state(command_type), deferred=command_type == "resume")
    cmd = command(command_type, at, role=role)

    outcome = run(before, cmd)

    assert outcome.kind == "rejected"
    assert outcome.reason == "role_not_allowed"
    assert outcome.complaint == before
    (event,) = outcome.events
    assert event.type == "command.rejected"
    assert event.seq is None
    assert event.payload["reason"] == "role_not_allowed"
    assert event.payload["command_type"] == command_type
    assert role in event.payload["detail"]


@pytest.mark.parametrize(("command_type", "role"), ROLE_ALLOWED)
def test_every_allowed_role_applies(command_type: str, role: str) -> None:
    before, at = build(_source_state(command_type), deferred=command_type == "resume")
    outcome = run(before, command(command_type, at, role=role))
    assert outcome.kind == "applied"
    assert outcome.events[0].actor.model_dump() == {"role": role, "id": ACTOR_IDS[role]}


def test_a_submission_lays_out_its_complaint_as_a_validated_one() -> None:
    # The new complaint is built without validation (the decoder validated its parts):
    # it must equal a validated instance, fields in declaration order.
    complaint = apply_ok(None, command("submit", START))
    validated = ComplaintState.model_validate(complaint.model_dump())
    assert complaint == validated
    assert list(complaint.__dict__) == list(ComplaintState.model_fields)
    assert complaint.model_dump_json() == validated.model_dump_json()
    assert complaint.model_fields_set == set(ComplaintState.model_fields)


def test_resubmit_with_other_content_is_a_conflict() -> None:
    before, at = build("verified")
    cmd = command("submit", at, payload=submit_payload(title="Judul lain"), command_id="c-new")
    outcome = run(before, cmd)
    assert outcome.kind == "rejected"
    assert outcome.reason == "conflicting_resubmit"
    assert outcome.complaint == before
    (event,) = outcome.events
    assert event.type == "command.rejected"
    assert event.seq is None
    assert event.payload["command_id"] == "c-new"
    assert event.payload["reason"] == "conflicting_resubmit"


@pytest.mark.parametrize("state", ["submitted", "dispatched", "resolved"])
def test_identical_resubmit_with_a_new_command_id_is_a_duplicate(state: str) -> None:
    before, at = build(state)
    outcome = run(before, command("submit", at, command_id="c-repoll-42"))
    assert outcome.kind == "duplicate"
    assert outcome.events == ()
    assert outcome.complaint == before


# --- defer and resume -------------------------------------------------------------------


def test_defer_keeps_the_state_and_pauses_running_clocks() -> None:
    complaint = dispatched_at(wita(2026, 3, 2, 10, 0))
    defer_at = wita(2026, 3, 3, 9, 0)
    outcome = run(complaint, command("defer", defer_at))
    assert outcome.kind == "applied"
    after = outcome.complaint
    assert after is not None
    assert after.state == "dispatched"
    assert after.deferred_at == defer_at
    assert after.clocks["follow_up"].paused_at == defer_at
    assert after.clocks["resolution"].paused_at == defer_at
    assert after.clocks["verification"].paused_at is None  # stopped at dispatch
    (event,) = outcome.events
    assert event.type == "complaint.deferred"
    assert (event.previous_state, event.state) == ("dispatched", "dispatched")


def test_defer_twice_is_already_deferred() -> None:
    before, at = build("verified", deferred=True)
    outcome = run(before, command("defer", at))
    assert outcome.kind == "rejected"
    assert outcome.reason == "already_deferred"
    assert outcome.complaint == before
    assert outcome.events[0].payload["reason"] == "already_deferred"


@pytest.mark.parametrize("state", ["verified", "dispatched"])
def test_resume_without_defer_is_not_deferred(state: str) -> None:
    before, at = build(state)
    outcome = run(before, command("resume", at))
    assert outcome.kind == "rejected"
    assert outcome.reason == "not_deferred"
    assert outcome.complaint == before
    assert outcome.events[0].payload["reason"] == "not_deferred"


def test_defer_then_resume_shifts_deadlines_by_the_paused_days() -> None:
    # Dispatched Mon 2 March 10:00: follow_up due 5 WD later, Mon 9 March (3,4,5,6,9).
    # Submitted at 09:00: resolution due 60 calendar days later, Fri 1 May.
    complaint = dispatched_at(wita(2026, 3, 2, 10, 0))
    assert complaint.clocks["follow_up"].deadline == eod(2026, 3, 9)
    assert complaint.clocks["resolution"].deadline == eod(2026, 5, 1)
    defer_at = wita(2026, 3, 3, 9, 0)
    resume_at = wita(2026, 3, 5, 11, 0)
    complaint = apply_ok(complaint, command("defer", defer_at))

    outcome = run(complaint, command("resume", resume_at))

    assert outcome.kind == "applied"
    after = outcome.complaint
    assert after is not None
    # Days after the defer's date up to and including the resume's: Wed 4, Thu 5 = 2 WD,
    # so Mon 9 -> Wed 11 March; 2 calendar days for resolution, Fri 1 -> Sun 3 May.
    follow_up = after.clocks["follow_up"]
    resolution = after.clocks["resolution"]
    assert follow_up.deadline.isoformat() == "2026-03-11T23:59:59+08:00"
    assert resolution.deadline.isoformat() == "2026-05-03T23:59:59+08:00"
    assert follow_up.deadline == shift_for_pause(
        eod(2026, 3, 9), defer_at, resume_at, WITA, POLICY.calendar, working_days=True
    )
    assert resolution.deadline == shift_for_pause(
        eod(2026, 5, 1), defer_at, resume_at, WITA, POLICY.calendar, working_days=False
    )
    assert follow_up.paused_at is None
    assert resolution.paused_at is None
    assert after.deferred_at is None
    assert after.state == "dispatched"
    # The warning follows the moved deadline: start + 0.8 x (new deadline - start).
    assert follow_up.warning_at == warning_instant(follow_up.started_at, follow_up.deadline, 0.8)
    (event,) = outcome.events
    assert event.type == "complaint.resumed"
    assert event.payload["paused_from"] == defer_at.isoformat()

    # The old deadline (9 March) passes without a breach; the warning comes at
    # 2 March 10:00 + 0.8 x (9 d 13:59:59) = 10 March 01:59:59.2.
    fired = fire(after, wita(2026, 3, 10, 12, 0))
    assert summary(fired.events) == [
        ("complaint.sla_warning", wita(2026, 3, 10, 1, 59, 59, 200_000), "follow_up", None, None)
    ]
    fired = fire(fired.complaint or after, wita(2026, 3, 12, 0, 0))
    assert summary(fired.events) == [
        ("complaint.sla_breached", eod(2026, 3, 11), "follow_up", None, None),
        ("complaint.escalated", eod(2026, 3, 11), "follow_up", 1, "kepala_skpd"),
    ]


def test_a_long_pause_over_the_holiday_block() -> None:
    complaint = dispatched_at(wita(2026, 3, 2, 10, 0))
    complaint = apply_ok(complaint, command("defer", wita(2026, 3, 3, 9, 0)))
    # Paused clocks do not fire, however long the pause.
    assert fire(complaint, wita(2026, 3, 20, 0, 0)).events == ()
    assert next_due(complaint, REGISTRY, POLICY) is None

    outcome = run(complaint, command("resume", wita(2026, 3, 20, 10, 0)))

    assert [e.type for e in outcome.events] == ["complaint.resumed"]
    after = outcome.complaint
    assert after is not None
    # WD in (3 March, 20 March]: 4,5,6,9,10,11,12,13,16,17 = 10 (18-20 closed).
    # Mon 9 March + 10 WD: 10,11,12,13,16,17,25,26,27,30 -> Mon 30 March.
    assert after.clocks["follow_up"].deadline == eod(2026, 3, 30)
    # 17 calendar days: Fri 1 May -> Mon 18 May.
    assert after.clocks["resolution"].deadline == eod(2026, 5, 18)


def test_defer_and_resume_on_the_same_day_cost_nothing() -> None:
    complaint = dispatched_at(wita(2026, 3, 2, 10, 0))
    complaint = apply_ok(complaint, command("defer", wita(2026, 3, 3, 9, 0)))
    after = apply_ok(complaint, command("resume", wita(2026, 3, 3, 15, 0)))
    assert after.clocks["follow_up"].deadline == eod(2026, 3, 9)
    assert after.clocks["resolution"].deadline == eod(2026, 5, 1)


def test_a_state_change_ends_the_pause() -> None:
    complaint = dispatched_at(wita(2026, 3, 2, 10, 0))
    defer_at = wita(2026, 3, 3, 9, 0)
    complaint = apply_ok(complaint, command("defer", defer_at))
    outcome = run(complaint, command("follow_up", wita(2026, 3, 5, 11, 0)))
    after = outcome.complaint
    assert after is not None
    assert after.state == "followed_up"
    assert after.deferred_at is None
    assert after.clocks["resolution"].paused_at is None
    assert after.clocks["resolution"].deadline == eod(2026, 5, 3)  # 2 calendar days later
    assert after.clocks["follow_up"].stopped_at == wita(2026, 3, 5, 11, 0)
    # The implicit resume is an event of its own, with its own seq, before the command's.
    resumed, followed_up = outcome.events
    assert (resumed.type, resumed.seq) == ("complaint.resumed", complaint.seq + 1)
    assert (followed_up.type, followed_up.seq) == ("complaint.followed_up", complaint.seq + 2)
    assert after.seq == complaint.seq + 2
    assert resumed.occurred_at == followed_up.occurred_at == wita(2026, 3, 5, 11, 0)
    assert resumed.state == resumed.previous_state == "dispatched"
    assert resumed.payload["paused_from"] == defer_at.isoformat()
    assert resumed.payload["implicit"] is True
    assert resumed.causation_id == followed_up.causation_id
    assert resumed.event_id != followed_up.event_id
    assert followed_up.payload["paused_from"] == defer_at.isoformat()


def test_an_explicit_resume_is_one_event() -> None:
    complaint = dispatched_at(wita(2026, 3, 2, 10, 0))
    complaint = apply_ok(complaint, command("defer", wita(2026, 3, 3, 9, 0)))
    outcome = run(complaint, command("resume", wita(2026, 3, 4, 9, 0)))
    assert [e.type for e in outcome.events] == ["complaint.resumed"]
    assert outcome.transition is None


# --- privacy ----------------------------------------------------------------------------


def _lifecycle_events(payload: dict[str, Any]) -> list[Event]:
    """Every kind of event one complaint can produce: commands, rejections, timers."""
    events: list[Event] = []
    complaint: ComplaintState | None = None
    steps = [
        command("submit", wita(2026, 3, 2, 9, 0), payload=payload),
        command("submit", wita(2026, 3, 2, 9, 5), payload={**payload, "body": "lain"}),
        command("reply", wita(2026, 3, 2, 9, 6)),  # rejected
        command("verify", wita(2026, 3, 2, 9, 10)),
        command("defer", wita(2026, 3, 2, 9, 20)),
        command("dispatch", wita(2026, 3, 2, 10, 0)),
        # After the follow_up breach and escalation.
        command("follow_up", wita(2026, 3, 10, 10, 0)),
        command("reply", wita(2026, 3, 11, 10, 0)),
        command("follow_up", wita(2026, 3, 12, 10, 0)),
        command("resolve", wita(2026, 3, 12, 11, 0)),
        command("reopen", wita(2026, 3, 13, 9, 0)),
        command("return", wita(2026, 3, 13, 10, 0)),
        command("archive", wita(2026, 3, 13, 11, 0)),
    ]
    for cmd in steps:
        outcome = run(complaint, cmd)
        events.extend(outcome.events)
        complaint = outcome.complaint
    types = {e.type for e in events}
    # The scenario really covers what it claims to.
    assert {"command.rejected", "complaint.sla_breached", "complaint.escalated"} <= types
    assert {"complaint.deferred", "complaint.archived", "complaint.submitted"} <= types
    return events


@pytest.mark.parametrize(
    ("anonymous", "confidential"), [(True, False), (False, True), (True, True)]
)
def test_the_complainant_of_an_anonymous_complaint_is_a_pseudonym(
    anonymous: bool, confidential: bool
) -> None:
    payload = submit_payload(anonymous=anonymous, confidential=confidential)
    pseudonyms = set()
    for cid in ("HSU-2026-000001", "HSU-2026-000002"):
        complaint = None
        events: list[Event] = []
        at = wita(2026, 3, 2, 9, 0)
        for kind in ("submit", "verify", "dispatch", "follow_up", "reply", "follow_up"):
            cmd = command(kind, at, payload=payload if kind == "submit" else None, complaint_id=cid)
            outcome = run(complaint, cmd)
            events.extend(outcome.events)
            complaint = outcome.complaint
            at += timedelta(hours=1)
        # A complainant's command that is rejected names them the same way.
        events.extend(run(complaint, command("reopen", at, complaint_id=cid)).events)
        by_complainant = [e for e in events if e.actor.role == "complainant"]
        assert len(by_complainant) == 3
        assert all(e.actor.id != ACTOR_IDS["complainant"] for e in events)
        assert ACTOR_IDS["complainant"] not in "".join(e.model_dump_json() for e in events)
        ids = {e.actor.id for e in by_complainant}
        assert len(ids) == 1  # stable within the complaint
        (pseudonym,) = ids
        assert pseudonym.startswith("anon-")
        pseudonyms.add(pseudonym)
    assert len(pseudonyms) == 2  # never shared across complaints


def test_an_ordinary_complaint_names_its_complainant() -> None:
    outcome = run(None, command("submit", wita(2026, 3, 2, 9, 0)))
    assert outcome.events[0].actor == Actor(role="complainant", id=ACTOR_IDS["complainant"])


@pytest.mark.parametrize("confidential", [False, True])
def test_events_never_carry_the_complainants_identity(confidential: bool) -> None:
    events = _lifecycle_events(submit_payload(confidential=confidential))
    for event in events:
        dumped = event.model_dump_json()
        for secret in (NAME, PHONE, EMAIL, "Siti", "81234567890", "contoh.id"):
            assert secret not in dumped, (event.type, secret)


def test_a_confidential_complaint_carries_no_title_body_or_location() -> None:
    events = _lifecycle_events(submit_payload(confidential=True))
    for event in events:
        dumped = event.model_dump_json()
        for secret in (TITLE, BODY, LOCATION, "Basuki Rahmat", "puskesmas"):
            assert secret not in dumped, (event.type, secret)
    submitted = events[0]
    assert submitted.type == "complaint.submitted"
    assert submitted.payload["confidential"] is True
    assert submitted.payload["category"] == "infrastruktur"


def test_a_confidential_complaint_carries_no_free_text_notes_either() -> None:
    # Beyond the contract's minimum: notes and reasons may describe a rahasia report.
    texts = [PAYLOADS[c].get("note") or PAYLOADS[c].get("reason") for c in PAYLOADS]
    texts = [t for t in texts if t]
    assert len(texts) == 7
    confidential = [
        e.model_dump_json() for e in _lifecycle_events(submit_payload(confidential=True))
    ]
    assert not [t for t in texts for dumped in confidential if t in dumped]
    ordinary = " ".join(e.model_dump_json() for e in _lifecycle_events(submit_payload()))
    assert "lubang sudah ditambal" in ordinary  # the check above can see a note


def test_an_ordinary_complaint_does_carry_its_title_and_body() -> None:
    # The counterpart of the test above: the text is there when it may be.
    submitted = _lifecycle_events(submit_payload())[0]
    assert submitted.payload["title"] == TITLE
    assert submitted.payload["body"] == BODY
    assert submitted.payload["location"] == LOCATION
    assert "complainant" not in submitted.payload


# --- SLA: follow_up clock, breach and escalation -----------------------------------------

# Dispatched Mon 2 March 10:00 WITA. follow_up, 5 WD: 3, 4, 5, 6, 9 -> Mon 9 March 23:59:59.
# Warning: 10:00 + 0.8 x (7 d 13:59:59 = 655 199 s) = + 524 159.2 s = + 6 d 01:35:59.2
#          -> Sun 8 March 11:35:59.2.
# Level 2: 2nd WD after 9 March: 10, 11 -> Wed 11 March.
# Level 3: 5th WD after 9 March: 10, 11, 12, 13, 16 -> Mon 16 March; the Nyepi/Idul Fitri
#          block (18-24 March) starts after it, so it does not move this one.
DISPATCH = wita(2026, 3, 2, 10, 0)
FOLLOW_UP_TIMERS = [
    ("complaint.sla_warning", wita(2026, 3, 8, 11, 35, 59, 200_000), "follow_up", None, None),
    ("complaint.sla_breached", eod(2026, 3, 9), "follow_up", None, None),
    ("complaint.escalated", eod(2026, 3, 9), "follow_up", 1, "kepala_skpd"),
    ("complaint.escalated", eod(2026, 3, 11), "follow_up", 2, "sekda"),
    ("complaint.escalated", eod(2026, 3, 16), "follow_up", 3, "koordinator_provinsi"),
]


def test_fire_due_breaches_and_escalates_the_follow_up_clock() -> None:
    complaint = dispatched_at(DISPATCH)
    assert complaint.seq == 3
    assert complaint.clocks["follow_up"].deadline.isoformat() == "2026-03-09T23:59:59+08:00"
    until = wita(2026, 3, 20, 0, 0)

    outcome = fire(complaint, until)

    assert outcome.kind == "applied"
    assert summary(outcome.events) == FOLLOW_UP_TIMERS
    assert_consecutive(outcome.events, 4)
    assert outcome.events[2].occurred_at.isoformat() == "2026-03-09T23:59:59+08:00"
    for event in outcome.events:
        assert event.state == "dispatched"
        assert event.skpd == "DINKES"
        assert event.actor.role == "system"
        assert event.recorded_at == NOW
        assert event.payload["deadline"] == "2026-03-09T23:59:59+08:00"
    after = outcome.complaint
    assert after is not None
    assert after.seq == 8
    assert after.state == "dispatched"
    assert after.escalation_level == 3
    assert after.clocks["follow_up"].breached_at == eod(2026, 3, 9)
    # Idempotent: the same watermark again fires nothing and changes nothing.
    again = fire(after, until)
    assert again.events == ()
    assert again.complaint == after


def test_fire_due_in_steps_gives_the_same_events_as_at_once() -> None:
    complaint = dispatched_at(DISPATCH)
    events: list[Event] = []
    # Exactly at an instant nothing fires yet (strictly before the watermark).
    for until in (eod(2026, 3, 9), wita(2026, 3, 12), wita(2026, 3, 20)):
        outcome = fire(complaint, until)
        events.extend(outcome.events)
        assert outcome.complaint is not None
        complaint = outcome.complaint
    assert summary(events) == FOLLOW_UP_TIMERS
    assert events == list(fire(dispatched_at(DISPATCH), wita(2026, 3, 20)).events)


def test_escalation_skips_the_nyepi_and_idul_fitri_block() -> None:
    # Dispatched Mon 9 March 10:00: due 5 WD later, 10,11,12,13,16 -> Mon 16 March.
    # Warning: 10:00 + 0.8 x (7 d 13:59:59) -> Sun 15 March 11:35:59.2.
    # Level 2: 17, then 18-24 closed, 25 -> Wed 25 March.
    # Level 3: 17, 25, 26, 27, 30 -> Mon 30 March.
    complaint = dispatched_at(wita(2026, 3, 9, 10, 0))
    outcome = fire(complaint, wita(2026, 4, 1))
    assert summary(outcome.events) == [
        ("complaint.sla_warning", wita(2026, 3, 15, 11, 35, 59, 200_000), "follow_up", None, None),
        ("complaint.sla_breached", eod(2026, 3, 16), "follow_up", None, None),
        ("complaint.escalated", eod(2026, 3, 16), "follow_up", 1, "kepala_skpd"),
        ("complaint.escalated", eod(2026, 3, 25), "follow_up", 2, "sekda"),
        ("complaint.escalated", eod(2026, 3, 30), "follow_up", 3, "koordinator_provinsi"),
    ]
    assert_consecutive(outcome.events, 4)


def test_a_late_follow_up_first_emits_the_due_timers() -> None:
    complaint = dispatched_at(DISPATCH)
    follow_up_at = wita(2026, 3, 10, 12, 0)
    cmd = command("follow_up", follow_up_at)

    outcome = run(complaint, cmd)

    assert outcome.kind == "applied"
    assert summary(outcome.events) == [
        *FOLLOW_UP_TIMERS[:3],
        ("complaint.followed_up", follow_up_at, None, None, None),
    ]
    assert_consecutive(outcome.events, 4)
    assert outcome.events[-1].causation_id == cmd.command_id
    assert outcome.events[-1].previous_state == "dispatched"
    after = outcome.complaint
    assert after is not None
    assert after.state == "followed_up"
    assert after.seq == 7
    assert after.clocks["follow_up"].stopped_at == follow_up_at
    assert after.clocks["follow_up"].escalation_level == 1
    # The stopped clock ends its escalation: no level 2 on 11 March, no level 3.
    # auto_close (10 WD after 10 March: 11,12,13,16,17,25,26,27,30,31) is not due yet.
    assert fire(after, wita(2026, 3, 31, 23, 0)).events == ()


#: A follow-up after the follow-up clock's warning (8 March), breach and first escalation (9 March).
LATE_FOLLOW_UP = wita(2026, 3, 10, 12, 0)


def told_fired(complaint: ComplaintState, fired_until: datetime) -> Outcome:
    """decide() of the late follow-up, told the timers up to ``fired_until`` have fired."""
    cmd = command("follow_up", LATE_FOLLOW_UP)
    return decide(
        complaint, cmd, registry=REGISTRY, policy=POLICY, now=NOW, timers_fired_until=fired_until
    )


@pytest.mark.parametrize(
    "watermark", [LATE_FOLLOW_UP, wita(2026, 3, 10, 12, 1), wita(2026, 3, 12), wita(2026, 3, 31)]
)
def test_timers_fired_by_the_caller_up_to_a_later_watermark_give_the_same_outcome(
    watermark: datetime,
) -> None:
    # The engine fires a complaint's timers up to its partition's watermark before a
    # command stamped earlier; decide() then skips its own scan, and must decide alike.
    fired = fire(dispatched_at(DISPATCH), watermark)
    assert fired.events  # the warning at least: the skipped scan had timers to find
    assert fired.complaint is not None
    told = told_fired(fired.complaint, watermark)
    assert told == run(fired.complaint, command("follow_up", LATE_FOLLOW_UP))
    assert told.kind == "applied"
    assert [e.type for e in told.events] == ["complaint.followed_up"]


def test_decide_does_not_look_at_timers_the_caller_says_it_fired() -> None:
    # The skip itself: told that everything up to the command has fired, decide()
    # leaves the clocks alone (here they had not fired: the caller broke its word).
    told = told_fired(dispatched_at(DISPATCH), LATE_FOLLOW_UP)
    assert [e.type for e in told.events] == ["complaint.followed_up"]


def test_timers_fired_until_before_the_command_still_fires_what_is_due() -> None:
    # A caller that fired up to an earlier instant: decide() fires the rest itself.
    complaint = dispatched_at(DISPATCH)
    told = told_fired(complaint, wita(2026, 3, 9))
    assert told == run(complaint, command("follow_up", LATE_FOLLOW_UP))
    assert summary(told.events)[:3] == FOLLOW_UP_TIMERS[:3]


def test_a_follow_up_exactly_at_the_deadline_is_on_time() -> None:
    complaint = dispatched_at(DISPATCH)
    outcome = run(complaint, command("follow_up", eod(2026, 3, 9)))
    assert [e.type for e in outcome.events] == ["complaint.sla_warning", "complaint.followed_up"]
    assert outcome.complaint is not None
    assert outcome.complaint.clocks["follow_up"].breached_at is None


def test_a_rejected_command_moves_no_clock() -> None:
    # Its time may be bogus: the timers it passes fire when the watermark passes them.
    complaint = dispatched_at(DISPATCH)
    outcome = run(complaint, command("verify", wita(2026, 3, 10, 12, 0)))
    assert outcome.kind == "rejected"
    assert outcome.reason == "invalid_transition"
    assert [e.type for e in outcome.events] == ["command.rejected"]
    assert outcome.complaint == complaint


def test_a_duplicate_submit_moves_no_clock() -> None:
    complaint = dispatched_at(DISPATCH)
    outcome = run(complaint, command("submit", wita(2026, 3, 20, 12, 0), payload=submit_payload()))
    assert outcome.kind == "duplicate"
    assert outcome.events == ()
    assert outcome.complaint == complaint


# --- SLA: auto_close ----------------------------------------------------------------------


def test_auto_close_resolves_after_ten_quiet_working_days() -> None:
    complaint = dispatched_at(DISPATCH)
    follow_up_at = wita(2026, 3, 3, 10, 0)
    complaint = apply_ok(complaint, command("follow_up", follow_up_at))
    # 10 WD after Tue 3 March: 4,5,6,9,10,11,12,13,16,17 -> Tue 17 March 23:59:59.
    assert complaint.clocks["auto_close"].deadline == eod(2026, 3, 17)
    assert next_due(complaint, REGISTRY, POLICY) == eod(2026, 3, 17)

    outcome = fire(complaint, wita(2026, 3, 20))

    assert len(outcome.events) == 1
    event = outcome.events[0]
    assert event.type == "complaint.resolved"
    assert event.actor == AUTO_CLOSE_ACTOR
    assert event.actor == Actor(role="system", id="auto_close")
    assert event.occurred_at == eod(2026, 3, 17)
    assert (event.previous_state, event.state) == ("followed_up", "resolved")
    assert event.seq == 5
    assert event.event_id == event_id_for(CID, 5)
    assert outcome.timer_transitions == (("followed_up", "resolved"),)
    after = outcome.complaint
    assert after is not None
    assert after.state == "resolved"
    assert after.clocks["auto_close"].stopped_at == eod(2026, 3, 17)
    assert after.clocks["resolution"].stopped_at == eod(2026, 3, 17)
    assert next_due(after, REGISTRY, POLICY) is None
    # The complainant's late reply comes after the auto-close: it is refused.
    late = run(after, command("reply", wita(2026, 3, 18, 8, 0)))
    assert late.reason == "invalid_transition"


def test_a_reply_before_the_auto_close_stops_it() -> None:
    complaint = dispatched_at(DISPATCH)
    complaint = apply_ok(complaint, command("follow_up", wita(2026, 3, 3, 10, 0)))
    reply_at = wita(2026, 3, 10, 12, 0)
    complaint = apply_ok(complaint, command("reply", reply_at))
    assert complaint.state == "dispatched"
    assert complaint.clocks["auto_close"].stopped_at == reply_at

    # The restarted follow_up clock: 5 WD after 10 March, 11,12,13,16,17 -> 17 March;
    # warning at 12:00 + 0.8 x (7 d 11:59:59) = Mon 16 March 11:59:59.2.
    outcome = fire(complaint, wita(2026, 3, 18, 0, 0))

    assert summary(outcome.events) == [
        ("complaint.sla_warning", wita(2026, 3, 16, 11, 59, 59, 200_000), "follow_up", None, None),
        ("complaint.sla_breached", eod(2026, 3, 17), "follow_up", None, None),
        ("complaint.escalated", eod(2026, 3, 17), "follow_up", 1, "kepala_skpd"),
    ]
    assert outcome.complaint is not None
    assert outcome.complaint.state == "dispatched"


# --- SLA: verification and resolution clocks ---------------------------------------------


def test_verification_clock_escalates_along_the_verification_chain() -> None:
    # CONTRACT §4 example: submitted Mon 2 March 09:15, 3 WD -> Thu 5 March 23:59:59.
    # Warning: 09:15 + 0.8 x (3 d 14:44:59) = Thu 5 March 06:38:59.2.
    # Level 2: 6, 9 -> Mon 9 March. Level 3: 6, 9, 10, 11, 12 -> Thu 12 March.
    complaint = apply_ok(None, command("submit", wita(2026, 3, 2, 9, 15)))
    assert complaint.clocks["verification"].deadline.isoformat() == "2026-03-05T23:59:59+08:00"

    outcome = fire(complaint, wita(2026, 3, 13))

    assert summary(outcome.events) == [
        ("complaint.sla_warning", wita(2026, 3, 5, 6, 38, 59, 200_000), "verification", None, None),
        ("complaint.sla_breached", eod(2026, 3, 5), "verification", None, None),
        ("complaint.escalated", eod(2026, 3, 5), "verification", 1, "kepala_diskominfo"),
        ("complaint.escalated", eod(2026, 3, 9), "verification", 2, "sekda"),
        ("complaint.escalated", eod(2026, 3, 12), "verification", 3, "koordinator_provinsi"),
    ]
    assert_consecutive(outcome.events, 2)
    assert all(e.skpd is None and e.state == "submitted" for e in outcome.events)


def test_resolution_clock_is_sixty_calendar_days() -> None:
    # Submitted Mon 2 March 09:15: 60 calendar days -> Fri 1 May (Hari Buruh, a holiday,
    # which a calendar-day clock ignores). Warning: 09:15 + 0.8 x (60 d 14:44:59)
    # = + 48 d 11:47:59.2 -> Sun 19 April 21:02:59.2.
    # Escalation counts working days after 1 May: level 2 on 4, 5 -> Tue 5 May;
    # level 3 on 4, 5, 6, 7, 8 -> Fri 8 May.
    complaint = apply_ok(None, command("submit", wita(2026, 3, 2, 9, 15)))
    complaint = apply_ok(complaint, command("verify", wita(2026, 3, 2, 10, 0)))
    complaint = apply_ok(complaint, command("dispatch", wita(2026, 3, 2, 11, 0)))
    complaint = apply_ok(complaint, command("follow_up", wita(2026, 3, 2, 12, 0)))
    complaint = apply_ok(complaint, command("reply", wita(2026, 3, 2, 13, 0)))
    resolution = complaint.clocks["resolution"]
    assert resolution.limit == 60
    assert resolution.deadline.isoformat() == "2026-05-01T23:59:59+08:00"

    outcome = fire(complaint, wita(2026, 5, 10))

    assert [s for s in summary(outcome.events) if s[2] == "resolution"] == [
        ("complaint.sla_warning", wita(2026, 4, 19, 21, 2, 59, 200_000), "resolution", None, None),
        ("complaint.sla_breached", eod(2026, 5, 1), "resolution", None, None),
        ("complaint.escalated", eod(2026, 5, 1), "resolution", 1, "kepala_skpd"),
        ("complaint.escalated", eod(2026, 5, 5), "resolution", 2, "sekda"),
        ("complaint.escalated", eod(2026, 5, 8), "resolution", 3, "koordinator_provinsi"),
    ]
    occurred = [e.occurred_at for e in outcome.events]
    assert occurred == sorted(occurred)


# --- next_due -----------------------------------------------------------------------------


def test_next_due_is_the_earliest_pending_instant() -> None:
    complaint = apply_ok(None, command("submit", wita(2026, 3, 2, 9, 15)))
    # verification warning (5 March 06:38:59.2) before resolution's (19 April).
    assert next_due(complaint, REGISTRY, POLICY) == wita(2026, 3, 5, 6, 38, 59, 200_000)
    complaint = dispatched_at(DISPATCH)
    assert next_due(complaint, REGISTRY, POLICY) == FOLLOW_UP_TIMERS[0][1]
    after_warning = fire(complaint, wita(2026, 3, 9)).complaint
    assert after_warning is not None
    assert next_due(after_warning, REGISTRY, POLICY) == eod(2026, 3, 9)
    after_level_1 = fire(after_warning, wita(2026, 3, 10)).complaint
    assert after_level_1 is not None
    assert next_due(after_level_1, REGISTRY, POLICY) == eod(2026, 3, 11)


@pytest.mark.parametrize("state", ["resolved", "archived"])
def test_next_due_is_none_when_every_clock_stopped(state: str) -> None:
    complaint, _ = build(state)
    assert complaint is not None
    assert all(not clock.running for clock in complaint.clocks.values())
    assert next_due(complaint, REGISTRY, POLICY) is None
    assert fire(complaint, wita(2027, 1, 1)).events == ()


# --- policy overrides -------------------------------------------------------------------


def test_the_dispatched_skpds_override_sets_the_follow_up_limit() -> None:
    policy = Policy.model_validate(
        {
            "skpd": {"HSU/DINKES": {"clocks": {"follow_up": 3}}},
            "escalation": {"follow_up": ["kadis", "bupati"]},
        }
    )
    complaint = None
    for cmd in (
        command("submit", wita(2026, 3, 2, 9, 0)),
        command("verify", wita(2026, 3, 2, 9, 30)),
        command("dispatch", DISPATCH),
    ):
        outcome = decide(complaint, cmd, registry=REGISTRY, policy=policy, now=NOW)
        complaint = outcome.complaint
    assert complaint is not None
    # 3 WD after Mon 2 March: 3, 4, 5 -> Thu 5 March.
    assert complaint.clocks["follow_up"].limit == 3
    assert complaint.clocks["follow_up"].deadline == eod(2026, 3, 5)
    # Other clocks keep the defaults.
    assert complaint.clocks["resolution"].limit == 60
    outcome = fire_due(complaint, wita(2026, 3, 20), registry=REGISTRY, policy=policy, now=NOW)
    escalations = [
        (e.payload["level"], e.payload["target"], e.occurred_at)
        for e in outcome.events
        if e.type == "complaint.escalated"
    ]
    # Level 2: 6, 9 -> Mon 9 March; level 3: 6, 9, 10, 11, 12 -> Thu 12 March. The
    # two-entry chain repeats its last target for level 3.
    assert escalations == [
        (1, "kadis", eod(2026, 3, 5)),
        (2, "bupati", eod(2026, 3, 9)),
        (3, "bupati", eod(2026, 3, 12)),
    ]
