"""The `kairos` command."""

import csv
import getpass
import logging
import math
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.types import ASGIApp

from app.audit.service import Actor
from app.auth import service as auth_service
from app.clock import SystemClock
from app.db import make_engine, unit_of_work
from app.errors import Problem
from app.export import service as exports
from app.export.formats import Format
from app.export.tables import TABLES
from app.flows import replay as trial_replay
from app.migrate import SchemaBehind, require_current_schema, upgrade
from app.mrt.wcls import MrtData, MrtDataError, WclsResult, wcls
from app.settings import Settings, SettingsError
from app.studies.models import Study

cli = typer.Typer(
    help="Kairos: EMI backend with tailored ACT skill coaching.", no_args_is_help=True
)
admin = typer.Typer(help="Administration.", no_args_is_help=True)
cli.add_typer(admin, name="admin")
analyze = typer.Typer(help="Analyses of micro-randomized trial data.", no_args_is_help=True)
cli.add_typer(analyze, name="analyze")


def _log_to_stderr() -> None:
    """Our loggers (pushes of the log sender, the worker's jobs) to stderr, at INFO."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@cli.command()
def migrate() -> None:
    """Upgrade the database schema to the current version."""
    settings = Settings()
    upgrade(settings.database_url)
    typer.echo(f"Database at {_safe_url(settings.database_url)} is current.")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
) -> None:
    """Serve the HTTP API (refuses to start on a schema that is behind)."""
    from app.main import create_app

    settings = Settings()
    _log_to_stderr()
    try:
        settings.signing_key  # noqa: B018  (fail early when the secret is missing)
        engine = make_engine(settings.database_url)
        require_current_schema(engine)
    except (SchemaBehind, SettingsError) as exc:
        raise _fail(str(exc)) from exc
    uvicorn.Server(server_config(settings, create_app(settings, engine), host, port)).run()


def server_config(settings: Settings, app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    """Uvicorn's configuration: forwarded headers count only from the trusted proxies, so
    the client address that sign-in limits count by cannot be made up."""
    trusted = settings.forwarded_allow_ips
    return uvicorn.Config(
        app, host=host, port=port, proxy_headers=bool(trusted), forwarded_allow_ips=trusted
    )


@cli.command()
def worker() -> None:
    """Run the scheduler's jobs: plan, dispatch, expire and remind, reap stale claims.

    Any number of workers may run on PostgreSQL; on SQLite exactly one.
    """
    from apscheduler.schedulers.blocking import BlockingScheduler

    from app.push import sender_from_settings
    from app.scheduling.dispatch import WorkerRefused, worker_lock
    from app.worker import Jobs, default_worker_id, schedule_jobs

    settings = Settings()
    _log_to_stderr()
    engine = make_engine(settings.database_url)
    try:
        require_current_schema(engine)
        with worker_lock(settings.database_url):
            clock = SystemClock()
            worker_id = settings.worker_id or default_worker_id()
            jobs = Jobs(engine, sender_from_settings(settings, clock), clock, settings, worker_id)
            scheduler = BlockingScheduler(timezone="UTC")
            schedule_jobs(scheduler, jobs)
            typer.echo(f"Kairos worker {worker_id} running; Ctrl-C stops it.")
            try:
                scheduler.start()
            except KeyboardInterrupt:
                scheduler.shutdown(wait=False)
    except (SchemaBehind, SettingsError, WorkerRefused) as exc:
        raise _fail(str(exc)) from exc


@admin.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="Sign-in email")],
    full_name: Annotated[str | None, typer.Option(help="Display name")] = None,
    # Not required: without it the command asks for it, hidden and twice.
    password: Annotated[
        str | None,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            show_default=False,
            help="Password, at least 10 characters; asked for (hidden) when not given",
        ),
    ] = None,
) -> None:
    """Create a staff account."""
    if password is None or len(password) < 10:
        raise _fail("The password must have at least 10 characters.")
    settings = Settings()
    engine = make_engine(settings.database_url)
    try:
        require_current_schema(engine)
    except SchemaBehind as exc:
        raise _fail(str(exc)) from exc
    with unit_of_work(engine) as session:
        try:
            user = auth_service.create_user(
                session,
                settings,
                email=email,
                password=password,
                full_name=full_name,
                now=SystemClock().now(),
            )
        except Problem as exc:
            raise _fail(exc.detail) from exc
    typer.echo(f"Created staff user {user.email} ({user.id}).")


def _study(session: Session, study_id: uuid.UUID) -> Study:
    study = session.get(Study, study_id)
    if study is None:
        raise _fail(f"No study {study_id}.")
    return study


def _current_engine() -> Engine:
    settings = Settings()
    engine = make_engine(settings.database_url)
    try:
        require_current_schema(engine)
    except SchemaBehind as exc:
        raise _fail(str(exc)) from exc
    return engine


@cli.command("export")
def export_study(
    study_id: Annotated[uuid.UUID, typer.Argument(metavar="STUDY", help="Study id")],
    out: Annotated[Path, typer.Option(help="File to write")],
    table: Annotated[
        str | None, typer.Option(help="One table; without it, a zip of every table + codebook")
    ] = None,
    format: Annotated[Format, typer.Option(help="File format")] = Format.csv,
    start: Annotated[datetime | None, typer.Option(help="From this UTC instant")] = None,
    end: Annotated[datetime | None, typer.Option(help="Before this UTC instant")] = None,
    participant: Annotated[list[str] | None, typer.Option(help="Only this pseudonym")] = None,
    arm: Annotated[list[str] | None, typer.Option(help="Only this arm")] = None,
    relative_dates: Annotated[
        bool, typer.Option(help="Study day and local time of day instead of timestamps")
    ] = False,
) -> None:
    """Export a study's data exactly as the API does (audited), with a progress bar."""
    engine = _current_engine()
    filters = exports.Filters(
        start=start.replace(tzinfo=UTC) if start and start.tzinfo is None else start,
        end=end.replace(tzinfo=UTC) if end and end.tzinfo is None else end,
        participants=tuple(participant or ()),
        arms=tuple(arm or ()),
        relative=relative_dates,
    )
    with unit_of_work(engine) as session:
        study = _study(session, study_id)
        ctx = exports.study_context(session, study)
        try:
            specs = [exports.spec_for(table, "--table")] if table else list(TABLES.values())
            exports.check_filters(session, ctx, filters, "option")
        except Problem as exc:
            raise _fail(exc.detail) from exc
    actor = Actor("cli", getpass.getuser())
    job = exports.ExportJob(engine, ctx, format, filters, actor, SystemClock().now())
    chunks = job.table(specs[0]) if table else job.bundle()
    # The total is not known before the export's own snapshot has been read through, so the
    # bar counts the rows the job streams (it is advanced by rows, not by chunks).
    with (
        typer.progressbar(chunks, label="Exporting rows", show_pos=True, file=sys.stderr) as bar,
        out.open("wb") as file,
    ):
        job.progress = bar.update
        for chunk in chunks:
            file.write(chunk)
    typer.echo(f"Wrote {sum(job.rows.values())} rows to {out}.")


