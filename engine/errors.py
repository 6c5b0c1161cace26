"""The one exception tree of lapor-flow.

Every error the engine and its adapters raise derives from :class:`LaporFlowError`.
Foreign errors (kafka-python, SQLAlchemy, YAML, pydantic) are translated where they
first appear, with ``raise ... from exc``, so callers only ever catch these::

    LaporFlowError
    ├── ConfigError                 bad settings or policy file: fix the configuration
    │   └── PolicyError             the SLA policy file is unreadable or names unknown keys
    ├── InvalidCommandError         a record on lapor.commands is not a valid command (-> DLQ)
    ├── QueryError                  a report or listing was asked for with bad parameters
    ├── StoreError                  the database failed or refused a write
    │   ├── ConcurrencyError        another writer changed a complaint first (seq conflict)
    │   └── SchemaError             the schema could not be created or upgraded
    ├── BrokerError                 Kafka is unreachable or refused a request
    └── ServiceError                a local service (Kafka, PostgreSQL) failed to start or stop

Each error carries the context an operator needs (complaint, command, topic,
partition, offset) and its message says what to do about it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BrokerError",
    "ConcurrencyError",
    "ConfigError",
    "InvalidCommandError",
    "LaporFlowError",
    "PolicyError",
    "QueryError",
    "SchemaError",
    "ServiceError",
    "StoreError",
]


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


class ConfigError(LaporFlowError):
    """Settings or files given to lapor-flow are wrong; nothing was consumed."""


class PolicyError(ConfigError):
    """The SLA policy file cannot be used; the message names the offending keys."""


class InvalidCommandError(LaporFlowError):
    """A record is not a valid command; it goes to the dead-letter topic unchanged.

    ``code`` is the short machine-readable reason put in the record's ``error`` header.
    """

    def __init__(self, code: str, message: str, **context: Any) -> None:
        self.code = code
        super().__init__(message, **context)


class QueryError(LaporFlowError):
    """A report or listing was asked for with parameters it cannot use (bad cursor)."""


class StoreError(LaporFlowError):
    """The database failed; the batch was rolled back and will be retried."""


class ConcurrencyError(StoreError):
    """A complaint's stored seq moved under us: another writer applied first."""


class SchemaError(StoreError):
    """Creating or upgrading the database schema failed."""


class BrokerError(LaporFlowError):
    """Kafka could not be reached or refused a request."""


class ServiceError(LaporFlowError):
    """A local development service could not be started or stopped; see its log file."""
