"""Engine, the unit of work and the column types every table shares."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, DateTime, Engine, Executable, MetaData, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

# Stable constraint names so Alembic batch migrations on SQLite can find them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


@contextmanager
def unit_of_work(engine: Engine, **options: Any) -> Iterator[Session]:
    """One transaction at an edge (a request, a job run, a command): the services below
    only flush; this commits once when the work is done, or rolls back if it raised.

    What was loaded stays readable after the commit (a command printing what it created,
    a streamed export reading its study), so objects are not expired by it."""
    with Session(engine, expire_on_commit=False, **options) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (below); the driver must not start transactions.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock up front: a deferred transaction that reads and then writes fails
    # at once with "database is locked" when another writer got in between. Autocommit
    # connections (long reads such as exports) take no lock and block no writer.
    if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def rows_changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE in the session's transaction; how many rows it changed."""
    result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
    return result.rowcount


def lock_keys(session: Session, *keys: str) -> None:
    """Serialize the transactions that name one of these keys, until they end.

    PostgreSQL: advisory transaction locks, taken in sorted order so two callers cannot
    deadlock. SQLite needs nothing: BEGIN IMMEDIATE already serializes every writer.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    connection = session.connection()
    for key in sorted(set(keys)):
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )


def insert_if_missing(session: Session, model: type[SQLModel], **values: Any) -> None:
    """INSERT a row unless one with its key exists (ON CONFLICT DO NOTHING), in the
    session's transaction: two transactions creating the same row do not collide."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    session.execute(statement.values(**values).on_conflict_do_nothing())
