"""Dispatch throughput: prompts per second from claim to FCM acknowledgement.

Due prompts are dispatched by 1, 2 and 4 worker processes through firebase-admin against
the fake FCM server (real HTTP on 127.0.0.1). In the same run, interleaved, the ceiling:
`wrk` (a C client, CONNECTIONS connections) posting FCM send requests to the same server
for a while; the share of a core the server was busy shows that the server, not the
client, was the limit (a Python client was: it reached a fraction of what one worker does).

    .venv/bin/python -m bench.dispatch [prompts] [--pairs 3] [--workers 1 2 4]
                                       [--ceiling-seconds 10]   (default 20000 prompts)

Needs `wrk` (Debian: `apt-get install wrk`).
"""

import argparse
import json
import multiprocessing
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from queue import Empty
from typing import Any

from firebase_admin._messaging_encoder import MessageEncoder
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from app.db import make_engine
from app.push.base import PushMessage
from app.push.fcm import FcmSender, _fcm_message
from app.scheduling.dispatch import dispatch_once
from app.scheduling.models import Prompt, PromptStatus
from app.studies.models import Participant
from bench.common import REPORT, Run, bulk_insert, load, seed_study, throwaway_database
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


# One FCM v1 send body, posted by every wrk connection: the fake server records each post.
CEILING_LUA = """
wrk.method = "POST"
wrk.body = '%(body)s'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
"""


def _ceiling(fcm: FakeFcm, seconds: float, directory: Path) -> tuple[Run, float]:
    """What the fake server answers when `wrk` (a C client, not the limit) posts FCM send
    requests to it from CONNECTIONS connections, and the share of one core the server (alone
    in this process meanwhile) was busy: near 100%, the server is the limit."""
    message = PushMessage.build(
        prompt_id="prompt-ceiling",
        device_identifier="bench-token-ceiling",
        identifier_kind="token",
        kind="prompt",
        title="Time for a check-in",
        body="How are you right now?",
        expires_at=NOW + timedelta(hours=1),
        now=NOW,
        platform="android",
    )
    body = json.dumps({"message": MessageEncoder().default(_fcm_message(message, None))})
    script = directory / "fcm.lua"
    script.write_text(
        CEILING_LUA % {"body": body, "token": fcm.issue_token()} + REPORT.replace("%%", "%")
    )
    fcm.reset()
    began, busy = time.perf_counter(), time.process_time()
    send_url = f"{fcm.url}/v1/projects/{fcm.project_id}/messages:send"
    run = load(send_url, script, CONNECTIONS, seconds)
    elapsed, busy = time.perf_counter() - began, time.process_time() - busy
    if run.non_2xx or run.socket_errors:
        raise RuntimeError(f"the ceiling run failed: {run}")
    return run, busy / elapsed


def _spread(values: list[float], form: str) -> str:
    return " / ".join(
        f"{label} {value:{form}}"
        for label, value in zip(
            ("min", "median", "max"),
            (min(values), statistics.median(values), max(values)),
            strict=True,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompts", nargs="?", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--ceiling-seconds", type=float, default=10.0)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk (Debian: apt-get install wrk)")
    count = args.prompts
    ceilings: list[float] = []
    busy: list[float] = []
    rates: dict[int, list[float]] = {workers: [] for workers in args.workers}
    ratios: dict[int, list[float]] = {workers: [] for workers in args.workers}
    with throwaway_database() as engine, FakeFcm() as fcm, tempfile.TemporaryDirectory() as tmp:
        url = engine.url.render_as_string(hide_password=False)
        seed_study(engine, count, SCHEDULE, NOW - timedelta(days=1), devices=True)
        credentials = fcm.service_account_file(Path(tmp))
        for pair in range(args.pairs):
            run, share = _ceiling(fcm, args.ceiling_seconds, Path(tmp))
            ceilings.append(run.rate)
            busy.append(share)
            print(
                f"pair {pair + 1}: ceiling, wrk with {CONNECTIONS} connections: "
                f"{run.rate:,.0f} messages/s (p50 {run.p50:.1f} ms), fake server busy "
                f"{share:.0%} of a core"
            )
            for workers in args.workers:
                elapsed, sent = _dispatch_run(engine, url, fcm, credentials, workers, count)
                if sent != count:
                    raise RuntimeError(f"{count - sent} of {count} prompts were not sent")
                rates[workers].append(sent / elapsed)
                ratios[workers].append(sent / elapsed / run.rate)
                print(
                    f"pair {pair + 1}: dispatch, {workers} worker(s): {sent / elapsed:,.0f} "
                    f"prompts/s ({ratios[workers][-1]:.2f} of the ceiling)"
                )
    print(f"{count} due prompts, {args.pairs} pairs")
    print(f"ceiling (wrk, {CONNECTIONS} connections): {_spread(ceilings, ',.0f')} messages/s")
    print(f"fake server busy: {_spread(busy, '.0%')} of one core")
    for workers in args.workers:
        drain = [100_000 / rate for rate in rates[workers]]
        print(
            f"{workers} worker(s): {_spread(rates[workers], ',.0f')} prompts/s; "
            f"ratio {_spread(ratios[workers], '.2f')}; 100,000 due prompts drain in "
            f"{_spread(drain, '.0f')} s"
        )


if __name__ == "__main__":
    main()
