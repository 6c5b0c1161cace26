"""Logging, configured once per process (the engine, its relay child, the CLI commands).

Two formats (``LAPORFLOW_LOG_FORMAT``): ``json``, one object per line for log
collectors, the default under ``laporflow run``; ``text`` for a terminal. Context goes
in as fields (``log.info(..., extra={"complaint_id": ..., "partition": ...})``); only
the fields named in :data:`FIELDS` are written, so identity data passed by mistake
never reaches the log. Known secrets (the database password) are masked in every line,
tracebacks included.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

__all__ = ["FIELDS", "JsonFormatter", "TextFormatter", "configure_logging", "kafka_noise_filter"]

#: The context fields a log record may carry (CONTRACT-safe: ids and positions only).
FIELDS = (
    "complaint_id",
    "command_id",
    "event_id",
    "outbox_id",
    "topic",
    "partition",
    "offset",
    "partitions",
    "reason",
)

_MASK = "***"
#: kafka-python's loggers whose warnings are routine (rebalances, reconnects, sockets).
_KAFKA_ROUTINE = ("kafka.coordinator", "kafka.net", "kafka.conn", "kafka.client", "kafka.cluster")
_HANDLER_NAME = "laporflow"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        name: getattr(record, name) for name in FIELDS if getattr(record, name, None) is not None
    }


class _Masking(logging.Formatter):
    """Replaces every known secret in the formatted line."""

    def __init__(self, secrets: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, _MASK)
        return text


class JsonFormatter(_Masking):
    """One JSON object per line: time, level, logger, process, message, context fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "msg": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return self.mask(json.dumps(body, ensure_ascii=False, default=str))


class TextFormatter(_Masking):
    """``time LEVEL logger: message [field=value ...]`` for a terminal."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(secrets, fmt="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as one text line (plus a traceback, if any)."""
        line = super().format(record)
        fields = _fields(record)
        if fields:
            line += " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        return self.mask(line)


def kafka_noise_filter(record: logging.LogRecord) -> bool:
    """Drop kafka-python's routine warnings (coordinator, connections, selector).

    They announce rebalances, reconnects and closed sockets the client recovers from on
    its own; errors still pass.
    """
    if not record.name.startswith(_KAFKA_ROUTINE):
        return True
    return record.levelno >= logging.ERROR


def configure_logging(
    level: str = "INFO",
    fmt: str = "text",
    *,
    secrets: Iterable[str] = (),
    quiet_kafka: bool = False,
) -> None:
    """Send this process's logs to stderr in ``fmt`` at ``level``; safe to call again.

    kafka-python logs at WARNING and above only; ``quiet_kafka`` also drops its routine
    warnings (for screens such as the demo's).
    """
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be json or text, not {fmt!r}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets))
    if quiet_kafka:
        handler.addFilter(kafka_noise_filter)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("kafka").setLevel(logging.WARNING)
