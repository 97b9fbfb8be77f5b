"""Alembic, driven from code: upgrade, and whether a database's schema is current."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


class SchemaBehind(RuntimeError):
    pass


def migrations_dir() -> Path:
    # Beside the app package in a checkout or an image; the working directory otherwise.
    beside = Path(__file__).resolve().parent.parent / "migrations"
    return beside if beside.is_dir() else Path.cwd() / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(database_url), revision)


def schema_status(engine: Engine) -> tuple[set[str], set[str]]:
    """(revisions the database is at, revisions the code expects)."""
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current, set(script.get_heads())


def require_current_schema(engine: Engine) -> None:
    current, expected = schema_status(engine)
    if current != expected:
        raise SchemaBehind(
            f"The database schema is not current (at {sorted(current) or 'nothing'}, "
            f"code expects {sorted(expected)}). Run `kairos migrate` first."
        )
