"""The complaint workflow as compiled data, checked against CONTRACT §2 and §4.

The expected table is written out here by hand from the contract, never derived from
``workflows.complaint``, so a change to the declaration that breaks the contract fails.
"""

from __future__ import annotations

import pytest

from workflows.complaint import COMPLAINT_WORKFLOW
from workflows.definition import (
    NEW,
    ClockRule,
    TransitionSpec,
    WorkflowDefinition,
    WorkflowDefinitionError,
)
from workflows.payloads import NotePayload, Payload, ReasonPayload

ROLES = ("complainant", "admin", "skpd", "system")

#: CONTRACT §2 (and §4 for defer/resume): command -> (from states, to state, roles).
#: ``None`` as destination: the command leaves the state unchanged.
CONTRACT_TABLE: dict[str, tuple[tuple[str, ...], str | None, frozenset[str]]] = {
    "submit": ((NEW,), "submitted", frozenset({"complainant", "admin", "system"})),
    "verify": (("submitted",), "verified", frozenset({"admin"})),
    "archive": (("submitted", "verified"), "archived", frozenset({"admin"})),
    "dispatch": (("verified",), "dispatched", frozenset({"admin"})),
    "return": (("dispatched",), "verified", frozenset({"skpd", "admin"})),
    "follow_up": (("dispatched", "followed_up"), "followed_up", frozenset({"skpd"})),
    "reply": (("followed_up",), "dispatched", frozenset({"complainant"})),
    "resolve": (("followed_up",), "resolved", frozenset({"admin", "complainant", "system"})),
    "reopen": (("resolved",), "dispatched", frozenset({"complainant", "admin"})),
    "defer": (("verified", "dispatched"), None, frozenset({"admin", "skpd"})),
    "resume": (("verified", "dispatched"), None, frozenset({"admin", "skpd"})),
}

#: Every state a complaint can be in, with the pseudo-state before its submit.
STATES = (NEW, "submitted", "verified", "dispatched", "followed_up", "resolved", "archived")

#: CONTRACT §3: the event of each command, past tense.
EVENT_TYPES = {
    "submit": "complaint.submitted",
    "verify": "complaint.verified",
    "archive": "complaint.archived",
    "dispatch": "complaint.dispatched",
    "return": "complaint.returned",
    "follow_up": "complaint.followed_up",
    "reply": "complaint.replied",
    "resolve": "complaint.resolved",
    "reopen": "complaint.reopened",
    "defer": "complaint.deferred",
    "resume": "complaint.resumed",
}


def allowed_pairs() -> dict[tuple[str, str], str]:
    """(state, command) -> destination, as the contract states it."""
    pairs = {}
    for command, (sources, dest, _roles) in CONTRACT_TABLE.items():
        for source in sources:
            pairs[(source, command)] = dest if dest is not None else source
    return pairs


ALLOWED = allowed_pairs()
FORBIDDEN = [(s, c) for s in STATES for c in CONTRACT_TABLE if (s, c) not in ALLOWED]


def test_the_contract_table_has_the_expected_size() -> None:
    # Guards the hand-written table itself: 15 allowed pairs out of 7 x 11.
    assert len(ALLOWED) == 15
    assert len(FORBIDDEN) == 7 * 11 - 15


def test_workflow_identity_and_states() -> None:
    assert COMPLAINT_WORKFLOW.key == "complaint@1"
    assert set(COMPLAINT_WORKFLOW.states) == set(STATES) - {NEW}
    assert COMPLAINT_WORKFLOW.final_states == frozenset({"archived"})
    assert COMPLAINT_WORKFLOW.commands == frozenset(CONTRACT_TABLE)


@pytest.mark.parametrize(("state", "command"), sorted(ALLOWED))
def test_allowed_transition_and_destination(state: str, command: str) -> None:
    assert COMPLAINT_WORKFLOW.allows(state, command)
    assert COMPLAINT_WORKFLOW.destination(state, command) == ALLOWED[(state, command)]


