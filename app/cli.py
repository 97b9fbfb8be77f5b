"""The `kairos` command."""

import logging
from typing import Annotated

import typer
import uvicorn
from sqlmodel import Session

from app.auth import service as auth_service
from app.clock import SystemClock
from app.db import make_engine
from app.errors import Problem
from app.migrate import SchemaBehind, require_current_schema, upgrade
from app.settings import Settings, SettingsError

cli = typer.Typer(
    help="Kairos: EMI backend with tailored ACT skill coaching.", no_args_is_help=True
)
admin = typer.Typer(help="Administration.", no_args_is_help=True)
cli.add_typer(admin, name="admin")


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
    uvicorn.run(create_app(settings, engine), host=host, port=port, proxy_headers=True)


@cli.command()
def worker() -> None:
    """Run the scheduler's jobs: plan, dispatch, expire and remind, reap stale claims.

    Any number of workers may run on PostgreSQL; on SQLite exactly one.
    """
    from apscheduler.schedulers.blocking import BlockingScheduler

    from app.push import sender_from_settings
    from app.scheduling.dispatch import WorkerRefused, worker_lock
    from app.scheduling.jobs import Jobs, default_worker_id, schedule_jobs

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
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Password")
    ],
    full_name: Annotated[str | None, typer.Option(help="Display name")] = None,
) -> None:
    """Create a staff account."""
    if len(password) < 10:
        raise _fail("The password must have at least 10 characters.")
    settings = Settings()
    engine = make_engine(settings.database_url)
    try:
        require_current_schema(engine)
    except SchemaBehind as exc:
        raise _fail(str(exc)) from exc
    with Session(engine) as session:
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


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    cli()
