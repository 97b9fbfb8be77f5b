"""On SQLite, writers wait their turn: none ever gets "database is locked"."""

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

from app.clock import FrozenClock
from app.db import make_engine, unit_of_work
from app.main import create_app
from app.settings import Settings
from tests.test_checkins import BASE, checkin


def test_a_writer_waits_for_the_one_writing_and_then_writes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gate.db'}")
    with unit_of_work(engine) as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    first_in, second_done = threading.Event(), threading.Event()
    release_first = threading.Event()

    def first() -> None:
        with unit_of_work(engine) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            first_in.set()
            release_first.wait(timeout=30)

    def second() -> None:
        first_in.wait(timeout=30)
        with unit_of_work(engine) as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
        second_done.set()

    with ThreadPoolExecutor(max_workers=2) as pool:
        running = [pool.submit(first), pool.submit(second)]
        assert first_in.wait(timeout=30)
        assert not second_done.wait(timeout=0.3)  # queued behind the first, not failing
        release_first.set()
        for future in running:
            future.result(timeout=30)
    with unit_of_work(engine) as session:
        assert session.execute(text("SELECT n FROM t ORDER BY rowid")).scalars().all() == [1, 2]
    engine.dispose()


def test_a_failed_transaction_gives_its_turn_up(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gate.db'}")
    with pytest.raises(OperationalError), unit_of_work(engine) as session:
        session.execute(text("SELECT no_such_column"))

    def write() -> None:
        with unit_of_work(engine) as session:
            session.execute(text("SELECT 1"))

    with ThreadPoolExecutor(max_workers=1) as pool:  # another thread gets the turn at once
        pool.submit(write).result(timeout=5)
    engine.dispose()


def test_many_check_ins_at_once_all_succeed(
    client: TestClient, make_study: Callable, enroll: Callable
) -> None:
    study = make_study()
    people = [enroll(study["id"]) for _ in range(8)]

    def post(n: int) -> int:
        body = checkin(BASE, client_id=uuid.uuid4().hex)
        return client.post("/v1/checkins", json=body, headers=people[n % 8]["headers"]).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(post, range(64)))
    assert codes == [201] * 64


async def _server_threads() -> int:
    """How many requests the server runs at once: the threads of anyio's default limiter."""
    return int(anyio.to_thread.current_default_thread_limiter().total_tokens)


def test_every_server_thread_gets_a_connection_and_waits_only_for_its_turn(
    tmp_path: Path,
) -> None:
    """A request waits for the write turn (the queue that moves), not for a pooled
    connection, whose wait ends in an error: the pool has one for each server thread."""
    # In a thread of its own: this process may already run a loop (a browser test's).
    with ThreadPoolExecutor(1) as one:
        threads = one.submit(anyio.run, _server_threads).result(timeout=30)
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    with unit_of_work(engine) as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    writing, release = threading.Event(), threading.Event()

    def write(n: int) -> None:
        with unit_of_work(engine) as session:
            session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            if n == 0:
                writing.set()
                release.wait(timeout=30)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        first = pool.submit(write, 0)
        assert writing.wait(timeout=30)
        rest = [pool.submit(write, n) for n in range(1, threads)]
        deadline = time.monotonic() + 30
        while engine.pool.checkedout() < threads and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.01)
        assert engine.pool.checkedout() == threads  # type: ignore[attr-defined]
        release.set()
        for future in [first, *rest]:
            future.result(timeout=60)
    with unit_of_work(engine) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == threads
    engine.dispose()


async def _limit_server_threads(threads: int) -> None:
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads


def _lock_waits_end(connection: Any) -> None:
    # Were the requests stalled again, PostgreSQL's lock wait would end in 500s (as
    # SQLite's write turn does after 30 s), so the test fails instead of hanging.
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL lock_timeout = '3s'")


def test_more_check_ins_at_once_than_the_server_has_threads_all_succeed(
    db: Engine, settings: Settings, clock: FrozenClock, make_study: Callable, enroll: Callable
) -> None:
    """A request's dependencies (the token's lookup), its endpoint and its response's
    validation each take a thread of the server's pool, and it commits after the last:
    with twelve check-ins on four threads, waiting on each other's locks in every thread,
    none could commit until a lock's wait timed out. They are admitted one per thread."""
    study = make_study()
    people = [enroll(study["id"]) for _ in range(4)]
    # Twelve check-ins let in at once, more than the threads: admission keeps them moving.
    crowded = settings.model_copy(update={"checkins_at_once": 12})
    with TestClient(create_app(crowded, db, clock)) as client:
        _check_in_on_four_threads(client, db, people)


def _check_in_on_four_threads(client: TestClient, db: Engine, people: list[dict]) -> None:
    threads = client.portal.call(_server_threads)  # type: ignore[union-attr]
    client.portal.call(_limit_server_threads, 4)  # type: ignore[union-attr]
    event.listen(db, "begin", _lock_waits_end)
    try:

        def post(n: int) -> int:
            body = checkin(BASE, client_id=uuid.uuid4().hex)
            headers = people[n % 4]["headers"]
            return client.post("/v1/checkins", json=body, headers=headers).status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            codes = list(pool.map(post, range(24)))
    finally:
        event.remove(db, "begin", _lock_waits_end)
        client.portal.call(_limit_server_threads, threads)  # type: ignore[union-attr]
    assert codes == [201] * 24


def _waiting_on_a_lock(db: Engine) -> bool:
    with db.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return bool(waiting)


@pytest.mark.parametrize("at_once", [1, 2])
def test_check_ins_are_decided_a_set_number_at_a_time(
    db: Engine,
    settings: Settings,
    clock: FrozenClock,
    make_study: Callable,
    enroll: Callable,
    at_once: int,
) -> None:
    """One check-in held up (its person's summary locked) holds one of the turns: with one
    turn another person's check-in waits for it, with two it goes ahead."""
    if db.dialect.name != "postgresql":
        pytest.skip("on SQLite every writer waits for the one writing anyway")
    study = make_study()
    held, other = enroll(study["id"]), enroll(study["id"])
    with TestClient(
        create_app(settings.model_copy(update={"checkins_at_once": at_once}), db, clock)
    ) as client:

        def post(person: dict) -> int:
            body = checkin(BASE, client_id=uuid.uuid4().hex)
            return client.post("/v1/checkins", json=body, headers=person["headers"]).status_code

        assert post(held) == 201  # its summary exists from here on
        # The lock is let go (on the way out, too) before the pool waits for its posts.
        with ThreadPoolExecutor(max_workers=2) as pool, db.connect() as locking:
            locking.begin()
            locking.execute(
                text("SELECT 1 FROM person_needs WHERE participant_id = :id FOR UPDATE"),
                {"id": uuid.UUID(held["id"])},
            )
            first = pool.submit(post, held)
            deadline = time.monotonic() + 30
            while not _waiting_on_a_lock(db) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert _waiting_on_a_lock(db)
            second = pool.submit(post, other)
            if at_once == 1:
                with pytest.raises(TimeoutError):
                    second.result(timeout=1.0)
            else:
                assert second.result(timeout=30) == 201
            locking.rollback()
            assert first.result(timeout=30) == 201
            assert second.result(timeout=30) == 201
