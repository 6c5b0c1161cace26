"""Workflows declared as data and compiled once into a transition table.

A :class:`WorkflowDefinition` lists states, transitions (command, sources, destination,
allowed roles, event) and which SLA clocks each command starts, stops, pauses or resumes.
Compiling it builds one `transitions` ``Machine``; the graph is then checked on the
machine's own states and events (:func:`check_graph`): unknown states, states no command
reaches, final states with exits, and commands or clock rules without a transition all
raise :class:`WorkflowDefinitionError` naming them. The machine's answers ("which
destination does this command have from this state") are kept in a dict, because
binding a ``Machine`` per command costs 100x a dict lookup (TECH-NOTES: ~140 µs vs
~1 µs) and the engine applies thousands of commands a second. The README's state
diagram is the library's own Mermaid export of the same machine (:meth:`mermaid`).
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from transitions import Machine
from transitions.extensions.diagrams import GraphMachine

from workflows.errors import WorkflowDefinitionError
from workflows.payloads import Payload

__all__ = [
    "NEW",
    "ClockRule",
    "TransitionSpec",
    "WorkflowDefinition",
    "WorkflowDefinitionError",
    "check_graph",
]

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


#: What an undeclared command does to the clocks: nothing (one shared instance).
_NO_CLOCK_RULE = ClockRule()


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
            raise WorkflowDefinitionError(f"workflow {self.name}: a command is declared twice")
        missing = set(specs) - set(self.payload_models)
        if missing:
            raise WorkflowDefinitionError(
                f"workflow {self.name}: no payload model for {sorted(missing)}"
            )
        machine = Machine(model=None, initial=None, **self._machine_config())
        check_graph(self, machine)
        table: dict[tuple[str, str], str | None] = {}
        for trigger, event in machine.events.items():
            for source, candidates in event.transitions.items():
                table[(source, trigger)] = candidates[0].dest
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "_specs", specs)

    def _machine_config(self) -> dict[str, Any]:
        """States (finals tagged) and transitions in the form `transitions` takes."""
        return {
            "states": [
                {"name": state, "final": state in self.final_states}
                for state in (NEW, *self.states)
            ],
            "transitions": [
                {"trigger": t.command, "source": list(t.sources), "dest": t.dest}
                for t in self.transitions
            ],
            "auto_transitions": False,
            "send_event": True,
        }

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
        return self.clock_rules.get(command, _NO_CLOCK_RULE)

    def mermaid(self) -> str:
        """A Mermaid ``stateDiagram-v2`` of this workflow: the library's own export."""

        class _Diagram:
            """A throwaway model: the diagram machine needs one to draw."""

            get_graph: Any  # added by GraphMachine

        model = _Diagram()
        GraphMachine(
            model=model,
            initial=NEW,
            graph_engine="mermaid",
            title=f"{self.name} workflow (v{self.version})",
            **self._machine_config(),
        )
        graph: str = model.get_graph().draw(None)
        lines = [line.rstrip() for line in graph.strip().splitlines()]
        # The export marks the initial state only; end states are drawn as Mermaid does.
        lines.extend(f"  {state} --> [*]" for state in sorted(self.final_states))
        return "\n".join(lines)


def check_graph(definition: WorkflowDefinition, machine: Machine) -> None:
    """Raise :class:`WorkflowDefinitionError` naming every flaw of the compiled graph.

    Checked on the machine `transitions` built (it accepts unknown states silently):
    sources and destinations that are not declared states, states no command reaches
    from :data:`NEW`, final states with an exit, payload models and clock rules of
    commands that have no transition, and special clocks that no command starts.
    """
    name = definition.name
    states = set(machine.states)
    problems: list[str] = []
    edges: dict[str, set[str]] = {state: set() for state in states}
    for trigger, event in machine.events.items():
        for source, candidates in event.transitions.items():
            if source not in states:
                problems.append(f"command {trigger!r} leaves unknown state {source!r}")
                continue
            for transition in candidates:
                dest = transition.dest if transition.dest is not None else source
                if dest not in states:
                    hint = difflib.get_close_matches(dest, sorted(states), n=1)
                    maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
                    problems.append(f"command {trigger!r} leads to unknown state {dest!r}{maybe}")
                    continue
                edges[source].add(dest)
    unknown_finals = definition.final_states - states
    if unknown_finals:
        problems.append(f"final states {sorted(unknown_finals)} are not declared states")
    for state in sorted(definition.final_states & states):
        exits = sorted(t for t, e in machine.events.items() if state in e.transitions)
        if exits:
            problems.append(f"final state {state!r} has exits: {exits}")
    reached, queue = {NEW}, deque([NEW])
    while queue:
        for dest in edges.get(queue.popleft(), ()):
            if dest not in reached:
                reached.add(dest)
                queue.append(dest)
    unreachable = sorted(states - reached)
    if unreachable:
        problems.append(f"states {unreachable} cannot be reached from {NEW!r}")
    commands = set(machine.events)
    for what, declared in (
        ("payload models", set(definition.payload_models)),
        ("clock rules", set(definition.clock_rules)),
    ):
        orphans = sorted(declared - commands)
        if orphans:
            problems.append(f"{what} for commands without a transition: {orphans}")
    started = {c for rule in definition.clock_rules.values() for c in rule.starts}
    special = set(definition.escalating_clocks) | set(definition.calendar_day_clocks)
    if definition.auto_close_clock is not None:
        special.add(definition.auto_close_clock)
    never = sorted(special - started)
    if never:
        problems.append(f"clocks {never} are named but no command starts them")
    if problems:
        raise WorkflowDefinitionError(f"workflow {name}: " + "; ".join(problems))
