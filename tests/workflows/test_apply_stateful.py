"""A stateful hypothesis test of :func:`workflows.apply.decide` and the timers.

Hypothesis drives a few complaints through any sequence of commands (allowed or not,
by any role, at times that may go backwards) and timer sweeps, and checks after each
step that:

* every complaint's events carry seq 1, 2, 3 ... with no gap and no repeat;
* no event carries the complainant's identity (name, phone, email), nor, for an
  anonymous or confidential complaint, the complainant's actor id;

and at the end that replaying the same steps from nothing gives identical outcomes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from workflows.apply import decide
from workflows.model import Actor, Command, ComplaintState, Event
from workflows.payloads import PAYLOAD_MODELS
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry
from workflows.timers import fire_due

REGISTRY = WorkflowRegistry.default()
POLICY = Policy.default()
NOW = datetime(2027, 1, 1, tzinfo=UTC)
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
COMPLAINTS = ("HSU-1", "HSU-2", "HSU-3")
NAME, PHONE, EMAIL = "Siti Aminah Rahmawati", "+6281234567890", "siti.aminah@contoh.id"
COMPLAINANT_ID = "nik-6308015505900001"
ROLES = ("complainant", "admin", "skpd", "system")
PAYLOADS: dict[str, dict[str, Any]] = {
    "verify": {"note": "lengkap"},
    "archive": {"reason": "tidak dapat diproses"},
    "dispatch": {"skpd": "DINKES"},
    "return": {"reason": "bukan wewenang"},
    "follow_up": {"note": "sudah ditangani"},
    "reply": {"note": "belum selesai"},
    "resolve": {},
    "reopen": {"reason": "muncul lagi"},
    "defer": {"reason": "menunggu anggaran"},
    "resume": {},
}


def _submit(anonymous: bool, confidential: bool, title: str) -> dict[str, Any]:
    return {
        "title": title,
        "body": "Lubang besar membahayakan pengendara",
        "category": "infrastruktur",
        "classification": "pengaduan",
        "channel": "web",
        "region": "HSU",
        "anonymous": anonymous,
        "confidential": confidential,
        "complainant": {"name": NAME, "phone": PHONE, "email": EMAIL},
    }


Step = tuple[str, str, Any]  # ("command", complaint_id, Command) or ("fire", complaint_id, until)


def _run(
    state: ComplaintState | None, step: Step
) -> tuple[ComplaintState | None, tuple[Event, ...]]:
    kind, _, arg = step
    if kind == "command":
        outcome = decide(state, arg, registry=REGISTRY, policy=POLICY, now=NOW, source="t/0/0")
        return outcome.complaint, outcome.events
    assert state is not None
    fired = fire_due(state, arg, registry=REGISTRY, policy=POLICY, now=NOW)
    return fired.complaint, fired.events


class DecideMachine(RuleBasedStateMachine):
    """A few complaints, any commands, any sweeps."""

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[str, ComplaintState | None] = dict.fromkeys(COMPLAINTS)
        self.events: dict[str, list[Event]] = {cid: [] for cid in COMPLAINTS}
        self.steps: list[Step] = []
        self.at = START
        self.n = 0

    def _step(self, step: Step) -> None:
        cid = step[1]
        state, events = _run(self.states[cid], step)
        self.states[cid] = state
        self.events[cid].extend(events)
        self.steps.append(step)

    def _advance(self, hours: int) -> datetime:
        self.at += timedelta(hours=hours)
        return self.at

    @rule(
        cid=st.sampled_from(COMPLAINTS),
        anonymous=st.booleans(),
        confidential=st.booleans(),
        title=st.sampled_from(["Jalan rusak", "Lampu mati"]),
        role=st.sampled_from(("complainant", "admin", "system")),
        hours=st.integers(-24, 48),
    )
    def submit(
        self, cid: str, anonymous: bool, confidential: bool, title: str, role: str, hours: int
    ) -> None:
        """A submit: new, an idempotent resubmit, or a conflicting one."""
        payload = PAYLOAD_MODELS["submit"].model_validate(_submit(anonymous, confidential, title))
        self._command(cid, "submit", role, payload, hours)

    @rule(
        cid=st.sampled_from(COMPLAINTS),
        kind=st.sampled_from(sorted(PAYLOADS)),
        role=st.sampled_from(ROLES),
        hours=st.sampled_from([-30, 1, 6, 30, 80, 150, 260, 400]),
    )
    def command(self, cid: str, kind: str, role: str, hours: int) -> None:
        """Any other command, allowed or not, by any role."""
        payload = PAYLOAD_MODELS[kind].model_validate(PAYLOADS[kind])
        self._command(cid, kind, role, payload, hours)

    def _command(self, cid: str, kind: str, role: str, payload: Any, hours: int) -> None:
        self.n += 1
        actor_id = COMPLAINANT_ID if role == "complainant" else f"{role}-1"
        cmd = Command(
            command_id=f"c-{self.n}",
            type=kind,
            complaint_id=cid,
            issued_at=self._advance(hours),
            actor=Actor(role=role, id=actor_id),  # type: ignore[arg-type]
            payload=payload,
        )
        self._step(("command", cid, cmd))

    @rule(cid=st.sampled_from(COMPLAINTS), hours=st.integers(0, 400))
    def sweep(self, cid: str, hours: int) -> None:
        """The partition's watermark passes some instants."""
        if self.states[cid] is not None:
            self._step(("fire", cid, self.at + timedelta(hours=hours)))

    @invariant()
    def seq_is_gap_free(self) -> None:
        for cid, events in self.events.items():
            seqs = [e.seq for e in events if e.seq is not None]
            state = self.states[cid]
            assert seqs == list(range(1, len(seqs) + 1)), (cid, seqs)
            assert len(seqs) == (state.seq if state else 0)

    @invariant()
    def no_identity_in_events(self) -> None:
        for cid, events in self.events.items():
            state = self.states[cid]
            hidden = state is not None and (state.anonymous or state.confidential)
            for event in events:
                dumped = event.model_dump_json()
                for secret in (NAME, PHONE, EMAIL, "Siti", "contoh.id"):
                    assert secret not in dumped, (event.type, secret)
                if hidden and (event.seq is not None or event.state is not None):
                    assert COMPLAINANT_ID not in dumped, event.type

    def teardown(self) -> None:
        # Replaying the same steps from nothing gives the very same events and states.
        states: dict[str, ComplaintState | None] = dict.fromkeys(COMPLAINTS)
        events: dict[str, list[Event]] = {cid: [] for cid in COMPLAINTS}
        for step in self.steps:
            cid = step[1]
            states[cid], new = _run(states[cid], step)
            events[cid].extend(new)
        assert states == self.states
        assert events == self.events


DecideMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestDecide = DecideMachine.TestCase
