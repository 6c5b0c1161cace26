"""Which workflow a complaint follows, and the command vocabulary of all of them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from workflows.complaint import COMPLAINT_WORKFLOW
from workflows.definition import WorkflowDefinition
from workflows.payloads import Payload

__all__ = ["WorkflowRegistry"]


class WorkflowRegistry:
    """Holds every workflow version the engine can run.

    New complaints start on the latest version of the workflow chosen for their
    classification; stored complaints keep ``name@version`` and are always applied with
    that exact definition, so old complaints finish on the rules they started with.
    """

    def __init__(
        self,
        workflows: Iterable[WorkflowDefinition],
        *,
        by_classification: Mapping[str, str] | None = None,
        default: str = COMPLAINT_WORKFLOW.name,
    ) -> None:
        self._by_key: dict[str, WorkflowDefinition] = {}
        self._latest: dict[str, WorkflowDefinition] = {}
        self._payloads: dict[str, type[Payload]] = {}
        for wf in workflows:
            self._by_key[wf.key] = wf
            if wf.name not in self._latest or wf.version > self._latest[wf.name].version:
                self._latest[wf.name] = wf
            for command, model in wf.payload_models.items():
                known = self._payloads.setdefault(command, model)
                if known is not model:
                    raise ValueError(f"command {command!r} has two payload models")
        if default not in self._latest:
            raise ValueError(f"default workflow {default!r} is not registered")
        self._default = default
        self._by_classification = dict(by_classification or {})

    @classmethod
    def default(cls) -> WorkflowRegistry:
        """The registry with the standard complaint workflow only."""
        return cls([COMPLAINT_WORKFLOW])

    def for_classification(self, classification: str) -> WorkflowDefinition:
        """The latest workflow a new complaint of this classification starts on."""
        return self._latest[self._by_classification.get(classification, self._default)]

    def get(self, name: str, version: int) -> WorkflowDefinition:
        """The exact workflow version a stored complaint follows."""
        return self._by_key[f"{name}@{version}"]

    def payload_model(self, command_type: str) -> type[Payload] | None:
        """The payload model of a command type, or ``None`` for an unknown type."""
        return self._payloads.get(command_type)

    @property
    def command_types(self) -> frozenset[str]:
        """Every command type any registered workflow accepts."""
        return frozenset(self._payloads)
