"""Structured logs: JSON lines with context fields, no identity, no secrets."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import pytest

from engine.logs import JsonFormatter, TextFormatter, configure_logging, kafka_noise_filter
from engine.settings import Settings


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("engine.processor", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_the_context_fields_and_nothing_else() -> None:
    line = JsonFormatter().format(
        _record(
            "invalid command to %s",
            "lapor.dlq",
            complaint_id="HSU-2026-000001",
            command_id="c-1",
            topic="lapor.commands",
            partition=2,
            offset=41,
            complainant={"name": "Budi", "phone": "0812"},  # identity: never written
        )
    )
    body = json.loads(line)
    assert body["msg"] == "invalid command to lapor.dlq"
    assert body["level"] == "INFO"
    assert body["logger"] == "engine.processor"
    assert (body["complaint_id"], body["command_id"], body["topic"]) == (
        "HSU-2026-000001",
        "c-1",
        "lapor.commands",
    )
    assert (body["partition"], body["offset"]) == (2, 41)
    assert "complainant" not in body
    assert "Budi" not in line


def test_the_database_password_is_masked_everywhere_even_in_tracebacks() -> None:
    settings = Settings(database_url="postgresql+psycopg://laporflow:s3cr%40t-pw@db:5432/lapor")
    formatter = JsonFormatter(settings.secrets())
    try:
        raise RuntimeError(f"cannot connect to {settings.database_url.get_secret_value()}")
    except RuntimeError:
        record = _record("failed with s3cr@t-pw")
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "s3cr" not in line
    assert "***" in json.loads(line)["exc"]
    assert "s3cr" not in TextFormatter(settings.secrets()).format(_record("pw s3cr%40t-pw"))


def test_configure_logging_writes_json_at_the_given_level(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("WARNING", "json", secrets=["hunter2"])
    configure_logging("WARNING", "json", secrets=["hunter2"])  # again: one handler only
    log = logging.getLogger("producers.relay")
    log.info("not shown")
    log.warning("outbox record parked (hunter2)", extra={"outbox_id": 7, "partition": 1})
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert body["msg"] == "outbox record parked (***)"
    assert (body["outbox_id"], body["partition"]) == (7, 1)
    with pytest.raises(ValueError):
        configure_logging("INFO", "yaml")


def test_the_demo_filter_drops_kafka_routine_warnings_only() -> None:
    def record(name: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "m", (), None)

    assert not kafka_noise_filter(record("kafka.coordinator", logging.WARNING))
    assert not kafka_noise_filter(record("kafka.net.selector", logging.WARNING))
    assert not kafka_noise_filter(record("kafka.conn", logging.WARNING))
    assert kafka_noise_filter(record("kafka.coordinator", logging.ERROR))
    assert kafka_noise_filter(record("kafka.producer.sender", logging.WARNING))
    assert kafka_noise_filter(record("laporflow.demo", logging.WARNING))


def test_text_format_appends_fields() -> None:
    line = TextFormatter().format(_record("batch conflict", partition=3, offset=9))
    assert line.endswith("batch conflict [partition=3 offset=9]")
