"""Settings from flags or ``LAPORFLOW_*`` environment variables (CONTRACT §6)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.store import DEFAULT_DATABASE_URL, redact_url
from engine.topics import Topics

__all__ = ["Settings"]


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
    #: Distinct values an ``skpd`` or ``region`` metric label may take (listed ones
    #: included) before further unlisted values fold into ``other`` (CONTRACT §5).
    max_label_values: int = Field(default=300, ge=1, le=100_000)

    @property
    def topics(self) -> Topics:
        """The topic names with this deployment's prefix."""
        return Topics(self.topic_prefix)

    def as_dict(self) -> dict[str, Any]:
        """Settings for logs and ``--help`` output, secrets redacted."""
        data = self.model_dump()
        url = self.database_url.get_secret_value()
        data["database_url"] = redact_url(url)
        return data
