"""Topic names (CONTRACT §1), with the optional per-region prefix."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Topics"]


@dataclass(frozen=True)
class Topics:
    """The three topics of one lapor-flow deployment, e.g. ``kalsel.lapor.commands``."""

    prefix: str = ""

    @property
    def commands(self) -> str:
        """Where commands come in."""
        return f"{self.prefix}lapor.commands"

    @property
    def events(self) -> str:
        """Where the engine publishes events."""
        return f"{self.prefix}lapor.events"

    @property
    def dlq(self) -> str:
        """Where invalid records go, untouched."""
        return f"{self.prefix}lapor.dlq"

    def all(self) -> tuple[str, str, str]:
        """All three names."""
        return (self.commands, self.events, self.dlq)
