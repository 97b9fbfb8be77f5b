"""The worker's interval jobs, run by APScheduler 3.x (`kairos worker`, or in-process by
`kairos serve`). There are no per-prompt APScheduler jobs: prompts are rows, and these
jobs only sweep them, so any number of workers can run them side by side on PostgreSQL.

A job run is an edge like a request: each commits its own unit of work (dispatch, one per
step: the claim must be committed before the sends, the results after them).
"""

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from apscheduler.schedulers.base import BaseScheduler
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import Engine

from app import metrics
from app.auth import service as auth
from app.auth import sessions
from app.clock import Clock
from app.db import unit_of_work
from app.flows.metrics import exposition
from app.plans.service import refresh_flags
from app.push.base import PushSender
from app.scheduling.dispatch import dispatch_once, expire_prompts, reap_claims
from app.scheduling.service import plan_prompts
from app.settings import Settings
from app.studies import participants

_log = logging.getLogger("kairos.worker")

# Seconds between runs of each job.
INTERVALS = {
    "plan": 900,
    "dispatch": 5,
    "expire": 30,
    "reap": 60,
    "review": 3600,
    "prune": 3600,
}


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def _observed(job: Callable[["Jobs"], int]) -> Callable[["Jobs"], int]:
    """Times each run of a job; its last success is the clock's time when it finished."""
    name = job.__name__

    @functools.wraps(job)
    def run(jobs: "Jobs") -> int:
        started = time.perf_counter()
        try:
            done = job(jobs)
        except Exception:
            metrics.JOB_FAILURES.labels(name).inc()
            raise
        finally:
            metrics.JOB_SECONDS.labels(name).observe(time.perf_counter() - started)
        metrics.JOB_LAST_SUCCESS.labels(name).set(jobs.clock.now().timestamp())
        return done

    return run


@dataclass
class Jobs:
    engine: Engine
    sender: PushSender
    clock: Clock
    settings: Settings
    worker: str

    @_observed
    def plan(self) -> int:
        with unit_of_work(self.engine) as session:
            created = plan_prompts(session, self.clock.now(), self.settings.plan_horizon)
        if created:
            _log.info("planned %d prompts", created)
        return created

    @_observed
    def dispatch(self) -> int:
        """Send batches until nothing is due (so a backlog drains within one run)."""
        total = 0
        while True:
            stats = dispatch_once(
                self.engine,
                self.sender,
                self.clock.now(),
                self.worker,
                batch=self.settings.dispatch_batch_size,
                lease=timedelta(seconds=self.settings.dispatch_lease_seconds),
            )
            total += stats.claimed
            if stats.claimed:
                _log.info("dispatched %d: %s", stats.claimed, stats.outcomes)
            if stats.claimed < self.settings.dispatch_batch_size:
                return total

    @_observed
    def expire(self) -> int:
        return expire_prompts(self.engine, self.clock.now())

    @_observed
    def reap(self) -> int:
        return reap_claims(self.engine, self.clock.now())

    @_observed
    def review(self) -> int:
        """Raise the "review suggested" flags that time alone has made due."""
        with unit_of_work(self.engine) as session:
            raised = refresh_flags(session, self.clock.now())
        if raised:
            _log.info("raised %d review flags", raised)
        return raised

    @_observed
    def prune(self) -> int:
        """Delete what can never count again: console sessions expired or signed out, and
        refused sign-ins and enrollment codes older than their rate limit's window."""
        now = self.clock.now()
        with unit_of_work(self.engine) as session:
            deleted = sum(
                (
                    sessions.prune_sessions(session, now),
                    auth.prune_login_failures(session, self.settings, now),
                    participants.prune_enrollment_failures(
                        session, self.settings.enrollment_window_seconds, now
                    ),
                )
            )
        if deleted:
            _log.info("pruned %d expired sessions and old refusals", deleted)
        return deleted


def schedule_jobs(scheduler: BaseScheduler, jobs: Jobs) -> None:
    # APScheduler reports every run of every job at INFO (every 5 s): only problems are news.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    for name, seconds in INTERVALS.items():
        scheduler.add_job(
            getattr(jobs, name),
            "interval",
            seconds=seconds,
            id=name,
            max_instances=1,
            coalesce=True,
            next_run_time=jobs.clock.now(),
        )


_NOT_FOUND = b'{"type":"about:blank","title":"Not found","status":404,"code":"not_found"}'


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not news (the standard handler writes one line each to stderr)."""


def metrics_app(jobs: Jobs) -> Callable[..., Iterable[bytes]]:
    """The worker's /metrics (WSGI), under the same access rule as the API's."""

    def serve(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        host = environ.get("REMOTE_ADDR")
        authorization = environ.get("HTTP_AUTHORIZATION")
        allowed = metrics.scrape_allowed(
            jobs.settings,
            host if isinstance(host, str) else None,
            authorization if isinstance(authorization, str) else None,
        )
        if environ.get("PATH_INFO") != "/metrics" or not allowed:
            start_response("404 Not Found", [("Content-Type", "application/problem+json")])
            return [_NOT_FOUND]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [exposition(jobs.engine, jobs.clock)]

    return serve


def serve_metrics(jobs: Jobs, host: str, port: int) -> WSGIServer:
    """Serve the worker's /metrics from a daemon thread; the caller shuts the server down."""
    server = make_server(host, port, metrics_app(jobs), handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