@cli.command("replay")
def replay_study(
    study_id: Annotated[uuid.UUID, typer.Argument(metavar="STUDY", help="Study id")],
) -> None:
    """Replay the study's allocations from the recorded seed; exit 1 on any mismatch."""
    with unit_of_work(_current_engine()) as session:
        report = trial_replay.replay(session, _study(session, study_id))
    for m in report.mismatches:
        typer.echo(
            f"MISMATCH {m.kind}: stratum '{m.stratum}' #{m.sequence_no} ({m.participant}): "
            f"recorded {m.recorded}, replayed {m.replayed}"
        )
    for skill in report.skill_mismatches:
        typer.echo(
            f"MISMATCH skill decision {skill.delivery_id}: recorded {skill.recorded}, "
            f"replayed {skill.replayed}"
        )
    found = len(report.mismatches) + len(report.skill_mismatches)
    checked = f"{report.allocations} allocations and {report.skill_decisions} skill decisions"
    if not report.ok:
        raise _fail(f"{found} mismatch(es) in {checked}.")
    typer.echo(f"All {checked} replay exactly.")


def _read_mrt_csv(
    path: Path,
    id_column: str,
    outcome: str,
    treatment: str,
    probability: str,
    availability: str | None,
    moderators: list[str],
    controls: list[str],
) -> MrtData:
    """Decision points from a CSV file: one row each; an empty cell is missing."""
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        header = reader.fieldnames or []
        wanted = [id_column, outcome, treatment, probability, *moderators, *controls]
        for name in [*wanted, *([availability] if availability else [])]:
            if name not in header:
                raise _fail(f"{path}: no column '{name}' (columns: {', '.join(header)})")
        rows = list(reader)

    def numbers(name: str) -> list[float]:
        values = []
        for line, row in enumerate(rows, start=2):
            cell = (row[name] or "").strip()
            try:
                values.append(float(cell) if cell else math.nan)
            except ValueError as exc:
                raise _fail(f"{path}:{line}: '{cell}' in column '{name}' is not a number") from exc
        return values

    return MrtData(
        ids=[row[id_column] for row in rows],
        outcome=numbers(outcome),
        treatment=numbers(treatment),
        probability=numbers(probability),
        availability=numbers(availability) if availability else None,
        moderators={name: numbers(name) for name in moderators},
        controls={name: numbers(name) for name in controls},
    )


