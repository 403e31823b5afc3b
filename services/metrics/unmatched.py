"""Unmatched statuses: parked ones whose send has not come in time.

A status whose wamid no send has brought yet is parked and applied when
RecordSends brings the wamid (see recording). One still parked after the
configured age most likely belongs to a message the sender never
registered; the workspace sees it listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.metrics import cursors, eventlog
from services.metrics.campaigns import page_size
from services.metrics.eventlog import ParkedStatus
from services.metrics.ledger import Pool
from xobito.errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class UnmatchedPage:
    statuses: list[ParkedStatus]
    next_page_token: str
    total_count: int


class Unmatched:
    def __init__(self, pool: Pool, after: timedelta) -> None:
        self._pool = pool
        self._after = after

    async def page(self, workspace_id: str, size: int, token: str) -> UnmatchedPage:
        """The workspace's unmatched statuses, the longest waiting first."""
        if not workspace_id:
            raise InvalidArgumentError("workspace_id is required")
        limit = page_size(size)
        after = None
        if token:
            received_at, status_id = cursors.decode(token, 2)
            after_at = cursors.decode_time(received_at)
            if after_at is None:
                raise InvalidArgumentError("page_token is not valid")
            after = (after_at, cursors.decode_int(status_id))

        async with self._pool.connection() as conn:
            rows = await eventlog.parked_page(
                conn, workspace_id, self._after, after, limit + 1
            )
            total = await eventlog.parked_count(conn, workspace_id, self._after)
        next_token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            next_token = cursors.encode(rows[-1].received_at, rows[-1].id)
        return UnmatchedPage(rows, next_token, total)
