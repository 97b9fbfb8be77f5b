"""The `kairos` command."""

import csv
import getpass
import math
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast, get_args

import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.types import ASGIApp

if TYPE_CHECKING:
    from app.simulate.study import StudyResult

from app.access.scope import CARE, StudyAccess, participant_named, study_for
from app.audit.service import Actor
from app.auth import service as auth_service
from app.auth.models import StaffUser
from app.clock import SystemClock
from app.db import make_engine, unit_of_work
from app.errors import Problem
from app.export import service as exports
from app.export.formats import Format
from app.export.tables import TABLES
from app.fhir import service as fhir
from app.flows import replay as trial_replay
from app.logs import configure_logging
from app.migrate import SchemaBehind, require_current_schema, upgrade
from app.mrt import service as mrt
from app.mrt.wcls import MrtData, MrtDataError, WclsResult, wcls
from app.pagination import PageParams
from app.plans import service as plans
from app.settings import Settings, SettingsError
from app.studies.models import Participant, Study
from app.vocabulary import Policy, Role

cli = typer.Typer(
    help="Kairos: EMI backend with tailored ACT skill coaching.", no_args_is_help=True
)
admin = typer.Typer(help="Administration.", no_args_is_help=True)
cli.add_typer(admin, name="admin")
analyze = typer.Typer(help="Analyses of micro-randomized trial data.", no_args_is_help=True)
cli.add_typer(analyze, name="analyze")
review = typer.Typer(
    help='The clinician\'s review and its "review suggested" flags.', no_args_is_help=True
)
cli.add_typer(review, name="review")


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
    configure_logging(settings)
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
    # No logging configuration of uvicorn's own (its lines go through ours) and no access
    # log (the app writes one line per request, naming the route template, not the path).
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted,
        log_config=None,
        access_log=False,
    )


@cli.command()
def worker() -> None:
    """Run the scheduler's jobs: plan, dispatch, expire and remind, reap stale claims.

    Any number of workers may run on PostgreSQL; on SQLite exactly one.
    """
    from apscheduler.schedulers.blocking import BlockingScheduler

    from app.push import sender_from_settings
    from app.scheduling.dispatch import WorkerRefused, worker_lock
    from app.worker import Jobs, default_worker_id, schedule_jobs, serve_metrics

    settings = Settings()
    configure_logging(settings)
    engine = make_engine(settings.database_url)
    try:
        require_current_schema(engine)
        with worker_lock(settings.database_url):
            clock = SystemClock()
            worker_id = settings.worker_id or default_worker_id()
            jobs = Jobs(engine, sender_from_settings(settings, clock), clock, settings, worker_id)
            scheduler = BlockingScheduler(timezone="UTC")
            schedule_jobs(scheduler, jobs)
            if settings.worker_metrics_port is not None:
                # A daemon thread: it ends with the worker.
                serve_metrics(jobs, settings.worker_metrics_host, settings.worker_metrics_port)
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


FHIR = "fhir"


def _export_format(value: str) -> str:
    return value if value == FHIR else Format(value)


def _fhir_resource(table: str | None) -> fhir.Resource | None:
    if table is None or table in get_args(fhir.Resource):
        return cast(fhir.Resource | None, table)
    raise _fail("With --format fhir, --table is Questionnaire or QuestionnaireResponse")


