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
    ├── TopicRecreatedError         lapor.commands offsets restarted below the stored ones
    ├── UpstreamError               the national LAPOR! API failed after retries
    │   └── UpstreamAuthError       it refused the token (401/403): fix LAPORFLOW_LAPOR_TOKEN
    ├── DeliveryError               a notice channel (SMTP, webhook) refused or failed a notice
    └── WorkflowDefinitionError     a workflow declaration is broken (raised when it compiles)

The root and :class:`WorkflowDefinitionError` live in :mod:`workflows.errors` (the pure
core raises them without importing upwards) and are re-exported here.

Each error carries the context an operator needs (complaint, command, topic,
partition, offset) and its message says what to do about it.
"""

from __future__ import annotations

from typing import Any

from workflows.errors import LaporFlowError, WorkflowDefinitionError

__all__ = [
    "BrokerError",
    "ConcurrencyError",
    "ConfigError",
    "DeliveryError",
    "InvalidCommandError",
    "LaporFlowError",
    "PolicyError",
    "QueryError",
    "SchemaError",
    "StoreError",
    "TopicRecreatedError",
    "UpstreamAuthError",
    "UpstreamError",
    "WorkflowDefinitionError",
]


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


class TopicRecreatedError(LaporFlowError):
    """Records below a partition's stored next offset were never processed.

    The commands topic was deleted and recreated (its offsets start again), so skipping
    them as "already applied" would drop commands. The engine stops instead; the message
    says how to reset the stored progress.
    """


class UpstreamError(LaporFlowError):
    """The national LAPOR! API did not answer usefully, even after retries.

    The message names the method, path and HTTP status; never the token.
    """


class UpstreamAuthError(UpstreamError):
    """The national LAPOR! API refused the token: check ``LAPORFLOW_LAPOR_TOKEN``."""


class DeliveryError(LaporFlowError):
    """A notice could not be delivered; ``permanent`` ones are not retried.

    Transient failures (server down, timeout, 5xx, 429) are retried with backoff; a
    permanent one (an address refused, a 4xx, a missing webhook secret) is recorded as
    failed at once, since trying again cannot help.
    """

    def __init__(self, message: str, *, permanent: bool = False, **context: Any) -> None:
        self.permanent = permanent
        super().__init__(message, **context)
