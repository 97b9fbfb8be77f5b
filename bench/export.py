"""Export benchmark (not a test): 1,000,000 check-ins out as CSV, against PostgreSQL's COPY.

Creates a throwaway database on the PostgreSQL server (KAIROS_BENCH_POSTGRES_URL, default
the test server), migrates it, bulk-loads check-ins with COPY, then in the same run times

  1. the export code path the API and `kairos export` use (server-side cursor, batches,
     CSV writer), with peak resident memory sampled while it runs, and
  2. `COPY (the same select) TO STDOUT WITH CSV` read by the client: the ceiling.

Run:  .venv/bin/python -m bench.export [--rows 1000000] [--participants 2000]
"""

import argparse
import json
import os
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app.audit.service import SYSTEM
from app.db import make_engine, unit_of_work
from app.export import service as exports
from app.export.formats import Format
from app.export.tables import TABLES, TEXT_RENDERERS, StudyContext
from app.flows.studies import set_up_study
from app.rules.items import default_items
from app.studies.models import Study
from bench.common import throwaway_database

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def load(url: str, rows: int, participants: int) -> uuid.UUID:
    """One study (default questionnaire, rule set and library), three arms, `participants`
    people and `rows` check-ins spread over them, each with a full set of answers."""
    study_id, user_id = uuid.uuid4(), uuid.uuid4()
    arms = [
        (uuid.uuid4(), key, policy)
        for key, policy in [
            ("tailored", "tailored"),
            ("random", "random"),
            ("assessment", "assessment_only"),
        ]
    ]
    people = [(uuid.uuid4(), arms[n % 3][0]) for n in range(participants)]
    items = default_items()
    with psycopg.connect(libpq_url(url)) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO staff_user (id, email, password_hash, is_active, created_at) "
            "VALUES (%s, 'bench@example.org', 'x', true, %s)",
            (user_id, START),
        )
        cursor.execute(
            "INSERT INTO study (id, name, description, status, default_timezone, default_locale,"
            " stratify_by, randomization_seed, clinicians_see_arm, created_by, created_at,"
            " updated_at) VALUES (%s, 'Bench', '', 'active', 'Europe/Berlin', 'en', '[]', %s,"
            " false, %s, %s, %s)",
            (study_id, secrets.token_hex(16), user_id, START, START),
        )
        for arm_id, key, policy in arms:
            cursor.execute(
                "INSERT INTO arm (id, study_id, key, policy, weight, description)"
                " VALUES (%s, %s, %s, %s, 1, '')",
                (arm_id, study_id, key, policy),
            )
        with cursor.copy(
            "COPY participant (id, study_id, pseudonym, strata, timezone, status, arm_id,"
            " created_at, enrolled_at, status_changed_at) FROM STDIN"
        ) as copy:
            for n, (person_id, arm_id) in enumerate(people):
                copy.write_row(
                    (
                        person_id,
                        study_id,
                        f"P-{n:06d}",
                        "{}",
                        "Europe/Berlin",
                        "active",
                        arm_id,
                        START,
                        START,
                        START,
                    )
                )
        connection.commit()
        engine = make_engine(url)
        with unit_of_work(engine) as session:
            set_up_study(session, session.get_one(Study, study_id), START)
        engine.dispose()
        per_person = -(-rows // participants)
        with cursor.copy(
            "COPY checkin (id, study_id, participant_id, client_id, answered_at,"
            " answered_offset_minutes, received_at, answers, questionnaire_version,"
            " rule_set_version, late, body_digest, response) FROM STDIN"
        ) as copy:
            written = 0
            for n in range(per_person):
                at = START + timedelta(hours=n * 5 + 1)
                for person_id, _ in people:
                    if written == rows:
                        break
                    answers = {
                        item.key: (written + index * 7) % 101 for index, item in enumerate(items)
                    }
                    copy.write_row(
                        (
                            uuid.uuid4(),
                            study_id,
                            person_id,
                            f"c-{written}",
                            at,
                            60,
                            at + timedelta(seconds=3),
                            json.dumps(answers),
                            1,
                            1,
                            False,
                            "0" * 64,
                            "{}",
                        )
                    )
                    written += 1
        cursor.execute("ANALYZE")
    return study_id


class PeakRss:
    """Samples this process's resident memory every few milliseconds."""

    def __init__(self) -> None:
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(engine: Engine, ctx: StudyContext, fmt: Format) -> tuple[float, int, int, int]:
    """Seconds, bytes, peak and baseline resident memory of one export through ExportJob."""
    job = exports.ExportJob(engine, ctx, fmt, exports.Filters(), SYSTEM, START)
    baseline = PeakRss.now()
    began = time.perf_counter()
    size = 0
    with PeakRss() as rss:
        for chunk in job.table(TABLES["checkins"]):
            size += len(chunk)
    return time.perf_counter() - began, size, rss.peak, baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--participants", type=int, default=2000)
    args = parser.parse_args()
    with throwaway_database() as engine:
        url = engine.url.render_as_string(hide_password=False)
        began = time.perf_counter()
        study_id = load(url, args.rows, args.participants)
        print(f"loaded {args.rows:,} check-ins in {time.perf_counter() - began:.1f} s")
        with Session(engine) as session:
            ctx = exports.study_context(session, session.get_one(Study, study_id))
        spec, filters = TABLES["checkins"], exports.Filters()
        results = {fmt: measure(engine, ctx, fmt) for fmt in Format}

        query = exports.table_query(spec, ctx, filters, frozenset(TEXT_RENDERERS))
        sql = str(
            query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
        )
        began = time.perf_counter()
        copied = 0
        copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)"
        with (
            psycopg.connect(libpq_url(url)) as connection,
            connection.cursor() as cursor,
            cursor.copy(copy_sql) as copy,
        ):
            for block in copy:
                copied += len(block)
        ceiling = time.perf_counter() - began

        print(f"table: check-ins, rows: {args.rows:,}, participants: {args.participants:,}")
        for fmt, (seconds, size, peak, baseline) in results.items():
            print(
                f"kairos export {fmt:8s} {seconds:6.2f} s {args.rows / seconds:10,.0f} rows/s "
                f"{size / 1e6:7.1f} MB  peak RSS {peak / 2**20:6.1f} MiB "
                f"(+{(peak - baseline) / 2**20:.1f} MiB over {baseline / 2**20:.1f} MiB before)"
            )
        print(
            f"COPY ... TO STDOUT    {ceiling:6.2f} s {args.rows / ceiling:10,.0f} rows/s "
            f"{copied / 1e6:7.1f} MB"
        )
        print(f"CSV speed relative to COPY: {ceiling / results[Format.csv][0]:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
