"""Statuses waiting for their send, counted for the gauges.

A status whose wamid no send has brought yet is parked (see recording);
one parked longer than UNMATCHED_AFTER_SECONDS is unmatched. Backlog
counts both every so often, and the gauges `xobito.statuses.parked` and
`xobito.statuses.unmatched` report the last count. The counts are of the
whole database, so every replica reports the same: aggregate with max.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import timedelta

import psycopg
import structlog
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from services.metrics.ledger import Pool

log = structlog.get_logger(__name__)

_counted: dict[str, int] = {}


def _observe(name: str) -> metrics.CallbackT:
    def callback(options: CallbackOptions) -> Iterable[Observation]:
        if name in _counted:
            yield Observation(_counted[name])

    return callback


_meter = metrics.get_meter(__name__)
_meter.create_observable_gauge(
    "xobito.statuses.parked",
    callbacks=[_observe("parked")],
    unit="{status}",
    description="Statuses waiting for the send of their wamid.",
)
_meter.create_observable_gauge(
    "xobito.statuses.unmatched",
    callbacks=[_observe("unmatched")],
    unit="{status}",
    description="Parked statuses older than UNMATCHED_AFTER_SECONDS.",
)


class Backlog:
    def __init__(self, pool: Pool, unmatched_after: timedelta) -> None:
        self._pool = pool
        self._unmatched_after = unmatched_after

    async def count(self) -> dict[str, int]:
        """Count the parked and unmatched statuses now, for the gauges."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                """
                SELECT count(*) AS parked,
                       count(*) FILTER (WHERE received_at < now() - %s)
                           AS unmatched
                FROM metrics.status_events WHERE parked
                """,
                [self._unmatched_after],
            )
            row = await cursor.fetchone()
        assert row is not None
        _counted.update(parked=int(row["parked"]), unmatched=int(row["unmatched"]))
        return dict(_counted)

    async def run(self, every_s: float = 30.0) -> None:
        """Count every every_s seconds, until cancelled."""
        while True:
            try:
                await self.count()
            except psycopg.OperationalError as exc:
                log.warning("backlog not counted", error=repr(exc))
            await asyncio.sleep(every_s)