@pytest.mark.parametrize(("state", "command"), FORBIDDEN)
def test_every_other_pair_is_refused(state: str, command: str) -> None:
    assert not COMPLAINT_WORKFLOW.allows(state, command)
    with pytest.raises(KeyError):
        COMPLAINT_WORKFLOW.destination(state, command)


def test_unknown_command_is_refused_everywhere() -> None:
    assert not any(COMPLAINT_WORKFLOW.allows(state, "answer") for state in STATES)
    assert COMPLAINT_WORKFLOW.spec("answer") is None


@pytest.mark.parametrize("command", sorted(CONTRACT_TABLE))
def test_roles_and_event_per_command(command: str) -> None:
    spec = COMPLAINT_WORKFLOW.spec(command)
    assert spec is not None
    sources, dest, roles = CONTRACT_TABLE[command]
    assert spec.roles == roles
    assert set(spec.roles) <= set(ROLES)
    assert set(spec.sources) == set(sources)
    assert spec.dest == dest
    assert spec.event == EVENT_TYPES[command]


def _diagram_edges(diagram: str) -> list[tuple[str, str, str]]:
    """(source, destination, command) of each edge in the library's Mermaid export."""
    edges = []
    for line in diagram.splitlines():
        arrow, _, label = line.strip().partition(": ")
        if " --> " not in arrow or not label:
            continue
        source, dest = arrow.split(" --> ")
        for command in label.split(" | "):
            edges.append((source, dest, command.removesuffix(" [internal]")))
    return edges


def test_mermaid_lists_every_transition_exactly_once() -> None:
    diagram = COMPLAINT_WORKFLOW.mermaid()
    assert "stateDiagram-v2" in diagram.splitlines()
    expected = [(s, d, c) for (s, c), d in ALLOWED.items()]
    assert sorted(_diagram_edges(diagram)) == sorted(expected)
    assert "  archived --> [*]" in diagram.splitlines()
    assert f"  [*] --> {NEW}" in diagram.splitlines()


def _definition(
    transitions: tuple[TransitionSpec, ...],
    models: dict[str, type[Payload]],
    *,
    states: tuple[str, ...] = ("open", "closed"),
    clock_rules: dict[str, ClockRule] | None = None,
    escalating: frozenset[str] = frozenset(),
) -> WorkflowDefinition:
    return WorkflowDefinition(
        name="tiny",
        version=1,
        states=states,
        final_states=frozenset({"closed"}),
        transitions=transitions,
        payload_models=models,
        clock_rules=clock_rules or {},
        escalating_clocks=escalating,
    )


def _spec(command: str, sources: tuple[str, ...], dest: str | None) -> TransitionSpec:
    return TransitionSpec(command, sources, dest, frozenset({"admin"}), f"x.{command}")


OPEN = _spec("open", (NEW,), "open")
CLOSE = _spec("close", ("open",), "closed")
MODELS: dict[str, type[Payload]] = {"open": NotePayload, "close": NotePayload}


def test_a_made_up_source_state_is_refused() -> None:
    bad = _spec("close", ("opne",), "closed")
    with pytest.raises(WorkflowDefinitionError, match="'close' leaves unknown state 'opne'"):
        _definition((OPEN, bad), MODELS)


def test_a_misspelled_destination_is_refused_with_a_hint() -> None:
    bad = _spec("close", ("open",), "closd")
    with pytest.raises(
        WorkflowDefinitionError, match="unknown state 'closd' \\(did you mean 'closed'\\?\\)"
    ):
        _definition((OPEN, bad), MODELS)


def test_an_unreachable_state_is_refused() -> None:
    with pytest.raises(WorkflowDefinitionError, match="states \\['limbo'\\] cannot be reached"):
        _definition((OPEN, CLOSE), MODELS, states=("open", "closed", "limbo"))


def test_a_final_state_with_an_exit_is_refused() -> None:
    reopen = _spec("reopen", ("closed",), "open")
    models = {**MODELS, "reopen": NotePayload}
    with pytest.raises(WorkflowDefinitionError, match="final state 'closed' has exits"):
        _definition((OPEN, CLOSE, reopen), models)


