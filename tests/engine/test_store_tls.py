"""Database TLS is configured in the URL and reaches the driver untouched."""

from __future__ import annotations

from engine.settings import Settings
from engine.store import Store

TLS_URL = (
    "postgresql+psycopg://laporflow:db-Secret-9@db.example.go.id:5432/laporflow"
    "?sslmode=verify-full&sslrootcert=/etc/laporflow/db-ca.pem"
    "&sslcert=/etc/laporflow/client.pem&sslkey=/etc/laporflow/client.key"
)


def test_tls_query_parameters_reach_psycopg_connect_args() -> None:
    store = Store(Settings(database_url=TLS_URL).database_url.get_secret_value())  # type: ignore[arg-type]
    try:
        _, kwargs = store.engine.dialect.create_connect_args(store.engine.url)
    finally:
        store.close()
    assert kwargs["sslmode"] == "verify-full"
    assert kwargs["sslrootcert"] == "/etc/laporflow/db-ca.pem"
    assert kwargs["sslcert"] == "/etc/laporflow/client.pem"
    assert kwargs["sslkey"] == "/etc/laporflow/client.key"
    assert kwargs["host"] == "db.example.go.id"


def test_the_password_is_redacted_where_settings_are_shown() -> None:
    shown = str(Settings(database_url=TLS_URL).as_dict())  # type: ignore[arg-type]
    assert "db-Secret-9" not in shown
    assert "sslmode=verify-full" in shown
