"""Server time of the console's pages with 10,000 participants and one participant with
1,000 check-ins, on PostgreSQL.

Seeding: a one-arm (tailored) study made through the API's routes in-process with a frozen
clock, one participant enrolled there who checks in 1,000 times two hours apart up to now
(the server's clock is the real one: the page's default period, the last 28 days, holds the
latest 336 or so; `?period=all` all 1,000) (the real
check-in path: rules, policy, safety screen; some answers are risks, half the skills are
rated), then 10,000 more participants inserted in bulk. Measuring: the real app in its own
uvicorn process, signed in through the console's form; each page is fetched in interleaved
rounds with the ceiling, a signed-in page that reads almost nothing (`/console/studies`),
so the ratio shows what the page's own work costs on this machine at this moment. Every
request has a timeout, the whole run a deadline. Target: under 300 ms per page.

    .venv/bin/python -m bench.console
    .venv/bin/python -m bench.console --rounds 30 --page safety=/console/safety

`--page name=path` adds a page (`{study}` and `{participant}` are filled in).
"""

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.clock import FrozenClock
from app.db import make_engine, unit_of_work
from app.main import create_app
from app.settings import Settings
from app.studies.models import Participant
from bench.common import bulk_participants, server_process, throwaway_database

EMAIL, PASSWORD = "bench-console@example.org", "bench console password"
CEILING = "/console/studies"
PAGES = {
    "participants list (first page)": "/console/studies/{study}/participants",
    "a participant's page (last 28 days)": "/console/studies/{study}/participants/{participant}",
    "a participant's page (all check-ins)": (
        "/console/studies/{study}/participants/{participant}?period=all"
    ),
    "study compliance": "/console/studies/{study}/compliance",
}
REQUEST_TIMEOUT = 30.0
SERVER_START_TIMEOUT = 300.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
POLES = (
    "emotion_avoid", "emotion_open", "cognition_fused", "cognition_defused",
    "attention_stuck", "attention_present", "self_content", "self_context",
    "values_remote", "values_clear", "behavior_stuck", "behavior_acting",
)  # fmt: skip


def _settings(url: str, var_dir: str) -> Settings:
    return Settings(
        database_url=url,
        var_dir=Path(var_dir),
        secret_key=SecretStr("bench-signing-secret-that-is-long-enough-for-hs256"),
        scheduler_enabled=False,
        password_time_cost=1,
        password_memory_kib=64,
    )


def seed(
    engine: Engine, url: str, var_dir: str, participants: int, checkins: int
) -> dict[str, str]:
    """The study, the participant with `checkins` check-ins, and `participants` more."""
    settings = _settings(url, var_dir)
    # The last check-in an hour ago, on the hour.
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(hours=2 * checkins - 1)
    clock = FrozenClock(start)
    with unit_of_work(engine) as session:
        auth_service.create_user(
            session, settings, email=EMAIL, password=PASSWORD, full_name=None, now=clock.now()
        )
    rng = random.Random(12)
    with TestClient(create_app(settings, engine, clock)) as client:

        def staff() -> dict[str, str]:
            token = client.post("/v1/auth/token", data={"username": EMAIL, "password": PASSWORD})
            return {"Authorization": f"Bearer {token.json()['access_token']}"}

        body = {
            "name": "Console benchmark",
            "default_timezone": "Europe/Berlin",
            "arms": [{"key": "tailored", "policy": "tailored"}],
        }
        study = client.post("/v1/studies", json=body, headers=staff()).json()
        client.post(f"/v1/studies/{study['id']}/activate", headers=staff()).raise_for_status()
        created = client.post(
            f"/v1/studies/{study['id']}/participants",
            json={"timezone": "Europe/Berlin"},
            headers=staff(),
        ).json()
        enrolled = client.post("/v1/enroll", json={"code": created["enrollment"]["code"]})
        phone = {"Authorization": f"Bearer {enrolled.json()['token']}"}
        for n in range(checkins):
            clock.set(start + timedelta(hours=2 * n, minutes=1))
            answers = {pole: rng.randrange(0, 101) for pole in POLES}
            answers |= {"distress": rng.randrange(0, 80), "risk": 80 if n % 97 == 0 else 0}
            out = client.post(
                "/v1/checkins",
                json={
                    "client_id": f"bench-{n}",
                    "answered_at": (clock.now() - timedelta(seconds=20)).isoformat(),
                    "answers": answers,
                },
                headers=phone,
            )
            out.raise_for_status()
            delivery = out.json()["delivery"]
            if delivery["skill"] and n % 2:
                client.post(
                    f"/v1/deliveries/{delivery['id']}/feedback",
                    json={"opened": True, "helpfulness": rng.randrange(0, 11)},
                    headers=phone,
                ).raise_for_status()
    with Session(engine) as session:
        arm_id = session.exec(
            select(Participant.arm_id).where(Participant.id == uuid.UUID(created["id"]))
        ).one()
    bulk_participants(engine, uuid.UUID(study["id"]), arm_id, participants, clock.now(), prefix="B")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    return {"study": study["id"], "participant": created["id"]}


