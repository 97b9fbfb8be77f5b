"""The migrations produce exactly the models' schema, on SQLite and on PostgreSQL."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Column, Engine, text

from app.db import metadata


def _server_defaults_differ(
    context: MigrationContext,
    _inspected: Column[Any],
    model: Column[Any],
    inspected_default: str | None,
    _model_default: Any,
    _rendered_model_default: str | None,
) -> bool | None:
    """PostgreSQL has no json = json, which Alembic's own comparison runs: compare as jsonb.

    The models give JSON server defaults as plain strings (the JSON text)."""
    if context.dialect.name != "postgresql" or not isinstance(model.type, JSON):
        return None  # Alembic's comparison
    if inspected_default is None or model.server_default is None:
        return (inspected_default is None) != (model.server_default is None)
    same = context.bind.scalar(  # type: ignore[union-attr]
        text(f"SELECT ({inspected_default})::jsonb = CAST(:model AS jsonb)"),
        {"model": model.server_default.arg},  # type: ignore[attr-defined]
    )
    return not same


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "compare_server_default": _server_defaults_differ},
        )
        differences = compare_metadata(context, metadata)
    assert differences == []
