"""Workflows declared as data and compiled once into a transition table.

A :class:`WorkflowDefinition` lists states, transitions (command, sources, destination,
allowed roles, event) and which SLA clocks each command starts, stops, pauses or resumes.
The `transitions` library validates the graph and answers "which destination does this
command have from this state"; we ask it once at construction and keep the answers in a
dict, because building or binding a ``Machine`` per command costs 100x a dict lookup
(TECH-NOTES: ~140 µs vs ~1 µs) and the engine applies thousands of commands a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from transitions import Machine

from workflows.payloads import Payload

__all__ = ["NEW", "ClockRule", "TransitionSpec", "WorkflowDefinition"]

#: Pseudo-state of a complaint that does not exist yet; the creating command leaves it.
NEW = "new"


@dataclass(frozen=True)
class TransitionSpec:
    """One command's transition: from ``sources`` to ``dest`` (``None``: state unchanged)."""

    command: str
    sources: tuple[str, ...]
    dest: str | None
    roles: frozenset[str]
    event: str


@dataclass(frozen=True)
class ClockRule:
    """What a command does to the SLA clocks (CONTRACT §4 table)."""

    starts: tuple[str, ...] = ()
    stops: tuple[str, ...] = ()
    pauses: bool = False
    resumes: bool = False


@dataclass(frozen=True)
class WorkflowDefinition:
    """A versioned workflow; a stored complaint keeps the version it started with."""

    name: str
    version: int
    states: tuple[str, ...]
    final_states: frozenset[str]
    transitions: tuple[TransitionSpec, ...]
    payload_models: Mapping[str, type[Payload]]
    clock_rules: Mapping[str, ClockRule] = field(default_factory=dict)
    #: Clocks counted in calendar days rather than working days.
    calendar_day_clocks: frozenset[str] = frozenset()
    #: Clock whose expiry resolves the complaint on the system's behalf.
    auto_close_clock: str | None = None
    #: Clocks that breach and escalate when they expire.
    escalating_clocks: frozenset[str] = frozenset()
    _table: dict[tuple[str, str], str | None] = field(init=False, repr=False, compare=False)
    _specs: dict[str, TransitionSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        specs = {t.command: t for t in self.transitions}
        if len(specs) != len(self.transitions):
            raise ValueError(f"workflow {self.name}: a command is declared twice")
        missing = set(specs) - set(self.payload_models)
        if missing:
            raise ValueError(f"workflow {self.name}: no payload model for {sorted(missing)}")
        machine = Machine(
            model=None,
            states=[NEW, *self.states],
            transitions=[self._as_machine_transition(t) for t in self.transitions],
            initial=None,
            auto_transitions=False,
            send_event=True,
        )
        table: dict[tuple[str, str], str | None] = {}
        for trigger, event in machine.events.items():
            for source, candidates in event.transitions.items():
                table[(source, trigger)] = candidates[0].dest
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "_specs", specs)

    @staticmethod
    def _as_machine_transition(spec: TransitionSpec) -> dict[str, Any]:
        return {"trigger": spec.command, "source": list(spec.sources), "dest": spec.dest}

    @property
    def key(self) -> str:
        """``name@version``, the identifier stored with each complaint."""
        return f"{self.name}@{self.version}"

    @property
    def commands(self) -> frozenset[str]:
        """Every command type this workflow accepts."""
        return frozenset(self._specs)

    def spec(self, command: str) -> TransitionSpec | None:
        """The transition declared for ``command``, if this workflow knows it."""
        return self._specs.get(command)

    def allows(self, state: str, command: str) -> bool:
        """True when ``command`` has a transition out of ``state``."""
        return (state, command) in self._table

    def destination(self, state: str, command: str) -> str:
        """The state ``command`` leads to from ``state`` (unchanged for in-place commands)."""
        dest = self._table[(state, command)]
        return state if dest is None else dest

    def clock_rule(self, command: str) -> ClockRule:
        """The clock effects of ``command`` (none when not declared)."""
        return self.clock_rules.get(command, ClockRule())

    def mermaid(self) -> str:
        """A Mermaid ``stateDiagram-v2`` of this workflow, generated from its definition."""
        lines = ["stateDiagram-v2", "  direction LR", f"  [*] --> {NEW}"]
        for spec in self.transitions:
            for source in spec.sources:
                dest = spec.dest or source
                lines.append(f"  {source} --> {dest}: {spec.command}")
        lines.extend(f"  {state} --> [*]" for state in sorted(self.final_states))
        return "\n".join(lines)