@cli.command("export")
def export_study(
    study_id: Annotated[uuid.UUID, typer.Argument(metavar="STUDY", help="Study id")],
    out: Annotated[Path, typer.Option(help="File to write")],
    table: Annotated[
        str | None,
        typer.Option(
            help="One table; without it, a zip of every table + codebook (with --format fhir: "
            "Questionnaire or QuestionnaireResponse; without it, a Bundle of both)"
        ),
    ] = None,
    format: Annotated[
        str,
        typer.Option(
            help="File format (fhir: a FHIR R4 Bundle)",
            parser=_export_format,
            metavar=f"[{'|'.join([*Format, FHIR])}]",
        ),
    ] = Format.csv,
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
    now = SystemClock().now()
    filters = exports.Filters(
        start=start.replace(tzinfo=UTC) if start and start.tzinfo is None else start,
        end=end.replace(tzinfo=UTC) if end and end.tzinfo is None else end,
        participants=tuple(participant or ()),
        arms=tuple(arm or ()),
        relative=relative_dates,
    )
    actor = Actor("cli", getpass.getuser())
    with unit_of_work(engine) as session:
        study = _study(session, study_id)
        ctx = exports.study_context(session, study)
        try:
            exports.check_filters(session, ctx, filters, "option")
            if format == FHIR:
                fhir.check_absolute(filters, "--relative-dates")
                questionnaires = fhir.study_questionnaires(session, study)
                fhir_job = fhir.FhirExport(engine, ctx, filters, questionnaires, actor, now)
                job: exports.ExportJob | fhir.FhirExport = fhir_job
                chunks = fhir_job.bundle(_fhir_resource(table))
            else:
                specs = [exports.spec_for(table, "--table")] if table else list(TABLES.values())
                job = exports.ExportJob(engine, ctx, Format(format), filters, actor, now)
                chunks = job.table(specs[0]) if table else job.bundle()
        except Problem as exc:
            raise _fail(exc.detail) from exc
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
    for point in report.decision_point_mismatches:
        typer.echo(
            f"MISMATCH decision point {point['decision_point_id']}: recorded "
            f"{point['recorded']}, replayed {point['replayed']}"
        )
    found = (
        len(report.mismatches)
        + len(report.skill_mismatches)
        + len(report.decision_point_mismatches)
    )
    checked = (
        f"{report.allocations} allocations, {report.skill_decisions} skill decisions and "
        f"{report.decision_points} micro-randomized draws"
    )
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


StudyArg = Annotated[uuid.UUID, typer.Argument(metavar="STUDY", help="Study id")]
PseudonymArg = Annotated[str, typer.Argument(metavar="PSEUDONYM", help="The participant")]
AsStaff = Annotated[
    str, typer.Option("--as", help="Your staff email: what you may see is what it may see")
]


def _as_staff(
    session: Session, email: str, study_id: uuid.UUID, roles: frozenset[Role]
) -> tuple[StaffUser, StudyAccess]:
    """The CLI answers only what this staff member may see, through the same access layer."""
    user = auth_service.staff_by_email(session, email)
    if user is None:
        raise _fail(f"No staff account {email}.")
    try:
        return user, study_for(session, user, study_id, roles)
    except Problem as exc:
        raise _fail(exc.detail) from exc


def _participant_as_staff(
    session: Session, email: str, study_id: uuid.UUID, pseudonym: str
) -> tuple[StaffUser, Participant]:
    user, access = _as_staff(session, email, study_id, CARE)
    try:
        return user, participant_named(session, access, pseudonym).participant
    except Problem as exc:
        raise _fail(f"No participant {pseudonym} in this study.") from exc


@review.command("flags")
def list_review_flags(
    study_id: StudyArg,
    staff: AsStaff,
    cleared: Annotated[bool, typer.Option(help="Cleared flags too")] = False,
) -> None:
    """The study's "review suggested" flags, newest first."""
    table = Table("pseudonym", "raised at", "reasons", "cleared at")
    with unit_of_work(_current_engine()) as session:
        _, access = _as_staff(session, staff, study_id, CARE)
        offset: int | None = 0
        while offset is not None:
            page = plans.flag_page(
                session, access.study.id, not cleared, PageParams(limit=200, offset=offset)
            )
            for flag in page.items:
                table.add_row(
                    flag.pseudonym,
                    flag.raised_at.isoformat(timespec="minutes"),
                    ", ".join(flag.reasons),
                    flag.cleared_at.isoformat(timespec="minutes") if flag.cleared_at else "",
                )
            offset = page.next_offset
    Console(width=120).print(table)


@review.command("show")
def show_review(
    study_id: StudyArg,
    pseudonym: PseudonymArg,
    staff: AsStaff,
    days: Annotated[
        int | None,
        typer.Option(min=1, max=366, help="Period in days; the study's review period by default"),
    ] = None,
) -> None:
    """A participant's review as JSON: trends, skills and ratings, adherence, open safety
    events, plan changes, and whether review is suggested."""
    now = SystemClock().now()
    with unit_of_work(_current_engine()) as session:
        _, participant = _participant_as_staff(session, staff, study_id, pseudonym)
        start = now - timedelta(days=days) if days else None
        found = plans.review(session, participant, start, None, now)
    typer.echo(found.model_dump_json(indent=2))


@review.command("clear")
def clear_review_flag(
    study_id: StudyArg,
    pseudonym: PseudonymArg,
    staff: AsStaff,
    note: Annotated[str, typer.Option(help="What the review concluded (1 to 2000 characters)")],
) -> None:
    """Clear a participant's open flag with your note (audited as you)."""
    note = note.strip()
    if not 1 <= len(note) <= 2000:
        raise _fail("--note must be 1 to 2000 characters.")
    with unit_of_work(_current_engine()) as session:
        user, participant = _participant_as_staff(session, staff, study_id, pseudonym)
        try:
            plans.clear_flag(
                session,
                participant,
                Actor("staff", str(user.id)),
                user.id,
                note,
                SystemClock().now(),
            )
        except Problem as exc:
            raise _fail(exc.detail) from exc
    typer.echo(f"Cleared the review flag of {pseudonym}.")


@analyze.command("wcls")
def analyze_wcls(
    study_id: Annotated[
        uuid.UUID | None,
        typer.Argument(metavar="[STUDY]", help="A Kairos study's decision points; or --csv"),
    ] = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Decision points, one row each", exists=True)
    ] = None,
    id_column: Annotated[str | None, typer.Option("--id", help="CSV: participant column")] = None,
    outcome: Annotated[
        str | None, typer.Option(help="CSV: proximal outcome column (empty: missing)")
    ] = None,
    treatment: Annotated[
        str | None, typer.Option(help="CSV: treatment indicator column (0 or 1)")
    ] = None,
    probability: Annotated[
        str | None, typer.Option(help="CSV: randomization probability column")
    ] = None,
    availability: Annotated[
        str | None, typer.Option(help="CSV: availability column (0 or 1); all available without")
    ] = None,
    moderator: Annotated[
        list[str] | None,
        typer.Option(
            help="A moderator of the effect (repeatable); for a study: study_day, "
            "hour_of_day or need_<dimension>"
        ),
    ] = None,
    control: Annotated[list[str] | None, typer.Option(help="A control (repeatable)")] = None,
    numerator_probability: Annotated[
        float | None,
        typer.Option(help="p-tilde; the data's constant or mean probability without"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """The causal excursion effect of a micro-randomized trial, by weighted and centered
    least squares (Boruvka et al. 2018) with small-sample corrections: of a study's decision
    points, or of any MRT data in a CSV file."""
    if (study_id is None) == (csv_file is None):
        raise _fail("Give a STUDY or --csv FILE (one of them).")
    if study_id is not None:
        with unit_of_work(_current_engine()) as session:
            try:
                result = mrt.analyze(
                    session,
                    _study(session, study_id),
                    moderator or [],
                    control or [],
                    numerator_probability,
                    "option",
                )
            except Problem as exc:
                raise _fail(exc.detail) from exc
    else:
        assert csv_file is not None
        columns = {"--id": id_column, "--outcome": outcome, "--treatment": treatment}
        columns["--probability"] = probability
        if missing := [name for name, value in columns.items() if value is None]:
            raise _fail(f"With --csv, give {', '.join(missing)}.")
        data = _read_mrt_csv(
            csv_file,
            id_column or "",
            outcome or "",
            treatment or "",
            probability or "",
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


# --- kairos simulate: the protocol simulator ------------------------------------------


def _print_simulation(result: "StudyResult") -> None:
    console = Console()
    typer.echo(
        f"{result.checkins} check-ins answered of {result.prompts_sent} prompts sent: "
        f"compliance {result.compliance_first_week:.0%} in the first week, "
        f"{result.compliance_last_week:.0%} in the last."
    )
    arms = Table(title="Arms (outcome: the mean need, lower is better)")
    for heading in ("arm", "participants", "answered", "mean need", "vs assessment-only"):
        arms.add_column(heading, justify="left" if heading == "arm" else "right")
    for arm in result.arms:
        versus = (
            ""
            if arm.difference is None
            else (f"{arm.difference:+.2f} ({arm.ci_low:.2f} to {arm.ci_high:.2f})")
        )
        answered = f"{arm.prompts_answered}/{arm.prompts_sent}"
        arms.add_row(arm.arm, str(arm.participants), answered, f"{arm.mean_need:.2f}", versus)
    console.print(arms)
    if (found := result.wcls) is not None:
        typer.echo(
            f"Proximal effect (WCLS, tailored arm): {found.estimate:.3f} "
            f"(95% CI {found.ci_low:.3f} to {found.ci_high:.3f}, p = {found.p_value:.3g}); "
            f"true effect {found.truth:.3f}: {'covered' if found.covers else 'NOT covered'}; "
            f"{found.available} of {found.decision_points} decision points available "
            "with an outcome."
        )


@cli.command("simulate")
def simulate(
    participants: Annotated[int, typer.Option(min=2, help="Synthetic participants")] = 60,
    days: Annotated[int, typer.Option(min=1, max=365, help="Study days")] = 14,
    prompts_per_day: Annotated[int, typer.Option(min=1, max=12, help="Prompts a day")] = 5,
    arms: Annotated[
        list[Policy] | None,
        typer.Option("--arm", help="An arm (repeatable); default: all three"),
    ] = None,
    probability: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="The tailored arm's MRT probability")
    ] = 0.5,
    effect: Annotated[
        float, typer.Option(help="True drop of the needs after a completed, on-target skill")
    ] = 6.0,
    effect_sd: Annotated[float, typer.Option(min=0, help="Its spread between people")] = 2.0,
    off_target: Annotated[
        float, typer.Option(min=0, max=1, help="Share of the effect when off target")
    ] = 0.5,
    compliance_start: Annotated[float, typer.Option(help="Answer rate on day 1")] = 0.85,
    compliance_end: Annotated[float, typer.Option(help="Answer rate on the last day")] = 0.7,
    seed: Annotated[int, typer.Option(help="The same seed gives the same study")] = 1,
    replicates: Annotated[
        int,
        typer.Option(
            min=0, help="Studies to simulate (seeds seed, seed+1, …); 0: only --power-curve"
        ),
    ] = 1,
    database: Annotated[
        str | None,
        typer.Option(help="Run in this (migrated) database; default: a fresh temporary one"),
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="Write the (first) study's export bundle (zip) here")
    ] = None,
    power_curve: Annotated[
        Path | None,
        typer.Option(
            help="Also draw a power curve (PNG or SVG) from bare trials of 10 to 60 people"
        ),
    ] = None,
    curve_replicates: Annotated[
        int, typer.Option(min=1, help="Bare trials per point of the power curve")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Simulate a whole study through the real code before anyone enrolls: synthetic
    participants answer the prompts, take their skills and give feedback under an injected
    clock; reports compliance, the arms, and the WCLS estimate next to the true effect
    (with --replicates: its coverage and power)."""
    import tempfile
    from contextlib import nullcontext

    from rich.progress import Progress

    from app.simulate.person import PersonModel
    from app.simulate.power import draw_power_curve
    from app.simulate.power import power_curve as curve_of
    from app.simulate.study import Replicates, ScratchDatabases, StudyPlan, run_study

    try:
        people = PersonModel(
            effect=effect,
            effect_sd=effect_sd,
            off_target=off_target,
            compliance_start=compliance_start,
            compliance_end=compliance_end,
        )
        plan = StudyPlan(
            participants=participants,
            days=days,
            prompts_per_day=prompts_per_day,
            arms=tuple(arms or StudyPlan().arms),
            probability=probability,
            people=people,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    settings = Settings() if database is None else Settings(database_url=database)
    given = None
    if database is not None:
        given = make_engine(database)
        try:
            require_current_schema(given)
        except SchemaBehind as exc:
            raise _fail(str(exc)) from exc
    seeds = [seed + k for k in range(replicates)]
    studies = []
    with tempfile.TemporaryDirectory(prefix="kairos-simulate-") as scratch, Progress() as bar:
        databases = ScratchDatabases(Path(scratch)) if database is None else None
        task = bar.add_task("Simulating", total=len(seeds))
        for k, each in enumerate(seeds):
            # Without scratch databases, the one given.
            fresh = (
                databases.fresh(f"seed-{each}") if databases else nullcontext(cast(Engine, given))
            )
            with fresh as engine:
                result = run_study(
                    engine,
                    plan,
                    each,
                    settings,
                    export=export if k == 0 else None,
                    progress=lambda share: bar.advance(task, share),
                )
            studies.append(result)
    found = Replicates(studies=studies)
    if as_json:
        typer.echo(found.model_dump_json(indent=2))
    else:
        for result in studies if len(studies) == 1 else []:
            _print_simulation(result)
        if len(studies) > 1:
            estimates = found.estimates
            typer.echo(
                f"{len(studies)} simulated studies of {participants} participants over "
                f"{days} days: the 95% CI covered the true effect in {found.coverage:.0%} "
                f"of {len(estimates)} estimates; power {found.power:.0%} (p < 0.05)."
            )
    if power_curve is not None:
        from app.mrt.design import MrtDesign
        from app.rules.process import Dimension

        design = MrtDesign(
            probability=probability,
            outcome="next_need",
            outcome_dimension=Dimension.emotion,
            outcome_hours=4,
        )
        sizes = (10, 20, 30, 40, 60)
        with Progress() as bar:
            task = bar.add_task("Power curve", total=len(sizes) * curve_replicates)
            curve = curve_of(
                people,
                sizes,
                days,
                prompts_per_day,
                design,
                curve_replicates,
                seed,
                progress=lambda n: bar.advance(task, n),
            )
        title = (
            f"WCLS power, {days} days x {prompts_per_day} prompts, p = {probability}, "
            f"effect {effect} (sd {effect_sd})"
        )
        draw_power_curve(curve, title, power_curve)
        typer.echo(f"Wrote the power curve to {power_curve}.")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    cli()
