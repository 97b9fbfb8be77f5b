"""The worker's interval jobs, run by APScheduler 3.x (`kairos worker`, or in-process by
`kairos serve`). There are no per-prompt APScheduler jobs: prompts are rows, and these
jobs only sweep them, so any number of workers can run them side by side on PostgreSQL.

A job run is an edge like a request: each commits its own unit of work (dispatch, one per
step: the claim must be committed before the sends, the results after them).
"""

import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import Engine

from app.clock import Clock
from app.db import unit_of_work
from app.plans.service import refresh_flags
from app.push.base import PushSender
from app.scheduling.dispatch import dispatch_once, expire_prompts, reap_claims
from app.scheduling.service import plan_prompts
from app.settings import Settings

_log = logging.getLogger("kairos.worker")

# Seconds between runs of each job.
INTERVALS = {"plan": 900, "dispatch": 5, "expire": 30, "reap": 60, "review": 3600}


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


@dataclass
class Jobs:
    engine: Engine
    sender: PushSender
    clock: Clock
    settings: Settings
    worker: str

    def plan(self) -> int:
        with unit_of_work(self.engine) as session:
            created = plan_prompts(session, self.clock.now(), self.settings.plan_horizon)
        if created:
            _log.info("planned %d prompts", created)
        return created

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

    def expire(self) -> int:
        return expire_prompts(self.engine, self.clock.now())

    def reap(self) -> int:
        return reap_claims(self.engine, self.clock.now())

    def review(self) -> int:
        """Raise the "review suggested" flags that time alone has made due."""
        with unit_of_work(self.engine) as session:
            raised = refresh_flags(session, self.clock.now())
        if raised:
            _log.info("raised %d review flags", raised)
        return raised


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
