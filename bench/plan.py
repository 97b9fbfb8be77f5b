"""Planning: the time to materialize 48 hours of prompts for N participants on PostgreSQL.

.venv/bin/python -m bench.plan [participants]     (default 100000)
"""

import sys
import time
from datetime import UTC, datetime, timedelta

from sqlmodel import func, select

from app.db import unit_of_work
from app.scheduling.models import Prompt
from app.scheduling.service import plan_prompts
from bench.common import seed_study, throwaway_database

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
SCHEDULE = {
    "fixed_times": ["09:00", "19:00"],
    "windows": [{"start": "11:00", "end": "17:00", "count": 3}],
    "last_day": 28,
    "expiry_minutes": 60,
    "reminder_minutes": [15, 30],
}


def main() -> None:
    participants = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with throwaway_database() as engine:
        started = time.perf_counter()
        seed_study(engine, participants, SCHEDULE, NOW, devices=False)
        print(f"seeded {participants} participants in {time.perf_counter() - started:.1f} s")
        # Each run is one job run: its own unit of work, committed.
        started = time.perf_counter()
        with unit_of_work(engine) as session:
            created = plan_prompts(session, NOW, timedelta(hours=48))
        first = time.perf_counter() - started
        started = time.perf_counter()
        with unit_of_work(engine) as session:
            again = plan_prompts(session, NOW, timedelta(hours=48))
        second = time.perf_counter() - started
        with unit_of_work(engine) as session:
            rows = session.exec(select(func.count()).select_from(Prompt)).one()
        print(f"plan 48 h: {created} prompts for {participants} participants in {first:.1f} s")
        print(f"  ({first / participants * 1e6:.0f} µs per participant)")
        print(f"plan again (idempotent): {again} new prompts in {second:.1f} s; rows: {rows}")


if __name__ == "__main__":
    main()
