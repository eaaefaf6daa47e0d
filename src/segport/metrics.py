"""Prometheus metrics at /metrics: runs by status, rows sent, queue depth, run durations and each API key's
Constant Contact requests today (read from the database at each scrape, so every worker and process
counts), and this process's Constant Contact requests by operation and status (429s included).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from segport.store import Store
from segport.store.tables import api_budgets, runs

REGISTRY = CollectorRegistry()
CONSTANT_CONTACT_REQUESTS = Counter(
    "segport_constant_contact_requests",
    "Requests this process sent to Constant Contact, by operation and answer (HTTP status, or unreachable).",
    ["operation", "status"],
    registry=REGISTRY,
)
DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


def count_answer(operation: str, status: str) -> None:
    CONSTANT_CONTACT_REQUESTS.labels(operation=operation, status=status).inc()


class RunsCollector(Collector):
    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        seconds = (func.julianday(runs.c.finished_at) - func.julianday(runs.c.started_at)) * 86400.0
        if self._store.dialect == "postgresql":
            seconds = func.extract("epoch", runs.c.finished_at - runs.c.started_at)
        with self._store.read() as db:
            by_status: dict[str, int] = {
                str(status): int(count)
                for status, count in db.execute(select(runs.c.status, func.count()).group_by(runs.c.status))
            }
            sent = db.execute(select(func.coalesce(func.sum(runs.c.sent), 0))).scalar_one()
            finished = runs.c.finished_at.is_not(None) & runs.c.started_at.is_not(None)
            bucket_counts = db.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(seconds), 0.0),
                    *(func.sum(case((seconds <= bound, 1), else_=0)) for bound in DURATION_BUCKETS),
                ).where(finished)
            ).one()
        statuses = GaugeMetricFamily("segport_runs", "Runs by status.", labels=["status"])
        for status in ("Queued", "Processing", "Successful", "Skipped", "Failure", "Canceled"):
            statuses.add_metric([status], by_status.get(status, 0))
        yield statuses
        yield GaugeMetricFamily("segport_queue_depth", "Runs waiting for a worker.", value=by_status.get("Queued", 0))
        yield CounterMetricFamily("segport_rows_sent", "Contacts sent to Constant Contact by all runs.", value=sent)
        total, seconds_sum, *cumulative = bucket_counts
        buckets = [(str(bound), int(count or 0)) for bound, count in zip(DURATION_BUCKETS, cumulative, strict=True)]
        histogram = HistogramMetricFamily("segport_run_duration_seconds", "How long finished runs took.")
        histogram.add_metric([], [*buckets, ("+Inf", int(total))], float(seconds_sum))
        yield histogram
        yield self._requests_today()

    def _requests_today(self) -> GaugeMetricFamily:
        """Every process's requests today (UTC) per API key, from the shared budget they all draw on."""
        from datetime import UTC, datetime

        today = datetime.now(UTC).date().isoformat()
        with self._store.budgets(write=False) as db:
            rows = db.execute(select(api_budgets.c.key, api_budgets.c.used).where(api_budgets.c.day == today)).all()
        gauge = GaugeMetricFamily(
            "segport_constant_contact_requests_today",
            "Requests to Constant Contact today (UTC) by every segport process, per API key (the daily quota's use).",
            labels=["api_base", "client_id"],
        )
        for key, used in rows:
            api_base, _, client_id = str(key).rpartition("|")
            gauge.add_metric([api_base, client_id], int(used))
        return gauge


def exposition(store: Store) -> bytes:
    """The text format Prometheus scrapes."""
    registry = CollectorRegistry()
    registry.register(RunsCollector(store))
    return generate_latest(REGISTRY) + generate_latest(registry)