def serve(url: str, port: int, var_dir: str) -> None:
    app = create_app(_settings(url, var_dir), make_engine(url))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def server(url: str, var_dir: str) -> Iterator[str]:
    command = [sys.executable, "-m", "bench.console", "--serve", "--url", url]
    command += ["--var-dir", var_dir]
    log = Path(var_dir, "server.log")
    with server_process(command, log, "/console/sign-in", SERVER_START_TIMEOUT) as (base, _):
        yield base


def signed_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT)
    token = _CSRF.search(client.get("/console/sign-in").text)
    assert token, "no CSRF token on the sign-in page"
    answer = client.post(
        "/console/sign-in",
        data={"csrf_token": token.group(1), "email": EMAIL, "password": PASSWORD},
    )
    if answer.status_code != 303:  # to the studies list once signed in
        raise RuntimeError(f"sign-in answered {answer.status_code}")
    return client


def timed(client: httpx.Client, path: str) -> float:
    """Milliseconds from request to the whole body, which must be a 200."""
    began = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - began) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}")
    return elapsed


def _stats(values: list[float]) -> str:
    return f"{min(values):.0f} / {statistics.median(values):.0f} / {max(values):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--checkins", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds for measuring")
    parser.add_argument("--page", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--var-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.url, args.port, args.var_dir)
        return
    pages = dict(PAGES) | dict(page.split("=", 1) for page in args.page)
    with tempfile.TemporaryDirectory() as var_dir, throwaway_database() as engine:
        url = engine.url.render_as_string(hide_password=False)
        began = time.monotonic()
        ids = seed(engine, url, var_dir, args.participants, args.checkins)
        print(f"seeded in {time.monotonic() - began:.0f} s", file=sys.stderr)
        paths = {name: path.format(**ids) for name, path in pages.items()}
        times: dict[str, list[float]] = {name: [] for name in paths}
        ceiling: list[float] = []
        ratios: dict[str, list[float]] = {name: [] for name in paths}
        with server(url, var_dir) as base:
            client = signed_in(base)  # open already: it signed in
            try:
                for path in [CEILING, *paths.values()]:  # warm up each once
                    timed(client, path)
                deadline = time.monotonic() + args.deadline
                for _ in range(args.rounds):
                    if time.monotonic() > deadline:
                        print("deadline reached: fewer rounds", file=sys.stderr)
                        break
                    for name, path in paths.items():
                        floor = timed(client, CEILING)
                        ceiling.append(floor)
                        times[name].append(timed(client, path))
                        ratios[name].append(times[name][-1] / floor)
            finally:
                client.close()
    print(
        f"{args.participants:,} participants; one with {args.checkins:,} check-ins; "
        f"{len(ceiling) // max(len(paths), 1)} rounds"
    )
    print(
        "| page | ms min / median / max | ratio to the ceiling min / median / max | under 300 ms |"
    )
    print("|---|---|---|---|")
    print(f"| ceiling: {CEILING} | {_stats(ceiling)} | 1 | |")
    for name in paths:
        print(
            f"| {name} | {_stats(times[name])} | "
            + " / ".join(f"{f(ratios[name]):.1f}" for f in (min, statistics.median, max))
            + f" | {'yes' if statistics.median(times[name]) < 300 else 'NO'} |"
        )


if __name__ == "__main__":
    main()
