"""Engine, the unit of work and the column types every table shares."""

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    CursorResult,
    DateTime,
    Engine,
    Executable,
    Insert,
    MetaData,
    Select,
    Table,
    Update,
    bindparam,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

Row = TypeVar("Row", bound=SQLModel)

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


# How long a SQLite writer waits for its turn before the request fails: long enough for
# any queue of short transactions this server forms.
SQLITE_WRITE_WAIT_SECONDS = 30.0
# Connections of one SQLite engine: one for each thread the server runs requests in (anyio's
# default of 40), so a request waits for its write turn, never for a connection.
SQLITE_POOL_SIZE = 40
_HOLDS_GATE = "kairos_holds_write_gate"


def make_engine(url: str, **kwargs: Any) -> Engine:
    # Bound values (emails, device tokens, answers) never reach a log or an error message.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        if "poolclass" not in kwargs and _sqlite_file(url):
            kwargs |= {"pool_size": SQLITE_POOL_SIZE, "max_overflow": 0}
            kwargs.setdefault("pool_timeout", SQLITE_WRITE_WAIT_SECONDS)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        gate = _WriteGate()
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", gate.begin)
        event.listen(engine, "commit", gate.end)
        event.listen(engine, "rollback", gate.end)
        event.listen(engine, "reset", gate.returned)
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


def _sqlite_file(url: str) -> str | None:
    """The database file's path; None for an in-memory database (one connection per thread)."""
    path = url.split(":///", 1)[-1]
    return path if path and path != ":memory:" and url != "sqlite://" else None


def _ensure_sqlite_dir(url: str) -> None:
    if path := _sqlite_file(url):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (below); the driver must not start transactions.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_WRITE_WAIT_SECONDS * 1000)}")
    cursor.close()


class _WriteGate:
    """The writers of one process take SQLite's write lock one after the other.

    Every transaction begins immediately: a deferred transaction that reads and then writes
    fails at once with "database is locked" when another writer got in between. SQLite's
    own wait for the lock (the busy timeout) polls with growing sleeps, so under load some
    writers keep losing the race until their timeout ends in "database is locked". Here the
    process's writers queue on a lock instead and wake as soon as it is theirs; SQLite's
    busy timeout is left to arbitrate between processes (the server and the worker).
    Autocommit connections (long reads such as exports) take neither and block no writer.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def begin(self, connection: Any) -> None:
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return
        if not self._lock.acquire(timeout=SQLITE_WRITE_WAIT_SECONDS):
            raise TimeoutError(f"no turn to write within {SQLITE_WRITE_WAIT_SECONDS} s")
        connection.info[_HOLDS_GATE] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self._release(connection.info)
            raise

    def end(self, connection: Any) -> None:
        self._release(connection.info)

    def returned(self, _dbapi_connection: Any, record: Any, _state: Any = None) -> None:
        # A connection back in the pool with its transaction still open (an error between
        # BEGIN and the end) gives its turn up too.
        self._release(record.info)

    def _release(self, info: dict[str, Any]) -> None:
        if info.pop(_HOLDS_GATE, False):
            self._lock.release()


def read_columns(
    session: Session, statement: Executable, params: Mapping[str, Any]
) -> CursorResult[*tuple[Any, ...]]:
    """A prebuilt read of columns (no entities) on the session's connection, in its
    transaction, after the same autoflush as `session.execute`. It skips the rest of the
    ORM's layer (its compile state and result), which a read of columns does not need and
    which costs more than the read itself: about 35 of 70 µs on SQLite."""
    if session.autoflush:
        session.flush()
    return session.connection().execute(statement, params)


def insert_rows(session: Session, *rows: SQLModel) -> None:
    """Insert new rows with their tables' INSERTs on the session's connection, in the order
    given (a row before the rows that refer to it), instead of adding them to the unit of
    work, which costs about five times as much a row (225 against 45 µs on SQLite). The
    objects stay outside the session: a change made to one afterwards is not stored."""
    connection = session.connection()
    for row in rows:
        table: Table = row.__table__  # type: ignore[attr-defined]
        values = {column.key: getattr(row, column.key) for column in table.columns}
        connection.execute(_insert_into(table), values)


def write_fields(session: Session, row: SQLModel, **values: Any) -> None:
    """Store new values of a loaded row's fields with an UPDATE by its key on the session's
    connection, and set them on the object as what is stored: the unit of work has nothing
    of it left to write (its flush of a changed object costs several times the UPDATE).
    A savepoint that rolls back does not take these values off the object (the ORM expires
    only what it wrote itself): after one, read the row again before using it."""
    table: Table = row.__table__  # type: ignore[attr-defined]
    (key,) = table.primary_key.columns
    update_row(session, type(row), getattr(row, key.key), **values)
    for field, value in values.items():
        set_committed_value(row, field, value)


def update_row(session: Session, model: type[SQLModel], key: Any, **values: Any) -> None:
    """Set these fields of the row of `key` with an UPDATE on the session's connection;
    an object of it the session holds is not changed (`write_fields` changes both)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    session.connection().execute(_by_key(table), {_ROW_KEY: key, **values})


# The statements below are built once per table: building a statement costs more than
# running it (a check-in runs each of them).
_ROW_KEY = "row_key"  # the bound key of `_by_key`, named apart from every column


@cache
def _insert_into(table: Table) -> Insert:
    return insert(table)


@cache
def _by_key(table: Table) -> Update:
    """The table's UPDATE of one row by its key; the columns it sets are the parameters'
    (the compiled form is cached for each set of them)."""
    (key,) = table.primary_key.columns
    return update(table).where(key == bindparam(_ROW_KEY))


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


def held_row(session: Session, model: type[Row], key: Any, **values: Any) -> Row:
    """The row of `key`, locked until the transaction ends (FOR UPDATE on PostgreSQL;
    SQLite's write turn holds it anyway), created from `values` if it is missing.

    It nearly always exists, so it is read first; only when it is missing is it inserted
    with ON CONFLICT DO NOTHING, so two transactions creating it do not collide (the second
    waits for the first's commit, then reads its row)."""
    locked = _locked_by_key(model)
    row: Row | None = session.execute(locked, {"key": key}).scalar_one_or_none()
    if row is not None:
        return row
    table: Table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    session.execute(statement.values(**values).on_conflict_do_nothing())
    created: Row = session.execute(locked, {"key": key}).scalar_one()
    return created


# Built once per model: building a statement costs more than running it (check-ins hold
# their summaries with every request).
@cache
def _locked_by_key(model: type[SQLModel]) -> Select[Any]:
    table: Table = model.__table__  # type: ignore[attr-defined]
    (key,) = table.primary_key.columns
    return (
        select(model)
        .where(key == bindparam("key"))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
