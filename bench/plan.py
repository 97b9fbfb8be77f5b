"""Planning against its ceiling: the time PostgreSQL needs to COPY the same prompt rows.

The study is seeded once (N participants enrolled a day ago, across five time zones). A
first, untimed planning run gives the rows; they are copied out in PostgreSQL's binary
COPY format. Then, in interleaved pairs: the prompt table is emptied and the rows are
COPYed back in (the ceiling: the same rows into the same table with the same indexes);
the table is emptied again and `plan_prompts` plans the 48 hours (the candidate), then
runs once more with nothing new to plan (the replan). Each pair gives the ratios
plan / COPY and replan / plan; min/median/max are reported.

    .venv/bin/python -m bench.plan [participants] [--pairs 3]     (default 100000)
"""

import argparse
import signal
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import psycopg
from sqlalchemy import Engine, text

from app.db import unit_of_work
from app.scheduling.service import plan_prompts
from bench.common import seed_study, throwaway_database

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
HORIZON = timedelta(hours=48)
SCHEDULE = {
    "fixed_times": ["09:00", "19:00"],
    "windows": [{"start": "11:00", "end": "17:00", "count": 3}],
    "last_day": 28,
    "expiry_minutes": 60,
    "reminder_minutes": [15, 30],
}
STEP_TIMEOUT = 900  # seconds any one step may take before the benchmark gives up


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE prompt CASCADE"))
    # The same starting point for every run: no dead tuples, fresh statistics.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE prompt"))


def _psycopg(engine: Engine) -> psycopg.Connection[Any]:
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(url, options=f"-c statement_timeout={STEP_TIMEOUT * 1000}")


def _copy_out(engine: Engine) -> bytes:
    with (
        _psycopg(engine) as connection,
        connection.cursor() as cursor,
        cursor.copy("COPY prompt TO STDOUT (FORMAT BINARY)") as copy,
    ):
        return b"".join(bytes(block) for block in copy)


def _copy_in(engine: Engine, data: bytes) -> None:
    with (
        _psycopg(engine) as connection,
        connection.cursor() as cursor,
        cursor.copy("COPY prompt FROM STDIN (FORMAT BINARY)") as copy,
    ):
        for first in range(0, len(data), 1 << 20):
            copy.write(data[first : first + (1 << 20)])


def _plan(engine: Engine) -> int:
    # Each run is one job run: its own unit of work, committed.
    with unit_of_work(engine) as session:
        return plan_prompts(session, NOW, HORIZON)


def _timed(step: Callable[[], Any]) -> tuple[float, Any]:
    signal.alarm(STEP_TIMEOUT)
    try:
        started = time.perf_counter()
        result = step()
        return time.perf_counter() - started, result
    finally:
        signal.alarm(0)


def _timeout(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError(f"a step took more than {STEP_TIMEOUT} s")


def _spread(values: list[float], unit: str = "") -> str:
    return (
        f"min {min(values):.2f}{unit} / median {statistics.median(values):.2f}{unit}"
        f" / max {max(values):.2f}{unit}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("participants", nargs="?", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, _timeout)
    with throwaway_database() as engine:
        seeded, _ = _timed(
            lambda: seed_study(engine, args.participants, SCHEDULE, NOW, devices=False)
        )
        print(f"seeded {args.participants} participants in {seeded:.1f} s")
        _timed(lambda: _plan(engine))
        rows = _copy_out(engine)
        copies, plans, replans, ratios, replan_ratios = [], [], [], [], []
        created = 0
        for pair in range(args.pairs):
            _empty(engine)
            copy_seconds, _ = _timed(lambda: _copy_in(engine, rows))
            _empty(engine)
            plan_seconds, created = _timed(lambda: _plan(engine))
            replan_seconds, again = _timed(lambda: _plan(engine))
            if again:
                raise RuntimeError(f"replanning created {again} prompts (nothing was new)")
            copies.append(copy_seconds)
            plans.append(plan_seconds)
            replans.append(replan_seconds)
            ratios.append(plan_seconds / copy_seconds)
            replan_ratios.append(replan_seconds / plan_seconds)
            print(
                f"pair {pair + 1}: COPY {copy_seconds:.2f} s, plan {plan_seconds:.2f} s "
                f"({ratios[-1]:.2f}x), replan {replan_seconds:.2f} s "
                f"({replan_ratios[-1]:.2f}x the plan)"
            )
        print(f"{created} prompts for {args.participants} participants, 48 h, {args.pairs} pairs")
        print(f"ceiling, COPY of the same rows: {_spread(copies, ' s')}")
        print(f"plan_prompts:                   {_spread(plans, ' s')}")
        print(f"replan, nothing new:            {_spread(replans, ' s')}")
        print(f"plan / COPY:   {_spread(ratios, 'x')}  (target ≤ 1.5x)")
        print(f"replan / plan: {_spread(replan_ratios, 'x')}  (target ≤ 0.5x)")


if __name__ == "__main__":
    main()
