"""What /metrics reads from the database at scrape time (open safety events, prompts by
status) and from the connection pool, next to the counters of this process."""

from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from app.clock import Clock
from app.db import unit_of_work
from app.safety import stats as safety_stats
from app.scheduling import stats as scheduling_stats


class DatabaseCollector(Collector):
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock.now()
        with unit_of_work(self.engine) as session:
            events = safety_stats.open_events_by_tier(session)
            prompts = scheduling_stats.prompts_by_status(session)
        open_events = GaugeMetricFamily(
            "kairos_safety_events_open", "Unacknowledged safety events, by tier", labels=["tier"]
        )
        oldest = GaugeMetricFamily(
            "kairos_safety_event_oldest_open_seconds",
            "How long the oldest unacknowledged safety event of each tier has been open",
            labels=["tier"],
        )
        for event in events:
            open_events.add_metric([event.tier], event.count)
            oldest.add_metric([event.tier], (now - event.oldest_opened_at).total_seconds())
        by_status = GaugeMetricFamily("kairos_prompts", "Prompts by status", labels=["status"])
        for status, count in prompts.items():
            by_status.add_metric([status.value], count)
        yield from (open_events, oldest, by_status, self._pool())

    def _pool(self) -> Metric:
        pool = GaugeMetricFamily(
            "kairos_db_pool_connections",
            "Database connections of this process: in use, idle in the pool, beyond its size",
            labels=["state"],
        )
        # SQLite's pool keeps no counts; PostgreSQL's QueuePool does.
        if isinstance(self.engine.pool, QueuePool):
            queue = self.engine.pool
            pool.add_metric(["in_use"], queue.checkedout())
            pool.add_metric(["idle"], queue.checkedin())
            pool.add_metric(["overflow"], max(queue.overflow(), 0))
            pool.add_metric(["size"], queue.size())
        return pool


def exposition(engine: Engine, clock: Clock) -> bytes:
    """The process's counters and what the database says now, in the text format."""
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(DatabaseCollector(engine, clock))
    return generate_latest(REGISTRY) + generate_latest(scraped)