def test_a_payload_model_without_a_transition_is_refused() -> None:
    models = {**MODELS, "escalate": NotePayload}
    with pytest.raises(
        WorkflowDefinitionError, match="payload models for commands without a transition"
    ):
        _definition((OPEN, CLOSE), models)


def test_a_clock_rule_without_a_transition_is_refused() -> None:
    rules = {"open": ClockRule(starts=("sla",)), "snooze": ClockRule(pauses=True)}
    with pytest.raises(
        WorkflowDefinitionError, match="clock rules for commands without a transition"
    ):
        _definition((OPEN, CLOSE), MODELS, clock_rules=rules)


def test_an_escalating_clock_no_command_starts_is_refused() -> None:
    with pytest.raises(WorkflowDefinitionError, match="clocks \\['sla'\\] are named but"):
        _definition((OPEN, CLOSE), MODELS, escalating=frozenset({"sla"}))


def test_every_flaw_is_named_in_one_message() -> None:
    bad = _spec("close", ("opne",), "closd")
    with pytest.raises(WorkflowDefinitionError) as caught:
        _definition((OPEN, bad), MODELS, states=("open", "closed", "limbo"))
    message = str(caught.value)
    assert "'opne'" in message
    assert "limbo" in message


def test_a_well_formed_small_definition_compiles() -> None:
    definition = _definition((OPEN, CLOSE), MODELS)
    assert definition.allows("open", "close")
    assert definition.destination("open", "close") == "closed"
    assert not definition.allows("closed", "close")


def test_a_command_without_payload_model_is_refused() -> None:
    close = TransitionSpec("close", ("open",), "closed", frozenset({"admin"}), "x.closed")
    with pytest.raises(ValueError, match=r"no payload model for \['close'\]"):
        _definition((close,), {"other": NotePayload})


def test_a_command_declared_twice_is_refused() -> None:
    first = TransitionSpec("close", ("open",), "closed", frozenset({"admin"}), "x.closed")
    second = TransitionSpec("close", ("closed",), "open", frozenset({"admin"}), "x.closed")
    with pytest.raises(ValueError, match="declared twice"):
        _definition((first, second), {"close": ReasonPayload})


#: CONTRACT §4: which commands start (or restart) and stop which clock.
CLOCK_TABLE: dict[str, tuple[set[str], set[str]]] = {
    "verification": ({"submit", "return"}, {"dispatch", "archive"}),
    "follow_up": ({"dispatch", "reply", "reopen"}, {"follow_up", "return"}),
    "resolution": ({"submit", "reopen"}, {"resolve", "archive"}),
    "auto_close": ({"follow_up"}, {"reply", "resolve"}),
}


@pytest.mark.parametrize("clock", sorted(CLOCK_TABLE))
def test_clock_starts_and_stops_as_the_contract_says(clock: str) -> None:
    starts, stops = CLOCK_TABLE[clock]
    rules = {c: COMPLAINT_WORKFLOW.clock_rule(c) for c in CONTRACT_TABLE}
    assert {c for c, rule in rules.items() if clock in rule.starts} == starts
    assert {c for c, rule in rules.items() if clock in rule.stops} == stops


def test_clock_kinds_pause_and_resume() -> None:
    assert COMPLAINT_WORKFLOW.calendar_day_clocks == frozenset({"resolution"})
    assert COMPLAINT_WORKFLOW.auto_close_clock == "auto_close"
    assert COMPLAINT_WORKFLOW.escalating_clocks == frozenset(
        {"verification", "follow_up", "resolution"}
    )
    pausing = {c for c in CONTRACT_TABLE if COMPLAINT_WORKFLOW.clock_rule(c).pauses}
    resuming = {c for c in CONTRACT_TABLE if COMPLAINT_WORKFLOW.clock_rule(c).resumes}
    assert (pausing, resuming) == ({"defer"}, {"resume"})
