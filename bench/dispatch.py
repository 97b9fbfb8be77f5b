"""Dispatch throughput: prompts per second from claim to FCM acknowledgement.

Due prompts are dispatched by 1, 2 and 4 worker processes through firebase-admin against
the fake FCM server (real HTTP on 127.0.0.1); in the same run a plain httpx client posts
the same messages to the same server, as the ceiling.

    .venv/bin/python -m bench.dispatch [prompts]     (default 20000)
"""

import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from queue import Empty
from typing import Any

import httpx
from firebase_admin._messaging_encoder import MessageEncoder
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from app.db import make_engine
from app.push.base import PushMessage
from app.push.fcm import FcmSender, _fcm_message
from app.scheduling.dispatch import dispatch_once
from app.scheduling.models import Prompt, PromptStatus
from app.studies.models import Participant
from bench.common import bulk_insert, seed_study, throwaway_database
from tests.fakes.fcm import FakeFcm

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SCHEDULE = {"fixed_times": ["13:00"], "last_day": 28}
CONNECTIONS = 64
RUN_TIMEOUT = 600.0  # seconds one measured run may take before the benchmark gives up


def _worker(url: str, credentials: str, endpoint: str, name: str, start: Any, done: Any) -> None:
    engine = make_engine(url)
    sender = FcmSender(Path(credentials), endpoint=endpoint)
    start.wait()
    try:
        while dispatch_once(engine, sender, NOW, name, batch=500).claimed:
            pass
    except Exception as error:
        # A worker that dies must end the run, not leave the benchmark waiting for it.
        done.put(f"{name} failed: {error!r}")
        raise
    finally:
        sender.close()
        engine.dispose()
    done.put(None)


def _due_prompts(engine: Engine, count: int) -> None:
    with Session(engine) as session:
        people = session.exec(select(Participant.id, Participant.study_id)).all()
    bulk_insert(
        engine,
        Prompt,
        [
            Prompt(
                study_id=study_id,
                participant_id=person,
                slot=f"bench/{n}",
                scheduled_at=NOW,
                window_start=NOW,
                window_end=NOW,
                expires_at=NOW + timedelta(hours=1),
                created_at=NOW,
                next_push_at=NOW,
            ).model_dump()
            for n, (person, study_id) in enumerate(people[:count])
        ],
    )


def _dispatch_run(
    engine: Engine, url: str, fcm: FakeFcm, credentials: Path, workers: int, count: int
) -> tuple[float, int]:
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM prompt_attempt"))
        connection.execute(text("DELETE FROM prompt"))
    _due_prompts(engine, count)
    context = multiprocessing.get_context("spawn")
    start, done = context.Event(), context.Queue()
    processes = [
        context.Process(target=_worker, args=(url, str(credentials), fcm.url, f"w{n}", start, done))
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    time.sleep(3)  # let the processes import and connect before the clock starts
    fcm.reset()
    began = time.perf_counter()
    start.set()
    try:
        for _ in processes:
            if (failure := _result(done, processes)) is not None:
                raise RuntimeError(failure)
        elapsed = time.perf_counter() - began
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    with Session(engine) as session:
        sent = len(session.exec(select(Prompt.id).where(Prompt.status == PromptStatus.sent)).all())
    # Under overload some sends time out; they wait for a retry rather than count as sent.
    return elapsed, sent


def _ceiling_client(endpoint: str, project: str, token: str, bodies: list[str], queue: Any) -> None:
    """Post every body with one pooled httpx client from as many threads as connections.

    A failed post ends the client with the error on the queue: the run then stops with it
    rather than wait for a result that never comes."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    url = f"{endpoint}/v1/projects/{project}/messages:send"
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    try:
        with (
            httpx.Client(limits=limits, headers=headers, timeout=30) as client,
            ThreadPoolExecutor(CONNECTIONS) as pool,
        ):
            began = time.perf_counter()
            for response in pool.map(lambda body: client.post(url, content=body), bodies):
                response.raise_for_status()
            queue.put(time.perf_counter() - began)
    except Exception as error:
        queue.put(f"the ceiling client failed: {error!r}")
        raise


def _result(queue: Any, processes: list[Any]) -> Any:
    """The next result a benchmark process puts on the queue; an error when a process died
    without one or none came within RUN_TIMEOUT seconds."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        try:
            return queue.get(timeout=1)
        except Empty:
            if dead := [p for p in processes if p.exitcode not in (None, 0)]:
                raise RuntimeError(f"a benchmark process died (exit {dead[0].exitcode})") from None
    raise TimeoutError(f"no result within {RUN_TIMEOUT} s")


def _ceiling(fcm: FakeFcm, count: int) -> float:
    bodies = []
    for n in range(count):
        message = PushMessage.build(
            prompt_id=f"prompt-{n}",
            device_identifier=f"bench-token-{n}",
            identifier_kind="token",
            kind="prompt",
            title="Time for a check-in",
            body="How are you right now?",
            expires_at=NOW + timedelta(hours=1),
            now=NOW,
        )
        encoded = MessageEncoder().default(_fcm_message(message))
        bodies.append(json.dumps({"message": encoded}))
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(
        target=_ceiling_client, args=(fcm.url, fcm.project_id, fcm.issue_token(), bodies, queue)
    )
    fcm.reset()
    process.start()
    try:
        elapsed = _result(queue, [process])
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
    if isinstance(elapsed, str):
        raise RuntimeError(elapsed)
    if len(fcm.requests) != count:
        raise RuntimeError(f"the fake server received {len(fcm.requests)} of {count} messages")
    return float(elapsed)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with throwaway_database() as engine, FakeFcm() as fcm, tempfile.TemporaryDirectory() as tmp:
        url = engine.url.render_as_string(hide_password=False)
        seed_study(engine, count, SCHEDULE, NOW - timedelta(days=1), devices=True)
        credentials = fcm.service_account_file(Path(tmp))
        ceiling = count / _ceiling(fcm, count)
        print(f"ceiling (plain httpx, {CONNECTIONS} connections): {ceiling:,.0f} messages/s")
        for workers in (1, 2, 4):
            elapsed, sent = _dispatch_run(engine, url, fcm, credentials, workers, count)
            rate = sent / elapsed
            print(
                f"dispatch, {workers} worker(s): {rate:,.0f} prompts/s "
                f"({rate / ceiling:.0%} of the ceiling; 100,000 prompts in "
                f"{100_000 / rate:.0f} s); {count - sent} deferred to a retry"
            )


if __name__ == "__main__":
    main()