def _print_wcls(result: WclsResult) -> None:
    table = Table(title="Causal excursion effect (WCLS)")
    for heading in ("term", "estimate", "std. error", "95% CI", "p-value"):
        table.add_column(heading, justify="left" if heading == "term" else "right")
    for effect in result.effects:
        table.add_row(
            effect.term,
            f"{effect.estimate:.4f}",
            f"{effect.std_error:.4f}",
            f"{effect.ci_low:.4f} to {effect.ci_high:.4f}",
            f"{effect.p_value:.4g}",
        )
    Console().print(table)
    reference = f"F(1, {result.degrees_of_freedom})" if result.distribution == "F" else "the normal"
    typer.echo(
        f"{result.participants} participants, {result.available_decision_points} of "
        f"{result.decision_points} decision points available with an outcome; numerator "
        f"probability {result.numerator_probability:.4g}; intervals and p-values from "
        f"{reference} distribution."
    )


@analyze.command("wcls")
def analyze_wcls(
    csv_file: Annotated[
        Path, typer.Option("--csv", help="Decision points, one row each", exists=True)
    ],
    id_column: Annotated[str, typer.Option("--id", help="Participant column")],
    outcome: Annotated[str, typer.Option(help="Proximal outcome column (empty: missing)")],
    treatment: Annotated[str, typer.Option(help="Treatment indicator column (0 or 1)")],
    probability: Annotated[str, typer.Option(help="Randomization probability column")],
    availability: Annotated[
        str | None, typer.Option(help="Availability column (0 or 1); all available without")
    ] = None,
    moderator: Annotated[
        list[str] | None, typer.Option(help="A moderator of the effect (repeatable)")
    ] = None,
    control: Annotated[list[str] | None, typer.Option(help="A control (repeatable)")] = None,
    numerator_probability: Annotated[
        float | None,
        typer.Option(help="p-tilde; the data's constant or mean probability without"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """The causal excursion effect of a micro-randomized trial, by weighted and centered
    least squares (Boruvka et al. 2018) with small-sample corrections."""
    data = _read_mrt_csv(
        csv_file,
        id_column,
        outcome,
        treatment,
        probability,
        availability,
        moderator or [],
        control or [],
    )
    try:
        result = wcls(data, numerator_probability)
    except MrtDataError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        _print_wcls(result)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    cli()
