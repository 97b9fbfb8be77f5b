"""Check-in throughput against its ceiling, on SQLite and PostgreSQL.

The candidate is `POST /v1/checkins` of the real app (tailored arm, so every check-in runs
the rule set and the Thompson-sampling policy). The ceiling is a bare endpoint on the same
stack: a FastAPI app in the same kind of server process, served by the same uvicorn,
validating a similar body with pydantic (`extra="forbid"`) and doing one INSERT through
`app.db.make_engine` and `unit_of_work`. Both servers run side by side; the load
generator (`wrk`, a C program, with a Lua script giving every request its own client id
and a participant's token in turn) runs in its own process and is measured against a
trivial endpoint of the bare app first, to show it is not the bottleneck.

Runs are interleaved pairs (ceiling, candidate, ceiling, candidate, ...); the ratio of each
pair is reported as min/median/max, with p50/p99 and the count of 5xx and socket errors
(which must be zero). Earlier check-ins in the study are seeded in bulk (check-ins,
detections and deliveries, spread over the participants, and their summaries).

    .venv/bin/python -m bench.checkins                      (quick: a few minutes)
    .venv/bin/python -m bench.checkins --history 0 10000 200000 --pairs 3 --seconds 10

Needs `wrk` (Debian: `apt-get install wrk`).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import Engine, update
from sqlmodel import Field as ColumnField
from sqlmodel import Session, SQLModel, col, func, select

from app.checkins.models import CheckIn, Detection, PersonNeeds, StudyNeeds
from app.db import make_engine, unit_of_work
from app.fields import id_field, json_field, utc_field
from app.migrate import upgrade
from app.rules.process import Pole, dimension_of
from app.rules.running import RunningSums
from app.settings import Settings
from app.skills.models import Delivery, PersonSkills
from app.skills.policies import SkillHistory
from app.studies.models import Participant
from bench.common import (
    REPORT,
    Run,
    bulk_insert,
    enrolled_study,
    load,
    server_process,
    throwaway_database,
)

PASSWORD = "bench-password-long-enough"
STUDY_STATS_WINDOW = 2000
SERVER_START_TIMEOUT = 180.0
QUIET = 15.0  # a loaded server can finish nothing for seconds, then a batch at once
CHECKINS_A_DAY = 5  # of each participant in the seeded history
ANSWERS = {
    "emotion_avoid": 30, "emotion_open": 70, "cognition_fused": 90, "cognition_defused": 10,
    "attention_stuck": 30, "attention_present": 70, "self_content": 30, "self_context": 70,
    "values_remote": 30, "values_clear": 70, "behavior_stuck": 30, "behavior_acting": 70,
    "distress": 20, "risk": 0,
}  # fmt: skip


# --- the ceiling: a bare endpoint on the same stack ------------------------------------


class BareRow(SQLModel, table=True):
    """What the bare endpoint inserts: about the columns of a check-in."""

    __tablename__ = "bench_bare_row"

    id: uuid.UUID = id_field()
    client_id: str = ColumnField(max_length=64)
    answered_at: datetime = utc_field()
    received_at: datetime = utc_field()
    answers: dict[str, Any] = json_field()


class BareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=1, max_length=64)
    answered_at: AwareDatetime
    answers: dict[str, float | int | str | list[str] | None] = Field(max_length=200)


class BareOut(BaseModel):
    id: uuid.UUID


def bare_app(engine: Engine) -> FastAPI:
    app = FastAPI()

    @app.post("/bare", status_code=201)
    def bare(data: BareIn) -> BareOut:
        row = BareRow(
            client_id=data.client_id,
            answered_at=data.answered_at,
            received_at=datetime.now(UTC),
            answers=data.answers,
        )
        with unit_of_work(engine) as session:
            session.add(row)
        return BareOut(id=row.id)

    @app.get("/trivial")
    def trivial() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def serve(kind: str, url: str, port: int, var_dir: str) -> None:
    """The server process: the real app or the bare one, by the same uvicorn."""
    engine = make_engine(url)
    if kind == "bare":
        app = bare_app(engine)
    else:
        from app.main import create_app

        app = create_app(_settings(url, var_dir), engine)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _settings(url: str, var_dir: str) -> Settings:
    return Settings(
        database_url=url,
        var_dir=Path(var_dir),
        secret_key=SecretStr("bench-signing-secret-that-is-long-enough-for-hs256"),
        scheduler_enabled=False,
        password_time_cost=1,
        password_memory_kib=64,
    )


@contextmanager
def server(kind: str, url: str, var_dir: str) -> Iterator[str]:
    """A server process on a free port; what it logs goes to `<kind>.log` in var_dir, where
    `server_errors` counts the 500s it answered (also those wrk stopped waiting for)."""
    command = [sys.executable, "-m", "bench.checkins", "--serve", kind, "--url", url]
    command += ["--var-dir", var_dir]
    log = Path(var_dir, f"{kind}.log")
    with server_process(command, log, "/openapi.json", SERVER_START_TIMEOUT) as (base, _):
        yield base


def server_errors(var_dir: str) -> int:
    """The 500s the real app has logged so far."""
    return Path(var_dir, "kairos.log").read_text().count("Unhandled error in")


# --- the study and its history --------------------------------------------------------


def set_up_study(engine: Engine, base: str, url: str, var_dir: str, participants: int) -> None:
    """A one-arm (tailored) study with enrolled participants, their tokens in tokens.json."""
    with httpx.Client(base_url=base, timeout=30.0) as client:
        _, tokens = enrolled_study(
            engine,
            _settings(url, var_dir),
            client,
            email="bench@example.org",
            password=PASSWORD,
            name="Check-in benchmark",
            participants=participants,
        )
        # One real check-in: the template of the seeded history.
        time.sleep(1.1)  # answered_at (whole seconds in the load) must not precede enrollment
        first = client.post(
            "/v1/checkins",
            json={
                "client_id": "template",
                "answered_at": datetime.now(UTC).isoformat(),
                "answers": ANSWERS,
            },
            headers={"Authorization": f"Bearer {tokens[0]}"},
        )
        first.raise_for_status()
    Path(var_dir, "tokens.json").write_text(json.dumps(tokens))


def seed_history(engine: Engine, count: int) -> None:
    """`count` earlier check-ins (with detection and delivery, copies of the template's),
    spread over the participants, and the summaries they make."""
    if count == 0:
        return
    with Session(engine) as session:
        template = session.exec(select(CheckIn).where(CheckIn.client_id == "template")).one()
        detection = session.exec(select(Detection).where(Detection.checkin_id == template.id)).one()
        delivery = session.exec(select(Delivery).where(Delivery.checkin_id == template.id)).one()
        people = list(session.exec(select(Participant.id).order_by(Participant.pseudonym)))
        study = session.get_one(StudyNeeds, template.study_id)
        # The benchmark's own check-ins (the same answers) are part of the history too.
        per_person = dict.fromkeys(people, 0) | {
            row.participant_id: row.last_sequence for row in session.exec(select(PersonNeeds))
        }
        skill_histories = {
            row.participant_id: SkillHistory.model_validate(row.model_dump())
            for row in session.exec(select(PersonSkills))
        }
    # Five a day per participant, the last one before the template: the study has been
    # running for count / (5 * participants) days.
    spacing = timedelta(days=1) / (CHECKINS_A_DAY * len(people))
    checkins, detections, deliveries = [], [], []
    for n in range(count):
        person = people[n % len(people)]
        per_person[person] += 1
        at = template.received_at - spacing * (count - n)
        rating = n % 11 if n % 3 else None
        if delivery.skill_key is not None:
            kept = skill_histories.get(person, SkillHistory()).offered(delivery.skill_key)
            if rating is not None:
                kept = kept.rated(delivery.skill_key, None, rating)
            skill_histories[person] = kept
        checkin_id = uuid.uuid4()
        checkins.append(
            {
                **template.model_dump(),
                "id": checkin_id,
                "participant_id": person,
                "client_id": f"seed-{checkin_id.hex}",  # unique across seeding rounds
                "answered_at": at,
                "received_at": at,
            }
        )
        detections.append(
            {
                **detection.model_dump(),
                "id": uuid.uuid4(),
                "checkin_id": checkin_id,
                "participant_id": person,
                "sequence": per_person[person],
                "study_sequence": study.last_sequence + 1 + n,
                "at": at,
            }
        )
        deliveries.append(
            {
                **delivery.model_dump(),
                "id": uuid.uuid4(),
                "checkin_id": checkin_id,
                "participant_id": person,
                "created_at": at,
                "helpfulness": rating,
            }
        )
    bulk_insert(engine, CheckIn, checkins)
    bulk_insert(engine, Detection, detections)
    bulk_insert(engine, Delivery, deliveries)
    needs = {key: value for key, value in detection.needs.items() if value is not None}

    def sums_of(times: int) -> dict[str, Any]:
        return {
            key: RunningSums(times, Fraction(need) * times, Fraction(need) ** 2 * times).dump()
            for key, need in needs.items()
        }

    targeted = [str(dimension_of(Pole(detection.target)))] if detection.target else []
    with unit_of_work(engine) as session:
        for person, last in per_person.items():
            row = session.get(PersonNeeds, person) or PersonNeeds(
                participant_id=person, study_id=template.study_id, last_sequence=0, sums={}
            )
            row.last_sequence = last
            row.sums = sums_of(last)
            row.last_targeted = {key: last for key in targeted}
            session.add(row)
        for person, kept in skill_histories.items():
            dumped = kept.model_dump(mode="json")
            skills = session.get(PersonSkills, person) or PersonSkills(
                participant_id=person, study_id=template.study_id
            )
            skills.recent, skills.ratings = dumped["recent"], dumped["ratings"]
            session.add(skills)
        window = min(STUDY_STATS_WINDOW, study.window_size + count)
        session.exec(
            update(StudyNeeds)
            .where(col(StudyNeeds.study_id) == template.study_id)
            .values(
                last_sequence=study.last_sequence + count,
                window_size=window,
                oldest_sequence=study.last_sequence + count - window + 1,
                sums=sums_of(window),
            )
        )


# --- the load -------------------------------------------------------------------------

LUA = """
local tokens = {%(tokens)s}
local answers = '%(answers)s'
local counter = 0
local thread_id

function init(args)
  thread_id = id
  math.randomseed(os.time() + id * 7919)
end

function request()
  counter = counter + 1
  local token = tokens[(counter * 7 + thread_id) %% #tokens + 1]
  local body = string.format(
    '{"client_id":"w%%d-%%d-%%d","answered_at":"%%s","answers":%%s}',
    thread_id, counter, math.random(1, 1000000000), os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ"), answers)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

"""


def write_script(var_dir: str, tokens: list[str]) -> Path:
    script = Path(var_dir, "checkin.lua")
    script.write_text(
        (LUA + REPORT)
        % {
            "tokens": ", ".join(f'"{token}"' for token in tokens),
            "answers": json.dumps(ANSWERS, separators=(",", ":")),
        }
    )
    return script


def trivial_script(var_dir: str) -> Path:
    script = Path(var_dir, "trivial.lua")
    script.write_text(REPORT.replace("%%", "%"))
    return script


def settle(engine: Engine, timeout: float = 120.0) -> None:
    """Wait until the servers have answered what wrk left queued (they go on after it
    stops): nothing new stored for QUIET seconds (a loaded server can pause that long)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        # Autocommit: a read that takes no write turn (on SQLite) and waits for no writer.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            now = (
                connection.execute(select(func.count()).select_from(CheckIn)).scalar_one(),
                connection.execute(select(func.count()).select_from(BareRow)).scalar_one(),
            )
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= QUIET:
            return
        time.sleep(0.5)
    raise RuntimeError("the servers were still storing requests after the run ended")


def _fmt(run: Run) -> str:
    return (
        f"{run.rate:7.1f}/s p50 {run.p50:7.1f} ms p99 {run.p99:7.1f} ms "
        f"5xx {run.errors_5xx} non-2xx {run.non_2xx} socket {run.socket_errors}"
    )


@contextmanager
def database(kind: str, var_dir: str) -> Iterator[tuple[str, Engine]]:
    if kind == "postgresql":
        with throwaway_database() as engine:
            yield engine.url.render_as_string(hide_password=False), engine
        return
    url = f"sqlite:///{var_dir}/bench.db"
    upgrade(url)
    engine = make_engine(url)
    try:
        yield url, engine
    finally:
        engine.dispose()


def measure(kind: str, histories: list[int], connections: list[int], args: Any) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="kairos-bench-") as var_dir:  # noqa: SIM117
        with database(kind, var_dir) as (url, engine):
            BareRow.__table__.create(engine)  # type: ignore[attr-defined]
            seeded = 0
            with server("kairos", url, var_dir) as kairos, server("bare", url, var_dir) as bare:
                set_up_study(engine, kairos, url, var_dir, args.participants)
                tokens = json.loads(Path(var_dir, "tokens.json").read_text())
                script = write_script(var_dir, tokens)
                trivial = load(f"{bare}/trivial", trivial_script(var_dir), 64, args.seconds)
                print(f"[{kind}] load generator against a trivial endpoint: {_fmt(trivial)}")
                for history in histories:
                    seed_history(engine, history - seeded)
                    seeded = history
                    for conns in connections:
                        ratios, runs = [], []
                        for _ in range(args.pairs):
                            ceiling = load(f"{bare}/bare", script, conns, args.seconds)
                            settle(engine)
                            logged = server_errors(var_dir)
                            candidate = load(f"{kairos}/v1/checkins", script, conns, args.seconds)
                            settle(engine)
                            # wrk counts the 500s it saw; the log also those it gave up on.
                            candidate.errors_5xx = max(
                                candidate.errors_5xx, server_errors(var_dir) - logged
                            )
                            print(f"[{kind} h={history} c={conns}] ceiling   {_fmt(ceiling)}")
                            print(f"[{kind} h={history} c={conns}] check-in  {_fmt(candidate)}")
                            # A ceiling that answered nothing (the file's write lock held by
                            # the other server's backlog) gives no ratio for its pair.
                            if ceiling.rate > 0:
                                ratios.append(candidate.rate / ceiling.rate)
                            runs.append((ceiling, candidate))
                        rows.append(_row(kind, history, conns, ratios, runs))
                        print(rows[-1], flush=True)
    return rows


def _spread(ratios: list[float]) -> str:
    if not ratios:
        return "no pair with a ceiling"
    return f"{min(ratios):.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f}"


def _row(
    kind: str, history: int, conns: int, ratios: list[float], runs: list[tuple[Run, Run]]
) -> str:
    ceiling = statistics.median(run.rate for run, _ in runs)
    candidate = statistics.median(run.rate for _, run in runs)
    p50 = statistics.median(run.p50 for _, run in runs)
    p99 = statistics.median(run.p99 for _, run in runs)
    errors = sum(run.errors_5xx + run.socket_errors for pair in runs for run in pair)
    non_2xx = sum(run.non_2xx for _, run in runs)
    return (
        f"| {kind} | {history:,} | {conns} | {ceiling:.0f}/s | {candidate:.0f}/s | "
        f"{_spread(ratios)} | "
        f"{p50:.0f} / {p99:.0f} ms | {errors} | {non_2xx} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--history", nargs="+", type=int, default=[0, 10_000])
    parser.add_argument("--connections", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", choices=["kairos", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--var-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.url, args.port, args.var_dir)
        return
    if shutil.which("wrk") is None:
        sys.exit("bench.checkins needs wrk (Debian: apt-get install wrk)")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    rows = []
    for kind in args.databases:
        rows += measure(kind, sorted(args.history), args.connections, args)
    print(
        "| database | earlier check-ins | connections | ceiling | check-in | ratio min / median"
        " / max | check-in p50 / p99 | 5xx + socket errors | non-2xx |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
