"""Settings from flags or ``LAPORFLOW_*`` environment variables (CONTRACT §6)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from engine.store import DEFAULT_DATABASE_URL, redact_url
from engine.topics import Topics

__all__ = ["Duration", "Settings", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> Any:
    """``300``, ``"300"``, ``"300s"``, ``"5m"``, ``"1h"``, ``"1d"`` -> a timedelta.

    A bare number is seconds. Anything else (a timedelta, an ISO 8601 ``PT5M``) is left
    to pydantic, which names the setting when it cannot read it.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            number, unit = match.groups()
            return timedelta(seconds=float(number) * _UNIT_SECONDS[unit or "s"])
    return value


#: A non-negative duration setting, read as seconds or with a unit (ms, s, m, h, d).
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Settings(BaseSettings):
    """Everything ``laporflow`` reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LAPORFLOW_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    policy: str | None = None
    topic_prefix: str = ""
    partitions: int = Field(default=6, ge=1, le=1000)
    group_id: str = "laporflow-engine"
    #: Records per poll; one poll is one database transaction.
    max_poll_records: int = Field(default=1000, ge=1, le=10_000)
    #: Kafka transport security, passed to every consumer, producer and admin client.
    #: Database TLS goes in the URL: ``...?sslmode=verify-full&sslrootcert=/path/ca.pem``.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    kafka_ssl_password: SecretStr | None = None
    kafka_ssl_check_hostname: bool = True
    #: ``LAPORFLOW_MAX_FUTURE_SKEW``: how far ahead of the engine's clock a command's
    #: ``issued_at`` may be (seconds, or "300s", "5m", "1h"); later ones are invalid
    #: (``issued_at_out_of_range``, CONTRACT §4).
    max_future_skew: Duration = Field(default=timedelta(minutes=5), ge=timedelta(0))
    #: Distinct values an ``skpd`` or ``region`` metric label may take (listed ones
    #: included) before further unlisted values fold into ``other`` (CONTRACT §5).
    max_label_values: int = Field(default=300, ge=1, le=100_000)
    #: How long published outbox rows are kept before the relay prunes them (seconds, a
    #: unit like "7d", or ISO 8601 such as ``P7D``).
    outbox_retention: Duration = Field(default=timedelta(days=7), ge=timedelta(0))
    #: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``, in every process of the engine.
    log_level: str = "INFO"
    #: ``json`` (one object per line) or ``text``; unset: json under ``laporflow run``.
    log_format: Literal["json", "text"] | None = None

    @property
    def topics(self) -> Topics:
        """The topic names with this deployment's prefix."""
        return Topics(self.topic_prefix)

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line (the database password)."""
        try:
            password = make_url(self.database_url.get_secret_value()).password
        except ArgumentError:
            return []
        if not password:
            return []
        # As given (percent-encoded in the URL) and as decoded.
        return [str(password), quote(str(password), safe="")]

    def as_dict(self) -> dict[str, Any]:
        """Settings for logs and ``--help`` output, secrets redacted."""
        data = self.model_dump()
        url = self.database_url.get_secret_value()
        data["database_url"] = redact_url(url)
        return data
