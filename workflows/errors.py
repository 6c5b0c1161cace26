"""The root of lapor-flow's one exception tree, and the errors of the pure core.

The tree is drawn in :mod:`engine.errors`, which re-exports :class:`LaporFlowError`; it
lives here, on the lowest floor, so that ``workflows`` can raise its own errors without
importing upwards.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LaporFlowError", "WorkflowDefinitionError"]


class LaporFlowError(Exception):
    """Root of every lapor-flow error; ``context`` holds identifying fields."""

    def __init__(self, message: str, **context: Any) -> None:
        self.message = message
        self.context: dict[str, Any] = {k: v for k, v in context.items() if v is not None}
        super().__init__(message)

    def __str__(self) -> str:
        if not self.context:
            return self.message
        where = ", ".join(f"{k}={v}" for k, v in self.context.items())
        return f"{self.message} ({where})"


class WorkflowDefinitionError(LaporFlowError, ValueError):
    """A workflow declaration is broken (a programming error, raised when it compiles).

    The message names every flaw found: unknown or unreachable states, final states
    with exits, commands or clock rules without a transition.
    """
