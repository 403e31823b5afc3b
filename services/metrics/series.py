"""A campaign over time: what happened to its messages, bucket by bucket.

Each recipient counts at most once per kind, at that kind's own time,
and only where the counters count it too, so a series adds up to the
campaign's counters: `sent` at sent_at when Meta accepted the message,
`delivered` when the status reached DELIVERED (at read_at when only a
read came), `read` at read_at, `failed` at failed_at while the status is
FAILED, `replied` at replied_at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from services.metrics.ledger import Conn
from services.metrics.statuses import Status


class Bucket(Enum):
    """How wide a bucket is, as date_trunc names it."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    start: datetime
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    replied: int = 0


async def campaign_series(
    conn: Conn, campaign_id: str, bucket: Bucket
) -> list[SeriesPoint]:
    """The campaign's buckets where something happened, oldest first."""
    cursor = await conn.execute(
        """
        SELECT date_trunc(%(unit)s, e.at, 'UTC') AS start, e.kind,
               count(*) AS n
        FROM metrics.recipients AS r
        CROSS JOIN LATERAL (VALUES
            ('sent', CASE WHEN r.wamid IS NOT NULL THEN r.sent_at END),
            ('delivered', CASE WHEN r.status >= %(delivered)s
                               THEN coalesce(r.delivered_at, r.read_at) END),
            ('read', CASE WHEN r.status = %(read)s THEN r.read_at END),
            ('failed', CASE WHEN r.status = %(failed)s THEN r.failed_at END),
            ('replied', r.replied_at)
        ) AS e(kind, at)
        WHERE r.campaign_id = %(campaign)s AND e.at IS NOT NULL
        GROUP BY 1, 2
        ORDER BY 1
        """,
        {
            "unit": bucket.value,
            "campaign": campaign_id,
            "delivered": int(Status.DELIVERED),
            "read": int(Status.READ),
            "failed": int(Status.FAILED),
        },
    )
    counts: dict[datetime, dict[str, int]] = {}
    for row in await cursor.fetchall():
        counts.setdefault(row["start"], {})[row["kind"]] = int(row["n"])
    return [
        SeriesPoint(
            start,
            sent=found.get("sent", 0),
            delivered=found.get("delivered", 0),
            read=found.get("read", 0),
            failed=found.get("failed", 0),
            replied=found.get("replied", 0),
        )
        for start, found in counts.items()
    ]
