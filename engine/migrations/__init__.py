"""Alembic migrations of the lapor-flow schema (run by :func:`engine.store.migrate`)."""
